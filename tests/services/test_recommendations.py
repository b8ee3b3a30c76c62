"""Recommendations: cheaper models with the capabilities and window a route needs, saving from real usage."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import db
from app.cli import main
from app.crypto import KeyRing
from app.models import Model, Route
from app.runtime.usage import record_events
from app.services import models, providers, recommendations
from app.services.access import Actor

NOW = datetime(2031, 5, 14, 12, 0, tzinfo=UTC)


def _provider(ring: KeyRing, admin: Actor, name: str, *, local: bool = False) -> int:
    with db.Session.begin() as session:
        secrets = {} if local else {"api_key": "sk-test-0123456789abcdef"}
        return providers.create_provider(
            session, actor=admin, ring=ring, name=name, type="ollama" if local else "openai", secrets=secrets
        ).id


def _model(
    admin: Actor,
    provider_id: int,
    alias: str,
    price: tuple[float | None, float | None],
    context: int,
    *caps: str,
    enabled: bool = True,
    mode: str = "chat",
) -> None:
    with db.Session.begin() as session:
        model = models.create_model(
            session,
            actor=admin,
            provider_id=provider_id,
            identifier=f"x-{alias}",
            alias=alias,
            enabled=enabled,
            input_cost_per_1m=price[0],
            output_cost_per_1m=price[1],
            context_window=context,
            **{f"supports_{c}": c in caps for c in ("tools", "vision", "audio")},
        )
        model.mode = mode


def _route(agent_type: str, model: str, *, local_only: bool = False, enabled: bool = True) -> None:
    with db.Session.begin() as session:
        session.add(
            Route(
                agent_type=agent_type,
                model=model,
                fallbacks=[],
                local_only=local_only,
                enabled=enabled,
                created_by="t",
                updated_by="t",
            )
        )


def _usage(
    route: str | None,
    prompt: int,
    completion: int,
    cost: float,
    *,
    days_ago: float = 1,
    status: str = "success",
) -> None:
    event = {
        "at": NOW - timedelta(days=days_ago),
        "provider": "cloud",
        "model_group": "big",
        "route": route,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": cost,
        "status": status,
    }
    with db.Session.begin() as session:  # as the proxy's writer stores it: the event and its rollups
        record_events(session, [event])


def _recommend(days: int = 30) -> list[tuple[str, str, float]]:
    with db.Session.begin() as session:
        rows = recommendations.recommend(session, days=days, now=NOW)
    return [(r.route, r.candidate, round(r.saving_usd, 10)) for r in rows]


@pytest.fixture
def catalog(db_url: str, ring: KeyRing, admin: Actor) -> dict[str, int]:
    """A cloud and a local provider with models of every kind of mismatch."""
    cloud = _provider(ring, admin, "cloud")
    local = _provider(ring, admin, "local", local=True)
    _model(admin, cloud, "big", (10, 30), 128_000, "tools", "vision")
    _model(admin, cloud, "mid", (1, 4), 128_000, "tools", "vision")
    _model(admin, cloud, "novision", (0.5, 1), 128_000, "tools")
    _model(admin, cloud, "notools", (0.5, 1), 128_000, "vision")
    _model(admin, cloud, "smallctx", (0.2, 0.4), 4_000, "tools", "vision")
    _model(admin, cloud, "pricey", (20, 60), 1_000_000, "tools", "vision", "audio")
    _model(admin, cloud, "off", (0.1, 0.1), 128_000, "tools", "vision", enabled=False)
    _model(admin, cloud, "embed", (0.01, 0), 128_000, "tools", "vision", mode="embedding")
    _model(admin, cloud, "unpriced", (None, None), 128_000, "tools", "vision")
    _model(admin, local, "llama", (0, 0), 128_000, "tools", "vision")
    return {"cloud": cloud, "local": local}


def test_candidates_have_the_capabilities_window_and_a_lower_price(catalog: dict[str, int]) -> None:
    _route("summarizer", "big")
    big = lambda p, c: (p * 10 + c * 30) / 1_000_000  # noqa: E731 - what the route paid, at big's prices
    _usage("agent/summarizer", 1000, 500, big(1000, 500), days_ago=1)
    _usage("agent/summarizer", 5000, 1000, big(5000, 1000), days_ago=10)
    _usage("agent/summarizer", 2000, 200, big(2000, 200), days_ago=29.9)
    # not the route's last 30 days of successful traffic: none of these count
    _usage("agent/summarizer", 100_000, 0, 1.0, days_ago=31)
    _usage("agent/summarizer", 0, 0, 0.0, days_ago=2, status="failure")  # LiteLLM reports no usage for one
    _usage("agent/summarizer", 7, 7, 5.0, days_ago=-1)
    _usage("agent/translator", 50_000, 50_000, 2.0)
    _usage(None, 50_000, 50_000, 2.0)
    with db.Session.begin() as session:
        rows = recommendations.recommend(session, now=NOW)
    prompt, completion = 1000 + 5000 + 2000, 500 + 1000 + 200
    actual = big(1000, 500) + big(5000, 1000) + big(2000, 200)
    mid_cost = (prompt * 1 + completion * 4) / 1_000_000
    assert [(r.route, r.current, r.candidate, r.providers) for r in rows] == [
        ("summarizer", "big", "llama", ("local",)),
        ("summarizer", "big", "mid", ("cloud",)),
    ]
    llama, mid = rows
    assert (mid.requests, mid.prompt_tokens, mid.completion_tokens) == (3, 8000, 1700)
    assert (actual, mid_cost) == (pytest.approx(0.131), pytest.approx(0.0148))
    assert mid.actual_cost_usd == pytest.approx(actual, abs=1e-12)
    assert mid.estimated_cost_usd == pytest.approx(mid_cost, abs=1e-12)
    assert mid.saving_usd == pytest.approx(actual - mid_cost, abs=1e-12)
    assert (llama.estimated_cost_usd, llama.saving_usd) == (0.0, pytest.approx(0.131))
    assert (mid.input_cost_per_1m, mid.output_cost_per_1m, mid.context_window) == (1, 4, 128_000)


def test_the_window_needed_is_the_largest_request_or_the_preferred_models(catalog: dict[str, int]) -> None:
    _route("short", "mid")
    _route("idle", "mid")
    _usage("agent/short", 2000, 1000, 0.006)  # 3,000 tokens: smallctx's 4,000 suffice
    assert _recommend() == [
        ("short", "llama", 0.006),
        ("short", "smallctx", round(0.006 - (2000 * 0.2 + 1000 * 0.4) / 1e6, 10)),
        # no traffic: the preferred model's 128k window is what the route may need
        ("idle", "llama", 0.0),
    ]
    _usage("agent/short", 3500, 501, 0.005504)  # 4,001 tokens: too big for smallctx
    assert _recommend() == [("short", "llama", 0.011504), ("idle", "llama", 0.0)]


def test_local_only_routes_get_only_local_candidates(
    catalog: dict[str, int], ring: KeyRing, admin: Actor
) -> None:
    _model(admin, catalog["local"], "llama-big", (1, 1), 32_000)
    _model(admin, catalog["cloud"], "tiny", (0.1, 0.1), 200_000)
    # one alias on a local and a cloud provider is not local
    _model(admin, catalog["local"], "mixed", (0.05, 0.05), 200_000)
    _model(admin, catalog["cloud"], "mixed", (0.05, 0.05), 200_000)
    _route("private", "llama-big", local_only=True)
    assert [c for _, c, _ in _recommend()] == ["llama"]
    with db.Session.begin() as session:
        session.scalars(select(Route)).one().local_only = False
    # no traffic, so no saving: cheapest first
    assert [c for _, c, _ in _recommend()] == ["llama", "mixed", "tiny", "notools", "novision"]


def test_an_alias_on_several_providers_is_priced_at_its_dearest(
    catalog: dict[str, int], ring: KeyRing, admin: Actor
) -> None:
    other = _provider(ring, admin, "cloud-eu")
    _model(admin, catalog["cloud"], "dual", (0.5, 0.5), 128_000, "tools", "vision")
    _model(admin, other, "dual", (1.5, 2.5), 128_000, "tools", "vision")
    _route("summarizer", "big")
    _usage("agent/summarizer", 10_000, 1000, 0.13)
    with db.Session.begin() as session:
        dual = next(r for r in recommendations.recommend(session, now=NOW) if r.candidate == "dual")
    assert dual.providers == ("cloud", "cloud-eu")
    assert (dual.input_cost_per_1m, dual.output_cost_per_1m) == (1.5, 2.5)
    assert dual.saving_usd == pytest.approx(0.13 - (10_000 * 1.5 + 1000 * 2.5) / 1e6)


def test_a_model_cheaper_by_list_price_but_dearer_for_the_traffic_is_left_out(
    catalog: dict[str, int], admin: Actor
) -> None:
    _model(admin, catalog["cloud"], "balanced", (2, 2), 128_000)
    _model(admin, catalog["cloud"], "inputheavy", (3.5, 0.1), 128_000)
    _route("reader", "balanced")
    _usage("agent/reader", 10_000, 100, (10_000 * 2 + 100 * 2) / 1e6)
    # inputheavy would have cost $0.03501 against $0.0202; smallctx's window is too small
    assert _recommend() == [
        ("reader", "llama", 0.0202),
        ("reader", "notools", 0.0151),
        ("reader", "novision", 0.0151),
    ]


def test_disabled_routes_and_unknown_preferred_models_get_nothing(catalog: dict[str, int]) -> None:
    _route("paused", "big", enabled=False)
    _route("orphan", "no-such-alias")
    _route("free", "llama")
    assert _recommend() == []
    with db.Session.begin() as session:
        session.scalars(select(Model).where(Model.alias == "big")).one().enabled = False
    assert _recommend() == []


def test_recommend_command(
    catalog: dict[str, int],
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["recommend"]) == 0
    assert (
        capsys.readouterr().out.strip() == "no cheaper model fits any route's needs (last 30 days of usage)"
    )
    _route("summarizer", "big")
    with db.Session.begin() as session:
        event = {
            "at": datetime.now(UTC) - timedelta(days=3),
            "route": "agent/summarizer",
            "status": "success",
        }
        record_events(
            session, [event | {"prompt_tokens": 100_000, "completion_tokens": 20_000, "cost_usd": 1.6}]
        )
    assert main(["recommend", "--days", "7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "ROUTE", "NOW", "CANDIDATE", "PROVIDERS", "$/1M", "IN/OUT", "CONTEXT", "REQUESTS", "COST", "WOULD",
        "COST", "SAVING",
    ]  # fmt: skip
    assert lines[1].split() == [
        "summarizer",
        "big",
        "llama",
        "local",
        "$0/$0",
        "128000",
        "1",
        "$1.60",
        "$0.00",
        "$1.60",
    ]
    assert lines[2].split() == [
        "summarizer",
        "big",
        "mid",
        "cloud",
        "$1/$4",
        "128000",
        "1",
        "$1.60",
        "$0.18",
        "$1.42",
    ]
    assert main(["recommend", "--days", "2"]) == 0
    assert "$0.00" in capsys.readouterr().out.splitlines()[1]
