"""Users: create, authenticate (throttled), change password, roles; scrypt password hashes."""

from __future__ import annotations

import hashlib
import hmac
import os

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import FieldError, NotFoundError, ValidationError
from app.models import User, utcnow
from app.services import audit, dashboard_sessions, login_throttle
from app.services.access import ROLES, Actor, authorize
from app.services.login_throttle import CLI_SOURCE
from app.validation import check_name

# scrypt (RFC 7914) with OWASP's minimum parameters for interactive logins
_N, _R, _P = 2**15, 8, 1
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def _check_password(password: object, errors: list[FieldError]) -> str | None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        errors.append(FieldError("password", f"must be at least {MIN_PASSWORD} characters"))
        return None
    if len(password) > 1024:
        errors.append(FieldError("password", "must be at most 1024 characters"))
        return None
    return password


def _check_role(role: object, errors: list[FieldError]) -> None:
    if role not in ROLES:
        errors.append(FieldError("role", f"must be one of {', '.join(ROLES)}"))


def find_user(session: Session, *, username: str) -> User | None:
    return session.scalars(
        select(User).where(func.lower(User.username) == username.strip().lower())
    ).one_or_none()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def create_user(
    session: Session, *, actor: Actor, username: str, password: str, role: str, one_time: bool = False
) -> User:
    """Add a user; usernames are unique regardless of case. A `one_time` password (generated, or
    handed over by someone else) must be changed at the first sign-in."""
    authorize(actor, "manage_users")
    errors: list[FieldError] = []
    name = check_name("username", username, errors)
    if name and (" " in name):
        errors.append(FieldError("username", "must not contain spaces"))
    elif name and find_user(session, username=name):
        errors.append(FieldError("username", f"'{name}' already exists; pick another username"))
    _check_password(password, errors)
    _check_role(role, errors)
    if errors:
        raise ValidationError(errors)
    user = User(
        username=name, password_hash=hash_password(password), role=role, must_change_password=one_time
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        details={"role": role},
    )
    return user


def authenticate(session: Session, *, username: str, password: str, source: str = CLI_SOURCE) -> User | None:
    """The user if the password matches, else None; raises LoginThrottled while this source must
    wait after repeated failures at this account (see login_throttle)."""
    login_throttle.reserve_attempt(session, username=username or "", source=source)
    user = find_user(session, username=username or "")
    if user is None:
        verify_password(password, hash_password("timing-equaliser"))
        return None
    if not verify_password(password or "", user.password_hash) or user.disabled:
        return None
    login_throttle.succeeded(session, username=user.username, source=source)
    user.last_login_at = utcnow()
    return user


def unlock(session: Session, *, actor: Actor, username: str) -> int:
    """Clear the backoff on this account from every source; the number of sources that were waiting."""
    authorize(actor, "manage_users")
    user = find_user(session, username=username or "")
    if user is None:
        raise NotFoundError(f"user '{username}' does not exist; see the Users page for the names")
    waiting = login_throttle.clear(session, username=user.username)
    audit.record(
        session,
        actor=actor,
        action="user.unlock",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        details={"throttled_sources": waiting},
    )
    return waiting


def change_password(
    session: Session, *, actor: Actor, user_id: int, password: str, keep_session: int | None = None
) -> User:
    """Set a new password: users change their own; admins reset anyone's, and a password reset by
    someone else is a one-time password, changed at that user's next sign-in. Either way the user's
    dashboard sessions end (all but `keep_session`, the one changing its own password)."""
    user = _get(session, user_id)
    own = user.username == actor.name
    if not own:
        authorize(actor, "manage_users")
    errors: list[FieldError] = []
    _check_password(password, errors)
    if own and not errors and verify_password(password, user.password_hash):
        errors.append(FieldError("password", "is the password you have; choose a new one"))
    if errors:
        raise ValidationError(errors)
    user.password_hash = hash_password(password)
    user.must_change_password = not own
    login_throttle.clear(session, username=user.username)
    dashboard_sessions.end_all(session, user=user, why="password changed", keep=keep_session if own else None)
    audit.record(
        session,
        actor=actor,
        action="user.password",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        details={"one_time": not own},
    )
    return user


def change_own_password(
    session: Session, *, actor: Actor, current: str, password: str, keep_session: int | None = None
) -> User:
    """A signed-in user's own change, proven with the password they have now."""
    user = find_user(session, username=actor.name)
    if user is None or user.disabled:
        raise NotFoundError(f"user '{actor.name}' does not exist or is disabled")
    if not verify_password(current or "", user.password_hash):
        raise ValidationError([FieldError("current", "is not your current password")])
    return change_password(
        session, actor=actor, user_id=user.id, password=password, keep_session=keep_session
    )


def must_change_password(session: Session, *, username: str) -> bool:
    user = find_user(session, username=username)
    return bool(user is not None and user.must_change_password)


def set_role(session: Session, *, actor: Actor, user_id: int, role: str) -> User:
    authorize(actor, "manage_users")
    user = _get(session, user_id)
    errors: list[FieldError] = []
    _check_role(role, errors)
    if errors:
        raise ValidationError(errors)
    if user.role == "admin" and role != "admin":
        _refuse_last_admin(session, user)
    before, user.role = user.role, role
    audit.record(
        session,
        actor=actor,
        action="user.role",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        details={"before": before, "after": role},
    )
    return user


def set_disabled(session: Session, *, actor: Actor, user_id: int, disabled: bool) -> User:
    authorize(actor, "manage_users")
    user = _get(session, user_id)
    if disabled and user.role == "admin":
        _refuse_last_admin(session, user)
    user.disabled = disabled
    audit.record(
        session,
        actor=actor,
        action="user.disable" if disabled else "user.enable",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
    )
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(func.lower(User.username))))


def _refuse_last_admin(session: Session, user: User) -> None:
    admins = session.scalar(select(func.count(User.id)).where(User.role == "admin", User.disabled.is_(False)))
    if (admins or 0) <= 1:
        raise ValidationError([FieldError("role", f"{user.username} is the last admin; add another first")])


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    return user


def get_user(session: Session, *, user_id: int) -> User:
    return _get(session, user_id)
