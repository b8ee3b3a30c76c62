"""The usage and costs page: figures for known events, the empty state, the date range and filters,
cheaper models, the CSVs, usage by caller application, and every role may look."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from app import db
from app.models import Model, Provider, Route
from tests.services.test_usage import event as usage_event
from tests.services.test_usage import record


def now() -> datetime:
    """Read at each use: a suite that runs across midnight must not seed yesterday's "today"."""
    return datetime.now(UTC)


def today() -> date:
    return now().date()


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    streamlit.cache_data.clear()
    yield
    streamlit.cache_data.clear()


def event(**values: Any) -> dict[str, Any]:
    """The service tests' usage row, today."""
    return usage_event(**{"at": now(), **values})


def open_usage(signed_in: Callable[[str], AppTest], role: str = "admin") -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/usage.py")
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Usage and costs"]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame(at: AppTest, first_column: str) -> pd.DataFrame:
    [found] = [d.value for d in at.dataframe if d.value.columns[0] == first_column]
    return found


def known() -> list[dict[str, Any]]:
    return [
        event(provider="Acme", cost_usd=0.5, latency_ms=100.0),
        event(
            provider="Acme", model_group="gpt-4o-mini", route="agent/chat", cost_usd=0.25, latency_ms=300.0
        ),
        event(provider="Beta", model_group="claude", cost_usd=1.0, prompt_tokens=1000, latency_ms=900.0),
        event(provider="Beta", model_group="claude", status="failure", cost_usd=0.0, latency_ms=5000.0),
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_shows_the_figures_of_the_events(signed_in: Callable[[str], AppTest]) -> None:
    record(known())

    at = open_usage(signed_in)

    assert metrics(at) == {
        "Requests": "4",
        "Tokens": "1,380",
        "Cost": "$1.75",
        "Error rate": "25.0%",
        "p50 latency": "300 ms",  # nearest rank of 100, 300, 900 (the failure does not count)
        "p95 latency": "900 ms",
    }
    by_provider = frame(at, "Provider")
    assert by_provider[["Provider", "Cost (USD)", "Requests", "Errors"]].values.tolist() == [
        ["Beta", 1.0, 2, 1],
        ["Acme", 0.75, 2, 0],
    ]
    assert frame(at, "Model group")["Model group"].tolist() == ["claude", "gpt-4o", "gpt-4o-mini"]
    assert frame(at, "Route")[["Route", "Requests"]].values.tolist() == [["(no route)", 3], ["agent/chat", 1]]
    assert len(at.get("vega_lite_chart")) == 5  # spend by day, and one bar chart per breakdown
    assert at.selectbox(key="usage_provider").options == ["All providers", "Acme", "Beta"]
    assert at.selectbox(key="usage_route").options == ["All routes", "(no route)", "agent/chat"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_no_usage_says_so_and_offers_no_download(signed_in: Callable[[str], AppTest]) -> None:
    at = open_usage(signed_in)

    assert metrics(at) == {
        "Requests": "0",
        "Tokens": "0",
        "Cost": "$0.00",
        "Error rate": "–",
        "p50 latency": "–",
        "p95 latency": "–",
    }
    assert "No requests from" in at.info[0].value
    assert at.get("download_button") == []
    assert at.get("vega_lite_chart") == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_date_range_picks_the_days_shown(signed_in: Callable[[str], AppTest]) -> None:
    record([event(cost_usd=1.0), event(at=now() - timedelta(days=10), provider="Old", cost_usd=4.0)])
    at = open_usage(signed_in)
    assert metrics(at)["Cost"] == "$5.00"

    at.date_input(key="usage_dates").set_value(
        (today() - timedelta(days=12), today() - timedelta(days=8))
    ).run()

    assert not at.exception
    assert (metrics(at)["Requests"], metrics(at)["Cost"]) == ("1", "$4.00")
    assert frame(at, "Provider")["Provider"].tolist() == ["Old"]
    assert at.selectbox(key="usage_provider").options == ["All providers", "Old"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_provider_and_route_filters_narrow_every_figure(signed_in: Callable[[str], AppTest]) -> None:
    record(known())
    at = open_usage(signed_in)

    at.selectbox(key="usage_provider").select("Acme").run()
    assert (metrics(at)["Requests"], metrics(at)["Cost"], metrics(at)["p95 latency"]) == (
        "2",
        "$0.75",
        "300 ms",
    )
    assert frame(at, "Model group")["Model group"].tolist() == ["gpt-4o", "gpt-4o-mini"]

    at.selectbox(key="usage_route").select("agent/chat").run()
    assert (metrics(at)["Requests"], metrics(at)["Cost"]) == ("1", "$0.25")

    at.selectbox(key="usage_provider").select("Beta").run()
    assert metrics(at)["Requests"] == "0"
    assert "for Beta through agent/chat" in at.info[0].value


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_csv_holds_the_aggregated_rows_of_the_range(
    signed_in: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    record([*known(), event(at=now() - timedelta(days=40), cost_usd=9.0)])
    offered: list[dict[str, Any]] = []
    real = streamlit.download_button

    def spy(label: str, data: Any, **kwargs: Any) -> Any:
        offered.append({"label": label, "data": data, **kwargs})
        return real(label, data, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", spy)
    open_usage(signed_in)

    [button] = [b for b in offered if b["key"] == "usage_csv"]
    start = today() - timedelta(days=29)
    assert button["file_name"] == f"usage-{start:%Y%m%d}-{today():%Y%m%d}.csv"
    assert button["mime"] == "text/csv"
    day = today().isoformat()
    assert button["data"]().splitlines() == [
        "day,provider,model_group,route,requests,failures,fallbacks,prompt_tokens,completion_tokens,cost_usd",
        f"{day},Acme,gpt-4o,,1,0,0,100,20,0.5",
        f"{day},Acme,gpt-4o-mini,agent/chat,1,0,0,100,20,0.25",
        f"{day},Beta,claude,,2,1,0,1100,40,1.0",
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cheaper_models_for_a_route_are_listed(signed_in: Callable[[str], AppTest]) -> None:
    with db.Session.begin() as session:
        acme = Provider(name="Acme", name_key="acme", type="openai", created_by="t", updated_by="t")
        session.add(acme)
        session.flush()
        for alias, price_in, price_out in (("big", 10.0, 30.0), ("small", 0.1, 0.4)):
            session.add(
                Model(
                    provider_id=acme.id,
                    identifier=alias,
                    alias=alias,
                    enabled=True,
                    input_cost_per_1m=price_in,
                    output_cost_per_1m=price_out,
                    context_window=128_000,
                    created_by="t",
                    updated_by="t",
                )
            )
        session.add(Route(agent_type="chat", model="big", created_by="t", updated_by="t"))
    record([event(route="agent/chat", model_group="agent/chat", prompt_tokens=100_000, cost_usd=1.0)])

    at = open_usage(signed_in)
    assert not [d for d in at.dataframe if "Cheaper" in d.value.columns]  # only when asked for
    at.button(key="usage_find_cheaper").click().run()

    [found] = [d.value for d in at.dataframe if "Cheaper" in d.value.columns]
    assert found[["Route", "Now", "Cheaper", "Providers", "Requests (30 d)"]].values.tolist() == [
        ["chat", "big", "small", "Acme", 1]
    ]
    assert found["Saving"].tolist() == [pytest.approx(1.0 - (100_000 * 0.1 + 20 * 0.4) / 1_000_000)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_every_role_may_see_usage(signed_in: Callable[[str], AppTest], role: str) -> None:
    record(known())

    at = open_usage(signed_in, role)

    assert metrics(at)["Cost"] == "$1.75"
    # nothing to change here: the one button only reads (cheaper models, on demand)
    assert [b.label for b in at.button] == ["Find cheaper models for each route", "Sign out"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_provider_picked_before_the_range_changed_falls_back_to_all(
    signed_in: Callable[[str], AppTest],
) -> None:
    record([event(provider="Acme"), event(at=now() - timedelta(days=10), provider="Old", cost_usd=4.0)])
    at = open_usage(signed_in)
    at.selectbox(key="usage_provider").select("Acme").run()

    at.date_input(key="usage_dates").set_value(
        (today() - timedelta(days=12), today() - timedelta(days=8))
    ).run()

    assert not at.exception
    assert at.selectbox(key="usage_provider").value is None
    assert metrics(at)["Cost"] == "$4.00"


def by_application() -> list[dict[str, Any]]:
    return [
        event(application="billing", cost_usd=1.0, latency_ms=100.0),
        event(application="billing", cost_usd=0.5, latency_ms=300.0),
        event(application="billing", status="failure", cost_usd=0.0, latency_ms=None),
        event(application="billing", status="refused", provider=None, cost_usd=0.0, latency_ms=None),
        event(application="billing", status="refused", provider=None, cost_usd=0.0, latency_ms=None),
        event(application="search", provider="Beta", cost_usd=2.0, latency_ms=50.0),
        event(application=None, cost_usd=0.25, latency_ms=80.0),
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_usage_is_broken_down_by_application_with_refusals_apart_from_errors(
    signed_in: Callable[[str], AppTest],
) -> None:
    record(by_application())
    at = open_usage(signed_in)

    apps = frame(at, "Application")
    assert apps["Application"].tolist() == ["search", "billing", "(no caller key)"]
    assert apps["Cost (USD)"].tolist() == [2.0, 1.5, 0.25]
    assert apps["Requests"].tolist() == [1, 5, 1]
    assert apps["Errors"].tolist() == [0, 1, 0]  # the two refusals are billing's own, not errors
    assert apps["Refused"].tolist() == [0, 2, 0]
    assert apps["Error rate"].tolist()[1] == pytest.approx(1 / 3)
    assert apps["Mean latency (ms)"].tolist() == [50.0, 200.0, 80.0]
    # nor are they any provider's failures
    assert metrics(at)["Error rate"] == f"{1 / 7:.1%}"
    assert frame(at, "Provider")["Errors"].sum() == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_application_breakdown_says_the_filters_do_not_apply(signed_in: Callable[[str], AppTest]) -> None:
    record(by_application())
    at = open_usage(signed_in)
    assert not [c for c in at.caption if "filters above do not apply" in c.value]
    at.selectbox(key="usage_provider").select("Beta").run()
    assert [c for c in at.caption if "filters above do not apply" in c.value]
    assert frame(at, "Application")["Application"].tolist() == ["search", "billing", "(no caller key)"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_application_csv_holds_a_line_per_day_and_application(
    signed_in: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    record([*by_application(), event(at=now() - timedelta(days=40), application="old", cost_usd=9.0)])
    offered: list[dict[str, Any]] = []
    real = streamlit.download_button

    def spy(label: str, data: Any, **kwargs: Any) -> Any:
        offered.append({"label": label, "data": data, **kwargs})
        return real(label, data, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", spy)
    open_usage(signed_in)

    [button] = [b for b in offered if b["key"] == "usage_application_csv"]
    start = today() - timedelta(days=29)
    assert button["file_name"] == f"usage-by-application-{start:%Y%m%d}-{today():%Y%m%d}.csv"
    day = today().isoformat()
    assert button["data"]().splitlines() == [
        "day,application,requests,failures,refused,prompt_tokens,completion_tokens,cost_usd,mean_latency_ms",
        f"{day},,1,0,0,100,20,0.25,80.0",
        f"{day},billing,5,1,2,500,100,1.5,200.0",
        f"{day},search,1,0,0,100,20,2.0,50.0",
    ]
