"""Caller keys: one key per application to the proxy's model routes, stored only as a hash.

A key is `llmk_` and 43 random URL-safe characters (32 bytes); it is shown once, when it is made or
rotated, and kept as its SHA-256 (a 256-bit random secret needs no slow hash) with its first 13
characters to recognise it. A rotation keeps the previous key working for an overlap window, so a
deploy can switch without downtime. The proxy reads `verdicts` (app.runtime.caller_keys).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.defaults import DEFAULT_OVERLAP_SECONDS
from app.errors import FieldError, NotFoundError, ValidationError
from app.models import CallerKey, Model, Route, as_utc, utcnow
from app.runtime.caller_keys import KEY_PREFIX as KEY_PREFIX  # re-exported: what the pages show
from app.runtime.caller_keys import VISIBLE as VISIBLE
from app.runtime.caller_keys import hash_key as hash_key
from app.runtime.caller_keys import scope_text as scope_text
from app.runtime.caller_keys import verdict_for as verdict_for
from app.runtime.caller_keys import verdicts as verdicts
from app.services import audit
from app.services.access import Actor, authorize
from app.services.rows import UNSET, check_version, flush_guarded
from app.validation import normalize_name
from generator.routes import ROUTE_PREFIX

MAX_OVERLAP_SECONDS = 30 * 86400
MAX_NAME = 100


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def state(row: CallerKey, now: datetime | None = None) -> str:
    """active | expired | disabled | revoked."""
    moment = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    if not row.enabled:
        return "disabled"
    if row.expires_at is not None and as_utc(row.expires_at) <= moment:
        return "expired"
    return "active"


# --- validation -----------------------------------------------------------------------------


def _check_application(session: Session, value: object, errors: list[FieldError], *, own: int | None) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(
            FieldError("application", "is required; name the application or team, e.g. billing-bot")
        )
        return ""
    name = " ".join(value.split())
    if len(name) > MAX_NAME:
        errors.append(FieldError("application", f"is longer than {MAX_NAME} characters; shorten it"))
        return ""
    if not name.isprintable():
        errors.append(FieldError("application", "has control characters; use letters, digits, - and _"))
        return ""
    taken = session.scalar(select(CallerKey.id).where(CallerKey.name_key == normalize_name(name)))
    if taken is not None and taken != own:
        errors.append(
            FieldError("application", f"'{name}' already has a key (id {taken}); rotate that one instead")
        )
    return name


def callable_names(session: Session) -> set[str]:
    """Every model alias and agent/<type> route a key may be scoped to."""
    aliases = set(session.scalars(select(Model.alias).distinct()))
    routes = {ROUTE_PREFIX + t for t in session.scalars(select(Route.agent_type))}
    return aliases | routes


def _check_models(session: Session, value: object, errors: list[FieldError]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors.append(FieldError("models", "must be a list of model aliases or agent/<type> routes"))
        return []
    names = sorted({v.strip() for v in value if v.strip()})
    known = callable_names(session)
    unknown = [n for n in names if n not in known]
    if unknown:
        errors.append(
            FieldError(
                "models",
                f"no model alias or route named {', '.join(repr(n) for n in unknown)}; "
                "`llm-admin model list` and `llm-admin route list` show them (leave empty for all)",
            )
        )
    return names


def _check_limit(field: str, value: object, errors: list[FieldError]) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        number = int(str(value))
    except (TypeError, ValueError):
        unit = "requests" if field == "rpm" else "tokens"
        errors.append(FieldError(field, f"must be a whole number of {unit} per minute (got {value!r})"))
        return None
    if number < 1:
        errors.append(FieldError(field, f"must be 1 or more (got {value!r}); leave it empty for no limit"))
        return None
    return number


def _check_expiry(value: object, now: datetime, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        errors.append(FieldError("expires_at", "must be a date and time (UTC), e.g. 2027-01-31T00:00"))
        return None
    moment = as_utc(value)
    if moment <= now:
        errors.append(
            FieldError("expires_at", f"{moment:%Y-%m-%d %H:%M} UTC is in the past; pick a later time")
        )
        return None
    return moment


def _snapshot(row: CallerKey) -> dict[str, Any]:
    """What the audit log keeps of a key: never the key or its hash, only its visible prefix."""
    return {
        "application": row.application,
        "owner": row.owner,
        "prefix": row.prefix,
        "models": list(row.models or []),
        "rpm": row.rpm,
        "tpm": row.tpm,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "enabled": row.enabled,
    }


def _flush(session: Session, row: CallerKey) -> None:
    taken = FieldError("application", f"'{row.application}' already has a key; rotate that one instead")
    flush_guarded(session, row, kind="caller key", label=row.application, duplicate=taken)


def _audit(session: Session, actor: Actor, action: str, row: CallerKey, details: dict[str, Any]) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="caller_key",
        target_id=row.id,
        target_name=row.application,
        details=details,
    )


# --- admin actions --------------------------------------------------------------------------


def create_key(
    session: Session,
    *,
    actor: Actor,
    application: str,
    owner: str = "",
    description: str = "",
    models: Any = None,
    rpm: Any = None,
    tpm: Any = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[CallerKey, str]:
    """A new application's key; returns the row and the plain key, which is never shown again."""
    authorize(actor, "edit")
    moment = now or utcnow()
    errors: list[FieldError] = []
    name = _check_application(session, application, errors, own=None)
    scope = _check_models(session, models, errors)
    rpm_limit = _check_limit("rpm", rpm, errors)
    tpm_limit = _check_limit("tpm", tpm, errors)
    expiry = _check_expiry(expires_at, moment, errors)
    if errors:
        raise ValidationError(errors)
    key = generate_key()
    row = CallerKey(
        application=name,
        name_key=normalize_name(name),
        owner=(owner or "").strip(),
        description=(description or "").strip(),
        prefix=key[:VISIBLE],
        key_hash=hash_key(key),
        models=scope,
        rpm=rpm_limit,
        tpm=tpm_limit,
        expires_at=expiry,
        enabled=True,
        created_by=actor.name,
        updated_by=actor.name,
    )
    session.add(row)
    _flush(session, row)
    _audit(session, actor, "caller_key.create", row, {"after": _snapshot(row)})
    return row, key


def update_key(
    session: Session,
    *,
    actor: Actor,
    key_id: int,
    expected_version: int,
    models: Any = UNSET,
    rpm: Any = UNSET,
    tpm: Any = UNSET,
    expires_at: Any = UNSET,
    enabled: Any = UNSET,
    owner: Any = UNSET,
    description: Any = UNSET,
    now: datetime | None = None,
) -> CallerKey:
    """Change a key's scope, limits, expiry, state or owner (opened at expected_version)."""
    authorize(actor, "edit")
    row = get_key(session, key_id)
    check_version(row, expected_version, kind="caller key", label=row.application)
    before = _snapshot(row)
    errors: list[FieldError] = []
    if models is not UNSET:
        scope = _check_models(session, models, errors)
    if rpm is not UNSET:
        rpm_limit = _check_limit("rpm", rpm, errors)
    if tpm is not UNSET:
        tpm_limit = _check_limit("tpm", tpm, errors)
    if expires_at is not UNSET:
        expiry = _check_expiry(expires_at, now or utcnow(), errors)
    if enabled is not UNSET and not isinstance(enabled, bool):
        errors.append(FieldError("enabled", "must be true or false"))
    if enabled is True and row.revoked_at is not None:
        errors.append(FieldError("enabled", "a revoked key stays revoked; create or rotate a key instead"))
    if errors:
        raise ValidationError(errors)
    if models is not UNSET:
        row.models = scope
    if rpm is not UNSET:
        row.rpm = rpm_limit
    if tpm is not UNSET:
        row.tpm = tpm_limit
    if expires_at is not UNSET:
        row.expires_at = expiry
    if enabled is not UNSET:
        row.enabled = enabled
    if owner is not UNSET:
        row.owner = str(owner or "").strip()
    if description is not UNSET:
        row.description = str(description or "").strip()
    row.updated_at, row.updated_by = utcnow(), actor.name
    _flush(session, row)
    _audit(session, actor, "caller_key.update", row, {"before": before, "after": _snapshot(row)})
    return row


def rotate_key(
    session: Session,
    *,
    actor: Actor,
    key_id: int,
    overlap_seconds: Any = DEFAULT_OVERLAP_SECONDS,
    now: datetime | None = None,
) -> tuple[CallerKey, str]:
    """A new key for the application; the old one keeps working for overlap_seconds (0: stops now)."""
    authorize(actor, "edit")
    row = get_key(session, key_id)
    errors: list[FieldError] = []
    try:
        overlap = int(str(overlap_seconds))
        if not 0 <= overlap <= MAX_OVERLAP_SECONDS:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError(
                "overlap_seconds", f"must be 0 to {MAX_OVERLAP_SECONDS} seconds (got {overlap_seconds!r})"
            )
        )
    if row.revoked_at is not None:
        errors.append(FieldError("key", f"the key of {row.application} is revoked; create a new one instead"))
    if errors:
        raise ValidationError(errors)
    moment = now or utcnow()
    before = _snapshot(row)
    key = generate_key()
    row.previous_prefix, row.previous_hash = row.prefix, row.key_hash
    row.previous_expires_at = moment + timedelta(seconds=overlap)
    row.prefix, row.key_hash = key[:VISIBLE], hash_key(key)
    row.last_rotated_at = moment
    row.updated_at, row.updated_by = moment, actor.name
    _flush(session, row)
    _audit(
        session,
        actor,
        "caller_key.rotate",
        row,
        {
            "before": before,
            "after": _snapshot(row),
            "previous_valid_until": row.previous_expires_at.isoformat(),
        },
    )
    return row, key


def revoke_key(session: Session, *, actor: Actor, key_id: int, now: datetime | None = None) -> CallerKey:
    """Stop the key (and a previous one still in its overlap) for good; revoking a revoked key
    changes nothing (as an idempotent DELETE expects)."""
    authorize(actor, "edit")
    row = get_key(session, key_id)
    if row.revoked_at is not None:
        return row
    moment = now or utcnow()
    before = _snapshot(row)
    row.revoked_at, row.revoked_by = moment, actor.name
    row.updated_at, row.updated_by = moment, actor.name
    _flush(session, row)
    _audit(session, actor, "caller_key.revoke", row, {"before": before})
    return row


# --- reading --------------------------------------------------------------------------------


def get_key(session: Session, ref: int | str) -> CallerKey:
    """A key by id, application name or visible prefix."""
    row: CallerKey | None = None
    text = str(ref).strip()
    if text.isdigit():
        row = session.get(CallerKey, int(text))
    if row is None:
        row = session.scalars(
            select(CallerKey).where(or_(CallerKey.name_key == normalize_name(text), CallerKey.prefix == text))
        ).first()
    if row is None:
        raise NotFoundError(f"no caller key '{text}'; `llm-admin key list` shows them")
    return row


def list_keys(session: Session) -> list[CallerKey]:
    return list(session.scalars(select(CallerKey).order_by(CallerKey.name_key)))


@dataclass(frozen=True)
class KeyInfo:
    """A key as a role may see it: viewers get the application and its state only."""

    id: int
    application: str
    state: str
    owner: str | None = None
    description: str | None = None
    prefix: str | None = None
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    expires_at: datetime | None = None
    previous_prefix: str | None = None
    previous_valid_until: datetime | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    version: int | None = None


def describe_keys(session: Session, *, actor: Actor, now: datetime | None = None) -> list[KeyInfo]:
    """Every key as the actor's role may see it (operators and admins: everything but the key)."""
    moment = now or utcnow()
    rows = list_keys(session)
    if not (actor.can("operate") or actor.can("edit")):
        return [KeyInfo(row.id, row.application, state(row, moment)) for row in rows]
    out = []
    for row in rows:
        overlap = as_utc(row.previous_expires_at) if row.previous_expires_at else None
        out.append(
            KeyInfo(
                id=row.id,
                application=row.application,
                state=state(row, moment),
                owner=row.owner,
                description=row.description,
                prefix=row.prefix,
                models=tuple(row.models or ()),
                rpm=row.rpm,
                tpm=row.tpm,
                expires_at=as_utc(row.expires_at) if row.expires_at else None,
                previous_prefix=row.previous_prefix if overlap and overlap > moment else None,
                previous_valid_until=overlap if overlap and overlap > moment else None,
                created_at=as_utc(row.created_at),
                created_by=row.created_by,
                version=row.version,
            )
        )
    return out
