"""Health service: thresholds, transitions, alerts naming the fallback, dedup, recovery, listings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import db
from app.crypto import KeyRing
from app.models import Alert, HealthCheck, ProviderHealth, Route, utcnow
from app.services import alerts, config, health, models, providers
from app.services.access import Actor


def _provider(ring: KeyRing, actor: Actor, name: str, *aliases: str) -> int:
    """A custom provider serving each alias with an enabled model."""
    with db.Session.begin() as session:
        p = providers.create_provider(
            session,
            actor=actor,
            ring=ring,
            name=name,
            type="custom",
            base_url=f"http://127.0.0.1:9/{name}/v1",
            secrets={"api_key": f"sk-{name}-0123456789"},
        )
        for i, alias in enumerate(aliases):
            models.create_model(
                session, actor=actor, provider_id=p.id, identifier=f"m{i}", alias=alias, enabled=True
            )
        return p.id


def _route(agent_type: str, model: str, *fallbacks: str, enabled: bool = True) -> None:
    with db.Session.begin() as session:
        session.add(
            Route(
                agent_type=agent_type,
                model=model,
                fallbacks=list(fallbacks),
                enabled=enabled,
                created_by="test",
                updated_by="test",
            )
        )


def _probe(pid: int, ok: bool, latency_ms: float | None = 20.0, error: str = "HTTP 500") -> str | None:
    """Record one probe; the new status when it changed."""
    with db.Session.begin() as session:
        change = health.record_probe(session, provider_id=pid, ok=ok, latency_ms=latency_ms, error=error)
        return change.new if change else None


def _status(pid: int) -> tuple[str, int]:
    with db.Session.begin() as session:
        row = session.get(ProviderHealth, pid)
        assert row is not None
        return row.status, row.consecutive_failures


def _alerts(kind: str) -> list[Alert]:
    with db.Session.begin() as session:
        return list(session.scalars(select(Alert).where(Alert.kind == kind).order_by(Alert.id)))


@pytest.mark.parametrize(
    ("ok", "latency", "failures", "expected"),
    [
        (True, 20.0, 0, "healthy"),
        (True, health.DEGRADED_LATENCY_MS, 0, "healthy"),
        (True, health.DEGRADED_LATENCY_MS + 1, 0, "degraded"),
        (True, None, 0, "healthy"),
        (False, 20.0, 1, "degraded"),
        (False, 20.0, health.DOWN_AFTER_FAILURES, "down"),
        (False, 20.0, health.DOWN_AFTER_FAILURES + 5, "down"),
    ],
)
def test_classify_thresholds(ok: bool, latency: float | None, failures: int, expected: str) -> None:
    assert health.classify(ok=ok, latency_ms=latency, consecutive_failures=failures) == expected


def test_one_failure_degrades_two_in_a_row_mark_down_and_a_success_resets(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    pid = _provider(ring, admin, "acme", "chat")
    assert _probe(pid, True) == "healthy"
    assert _probe(pid, False) == "degraded"
    assert _status(pid) == ("degraded", 1)
    assert _probe(pid, True) == "healthy"
    assert _status(pid) == ("healthy", 0)
    assert _probe(pid, False) == "degraded"
    assert _probe(pid, False) == "down"
    assert _probe(pid, False) is None
    assert _status(pid) == ("down", 3)


def test_slow_answers_degrade_without_alerting(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _provider(ring, admin, "slowco", "chat")
    assert _probe(pid, True, latency_ms=health.DEGRADED_LATENCY_MS + 250) == "degraded"
    assert _probe(pid, True, latency_ms=80) == "healthy"
    with db.Session.begin() as session:
        assert alerts.list_alerts(session) == []


def test_down_alert_names_the_fallback_the_route_now_uses(db_url: str, ring: KeyRing, admin: Actor) -> None:
    primary = _provider(ring, admin, "acme", "fast")
    _provider(ring, admin, "backupco", "steady")
    _route("summarizer", "fast", "steady")
    _probe(primary, False, error="cannot reach http://127.0.0.1:9/models (ConnectError)")
    assert _alerts("provider_down") == []
    _probe(primary, False, error="cannot reach http://127.0.0.1:9/models (ConnectError)")
    [alert] = _alerts("provider_down")
    assert alert.severity == "critical"
    assert alert.provider == "acme"
    assert alert.message.startswith("Provider acme down, using fallback steady for agent/summarizer")
    assert "ConnectError" in alert.message


def test_fallback_skips_steps_whose_providers_are_down_too(db_url: str, ring: KeyRing, admin: Actor) -> None:
    primary = _provider(ring, admin, "acme", "fast")
    second = _provider(ring, admin, "betaco", "medium")
    _provider(ring, admin, "gammaco", "slow")
    _route("code-review", "fast", "medium", "slow")
    for _ in range(2):
        _probe(second, False)
    for _ in range(2):
        _probe(primary, False)
    message = next(a.message for a in _alerts("provider_down") if a.provider == "acme")
    assert message.startswith("Provider acme down, using fallback slow for agent/code-review")


def test_no_fallback_available_is_said(db_url: str, ring: KeyRing, admin: Actor) -> None:
    primary = _provider(ring, admin, "acme", "fast", "alone")
    _route("local", "fast")
    for _ in range(2):
        _probe(primary, False)
    [alert] = _alerts("provider_down")
    assert alert.message.startswith("Provider acme down, no fallback available for agent/local, alone")


def test_routes_are_grouped_by_the_fallback_they_use(db_url: str, ring: KeyRing, admin: Actor) -> None:
    primary = _provider(ring, admin, "acme", "fast")
    _provider(ring, admin, "betaco", "medium")
    _route("summarizer", "fast", "medium")
    _route("code-review", "fast", "medium")
    _route("strict", "fast")
    _route("unrelated", "medium")
    _route("off", "fast", "medium", enabled=False)
    for _ in range(2):
        _probe(primary, False)
    [alert] = _alerts("provider_down")
    assert alert.message.startswith(
        "Provider acme down, using fallback medium for agent/code-review, agent/summarizer; "
        "no fallback available for agent/strict ("
    )


def test_another_deployment_of_the_same_model_is_the_fallback(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    primary = _provider(ring, admin, "acme", "chat")
    _provider(ring, admin, "twinco", "chat")
    for _ in range(2):
        _probe(primary, False)
    [alert] = _alerts("provider_down")
    assert alert.message.startswith(
        "Provider acme down, using fallback chat (its other deployments) for chat"
    )


def test_config_fallbacks_name_the_fallback_of_a_plain_model_group(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    primary = _provider(ring, admin, "acme", "chat")
    _provider(ring, admin, "backupco", "backup")
    with db.Session.begin() as session:
        config.get_settings_row(session).router_settings = {"fallbacks": [{"chat": ["backup"]}]}
    for _ in range(2):
        _probe(primary, False)
    [alert] = _alerts("provider_down")
    assert alert.message.startswith("Provider acme down, using fallback backup for chat")


def test_one_alert_per_outage_however_many_failed_probes(db_url: str, ring: KeyRing, admin: Actor) -> None:
    primary = _provider(ring, admin, "acme", "chat")
    for _ in range(6):
        _probe(primary, False)
    [alert] = _alerts("provider_down")
    assert alert.occurrences == 1
    assert _status(primary) == ("down", 6)


def test_recovery_alert_when_a_down_provider_answers_again(db_url: str, ring: KeyRing, admin: Actor) -> None:
    primary = _provider(ring, admin, "acme", "chat")
    for _ in range(3):
        _probe(primary, False)
    assert _probe(primary, True, latency_ms=42) == "healthy"
    [recovered] = _alerts("provider_recovered")
    assert recovered.severity == "info"
    assert recovered.provider == "acme"
    assert recovered.message.startswith("Provider acme recovered after ")
    assert recovered.message.endswith("down: healthy, 42 ms")
    assert _probe(primary, True) is None
    assert len(_alerts("provider_recovered")) == 1


def test_a_new_outage_after_the_last_was_acknowledged_raises_a_new_alert(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    primary = _provider(ring, admin, "acme", "chat")
    for _ in range(2):
        _probe(primary, False)
    _probe(primary, True)
    [first] = _alerts("provider_down")
    with db.Session.begin() as session:
        alerts.acknowledge(session, actor=admin, alert_id=first.id)
    for _ in range(2):
        _probe(primary, False)
    assert [a.id == first.id for a in _alerts("provider_down")] == [True, False]


def test_a_flapping_provider_bumps_its_open_alert(db_url: str, ring: KeyRing, admin: Actor) -> None:
    primary = _provider(ring, admin, "acme", "chat")
    for _ in range(3):
        for _ in range(2):
            _probe(primary, False)
        _probe(primary, True)
    [down] = _alerts("provider_down")
    [recovered] = _alerts("provider_recovered")
    assert (down.occurrences, recovered.occurrences) == (3, 3)


def test_list_health_worst_first_and_unknown_until_probed(db_url: str, ring: KeyRing, admin: Actor) -> None:
    good = _provider(ring, admin, "good", "a")
    bad = _provider(ring, admin, "bad", "b")
    _provider(ring, admin, "new", "c")
    off = _provider(ring, admin, "off", "d")
    with db.Session.begin() as session:
        providers.set_provider_enabled(session, actor=admin, provider_id=off, enabled=False)
    _probe(good, True, latency_ms=12.5)
    for _ in range(2):
        _probe(bad, False, error="HTTP 500: upstream exploded")
    with db.Session.begin() as session:
        views = health.list_health(session)
        with_disabled = health.list_health(session, include_disabled=True)
    assert [(v.name, v.status) for v in views] == [("bad", "down"), ("new", "unknown"), ("good", "healthy")]
    assert views[0].error == "HTTP 500: upstream exploded"
    assert views[0].consecutive_failures == 2
    assert views[2].latency_ms == 12.5 and views[2].error is None
    assert views[2].checked_at is not None and views[2].checked_at.tzinfo is not None
    assert {v.name for v in with_disabled} == {"bad", "new", "good", "off"}


def test_history_oldest_first_filtered_and_pruned(db_url: str, ring: KeyRing, admin: Actor) -> None:
    a = _provider(ring, admin, "alpha", "a")
    b = _provider(ring, admin, "beta", "b")
    start = utcnow() - timedelta(days=10)
    with db.Session.begin() as session:
        for i in range(5):
            health.record_probe(
                session, provider_id=a, ok=i != 2, latency_ms=10.0 + i, at=start + timedelta(days=2 * i)
            )
        health.record_probe(session, provider_id=b, ok=True, latency_ms=5.0)
    with db.Session.begin() as session:
        alpha = health.health_history(session, provider_ids=[a])
        latest_two = health.health_history(session, provider_ids=[a], limit=2)
        recent = health.health_history(session, since=utcnow() - timedelta(days=3))
    assert [p.latency_ms for p in alpha] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert [p.ok for p in alpha] == [True, True, False, True, True]
    assert alpha[2].error == "probe failed"
    assert [p.latency_ms for p in latest_two] == [13.0, 14.0]
    assert sorted((p.provider, p.latency_ms) for p in recent) == [("alpha", 14.0), ("beta", 5.0)]
    with db.Session.begin() as session:
        removed = health.prune_history(session, before=utcnow() - health.KEEP_HISTORY)
    assert removed == 2
    with db.Session.begin() as session:
        assert len(list(session.scalars(select(HealthCheck)))) == 4


def test_down_providers_are_listed_for_the_generator(db_url: str, ring: KeyRing, admin: Actor) -> None:
    a = _provider(ring, admin, "alpha", "a")
    b = _provider(ring, admin, "beta", "b")
    for _ in range(2):
        _probe(a, False)
    _probe(b, False)
    with db.Session.begin() as session:
        assert health.down_provider_ids(session) == {a}


def test_health_series_groups_probes_per_provider_and_bucket_in_sql(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    from datetime import UTC, datetime

    pid = _provider(ring, admin, "acme", "chat")
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with db.Session.begin() as session:
        for minute, ok, latency in ((1, True, 100.0), (3, True, 300.0), (4, False, None), (16, True, 50.0)):
            health.record_probe(
                session, provider_id=pid, ok=ok, latency_ms=latency, at=start + timedelta(minutes=minute)
            )
    with db.Session.begin() as session:
        series = health.health_series(session, provider_ids=[pid], since=start, bucket_seconds=900)
    assert [(b.provider, b.start, b.probes, b.ok_share, b.latency_ms) for b in series] == [
        ("acme", start, 3, 2 / 3, 200.0),
        ("acme", start + timedelta(minutes=15), 1, 1.0, 50.0),
    ]


def test_the_slow_threshold_is_the_callers_to_set() -> None:
    assert health.classify(ok=True, latency_ms=5000, consecutive_failures=0, slow_ms=10_000) == "healthy"
    assert health.classify(ok=True, latency_ms=5000, consecutive_failures=0, slow_ms=4_000) == "degraded"
