"""Health and alerts page: each provider's status, latency chart, the alert feed and acknowledging."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db, ui
from app.models import Alert, utcnow
from app.services import alerts, health, providers
from app.services.access import Actor

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
SEEDER = Actor("seeder", "admin")


def _seed() -> int:
    """Two providers, one probed down twice, and one open failover alert."""
    with db.Session.begin() as session:
        ids = [
            providers.create_provider(
                session, actor=SEEDER, ring=ui.key_ring(), name=name, type="ollama", base_url=url
            ).id
            for name, url in (("home", "http://127.0.0.1:9"), ("lab", "http://127.0.0.1:10"))
        ]
        now = utcnow()
        for minutes, ok, latency in ((10, True, 120.0), (5, False, None), (1, False, None)):
            health.record_probe(
                session,
                provider_id=ids[0],
                ok=ok,
                latency_ms=latency,
                error=None if ok else "connection refused",
                at=now - timedelta(minutes=minutes),
            )
        health.record_probe(session, provider_id=ids[1], ok=True, latency_ms=80.0, error=None, at=now)
        alert, _ = alerts.raise_alert(
            session,
            kind="failover",
            severity="warning",
            message="Provider home down, using fallback lab",
            dedup_key="failover:x",
            provider="home",
        )
        return alert.id


def _open(signed_in: Callable[[str], AppTest], role: str) -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/health.py").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Health and alerts"]
    return at


def test_status_latency_and_alerts_are_shown(signed_in: Callable[[str], AppTest]) -> None:
    _seed()
    at = _open(signed_in, "viewer")

    table = at.dataframe[0].value
    assert list(table["Provider"]) == ["home", "lab"]  # worst first
    assert list(table["Status"]) == ["🔴 disconnected", "🟢 connected"]  # the Providers page's words
    assert list(table["Failures in a row"]) == [2, 0]
    assert "connection refused" in table["Last error"][0]
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert [c["encoding"]["y"]["title"] for c in charts] == ["latency (ms)", "probes succeeded (%)"]
    assert charts[1]["encoding"]["y"]["scale"]["domain"] == [0, 100]
    assert {c["encoding"]["x"]["title"] for c in charts} == {"time (UTC)"}
    assert {c["encoding"]["x"]["axis"]["format"] for c in charts} == {"%H:%M"}  # 24-hour
    assert {c["encoding"]["x"]["timeUnit"] for c in charts} == {"utcyearmonthdatehoursminutes"}
    assert any("Provider home down, using fallback lab" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.key and b.key.startswith("ack_")]  # a viewer cannot acknowledge


def test_an_operator_acknowledges_an_alert(signed_in: Callable[[str], AppTest]) -> None:
    alert_id = _seed()
    at = _open(signed_in, "operator")

    at.button(key=f"ack_{alert_id}").click().run()

    assert not at.exception
    with db.Session.begin() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None and (alert.acknowledged_by, alert.acknowledged_at is not None) == (
            "operator",
            True,
        )
        still_open = session.scalars(select(Alert.kind).where(Alert.acknowledged_at.is_(None))).all()
    assert still_open == ["provider_down"]  # the monitor's own alert for home stays open
    assert not any("using fallback lab" in m.value for m in at.markdown)
    at.toggle(key="alerts_all").set_value(True).run()
    assert any(c.value == "acknowledged by operator" for c in at.caption)


def test_no_providers_says_where_to_start(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in, "admin")
    assert "No providers yet" in at.info[0].value
