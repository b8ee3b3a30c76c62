"""Overview: open critical alerts on top, and each provider with the status the Providers page shows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from app import db, ui
from app.services import alerts, health, providers
from app.services.access import Actor

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
SEEDER = Actor("seeder", "admin")


def _seed_down_provider() -> None:
    """'home' tested ok once, then the monitor found it down twice (which raises a critical alert)."""
    with db.Session.begin() as session:
        ring = ui.key_ring()
        home = providers.create_provider(
            session, actor=SEEDER, ring=ring, name="home", type="ollama", base_url="http://127.0.0.1:9"
        )
        providers.create_provider(
            session, actor=SEEDER, ring=ring, name="lab", type="ollama", base_url="http://127.0.0.1:10"
        )
        providers.record_test_result(
            session, actor=SEEDER, provider_id=home.id, ok=True, latency_ms=3, message="ok"
        )
        for _ in range(2):
            health.record_probe(session, provider_id=home.id, ok=False, latency_ms=None, error="refused")
        alerts.raise_alert(session, kind="failover", severity="warning", message="a warning", dedup_key="w")


def _open(signed_in: Callable[[str], AppTest], page: str) -> AppTest:
    at = signed_in("viewer")
    at.switch_page(page).run()
    assert not at.exception
    return at


def test_a_down_provider_and_its_critical_alert_show_on_the_overview(
    signed_in: Callable[[str], AppTest],
) -> None:
    _seed_down_provider()
    at = _open(signed_in, "pages/overview.py")
    banner = at.error[0].value
    assert banner.startswith("**1 open critical alert**") and "Provider home down" in banner
    assert "a warning" not in banner  # only the critical ones
    table = at.dataframe[0].value.set_index("Name")
    assert table.loc["home", "Status"] == "🔴 disconnected"
    assert table.loc["lab", "Status"] == "⚪ untested"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Disconnected"] == "1"


def test_overview_providers_and_health_agree_on_each_status(signed_in: Callable[[str], AppTest]) -> None:
    _seed_down_provider()
    shown = {}
    at = signed_in("viewer")
    for page, column in (
        ("pages/overview.py", "Name"),
        ("pages/providers.py", "Name"),
        ("pages/health.py", "Provider"),
    ):
        at.switch_page(page).run()
        assert not at.exception
        frame = at.dataframe[0].value
        shown[page] = dict(zip(frame[column], frame["Status"], strict=True))
    assert shown["pages/overview.py"] == shown["pages/providers.py"] == shown["pages/health.py"]


def test_no_banner_without_critical_alerts(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in, "pages/overview.py")
    assert not at.error
    assert "No providers yet" in at.info[0].value
