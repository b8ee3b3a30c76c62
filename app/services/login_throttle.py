"""Sign-in throttling per account and source: a few free failures, then exponential backoff.

Each attempt is reserved by one atomic UPDATE (count + 1, next allowed time) before the password is
checked, so parallel guesses cannot slip past the count; a guess that comes before the next allowed
time is refused without checking the password. The key is the account *and* the source (the
dashboard's client address, "cli" for the shell), so an attacker slows only their own guesses at
that account and the real admin still signs in from anywhere else.
"""

from __future__ import annotations

import math
import time
from typing import Any

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.errors import LlmAdminError
from app.models import LoginThrottle

FREE_FAILURES = 5  # the 5th failure in a row starts the backoff: 30 s, then 60, 120 … seconds
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 15 * 60
CLI_SOURCE = "cli"
_TABLE: Any = LoginThrottle.__table__


class LoginThrottled(LlmAdminError):
    """Too many failed sign-ins for this account from this source: wait, or ask an admin to unlock."""

    def __init__(self, retry_after: float):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many failed sign-ins from here; try again in {self.retry_after} s "
            "(or ask an admin: llm-admin user unlock NAME)"
        )


def delay_after(failures: int) -> float:
    """Seconds the next attempt waits after this many failures in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return float(min(FIRST_DELAY_SECONDS * 2 ** (failures - FREE_FAILURES), MAX_DELAY_SECONDS))


def _next_attempt_at(failures: Any, now: float) -> Any:
    # delay_after as SQL, so the count and the wait are written by the same statement
    steps = math.ceil(math.log2(MAX_DELAY_SECONDS / FIRST_DELAY_SECONDS)) + 1
    whens = [(failures < FREE_FAILURES, literal(0.0))]
    whens += [
        (failures == FREE_FAILURES + i, literal(now + delay_after(FREE_FAILURES + i))) for i in range(steps)
    ]
    return case(*whens, else_=literal(now + MAX_DELAY_SECONDS))


def _key(username: str) -> str:
    return (username or "").strip().lower()[:100]


def _source(source: str) -> str:
    return (source or "unknown").strip()[:100] or "unknown"


def reserve_attempt(session: Session, *, username: str, source: str) -> int:
    """Count this attempt (atomically) and return its number in the current run of failures;
    raise LoginThrottled when the backoff says this source must wait."""
    key, src, now = _key(username), _source(source), time.time()
    row = {"username_key": key, "source": src, "failures": 0, "next_attempt_at": 0.0}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # first statement of the transaction is a write: SQLite takes its write lock (waiting its busy
    # timeout) instead of failing later on a stale read snapshot
    session.execute(
        insert(_TABLE).values(**row).on_conflict_do_nothing(index_elements=["username_key", "source"])
    )
    counted = _TABLE.c.failures + 1
    reserved = session.execute(
        update(_TABLE)
        .where(_TABLE.c.username_key == key, _TABLE.c.source == src, _TABLE.c.next_attempt_at <= now)
        .values(failures=counted, next_attempt_at=_next_attempt_at(counted, now))
        .returning(_TABLE.c.failures)
    ).scalar_one_or_none()
    if reserved is None:
        wait_until = session.execute(
            select(_TABLE.c.next_attempt_at).where(_TABLE.c.username_key == key, _TABLE.c.source == src)
        ).scalar_one()
        raise LoginThrottled(wait_until - now)
    return int(reserved)


def succeeded(session: Session, *, username: str, source: str) -> None:
    """A right password from this source ends its run of failures."""
    session.execute(
        delete(_TABLE).where(_TABLE.c.username_key == _key(username), _TABLE.c.source == _source(source))
    )


def clear(session: Session, *, username: str) -> int:
    """Forget every source's failures for this account; the number of sources that were throttled."""
    key = _key(username)
    throttled = session.execute(
        select(_TABLE.c.source).where(_TABLE.c.username_key == key, _TABLE.c.failures >= FREE_FAILURES)
    ).all()
    session.execute(delete(_TABLE).where(_TABLE.c.username_key == key))
    return len(throttled)
