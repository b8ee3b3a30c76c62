"""Shared row mechanics: flush with optimistic-lock and uniqueness errors turned into messages, and
the UNSET default of the updates' keyword arguments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.errors import ConflictError, FieldError, NotFoundError, ValidationError


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# an update's keyword default: the field was not given (None can be a value to set)
UNSET: Any = _Unset()


def flush_guarded(session: Session, row: Any, *, kind: str, label: str, duplicate: FieldError) -> None:
    """Flush; a concurrent edit becomes a ConflictError, a unique clash a ValidationError."""
    cls, row_id = type(row), row.id
    try:
        session.flush()
    except StaleDataError:
        # the failed flush spoiled this transaction: read the winner on a connection of its own
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        with engine.connect() as conn:
            winner = conn.execute(select(cls.updated_by, cls.updated_at).where(cls.id == row_id)).one()
        raise ConflictError.changed_since(kind, label, winner.updated_by, winner.updated_at) from None
    except IntegrityError:
        raise ValidationError([duplicate]) from None


def check_version(row: Any, expected_version: int, *, kind: str, label: str) -> None:
    """Refuse a save made from a form opened before the row's last change."""
    if row.version != expected_version:
        raise ConflictError.changed_since(kind, label, row.updated_by, row.updated_at)


def load(session: Session, cls: Any, row_id: int, *, kind: str) -> Any:
    row = session.get(cls, row_id)
    if row is None:
        raise NotFoundError(f"{kind} {row_id} does not exist")
    return row
