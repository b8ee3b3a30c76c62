"""Routing page: add, edit, preview and remove agent routes; inline errors; roles."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db
from app.crypto import generate_key
from app.models import AuditEntry
from app.services import routes
from tests.pages.helpers import SEEDER, inline_error, plain, seed_models

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def _secret_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL has no embedded key file: the dashboard reads its key ring from the environment
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", generate_key())


def _open(signed_in: Callable[[str], AppTest], role: str) -> AppTest:
    seed_models()
    at = signed_in(role)
    at.switch_page("pages/routing.py")
    return at.run()


def _fill(at: AppTest, agent: str, model: str, fallbacks: tuple[str, ...] = (), **extra: object) -> None:
    at.text_input(key="route_agent_type").input(agent)
    at.selectbox(key="route_model").select(model)
    for alias in fallbacks:
        at.multiselect(key="route_fallbacks").select(alias)
    if "max_cost" in extra:
        at.number_input(key="route_max_cost").set_value(extra["max_cost"])
    if extra.get("local_only"):
        at.checkbox(key="route_local_only").check()
    if "weights" in extra:
        at.text_area(key="route_weights").input(str(extra["weights"]))


def _stored() -> list[tuple[str, str, list[str], float | None]]:
    with db.Session.begin() as session:
        return [
            (r.agent_type, r.model, list(r.fallbacks), r.max_cost_usd) for r in routes.list_routes(session)
        ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_admin_adds_a_route_and_sees_the_yaml_it_produces(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in, "admin")
    assert not at.exception
    assert [t.value for t in at.title] == ["Routing"]
    _fill(at, "summarizer", "fast", ("big",), max_cost=0.5)
    at.button(key="route_save").click()
    at.run()

    assert not at.exception
    assert _stored() == [("summarizer", "fast", ["big"], 0.5)]
    assert "Route agent/summarizer saved" in at.success[0].value
    assert at.selectbox(key="route_pick").value == "summarizer"
    table = at.dataframe[0].value
    assert table["Route"].tolist() == ["agent/summarizer"]
    assert table["Model → fallbacks"].tolist() == ["fast → big"]
    assert table["Max cost (USD)"].tolist() == ["$0.5"]
    [code] = at.code
    yaml_text = code.value
    assert "model_name: agent/summarizer\n" in yaml_text
    assert "model_name: agent/summarizer/fallback-1\n" in yaml_text
    assert "model: openai/fast-model" in yaml_text
    assert "llm_admin_max_cost_usd: 0.5" in yaml_text
    assert "- agent/summarizer:\n    - agent/summarizer/fallback-1" in yaml_text
    assert "api_key: os.environ/LLM_ADMIN_P" in yaml_text
    assert "sk-aaa" not in yaml_text
    assert "llm_admin_revision" not in yaml_text
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "route.add")).one()
        assert (entry.actor, entry.target_name) == ("admin", "summarizer")


@SQLITE
def test_preview_shows_the_yaml_of_the_form_without_saving(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in, "admin")
    _fill(at, "private", "llama", local_only=True)
    at.button(key="route_preview").click()
    at.run()
    assert _stored() == []
    [code] = at.code
    assert "model_name: agent/private\n" in code.value
    assert "model: ollama_chat/llama-model" in code.value
    assert "llm_admin_local_only: true" in code.value
    assert not at.error


@SQLITE
@pytest.mark.parametrize(
    ("fill", "key", "words"),
    [
        ({"agent": "Bad Type!", "model": "fast"}, "route_agent_type", "'Bad Type!' is not an agent type"),
        ({"agent": "loop", "model": "fast", "fallbacks": ("big", "fast")}, "route_fallbacks", "(a cycle)"),
        (
            {"agent": "private", "model": "llama", "fallbacks": ("fast",), "local_only": True},
            "route_local_only",
            "model 'fast' is served by cloud, which is not local",
        ),
        (
            {"agent": "cheap", "model": "fast", "fallbacks": ("big",), "max_cost": 0.0001},
            "route_max_cost",
            "below the cheapest possible request ($0.00011000",
        ),
        (
            {"agent": "cheap", "model": "fast", "max_cost": -1.0},
            "route_max_cost",
            "must be a number of USD above 0",
        ),
        (
            {"agent": "split", "model": "fast", "weights": "fast@home=2"},
            "route_weights",
            "home, which does not serve it",
        ),
        (
            {"agent": "split", "model": "fast", "weights": "fast=2"},
            "route_weights",
            "'fast=2' is not ALIAS@PROVIDER=",
        ),
    ],
)
def test_a_bad_route_shows_the_error_under_its_field_and_stores_nothing(
    signed_in: Callable[[str], AppTest], fill: dict[str, object], key: str, words: str
) -> None:
    at = _open(signed_in, "admin")
    _fill(at, **fill)  # type: ignore[arg-type]
    at.button(key="route_save").click()
    at.run()
    assert not at.exception
    assert _stored() == []
    assert not at.success
    assert words in plain(inline_error(at, key) or ""), [e.value for e in at.error]
    assert inline_error(at, "route_model") == ""


@SQLITE
def test_editing_a_route_saves_the_new_chain(signed_in: Callable[[str], AppTest]) -> None:
    seed_models()
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="fast")
    at = signed_in("admin")
    at.switch_page("pages/routing.py")
    at.run()
    at.selectbox(key="route_pick").select("chat")
    at.run()
    assert at.text_input(key="route_agent_type").value == "chat"
    assert at.text_input(key="route_agent_type").disabled
    assert at.selectbox(key="route_model").value == "fast"
    at.multiselect(key="route_fallbacks").select("llama")
    at.button(key="route_save").click()
    at.run()
    assert _stored() == [("chat", "fast", ["llama"], None)]


@SQLITE
def test_a_route_changed_meanwhile_is_not_overwritten(signed_in: Callable[[str], AppTest]) -> None:
    seed_models()
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="fast")
    at = signed_in("admin")
    at.switch_page("pages/routing.py")
    at.run()
    at.selectbox(key="route_pick").select("chat")
    at.run()
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="big")
    at.multiselect(key="route_fallbacks").select("llama")
    at.button(key="route_save").click()
    at.run()
    assert _stored() == [("chat", "big", [], None)]
    assert any("was changed by seeder" in e.value for e in at.error)


@SQLITE
def test_removing_a_route_asks_for_confirmation_first(signed_in: Callable[[str], AppTest]) -> None:
    seed_models()
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="fast")
    at = signed_in("admin")
    at.switch_page("pages/routing.py")
    at.run()
    at.selectbox(key="route_pick").select("chat")
    at.run()
    at.button(key="route_remove").click()
    at.run()
    assert "Remove route agent/chat?" in at.warning[0].value
    assert _stored() == [("chat", "fast", [], None)]
    at.button(key="route_remove_cancel").click()
    at.run()
    assert _stored() == [("chat", "fast", [], None)]
    assert "route_remove_confirm" not in {b.key for b in at.button}
    at.button(key="route_remove").click()
    at.run()
    at.button(key="route_remove_confirm").click()
    at.run()
    assert _stored() == []
    assert "Route agent/chat removed" in at.success[0].value
    assert at.selectbox(key="route_pick").value == "➕ New route"


@SQLITE
def test_default_fallbacks_are_saved_and_checked(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in, "admin")
    at.multiselect(key="route_defaults").select("fast").select("llama")
    at.button(key="route_defaults_save").click()
    at.run()
    assert "Default fallbacks saved: fast, llama." in at.success[0].value
    with db.Session.begin() as session:
        assert routes.default_fallbacks(session) == ["fast", "llama"]


@SQLITE
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_see_routes_and_yaml_but_no_write_controls(
    signed_in: Callable[[str], AppTest], role: str
) -> None:
    seed_models()
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="fast", fallbacks=["big"])
    at = signed_in(role)
    at.switch_page("pages/routing.py")
    at.run()
    assert not at.exception
    assert at.dataframe[0].value["Route"].tolist() == ["agent/chat"]
    assert at.selectbox(key="route_pick").options == ["agent/chat"]
    assert "model_name: agent/chat/fallback-1" in at.code[0].value
    assert at.expander[0].label == "Default fallbacks: none"
    keys = {w.key for w in at.button} | {w.key for w in at.text_input} | {w.key for w in at.multiselect}
    assert not keys & {
        "route_save",
        "route_preview",
        "route_remove",
        "route_defaults_save",
        "route_agent_type",
    }
    assert not at.get("form")
