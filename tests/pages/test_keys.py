"""Caller keys page: admins create (the key shown once), scope, limit, rotate and revoke; operators see
every key and change nothing; viewers see names and usage only; inline errors store nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db
from app.crypto import generate_key
from app.models import AuditEntry, CallerKey
from app.services import caller_keys
from app.services.access import Actor
from tests.pages.helpers import SEEDER, inline_error, seed_models
from tests.services.test_usage import event, record

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]


def now() -> datetime:
    """Read at each use: a suite that runs across midnight must not offer yesterday's "tomorrow"."""
    return datetime.now(UTC)


def tomorrow() -> date:
    return now().date() + timedelta(days=1)


@pytest.fixture(autouse=True)
def _secret_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # seed_models stores a provider key; PostgreSQL has no embedded key file
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", generate_key())


def _open(signed_in: Callable[[str], AppTest], role: str = "admin") -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/keys.py")
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Caller keys"]
    return at


def _keys() -> dict[str, CallerKey]:
    with db.Session.begin() as session:
        rows = caller_keys.list_keys(session)
        session.expunge_all()
        return {r.application: r for r in rows}


def _seed_key(application: str = "billing", **values: object) -> int:
    with db.Session.begin() as session:
        row, _ = caller_keys.create_key(session, actor=SEEDER, application=application, **values)  # type: ignore[arg-type]
        return row.id


def _shown_keys(at: AppTest) -> list[str]:
    return [c.value for c in at.code if c.value.startswith(caller_keys.KEY_PREFIX)]


def _table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def _nowhere_in_the_session(at: AppTest, key: str) -> bool:
    return key not in repr(at.session_state.to_dict())


def _create(at: AppTest, application: str, **fields: object) -> AppTest:
    at.text_input(key="keys_new_application").input(application)
    for name, value in fields.items():
        widget = {"models": at.multiselect, "expires": at.date_input}.get(name, at.text_input)
        widget(key=f"keys_new_{name}").set_value(value)
    at.button(key="keys_create").click()
    return at.run()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_admin_creates_a_scoped_key_shown_exactly_once(signed_in: Callable[[str], AppTest]) -> None:
    seed_models()
    at = _open(signed_in)
    assert "No caller keys yet" in at.info[0].value

    _create(at, "billing-bot", owner="ana", models=["fast"], rpm="60", tpm="1000", expires=tomorrow())

    assert not at.exception
    [key] = _shown_keys(at)
    assert "shown only this once" in at.success[0].value
    row = _keys()["billing-bot"]
    assert row.key_hash == caller_keys.hash_key(key) and key not in repr(vars(row))
    assert (row.owner, row.models, row.rpm, row.tpm) == ("ana", ["fast"], 60, 1000)
    assert row.expires_at is not None and row.expires_at.date() == tomorrow()
    assert _nowhere_in_the_session(at, key)
    table = _table(at)
    assert table["Application"].tolist() == ["billing-bot"]
    assert table["Key"].tolist() == [f"{key[: caller_keys.VISIBLE]}…"]
    assert table["May call"].tolist() == ["fast"]
    assert at.text_input(key="keys_new_application").value == ""  # the form is ready for the next one

    at.run()  # the next interaction: the key is gone for good
    assert _shown_keys(at) == []
    assert not at.success
    assert _nowhere_in_the_session(at, key)
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "caller_key.create")).one()
        assert (entry.actor, entry.target_name) == ("admin", "billing-bot")
        assert key not in repr(entry.details) and row.key_hash not in repr(entry.details)


@SQLITE
@pytest.mark.parametrize(
    ("application", "fields", "key", "words"),
    [
        ("", {}, "keys_new_application", "is required"),
        ("billing", {"rpm": "lots"}, "keys_new_rpm", "must be a whole number of requests per minute"),
        ("billing", {"tpm": "0"}, "keys_new_tpm", "must be 1 or more"),
        ("billing", {"expires": now().date() - timedelta(days=1)}, "keys_new_expires", "is in the past"),
        ("Search", {}, "keys_new_application", "'Search' already has a key"),
    ],
)
def test_bad_input_shows_its_error_under_the_field_and_stores_nothing(
    signed_in: Callable[[str], AppTest], application: str, fields: dict[str, object], key: str, words: str
) -> None:
    _seed_key("search")
    at = _open(signed_in)

    _create(at, application, **fields)

    assert words in (inline_error(at, key) or ""), [e.value for e in at.error]
    assert list(_keys()) == ["search"]
    assert _shown_keys(at) == [] and not at.success
    assert at.text_input(key="keys_new_application").value == application  # kept to be corrected


@SQLITE
def test_admin_changes_scope_and_limits_and_a_bad_limit_changes_nothing(
    signed_in: Callable[[str], AppTest],
) -> None:
    seed_models()
    _seed_key("billing", rpm=10)
    at = _open(signed_in)
    at.multiselect(key="keys_models").set_value(["big", "llama"])
    at.text_input(key="keys_rpm").input("-5")
    at.button(key="keys_save").click()
    at.run()
    assert "must be 1 or more" in (inline_error(at, "keys_rpm") or "")
    assert (_keys()["billing"].models, _keys()["billing"].rpm) == ([], 10)

    at.text_input(key="keys_rpm").input("")  # no limit
    at.text_input(key="keys_tpm").input("5000")
    at.button(key="keys_save").click()
    at.run()
    assert at.success[0].value.startswith("billing: saved")
    row = _keys()["billing"]
    assert (row.models, row.rpm, row.tpm) == (["big", "llama"], None, 5000)
    assert _table(at)["May call"].tolist() == ["big, llama"]


@SQLITE
def test_rotating_asks_first_shows_the_new_key_once_and_keeps_the_old_for_the_overlap(
    signed_in: Callable[[str], AppTest],
) -> None:
    key_id = _seed_key("billing")
    old_hash = _keys()["billing"].key_hash
    at = _open(signed_in)
    at.text_input(key="keys_overlap").input("600")
    at.button(key="keys_rotate").click()
    at.run()
    assert "keeps working for 600 seconds" in at.warning[0].value
    at.button(key="keys_rotate_cancel").click()
    at.run()
    assert _keys()["billing"].key_hash == old_hash
    assert "keys_rotate_confirm" not in {b.key for b in at.button}

    at.button(key="keys_rotate").click()
    at.run()
    at.button(key="keys_rotate_confirm").click()
    at.run()

    assert not at.exception
    [key] = _shown_keys(at)
    row = _keys()["billing"]
    assert (row.key_hash, row.previous_hash) == (caller_keys.hash_key(key), old_hash)
    with db.Session.begin() as session:
        previous = caller_keys.verdict_for(session, old_hash)
    assert previous is not None and previous.refusal(now() + timedelta(seconds=590)) is None
    assert previous.refusal(now() + timedelta(seconds=700)) is not None
    assert _table(at)["Previous key until (UTC)"].tolist() != [""]
    assert _nowhere_in_the_session(at, key)
    at.run()
    assert _shown_keys(at) == [] and _nowhere_in_the_session(at, key)
    assert key_id == row.id


@SQLITE
def test_a_bad_overlap_is_refused_under_its_field_and_rotates_nothing(
    signed_in: Callable[[str], AppTest],
) -> None:
    _seed_key("billing")
    old_hash = _keys()["billing"].key_hash
    at = _open(signed_in)
    at.text_input(key="keys_overlap").input("forever")
    at.button(key="keys_rotate").click()
    at.run()
    at.button(key="keys_rotate_confirm").click()
    at.run()
    assert "must be 0 to" in (inline_error(at, "keys_overlap") or "")
    assert _keys()["billing"].key_hash == old_hash
    assert _shown_keys(at) == []


@SQLITE
def test_revoking_asks_first_and_then_stops_the_key_for_good(signed_in: Callable[[str], AppTest]) -> None:
    _seed_key("billing")
    at = _open(signed_in)
    at.button(key="keys_revoke").click()
    at.run()
    assert "for good" in at.warning[0].value
    at.button(key="keys_revoke_cancel").click()
    at.run()
    assert _keys()["billing"].revoked_at is None

    at.button(key="keys_revoke").click()
    at.run()
    at.button(key="keys_revoke_confirm").click()
    at.run()
    assert at.success[0].value.startswith("billing: revoked")
    row = _keys()["billing"]
    assert row.revoked_at is not None
    with db.Session.begin() as session:
        verdict = caller_keys.verdict_for(session, row.key_hash)
    assert verdict is not None and "was revoked" in (verdict.refusal(now()) or "")
    assert _table(at)["State"].tolist() == ["revoked"]
    assert "revoked for good" in at.info[0].value
    assert "keys_rotate" not in {b.key for b in at.button}


@SQLITE
def test_an_operator_sees_every_key_and_can_change_none(signed_in: Callable[[str], AppTest]) -> None:
    seed_models()
    _seed_key("billing", owner="ana", models=["fast"], rpm=60)
    at = _open(signed_in, "operator")
    table = _table(at)
    assert table[["Application", "Owner", "May call", "RPM"]].values.tolist() == [
        ["billing", "ana", "fast", 60]
    ]
    assert table["Key"].tolist()[0].startswith(caller_keys.KEY_PREFIX)
    assert [b.key for b in at.button] == ["logout"]
    assert not at.text_input and not at.multiselect
    assert "Only admins" in at.caption[-1].value


@SQLITE
def test_a_viewer_sees_names_and_usage_only(signed_in: Callable[[str], AppTest]) -> None:
    _seed_key("billing", owner="ana", rpm=60)
    _seed_key("search")
    record(
        [
            event(at=now(), application="billing", cost_usd=1.5),
            event(at=now(), application="billing", status="failure", cost_usd=0.0),
            event(at=now(), application="billing", status="refused", provider=None, cost_usd=0.0),
        ]
    )
    at = _open(signed_in, "viewer")
    table = _table(at)
    assert table.columns.tolist() == [
        "Application",
        "State",
        "Requests (30 d)",
        "Cost (30 d)",
        "Errors",
        "Refused",
    ]
    assert table.values.tolist() == [["billing", "active", 3, 1.5, 1, 1], ["search", "active", 0, 0.0, 0, 0]]
    assert [b.key for b in at.button] == ["logout"]
    assert not at.text_input


@SQLITE
def test_an_application_name_is_shown_as_text(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in)
    _create(at, "![x](http://127.0.0.1:9/pixel)")
    assert not at.exception
    assert "\\!\\[x\\]\\(http\\:" in at.success[0].value
    assert len(_shown_keys(at)) == 1


@SQLITE
@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_the_page_refuses_changes_to_other_roles_even_without_the_navigation(
    dashboard_env: None, role: str
) -> None:
    _seed_key("billing")
    at = AppTest.from_file(str(ROOT / "pages" / "keys.py"), default_timeout=30)
    at.session_state.actor = Actor(role, role)
    at.run()
    assert not at.exception
    assert not at.button and not at.text_input
    assert _table(at)["Application"].tolist() == ["billing"]
