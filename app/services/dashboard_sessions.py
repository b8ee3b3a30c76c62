"""Dashboard sessions: a sign-in kept on the server, so it survives a reload, a pasted page URL and a
new tab, and ends on the server when the user signs out, stays idle or has been signed in too long.

The browser holds only a random token in an HttpOnly, SameSite cookie; the database holds its
SHA-256 (a stolen database names no live session). The dashboard script talks to the browser over a
websocket and cannot set such a cookie, so a sign-in makes a one-time hand-off code, valid for a
minute, and sends the browser to /llm-admin/session?code=…; that response (app.dashboard_routes)
redeems the code for the token and sets the cookie. Every script run resumes the session by the
cookie's token, or, before the cookie exists, by the id the signing-in Streamlit session holds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, joinedload

from app.crypto import digest
from app.models import DashboardSession, User, as_utc, utcnow
from app.services.access import Actor

COOKIE = "llm_admin_session"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
HANDOFF = timedelta(seconds=60)
# last_seen_at is written at most this often: a page view stays a read
TOUCH_EVERY = timedelta(seconds=30)
# what the sign-in page says when a session ended by itself (a sign-out or an unknown token: nothing)
ENDED_BECAUSE = {
    "idle": f"You were signed out after {int(IDLE.total_seconds() // 60)} minutes without activity.",
    "expired": f"Your session ended after {int(ABSOLUTE.total_seconds() // 3600)} hours; sign in again.",
    "disabled": "You were signed out: your account was disabled or removed.",
}


@dataclass(frozen=True)
class Resumed:
    actor: Actor
    session_id: int


def start(session: Session, *, user: User, now: datetime | None = None) -> tuple[int, str]:
    """A new session for a user who just signed in: its id and the one-time hand-off code."""
    moment = now or utcnow()
    # sessions long over are forgotten here, so the table stays the size of the signed-in people
    session.execute(delete(DashboardSession).where(DashboardSession.created_at < moment - 2 * ABSOLUTE))
    code = secrets.token_urlsafe(32)
    row = DashboardSession(
        user=user,
        handoff_hash=digest(code),
        handoff_expires_at=moment + HANDOFF,
        created_at=moment,
        last_seen_at=moment,
    )
    session.add(row)
    session.flush()
    return row.id, code


def redeem(session: Session, code: str, *, now: datetime | None = None) -> str | None:
    """The session token for a hand-off code, once; None for an unknown, used or stale code."""
    moment = now or utcnow()
    row = session.scalars(
        select(DashboardSession).where(DashboardSession.handoff_hash == digest(code or "")).with_for_update()
    ).one_or_none()
    if row is None:
        return None
    row.handoff_hash = None  # used, or stale: either way it never works again
    if row.ended_at is not None or row.handoff_expires_at is None or as_utc(row.handoff_expires_at) <= moment:
        return None
    token = secrets.token_urlsafe(32)
    row.token_hash = digest(token)
    return token


def _find(session: Session, *, token: str | None, session_id: int | None) -> DashboardSession | None:
    query = select(DashboardSession).options(joinedload(DashboardSession.user))
    if token:
        query = query.where(DashboardSession.token_hash == digest(token))
    elif session_id is not None:
        query = query.where(DashboardSession.id == session_id)
    else:
        return None
    return session.scalars(query).one_or_none()


def resume(
    session: Session, *, token: str | None = None, session_id: int | None = None, now: datetime | None = None
) -> Resumed | str:
    """The signed-in user of a live session, with their role as the database has it now; or why
    there is none ("" when there is nothing to say: no session, an unknown token, a sign-out).

    The cookie's token first; then the id the tab holds, when the token opens nothing (a cookie
    left from an ended session, in a tab that has signed in again since)."""
    moment = now or utcnow()
    found = _resume_row(_find(session, token=token, session_id=None), moment) if token else ""
    if found == "" and session_id is not None:
        found = _resume_row(_find(session, token=None, session_id=session_id), moment)
    return found


def _resume_row(row: DashboardSession | None, moment: datetime) -> Resumed | str:
    if row is None or row.ended_at is not None:
        return ""  # an ended session's reason was said once, when it ended
    why = None
    if row.user.disabled:
        why = "disabled"
    elif moment - as_utc(row.created_at) >= ABSOLUTE:
        why = "expired"
    elif moment - as_utc(row.last_seen_at) >= IDLE:
        why = "idle"
    if why is not None:
        row.ended_at, row.ended_why = moment, why
        return ENDED_BECAUSE[why]
    if moment - as_utc(row.last_seen_at) >= TOUCH_EVERY:
        row.last_seen_at = moment
    return Resumed(Actor(row.user.username, row.user.role), row.id)


def end(
    session: Session,
    *,
    token: str | None = None,
    session_id: int | None = None,
    why: str = "signed out",
    now: datetime | None = None,
) -> None:
    """Sign out: the session ends on the server, so its cookie opens nothing any more (in any tab)."""
    row = _find(session, token=token, session_id=session_id)
    if row is not None and row.ended_at is None:
        row.ended_at, row.ended_why = now or utcnow(), why
        row.handoff_hash = None


def end_all(session: Session, *, user: User, why: str, keep: int | None = None) -> int:
    """End every live session of a user (a password change or reset): how many were ended."""
    query = update(DashboardSession).where(
        DashboardSession.user_id == user.id, DashboardSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(DashboardSession.id != keep)
    result = session.execute(query.values(ended_at=utcnow(), ended_why=why, handoff_hash=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
