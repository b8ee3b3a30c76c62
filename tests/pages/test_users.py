"""Users page (admins only): add, change role, reset password, disable and enable; inline errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db
from app.models import AuditEntry
from app.services import users
from app.services.access import Actor
from tests.pages.conftest import PASSWORD
from tests.pages.helpers import inline_error

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]


def _open(signed_in: Callable[[str], AppTest]) -> AppTest:
    at = signed_in("admin")
    at.switch_page("pages/users.py")
    return at.run()


def _people() -> dict[str, tuple[str, bool]]:
    with db.Session.begin() as session:
        return {u.username: (u.role, u.disabled) for u in users.list_users(session)}


def _signs_in(username: str, password: str) -> bool:
    with db.Session.begin() as session:
        return users.authenticate(session, username=username, password=password) is not None


def _pick(at: AppTest, username: str) -> None:
    with db.Session.begin() as session:
        user = users.find_user(session, username=username)
        assert user is not None
        at.selectbox(key="users_pick").set_value(user.id)
    at.run()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_admin_adds_a_user_who_can_then_sign_in(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in)
    assert not at.exception
    assert [t.value for t in at.title] == ["Users"]
    assert list(at.dataframe[0].value["Username"]) == ["admin", "operator", "viewer"]
    at.text_input(key="users_new_name").input("dana")
    at.text_input(key="users_new_password").input("a long enough password")
    at.selectbox(key="users_new_role").select("operator")
    at.button(key="users_add").click()
    at.run()
    assert not at.exception
    assert at.success[0].value == "dana: added as operator."
    assert _people()["dana"] == ("operator", False)
    assert _signs_in("dana", "a long enough password")
    assert list(at.dataframe[0].value["Username"]) == ["admin", "dana", "operator", "viewer"]
    assert at.text_input(key="users_new_password").value == ""
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.target_name == "dana")).one()
        assert (entry.actor, entry.action, entry.details) == ("admin", "user.create", {"role": "operator"})


@SQLITE
@pytest.mark.parametrize(
    ("name", "password", "key", "words"),
    [
        ("erin", "short", "users_new_password", "must be at least 10 characters"),
        ("Viewer", "a long enough password", "users_new_name", "'Viewer' already exists"),
        ("two words", "a long enough password", "users_new_name", "must not contain spaces"),
    ],
)
def test_a_bad_new_user_shows_the_error_under_its_field_and_stores_nothing(
    signed_in: Callable[[str], AppTest], name: str, password: str, key: str, words: str
) -> None:
    at = _open(signed_in)
    at.text_input(key="users_new_name").input(name)
    at.text_input(key="users_new_password").input(password)
    at.button(key="users_add").click()
    at.run()
    assert words in (inline_error(at, key) or ""), [e.value for e in at.error]
    assert set(_people()) == {"admin", "operator", "viewer"}
    assert not at.success


@SQLITE
def test_admin_changes_a_role(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in)
    _pick(at, "viewer")
    assert at.selectbox(key="users_role").value == "viewer"
    at.selectbox(key="users_role").select("operator")
    at.button(key="users_role_save").click()
    at.run()
    assert at.success[0].value == "viewer: role changed to operator."
    assert _people()["viewer"] == ("operator", False)


@SQLITE
def test_the_last_admin_cannot_be_demoted_or_disabled(signed_in: Callable[[str], AppTest]) -> None:
    at = _open(signed_in)
    _pick(at, "admin")
    at.selectbox(key="users_role").select("viewer")
    at.button(key="users_role_save").click()
    at.run()
    assert inline_error(at, "users_role") == "admin is the last admin; add another first"
    at.button(key="users_disable").click()
    at.run()
    at.button(key="users_disable_confirm").click()
    at.run()
    assert "admin is the last admin; add another first" in [e.value for e in at.error]
    assert _people()["admin"] == ("admin", False)


@SQLITE
def test_disabling_asks_first_and_a_disabled_user_cannot_sign_in_until_enabled(
    signed_in: Callable[[str], AppTest],
) -> None:
    at = _open(signed_in)
    _pick(at, "viewer")
    at.button(key="users_disable").click()
    at.run()
    assert at.warning[0].value == "Disable viewer? They can no longer sign in until enabled again."
    assert _people()["viewer"] == ("viewer", False)
    at.button(key="users_disable_cancel").click()
    at.run()
    assert _people()["viewer"] == ("viewer", False)
    assert "users_disable_confirm" not in {b.key for b in at.button}

    at.button(key="users_disable").click()
    at.run()
    at.button(key="users_disable_confirm").click()
    at.run()
    assert at.success[0].value == "viewer: disabled."
    assert _people()["viewer"] == ("viewer", True)
    assert not _signs_in("viewer", PASSWORD)
    assert list(at.dataframe[0].value["Status"]) == ["active", "active", "disabled"]

    at.button(key="users_enable").click()
    at.run()
    assert _people()["viewer"] == ("viewer", False)
    assert _signs_in("viewer", PASSWORD)


@SQLITE
def test_admin_resets_a_password_and_a_short_one_is_refused_inline(
    signed_in: Callable[[str], AppTest],
) -> None:
    at = _open(signed_in)
    _pick(at, "operator")
    at.text_input(key="users_reset_password").input("tiny")
    at.button(key="users_reset").click()
    at.run()
    assert "must be at least 10 characters" in (inline_error(at, "users_reset_password") or "")
    assert _signs_in("operator", PASSWORD)
    at.text_input(key="users_reset_password").input("a brand new password")
    at.button(key="users_reset").click()
    at.run()
    assert at.success[0].value.startswith("operator: password reset")
    assert _signs_in("operator", "a brand new password")
    assert not _signs_in("operator", PASSWORD)


@SQLITE
@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_the_users_page_is_not_in_the_navigation_of_other_roles(
    signed_in: Callable[[str], AppTest], role: str
) -> None:
    at = signed_in(role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/users.py")


@SQLITE
@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_the_users_page_itself_refuses_other_roles(dashboard_env: None, role: str) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "users.py"), default_timeout=30)
    at.session_state.actor = Actor(role, role)
    at.run()
    assert [e.value for e in at.error] == ["Only admins manage users."]
    assert not at.text_input
    assert not at.button
