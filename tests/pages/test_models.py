"""Models page: the editable table, search, filters, bulk enable/disable, one all-or-nothing save, roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db, ui
from app.crypto import generate_key
from app.models import AuditEntry, Model
from app.services import models, providers
from app.services.access import Actor
from tests.pages.helpers import plain

BOB = Actor("bob", "admin")


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite for every test here; the one PostgreSQL run overrides it."""
    return str(request.param)


def seed() -> dict[str, int]:
    """OpenAI Prod with gpt-4o-mini (enabled) and gpt-4o, Groq with one model; ids by identifier."""
    ring = ui.key_ring()
    ids = {}
    with db.Session.begin() as session:
        openai = providers.create_provider(
            session,
            actor=BOB,
            ring=ring,
            name="OpenAI Prod",
            type="openai",
            secrets={"api_key": "sk-0123456789ab"},
        )
        groq = providers.create_provider(
            session, actor=BOB, ring=ring, name="Groq", type="groq", secrets={"api_key": "gsk_0123456789ab"}
        )
        for provider, identifier, enabled in (
            (openai, "gpt-4o-mini", True),
            (openai, "gpt-4o", False),
            (groq, "openai/gpt-oss-20b", False),
        ):
            model = models.create_model(
                session, actor=BOB, provider_id=provider.id, identifier=identifier, enabled=enabled
            )
            ids[identifier] = model.id
    return ids


def open_page(signed_in: Callable[[str], AppTest], role: str) -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/models.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Models"]
    return at


def shown(at: AppTest) -> list[dict[str, Any]]:
    return at.dataframe[0].value.to_dict("records")  # type: ignore[no-any-return]


def edit(at: AppTest, rows: dict[int, dict[str, Any]]) -> AppTest:
    """Cell edits as the browser sends them: row position → changed columns."""
    at.session_state["models_editor"] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def model(model_id: int) -> Model:
    with db.Session.begin() as session:
        row = session.get(Model, model_id)
        assert row is not None
        session.expunge(row)
        return row


def test_the_table_shows_each_model_with_its_prices_window_and_capabilities(
    signed_in: Callable[[str], AppTest],
) -> None:
    seed()
    at = open_page(signed_in, "admin")
    assert len(at.data_editor) == 1
    rows = shown(at)
    assert [(r["provider"], r["model"], r["enabled"]) for r in rows] == [
        ("Groq", "openai/gpt-oss-20b", False),
        ("OpenAI Prod", "gpt-4o", False),
        ("OpenAI Prod", "gpt-4o-mini", True),
    ]
    mini = rows[2]
    assert mini["alias"] == "gpt-4o-mini"
    assert (mini["input_cost_per_1m"], mini["output_cost_per_1m"]) == (0.15, 0.6)
    assert mini["context_window"] == 128000
    assert (mini["supports_tools"], mini["supports_vision"]) == (True, True)


def test_admin_saves_many_edits_at_once(signed_in: Callable[[str], AppTest]) -> None:
    ids = seed()
    at = open_page(signed_in, "admin")
    edit(at, {1: {"alias": "smart", "enabled": True}, 2: {"input_cost_per_1m": 0.2, "context_window": 64000}})
    assert at.button(key="models_save").label == "Save 2 changes"
    at.button(key="models_save").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Saved 2 models."]
    big, mini = model(ids["gpt-4o"]), model(ids["gpt-4o-mini"])
    assert (big.alias, big.enabled, big.version) == ("smart", True, 2)
    assert (mini.input_cost_per_1m, mini.context_window, mini.output_cost_per_1m) == (0.2, 64000, 0.6)
    assert [r["alias"] for r in shown(at)] == ["openai/gpt-oss-20b", "smart", "gpt-4o-mini"]
    with db.Session.begin() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "admin")).all()
        assert sorted(actions) == ["model.update", "model.update"]


def test_invalid_cells_are_named_and_nothing_is_saved(signed_in: Callable[[str], AppTest]) -> None:
    ids = seed()
    at = open_page(signed_in, "admin")
    edit(at, {0: {"alias": "fine-alias"}, 1: {"alias": "no spaces allowed"}, 2: {"input_cost_per_1m": -1.0}})
    at.button(key="models_save").click().run()
    assert not at.exception
    errors = [plain(e.value) for e in at.error]
    assert errors[0] == "Nothing was saved. Fix these and save again:"
    assert errors[1].startswith("**OpenAI Prod/gpt-4o: alias**: must be 1–255 characters")
    assert (
        errors[2] == "**OpenAI Prod/gpt-4o-mini: input_cost_per_1m**: must be a finite number ≥ 0 (got -1.0)"
    )
    assert model(ids["openai/gpt-oss-20b"]).alias == "openai/gpt-oss-20b"  # the valid row was not kept
    assert model(ids["gpt-4o"]).version == 1


def test_a_row_changed_since_loading_is_a_conflict_and_nothing_is_saved(
    signed_in: Callable[[str], AppTest],
) -> None:
    ids = seed()
    at = open_page(signed_in, "admin")
    with db.Session.begin() as session:
        models.update_model(session, actor=BOB, model_id=ids["gpt-4o"], expected_version=1, alias="bobs")
    edit(at, {0: {"enabled": True}, 1: {"alias": "mine"}})
    at.button(key="models_save").click().run()
    assert not at.exception
    assert "model 'gpt-4o' was changed by bob at" in plain(at.error[0].value)
    assert at.error[0].value.startswith("Nothing was saved:")
    assert model(ids["gpt-4o"]).alias == "bobs"
    assert model(ids["openai/gpt-oss-20b"]).enabled is False
    at.button(key="models_reload").click().run()
    assert [r["alias"] for r in shown(at)][1] == "bobs"


def test_search_and_filters_narrow_the_table(signed_in: Callable[[str], AppTest]) -> None:
    ids = seed()
    at = open_page(signed_in, "viewer")
    at.text_input(key="models_search").input("4o").run()
    assert [r["model"] for r in shown(at)] == ["gpt-4o", "gpt-4o-mini"]
    at.selectbox(key="models_enabled").select("Disabled").run()
    assert [r["model"] for r in shown(at)] == ["gpt-4o"]
    at.text_input(key="models_search").input("").run()
    with db.Session.begin() as session:
        groq = session.get(Model, ids["openai/gpt-oss-20b"])
        assert groq is not None
        groq_id = groq.provider_id
    at.selectbox(key="models_provider").select(groq_id).run()
    assert [r["model"] for r in shown(at)] == ["openai/gpt-oss-20b"]
    at.text_input(key="models_search").input("claude").run()
    assert at.info[0].value.startswith("No models match.")


def test_bulk_enable_applies_to_the_filtered_rows_only(signed_in: Callable[[str], AppTest]) -> None:
    ids = seed()
    at = open_page(signed_in, "admin")
    at.text_input(key="models_search").input("gpt-4o").run()
    at.selectbox(key="models_enabled").select("Disabled").run()
    assert at.button(key="models_enable_all").label == "Enable all 1 matching"
    at.button(key="models_enable_all").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Enabled 1 model."]
    assert model(ids["gpt-4o"]).enabled is True
    assert model(ids["openai/gpt-oss-20b"]).enabled is False
    at.selectbox(key="models_enabled").select("All").run()
    at.text_input(key="models_search").input("").run()
    at.button(key="models_disable_all").click().run()
    assert [s.value for s in at.success] == ["Disabled 3 models."]
    assert not any(model(i).enabled for i in ids.values())


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_non_admins_see_a_read_only_table(signed_in: Callable[[str], AppTest], role: str) -> None:
    seed()
    at = open_page(signed_in, role)
    assert len(at.dataframe) == 1 and not at.data_editor
    assert at.dataframe[0].editing_mode == "read_only"
    assert {str(b.key) for b in at.button} == {"logout"}
    assert "Only admins can change them." in at.caption[-1].value


def test_empty_table_says_where_models_come_from(signed_in: Callable[[str], AppTest]) -> None:
    at = open_page(signed_in, "admin")
    assert at.info[0].value.startswith("No models match. Add a provider and use Sync models")
    assert not at.dataframe


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_save_on_postgresql(signed_in: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", generate_key())
    ids = seed()
    at = open_page(signed_in, "admin")
    edit(at, {1: {"output_cost_per_1m": 12.5, "supports_vision": False}})
    at.button(key="models_save").click().run()
    assert [s.value for s in at.success] == ["Saved 1 model."]
    saved = model(ids["gpt-4o"])
    assert (saved.output_cost_per_1m, saved.supports_vision) == (12.5, False)
