"""Audit page: the log filtered by actor, action, target type and date; before/after with secrets masked."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db
from app.crypto import generate_key
from app.models import AuditEntry, utcnow
from app.services import routes
from tests.pages.helpers import SEEDER, seed_models

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def _secret_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", generate_key())


def _open(signed_in: Callable[[str], AppTest], role: str) -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/audit.py")
    return at.run()


def _column(at: AppTest, name: str) -> list[str]:
    return list(at.dataframe[0].value[name])


def _entry_id(action: str) -> int:
    with db.Session.begin() as session:
        return session.scalars(select(AuditEntry.id).where(AuditEntry.action == action)).one()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_the_log_lists_who_did_what_newest_first_and_filters_by_actor(
    signed_in: Callable[[str], AppTest],
) -> None:
    seed_models()
    at = _open(signed_in, "admin")
    assert not at.exception
    assert [t.value for t in at.title] == ["Audit"]
    assert _column(at, "Action") == [
        "model.create",
        "model.create",
        "model.create",
        "provider.create",
        "provider.create",
        "user.create",
        "user.create",
        "user.create",
    ]
    assert at.selectbox(key="audit_actor").options == ["(any)", "seeder", "setup"]
    at.selectbox(key="audit_actor").select("setup")
    at.run()
    assert _column(at, "Actor") == ["setup", "setup", "setup"]
    assert _column(at, "Target") == ["user viewer", "user operator", "user admin"]
    assert at.caption[-1].value == "3 entries"


@SQLITE
def test_filters_by_action_prefix_and_target_type(signed_in: Callable[[str], AppTest]) -> None:
    seed_models()
    at = _open(signed_in, "viewer")
    at.text_input(key="audit_action").input("provider.")
    at.run()
    assert _column(at, "Target") == ["provider home", "provider cloud"]
    at.text_input(key="audit_action").input("")
    at.selectbox(key="audit_target_type").select("model")
    at.run()
    assert _column(at, "Target") == [
        "model home/llama-model",
        "model cloud/big-model",
        "model cloud/fast-model",
    ]


@SQLITE
def test_filters_by_date(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in, "admin")
    today = utcnow().date()
    at.date_input(key="audit_dates").set_value((today, today))
    at.run()
    assert len(_column(at, "Action")) == 3
    at.date_input(key="audit_dates").set_value((date(2020, 1, 1), today - timedelta(days=1)))
    at.run()
    assert at.info[0].value == "No entries match these filters."
    assert not at.dataframe


@SQLITE
def test_an_entry_shows_before_and_after(signed_in: Callable[[str], AppTest]) -> None:
    seed_models()
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="fast")
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="big", fallbacks=["fast"])
    at = _open(signed_in, "admin")
    at.selectbox(key="audit_pick").set_value(_entry_id("route.update"))
    at.run()
    before, after = (json.loads(j.value) for j in at.json)
    assert (before["model"], before["fallbacks"]) == ("fast", [])
    assert (after["model"], after["fallbacks"]) == ("big", ["fast"])
    changed = at.dataframe[1].value  # only what differs, highlighted above the two sides
    assert changed.to_dict("records") == [
        {"Field": "fallbacks", "Before": "[]", "After": '["fast"]'},
        {"Field": "model", "Before": '"fast"', "After": '"big"'},
    ]
    assert "**What changed** (2 fields)" in [m.value for m in at.markdown]


@SQLITE
def test_secrets_are_masked_even_in_an_entry_stored_unmasked(signed_in: Callable[[str], AppTest]) -> None:
    with db.Session.begin() as session:
        # an entry written before masking existed: the page masks it when showing it
        session.add(
            AuditEntry(
                actor="legacy",
                action="provider.update",
                target_type="provider",
                target_name="old",
                details={
                    "before": {"api_key": "sk-plain-secret-abcdef"},
                    "after": {"api_key": "sk-new-secret-uvwxyz"},
                },
            )
        )
    at = _open(signed_in, "admin")
    at.selectbox(key="audit_pick").set_value(_entry_id("provider.update"))
    at.run()
    before, after = (json.loads(j.value) for j in at.json)
    assert before == {"api_key": "sk-…def"}
    assert after == {"api_key": "sk-…xyz"}
    assert "sk-plain-secret" not in at.dataframe[0].value.to_csv()


@pytest.mark.parametrize("role", ["viewer", "operator"])
@SQLITE
def test_every_role_reads_the_log_and_nothing_on_it_writes(
    signed_in: Callable[[str], AppTest], role: str
) -> None:
    at = _open(signed_in, role)
    assert not at.exception
    assert len(_column(at, "Action")) == 3
    assert not at.main.button, "only the sidebar's sign-out button"
    assert not at.get("form")
