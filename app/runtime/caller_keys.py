"""Caller keys as the proxy judges them: the hash of a key, and each key hash's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.crypto import digest
from app.models import CallerKey, as_utc

KEY_PREFIX = "llmk_"
VISIBLE = len(KEY_PREFIX) + 8


def hash_key(key: str) -> str:
    """What is stored and looked up: the key's digest (app.crypto.digest)."""
    return digest(key)


def looks_like_caller_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX)


@dataclass(frozen=True)
class Verdict:
    """What the proxy needs to judge a request made with one key (current or previous)."""

    key_id: int
    application: str
    models: tuple[str, ...]  # () = every model and route
    rpm: int | None
    tpm: int | None
    expires_at: datetime | None  # the key's expiry, or the end of a rotated-out key's overlap
    enabled: bool
    revoked: bool
    rotated_out: bool = False  # the previous key of a rotation

    def refusal(self, now: datetime) -> str | None:
        """Why this key may not call anything now (the 401 message), or None."""
        if self.revoked:
            return f"the caller key of {self.application} was revoked; ask an admin for a new one"
        if not self.enabled:
            return f"the caller key of {self.application} is disabled; ask an admin to enable it"
        if self.expires_at is not None and now >= self.expires_at:
            what = "was rotated; its overlap ended" if self.rotated_out else "expired"
            return (
                f"the caller key of {self.application} {what} at {self.expires_at:%Y-%m-%d %H:%M:%S} "
                "UTC; use its new key or ask an admin to rotate it"
            )
        return None

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models


def _verdicts_of(row: CallerKey) -> dict[str, Verdict]:
    base = Verdict(
        key_id=row.id,
        application=row.application,
        models=tuple(row.models or ()),
        rpm=row.rpm,
        tpm=row.tpm,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        enabled=row.enabled,
        revoked=row.revoked_at is not None,
    )
    out = {row.key_hash: base}
    if row.previous_hash and row.previous_expires_at:
        overlap_end = as_utc(row.previous_expires_at)
        if base.expires_at is not None:
            overlap_end = min(overlap_end, base.expires_at)
        out[row.previous_hash] = Verdict(**{**base.__dict__, "expires_at": overlap_end, "rotated_out": True})
    return out


def verdicts(session: Session) -> dict[str, Verdict]:
    """Every key hash (current and in-overlap previous) → its verdict: the proxy's snapshot."""
    out: dict[str, Verdict] = {}
    for row in session.scalars(select(CallerKey)):
        out.update(_verdicts_of(row))
    return out


def verdict_for(session: Session, key_hash: str) -> Verdict | None:
    """The verdict of one key hash, None when no key has it."""
    row = session.scalars(
        select(CallerKey).where(or_(CallerKey.key_hash == key_hash, CallerKey.previous_hash == key_hash))
    ).first()
    return _verdicts_of(row).get(key_hash) if row is not None else None


def scope_text(models: tuple[str, ...] | list[str] | None) -> str:
    return ", ".join(models) if models else "every model and route"
