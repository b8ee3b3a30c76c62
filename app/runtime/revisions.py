"""A config revision's status: rendered → applied (the file is written) → live or failed (the proxy's
verdict); a revision going live supersedes the live ones before it, since only one file is served."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import ConfigRevision


def set_status(
    session: Session,
    number: int,
    status: str,
    message: str | None,
    *,
    only_if: str | None = None,
    **values: Any,
) -> None:
    """Move revision `number` to `status`; with `only_if`, only from that status (a revision another
    process has already moved further, to live or failed, stays where it is)."""
    query = update(ConfigRevision).where(ConfigRevision.number == number)
    if only_if is not None:
        query = query.where(ConfigRevision.status == only_if)
    session.execute(query.values(status=status, message=message, **values))
    if status == "live":
        session.execute(
            update(ConfigRevision)
            .where(ConfigRevision.status == "live", ConfigRevision.number < number)
            .values(status="superseded")
        )
