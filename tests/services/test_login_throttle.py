"""Sign-in throttling per account and source: counted atomically under parallel guesses, with
exponential backoff, never locking the real admin out from another source; `user unlock` ends it."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select, update

from app import db
from app.cli import main
from app.errors import PermissionDenied
from app.models import AuditEntry, LoginThrottle
from app.services import login_throttle, users
from app.services.access import Actor, login_source
from app.services.login_throttle import FREE_FAILURES, LoginThrottled

PASSWORD = "correct horse battery"
ATTACKER = "ip:203.0.113.9"
ADMIN_DESK = "ip:198.51.100.7"


@pytest.fixture
def alice(db_url: str, admin: Actor) -> str:
    with db.Session.begin() as session:
        users.create_user(session, actor=admin, username="alice", password=PASSWORD, role="admin")
    return "alice"


def _try(username: str, password: str, source: str) -> str:
    """'ok', 'wrong' or 'throttled', as the dashboard would see it."""
    try:
        with db.Session.begin() as session:
            user = users.authenticate(session, username=username, password=password, source=source)
            return "ok" if user is not None else "wrong"
    except LoginThrottled:
        return "throttled"


def _failures(username: str, source: str) -> int | None:
    with db.Session.begin() as session:
        return session.scalar(
            select(LoginThrottle.failures).where(
                LoginThrottle.username_key == username, LoginThrottle.source == source
            )
        )


def _parallel(n: int, username: str, password: str, source: str) -> Counter[str]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess() -> None:
        barrier.wait()
        outcome = _try(username, password, source)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=guess) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(outcomes)


def test_twenty_parallel_wrong_passwords_all_count_and_only_the_free_ones_are_checked(alice: str) -> None:
    outcomes = _parallel(20, alice, "wrong password guess", ATTACKER)
    # every guess is accounted for: the free ones checked and counted, the rest refused unchecked
    assert outcomes == Counter({"wrong": FREE_FAILURES, "throttled": 20 - FREE_FAILURES})
    assert _failures(alice, ATTACKER) == FREE_FAILURES
    assert _try(alice, PASSWORD, ATTACKER) == "throttled"


def test_the_real_admin_signs_in_from_another_source_while_an_attacker_is_throttled(alice: str) -> None:
    _parallel(20, alice, "wrong password guess", ATTACKER)
    assert _try(alice, PASSWORD, ADMIN_DESK) == "ok"
    assert _try(alice, PASSWORD, login_throttle.CLI_SOURCE) == "ok"
    assert _try(alice, PASSWORD, ATTACKER) == "throttled"  # the attacker's own source still waits


def test_each_failure_after_the_free_ones_doubles_the_wait(alice: str) -> None:
    waits: list[int] = []
    for _ in range(FREE_FAILURES):
        assert _try(alice, "wrong password guess", ATTACKER) == "wrong"
    for expected in (30, 60, 120, 240, 480, 900, 900):
        with pytest.raises(LoginThrottled) as refused, db.Session.begin() as session:
            users.authenticate(session, username=alice, password="another guess", source=ATTACKER)
        waits.append(refused.value.retry_after)
        # the wait counts from the failure; the scrypt check since then took part of it
        assert expected - 5 <= refused.value.retry_after <= expected
        with db.Session.begin() as session:  # the wait has passed
            session.execute(update(LoginThrottle).values(next_attempt_at=time.time() - 1))
        assert _try(alice, "wrong password guess", ATTACKER) == "wrong"
    assert waits == sorted(waits) and waits[-1] > 880
    assert login_throttle.delay_after(40) == login_throttle.MAX_DELAY_SECONDS


def test_a_right_password_ends_the_run_of_failures_for_that_source_only(alice: str) -> None:
    for source in (ATTACKER, ADMIN_DESK):
        for _ in range(FREE_FAILURES - 1):
            assert _try(alice, "wrong password guess", source) == "wrong"
    assert _try(alice, PASSWORD, ADMIN_DESK) == "ok"
    assert _failures(alice, ADMIN_DESK) is None
    assert _failures(alice, ATTACKER) == FREE_FAILURES - 1


def test_unknown_names_are_throttled_like_real_ones(alice: str) -> None:
    outcomes = _parallel(8, "mallory", "whatever guess", ATTACKER)
    assert outcomes == Counter({"wrong": FREE_FAILURES, "throttled": 8 - FREE_FAILURES})


def test_cli_user_unlock_ends_the_wait_from_every_source_and_is_audited(
    alice: str, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _parallel(10, alice, "wrong password guess", ATTACKER)
    assert main(["user", "unlock", "ALICE"]) == 0
    assert capsys.readouterr().out == "ALICE: unlocked (1 source(s) were waiting after failed sign-ins)\n"
    assert _try(alice, PASSWORD, ATTACKER) == "ok"
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.unlock")).one()
        assert (entry.target_name, entry.details) == ("alice", {"throttled_sources": 1})
        assert entry.actor.startswith("cli:")


def test_cli_user_unlock_names_an_unknown_user(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "unlock", "nobody"]) == 1
    assert (
        capsys.readouterr().err == "error: user 'nobody' does not exist; see the Users page for the names\n"
    )


def test_only_an_admin_may_unlock(alice: str) -> None:
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        users.unlock(session, actor=Actor("vic", "viewer"), username=alice)


def test_the_dashboard_source_is_the_peer_unless_a_trusted_proxy_forwards_it() -> None:
    assert login_source("10.0.0.5", "1.2.3.4") == "ip:10.0.0.5"
    assert login_source("10.0.0.5", "6.6.6.6, 1.2.3.4", trust_forwarded=True) == "ip:1.2.3.4"
    assert login_source(None) == "ip:unknown"
