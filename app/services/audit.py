"""The audit log: one entry per mutation, naming the actor, with secrets masked."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import mask
from app.models import AuditEntry
from app.services.access import Actor

_SECRETISH = re.compile(r"(key|secret|password|token|credential|authorization)", re.I)


def mask_details(value: Any, *, key: str = "") -> Any:
    """Mask every value stored under a secret-looking key, at any depth."""
    if isinstance(value, dict):
        return {k: mask_details(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_details(v, key=key) for v in value]
    # *_env names a variable and *_id a public key fingerprint: neither is a secret
    if _SECRETISH.search(key) and isinstance(value, str) and not key.endswith(("_env", "_id")):
        return mask(value)
    return value


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | None = None,
    target_name: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry to the caller's transaction."""
    entry = AuditEntry(
        actor=actor.name,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_name=target_name,
        details=mask_details(details or {}),
    )
    session.add(entry)
    return entry


def list_entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[AuditEntry]:
    """Newest first, filtered; `since` inclusive, `until` exclusive."""
    query = (
        select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(offset).limit(limit)
    )
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    return list(session.scalars(query))


def filter_choices(session: Session) -> tuple[list[str], list[str]]:
    """(actors, target types) that occur in the log, sorted: what the audit page offers to filter by."""
    actors = session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor))
    types = session.scalars(select(AuditEntry.target_type).distinct().order_by(AuditEntry.target_type))
    return list(actors), list(types)


def changes(before: Any, after: Any, *, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """What an entry changed: (field, before, after) for each field whose value differs, nested
    mappings as dotted fields (params.api_version); a field only on one side counts as changed."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [] if before == after else [(prefix or "value", before, after)]
    found = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        name = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            found += changes(old, new, prefix=f"{name}.")
        elif old != new or (key in before) != (key in after):
            found.append((name, old, new))
    return found
