"""The status column: connected, idle, warning, disconnected or untested; 'tested N ago'; the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import db
from app.crypto import KeyRing
from app.models import Provider, ProviderHealth, UsageEvent, utcnow
from app.services import models, provider_status, providers
from app.services.access import Actor
from app.services.provider_status import LastCheck, ago, connection_status

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "ok", "monitor", "expected"),
    [
        (timedelta(minutes=1), True, None, "connected"),
        (timedelta(minutes=5), True, None, "connected"),
        (timedelta(minutes=6), True, None, "idle"),
        (timedelta(minutes=60), True, None, "idle"),
        (timedelta(minutes=61), True, None, "warning"),
        (timedelta(minutes=1), True, "degraded", "warning"),
        (timedelta(minutes=1), True, "healthy", "connected"),
        (timedelta(minutes=1), False, None, "disconnected"),
        (timedelta(days=3), False, None, "disconnected"),
        (timedelta(minutes=1), True, "down", "disconnected"),
        (None, None, None, "untested"),
        (None, None, "degraded", "warning"),
        (None, None, "down", "disconnected"),
    ],
)
def test_connection_status_rule(
    age: timedelta | None, ok: bool | None, monitor: str | None, expected: str
) -> None:
    check = LastCheck(None if age is None else NOW - age, ok, monitor)
    assert connection_status(check, now=NOW) == expected


def test_a_naive_time_from_sqlite_is_read_as_utc() -> None:
    now = utcnow()
    naive = (now - timedelta(minutes=2)).replace(tzinfo=None)
    assert connection_status(LastCheck(naive, True), now=now) == "connected"


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(seconds=20), "tested just now"),
        (timedelta(minutes=1), "tested 1 minute ago"),
        (timedelta(minutes=42, seconds=59), "tested 42 minutes ago"),
        (timedelta(hours=2, minutes=5), "tested 2 hours ago"),
        (timedelta(days=1, hours=3), "tested 1 day ago"),
        (timedelta(seconds=-5), "tested just now"),  # a clock a little ahead
    ],
)
def test_ago(age: timedelta, expected: str) -> None:
    assert ago(NOW - age, now=NOW) == expected


def test_ago_of_nothing() -> None:
    assert ago(None, now=NOW) == "never tested"


def _provider(ring: KeyRing, actor: Actor, name: str) -> int:
    with db.Session.begin() as session:
        return providers.create_provider(
            session, actor=actor, ring=ring, name=name, type="openai", secrets={"api_key": "sk-0123456789abc"}
        ).id


def test_rows_use_the_newer_of_the_admins_test_and_the_monitors_probe(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    now = utcnow()
    tested, probed, deleted = (_provider(ring, admin, n) for n in ("Tested", "Probed", "Gone"))
    with db.Session.begin() as session:
        providers.record_test_result(
            session, actor=admin, provider_id=tested, ok=True, latency_ms=5, message="ok"
        )
        # the monitor probed Tested 2 hours ago: the admin's test just now is newer
        session.add(ProviderHealth(provider_id=tested, status="healthy", checked_at=now - timedelta(hours=2)))
        # Probed: an old failed admin test, then the monitor found it healthy 2 minutes ago
        row = session.get(Provider, probed)
        assert row is not None
        row.last_test_at, row.last_test_ok = now - timedelta(days=1), False
        session.add(
            ProviderHealth(provider_id=probed, status="healthy", checked_at=now - timedelta(minutes=2))
        )
        session.add(UsageEvent(provider="Probed", cost_usd=0.5, status="failure", at=now))
        providers.delete_provider(session, actor=admin, provider_id=deleted)
        for identifier, enabled in (("gpt-4o", True), ("gpt-4o-mini", False), ("o1", True)):
            models.create_model(
                session, actor=admin, provider_id=tested, identifier=identifier, enabled=enabled
            )
    with db.Session.begin() as session:
        rows = {r.provider.name: r for r in provider_status.provider_rows(session, ring=ring, now=now)}
        everything = provider_status.provider_rows(session, include_deleted=True, now=now)
    assert sorted(rows) == ["Probed", "Tested"]
    assert (rows["Tested"].status, rows["Tested"].tested, rows["Tested"].label) == (
        "connected",
        "tested just now",
        "🟢 connected",
    )
    assert (rows["Probed"].status, rows["Probed"].tested) == ("connected", "tested 2 minutes ago")
    assert (
        rows["Probed"].usage.requests,
        rows["Probed"].usage.cost_usd,
        rows["Probed"].usage.error_rate,
    ) == (
        1,
        0.5,
        1.0,
    )
    assert rows["Tested"].usage.requests == 0
    assert (rows["Tested"].provider.model_count, rows["Tested"].provider.enabled_model_count) == (3, 2)
    assert (rows["Probed"].provider.model_count, rows["Probed"].provider.enabled_model_count) == (0, 0)
    assert rows["Tested"].provider.credentials[0].masked == "sk-…abc"
    assert len(everything) == 3


def test_a_failing_monitor_probe_after_a_good_test_is_disconnected_once_down(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    now = utcnow()
    pid = _provider(ring, admin, "Flaky")
    with db.Session.begin() as session:
        providers.record_test_result(
            session, actor=admin, provider_id=pid, ok=True, latency_ms=5, message="ok"
        )
        session.add(
            ProviderHealth(
                provider_id=pid,
                status="degraded",
                consecutive_failures=1,
                checked_at=now + timedelta(seconds=1),
            )
        )
    with db.Session.begin() as session:
        (row,) = provider_status.provider_rows(session, now=now + timedelta(seconds=2))
    # the newest check failed: disconnected, though the monitor waits for a second failure to call it down
    assert (row.last_check.ok, row.status) == (False, "disconnected")
