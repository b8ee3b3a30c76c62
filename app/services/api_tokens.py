"""API tokens: a dashboard user's keys to the HTTP API. Stored only as a hash, shown once, expiring;
a request made with one acts with its user's role as the database has it now."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.crypto import digest
from app.defaults import API_TOKEN_DAYS
from app.errors import FieldError, NotFoundError, ValidationError
from app.models import ApiToken, User, as_utc, utcnow
from app.services import audit
from app.services.access import Actor, authorize
from app.services.users import find_user
from app.validation import check_name

TOKEN_PREFIX = "llma_"
VISIBLE = len(TOKEN_PREFIX) + 8
DEFAULT_DAYS = API_TOKEN_DAYS
MAX_DAYS = 366
# last_used_at is written at most this often per token: a read-only request stays a read
TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return digest(token)


@dataclass(frozen=True)
class TokenInfo:
    """A token as it may be listed: never the token or its hash."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    state: str  # active | expired | revoked


def _info(row: ApiToken, now: datetime) -> TokenInfo:
    if row.revoked_at is not None:
        state = "revoked"
    elif as_utc(row.expires_at) <= now:
        state = "expired"
    else:
        state = "active"
    return TokenInfo(
        id=row.id,
        username=row.user.username,
        name=row.name,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        expires_at=as_utc(row.expires_at),
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        state=state,
    )


def _owner(session: Session, actor: Actor, username: str | None) -> User:
    """The user a token is for: yourself, or anyone for an admin."""
    wanted = username or actor.name
    if wanted.strip().lower() != actor.name.lower():
        authorize(actor, "manage_users")
    user = find_user(session, username=wanted)
    if user is None:
        raise NotFoundError(f"user '{wanted}' does not exist; see the Users page for the names")
    if user.disabled:
        raise ValidationError([FieldError("username", f"{user.username} is disabled; enable them first")])
    return user


def create_token(
    session: Session,
    *,
    actor: Actor,
    name: str,
    username: str | None = None,
    days: object = DEFAULT_DAYS,
    now: datetime | None = None,
) -> tuple[TokenInfo, str]:
    """A new token for `username` (default: the actor); returns it once, in plain text."""
    moment = now or utcnow()
    errors: list[FieldError] = []
    label = check_name("name", name, errors)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors.append(FieldError("days", f"must be a whole number of days from 1 to {MAX_DAYS}"))
    if errors:
        raise ValidationError(errors)
    user = _owner(session, actor, username)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user=user,
        name=label,
        prefix=token[:VISIBLE],
        token_hash=hash_token(token),
        expires_at=moment + timedelta(days=int(days)),  # type: ignore[call-overload]
        created_at=moment,
        created_by=actor.name,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_token.create",
        target_type="api_token",
        target_id=row.id,
        target_name=f"{user.username}/{label}",
        details={"prefix": row.prefix, "expires_at": row.expires_at.isoformat()},
    )
    return _info(row, moment), token


def list_tokens(
    session: Session, *, actor: Actor, username: str | None = None, now: datetime | None = None
) -> list[TokenInfo]:
    """Your own tokens; an admin sees everyone's (or one user's with `username`)."""
    query = select(ApiToken).options(joinedload(ApiToken.user)).join(User).order_by(ApiToken.id)
    if not actor.can("manage_users") or username:
        query = query.where(User.id == _owner(session, actor, username or actor.name).id)
    moment = now or utcnow()
    return [_info(row, moment) for row in session.scalars(query)]


def revoke_token(session: Session, *, actor: Actor, token_id: int, now: datetime | None = None) -> TokenInfo:
    """End a token at once; revoking an already revoked token changes nothing."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user.username != actor.name and not actor.can("manage_users")):
        # another user's token is not shown to a non-admin, so it does not exist for them either
        raise NotFoundError(f"API token {token_id} does not exist; `llm-admin token list` shows yours")
    moment = now or utcnow()
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = moment, actor.name
        audit.record(
            session,
            actor=actor,
            action="api_token.revoke",
            target_type="api_token",
            target_id=row.id,
            target_name=f"{row.user.username}/{row.name}",
            details={"prefix": row.prefix},
        )
    return _info(row, moment)


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> Actor | str:
    """The actor a request with this token acts as, or why it is refused (the 401 message)."""
    moment = now or utcnow()
    if not token.startswith(TOKEN_PREFIX):
        return "send an API token as 'Authorization: Bearer llma_…'; create one with `llm-admin token create`"
    row = session.scalars(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == hash_token(token))
    ).one_or_none()
    if row is None:
        return "this API token is not known; create one with `llm-admin token create`"
    if row.revoked_at is not None:
        return f"API token {row.prefix}… was revoked; create a new one"
    if as_utc(row.expires_at) <= moment:
        return (
            f"API token {row.prefix}… expired at {as_utc(row.expires_at):%Y-%m-%d %H:%M} UTC; make a new one"
        )
    if row.user.disabled:
        return f"{row.user.username} is disabled; ask an admin"
    if row.last_used_at is None or moment - as_utc(row.last_used_at) >= TOUCH_EVERY:
        row.last_used_at = moment
    return Actor(row.user.username, row.user.role)
