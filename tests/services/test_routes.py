"""Route service: saved, validated against the enabled rows, rendered as a closed chain."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.crypto import KeyRing
from app.errors import PermissionDenied, ValidationError
from app.models import AuditEntry, ProviderHealth, Route
from app.services import config, models, providers, routes
from app.services.access import Actor
from generator import build


def _provider(ring: KeyRing, actor: Actor, name: str, *, local: bool = False) -> int:
    with db.Session.begin() as session:
        if local:
            p = providers.create_provider(
                session, actor=actor, ring=ring, name=name, type="ollama", base_url="http://127.0.0.1:11434"
            )
        else:
            p = providers.create_provider(
                session,
                actor=actor,
                ring=ring,
                name=name,
                type="openai",
                secrets={"api_key": "sk-" + "a" * 20},
            )
        return p.id


def _model(
    actor: Actor, provider_id: int, alias: str, price: tuple[float, float] | None = (1.0, 2.0)
) -> None:
    with db.Session.begin() as session:
        m = models.create_model(
            session,
            actor=actor,
            provider_id=provider_id,
            identifier=f"{alias}-model",
            alias=alias,
            enabled=True,
            input_cost_per_1m=price[0] if price else None,
            output_cost_per_1m=price[1] if price else None,
            context_window=8_000,
        )
        if price is None:  # LiteLLM knows no price for this made-up model either
            m.input_cost_per_1m = m.output_cost_per_1m = None


@pytest.fixture
def rows(db_url: str, ring: KeyRing, admin: Actor) -> dict[str, int]:
    """Cloud provider with fast and big, a local one with llama; fast is cheap, big is dear."""
    cloud, local = _provider(ring, admin, "cloud"), _provider(ring, admin, "home", local=True)
    _model(admin, cloud, "fast", (1.0, 2.0))
    _model(admin, cloud, "big", (10.0, 30.0))
    _model(admin, local, "llama", (0.0, 0.0))
    return {"cloud": cloud, "home": local}


def _save(actor: Actor, **kw: object) -> Route:
    with db.Session.begin() as session:
        route = routes.save_route(session, actor=actor, **kw)  # type: ignore[arg-type]
        session.expunge(route)
        return route


def _errors(actor: Actor, **kw: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        _save(actor, **kw)
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Route.id))) == 0, "a refused route must not be stored"
    return {e.field: e.message for e in err.value.errors}


def test_a_route_renders_as_a_chain_of_step_groups_with_its_limit(rows: dict[str, int], admin: Actor) -> None:
    _save(admin, agent_type="Summarizer", model="fast", fallbacks=["big"], max_cost_usd=0.5)
    with db.Session.begin() as session:
        built = build.build_config(config.load_input(session), revision=1)
    groups = {d["model_name"]: d for d in built["model_list"]}
    assert groups["agent/summarizer"]["litellm_params"]["model"] == "openai/fast-model"
    assert groups["agent/summarizer/fallback-1"]["litellm_params"]["model"] == "openai/big-model"
    assert groups["agent/summarizer"]["model_info"]["llm_admin_max_cost_usd"] == 0.5
    assert {"agent/summarizer": ["agent/summarizer/fallback-1"]} in built["router_settings"]["fallbacks"]
    assert {"agent/summarizer/fallback-1": []} in built["router_settings"]["fallbacks"]


def test_saving_is_audited_and_replaces_the_existing_route(rows: dict[str, int], admin: Actor) -> None:
    _save(admin, agent_type="code-review", model="fast")
    _save(admin, agent_type="code-review", model="big", fallbacks=["fast"])
    with db.Session.begin() as session:
        [route] = routes.list_routes(session)
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert (route.model, route.fallbacks) == ("big", ["fast"])
    assert actions[-2:] == ["route.add", "route.update"]


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"agent_type": "Bad Type!", "model": "fast"}, "agent_type", "lowercase letters"),
        ({"agent_type": "x", "model": "nope"}, "model", "'nope' is unknown or disabled"),
        ({"agent_type": "x", "model": "fast", "fallbacks": ["ghost"]}, "fallbacks", "'ghost' is unknown"),
        ({"agent_type": "x", "model": "fast", "fallbacks": ["big", "fast"]}, "fallbacks", "a cycle"),
        (
            {"agent_type": "x", "model": "llama", "fallbacks": ["fast"], "local_only": True},
            "local_only",
            "cloud, which is not local",
        ),
        ({"agent_type": "x", "model": "fast", "max_cost_usd": -1}, "max_cost_usd", "above 0"),
        # 8 prompt tokens at $10/1M + 1 completion token at $30/1M = $0.00011 on the priciest step
        (
            {"agent_type": "x", "model": "fast", "fallbacks": ["big"], "max_cost_usd": 0.0001},
            "max_cost_usd",
            "below the cheapest possible request ($0.00011000",
        ),
        (
            {"agent_type": "x", "model": "fast", "weights": {"fast": {"home": 2}}},
            "weights",
            "home, which does not serve it",
        ),
    ],
)
def test_a_bad_route_is_refused_with_the_field_and_the_fix(
    rows: dict[str, int], admin: Actor, kw: dict[str, object], field: str, words: str
) -> None:
    errors = _errors(admin, **kw)
    assert field in errors, errors
    assert words in errors[field]


def test_a_limit_on_a_step_without_a_price_is_refused(
    rows: dict[str, int], ring: KeyRing, admin: Actor
) -> None:
    _model(admin, rows["cloud"], "mystery", price=None)
    errors = _errors(admin, agent_type="x", model="mystery", max_cost_usd=1.0)
    assert "has no price" in errors["max_cost_usd"]


def test_a_down_provider_s_step_is_skipped_while_another_step_serves(
    rows: dict[str, int], ring: KeyRing, admin: Actor
) -> None:
    _save(admin, agent_type="chat", model="fast", fallbacks=["llama"])
    with db.Session.begin() as session:
        session.add(ProviderHealth(provider_id=rows["cloud"], status="down"))
    with db.Session.begin() as session:
        built = build.build_config(config.load_input(session), revision=1)
    groups = [d["model_name"] for d in built["model_list"] if d["model_name"].startswith("agent/")]
    assert groups == ["agent/chat"]
    assert [d["litellm_params"]["model"] for d in built["model_list"] if d["model_name"] == "agent/chat"] == [
        "ollama_chat/llama-model"
    ]


def test_default_fallbacks_are_stored_for_the_router_and_checked(rows: dict[str, int], admin: Actor) -> None:
    with db.Session.begin() as session:
        routes.set_default_fallbacks(session, actor=admin, aliases=["fast", "llama"])
    with db.Session.begin() as session:
        built = build.build_config(config.load_input(session), revision=1)
        with pytest.raises(ValidationError) as err:
            routes.set_default_fallbacks(session, actor=admin, aliases=["gone"])
    assert built["router_settings"]["default_fallbacks"] == ["fast", "llama"]
    assert err.value.fields == ["default_fallbacks"]


def test_viewers_and_operators_cannot_change_routes(rows: dict[str, int], admin: Actor) -> None:
    for role in ("viewer", "operator"):
        with pytest.raises(PermissionDenied), db.Session.begin() as session:
            routes.save_route(session, actor=Actor("bob", role), agent_type="x", model="fast")
    _save(admin, agent_type="x", model="fast")
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        routes.remove_route(session, actor=Actor("bob", "operator"), agent_type="x")
