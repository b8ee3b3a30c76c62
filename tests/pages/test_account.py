"""My account: changing my own password; a one-time or reset password must be changed first."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db
from app.models import AuditEntry
from app.services import users
from app.services.access import Actor
from tests.pages.conftest import PASSWORD, sign_in
from tests.pages.helpers import plain

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
NEW = "a brand new passphrase"


def _signs_in(username: str, password: str) -> bool:
    with db.Session.begin() as session:
        return users.authenticate(session, username=username, password=password) is not None


def _change(at: AppTest, current: str, new: str, again: str | None = None) -> AppTest:
    at.text_input(key="account_current").input(current)
    at.text_input(key="account_new").input(new)
    at.text_input(key="account_again").input(new if again is None else again)
    at.button(key="account_change").click()
    return at.run()


def test_a_user_changes_their_own_password(signed_in: Callable[[str], AppTest]) -> None:
    at = signed_in("viewer")
    at.switch_page("pages/account.py").run()
    assert [t.value for t in at.title] == ["My account"]
    at = _change(at, PASSWORD, NEW)
    assert not at.exception
    assert at.success[0].value == "Password changed."
    assert _signs_in("viewer", NEW) and not _signs_in("viewer", PASSWORD)
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.password")).one()
        assert (entry.actor, entry.target_name, entry.details) == ("viewer", "viewer", {"one_time": False})


def test_a_wrong_current_password_a_mismatch_or_the_same_password_changes_nothing(
    signed_in: Callable[[str], AppTest],
) -> None:
    at = signed_in("operator")
    at.switch_page("pages/account.py").run()
    at = _change(at, "not my password", NEW)
    assert any(plain(e.value).startswith("**Current password**: is not your current") for e in at.error)
    at = _change(at, PASSWORD, NEW, again="something else entirely")
    assert any(plain(e.value).startswith("**New password again**: does not match") for e in at.error)
    at = _change(at, PASSWORD, PASSWORD)
    assert any("is the password you have" in plain(e.value) for e in at.error)
    at = _change(at, PASSWORD, "short")
    assert any("at least 10 characters" in plain(e.value) for e in at.error)
    assert _signs_in("operator", PASSWORD)


def test_a_one_time_password_must_be_changed_before_anything_else(app: AppTest) -> None:
    with db.Session.begin() as session:
        users.create_user(
            session,
            actor=Actor("cli:root", "admin"),
            username="first",
            password="one-time-pass-1",
            role="admin",
            one_time=True,
        )
    at = sign_in(app, "first", "one-time-pass-1")
    assert not at.exception
    assert [t.value for t in at.title] == ["Choose a new password"]
    with pytest.raises(ValueError, match=r"Known pages: \['[^,]*account.py'\]"):  # the only page there is
        at.switch_page("pages/providers.py")
    at = _change(at, "one-time-pass-1", NEW)
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert at.success[0].value == "Password changed."
    with db.Session.begin() as session:
        assert not users.must_change_password(session, username="first")


def test_a_password_an_admin_reset_is_one_time(app: AppTest) -> None:
    admin = Actor("admin", "admin")
    with db.Session.begin() as session:
        viewer = users.find_user(session, username="viewer")
        assert viewer is not None
        users.change_password(session, actor=admin, user_id=viewer.id, password="reset-by-admin-1")
    at = sign_in(app, "viewer", "reset-by-admin-1")
    assert [t.value for t in at.title] == ["Choose a new password"]
