"""The login gate: only the sign-in page for anonymous sessions; roles after sign-in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from app import db
from app.models import DashboardSession, utcnow
from app.services import dashboard_sessions
from tests.pages.conftest import sign_in

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_anonymous_session_sees_only_the_sign_in_form(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert [t.value for t in app.title] == ["llm-admin"]
    assert (
        app.text_input(key="login_password").proto.type == app.text_input(key="login_password").proto.PASSWORD
    )
    assert "Overview" not in [t.value for t in app.title]


def test_wrong_password_shows_an_error_and_stays_on_sign_in(app: AppTest) -> None:
    sign_in(app, "admin", "not the password")
    assert "Wrong username or password" in app.error[0].value
    assert "actor" not in app.session_state


def test_admin_signs_in_and_sees_the_overview(signed_in: Callable[[str], AppTest]) -> None:
    at = signed_in("admin")
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert at.session_state.actor.role == "admin"
    assert "Signed in as **admin** (admin)" in [m.value for m in at.sidebar.markdown]


def test_five_failures_make_this_source_wait_even_for_the_right_password(app: AppTest) -> None:
    for _ in range(5):
        sign_in(app, "viewer", "wrong password!")
    sign_in(app, "viewer")
    assert "actor" not in app.session_state
    assert app.error[0].value == "Too many failed sign-ins from here: try again in 30 s."


def test_an_attack_from_another_address_does_not_keep_the_admin_out(app: AppTest) -> None:
    from app import db
    from app.services import users
    from app.services.login_throttle import LoginThrottled

    for _ in range(8):
        try:
            with db.Session.begin() as session:
                users.authenticate(
                    session, username="admin", password="a wrong guess", source="ip:203.0.113.9"
                )
        except LoginThrottled:
            pass
    sign_in(app, "admin")
    assert app.session_state.actor.role == "admin"


def _session_row(at: AppTest) -> DashboardSession:
    with db.Session() as session:
        row = session.get(DashboardSession, at.session_state.session_id)
        assert row is not None
        session.expunge(row)
        return row


def _age_session(at: AppTest, **ago: timedelta) -> None:
    """What time does to this session's row on the server: each field set that long ago."""
    with db.Session.begin() as session:
        row = session.get(DashboardSession, at.session_state.session_id)
        for field, delta in ago.items():
            setattr(row, field, utcnow() - delta)


def test_signing_in_starts_a_session_on_the_server(signed_in: Callable[[str], AppTest]) -> None:
    at = signed_in("viewer")
    row = _session_row(at)
    assert row.ended_at is None and row.handoff_hash is not None  # the browser's code, not redeemed here
    assert row.user_id and row.token_hash is None


def test_sign_out_ends_the_session_on_the_server(signed_in: Callable[[str], AppTest]) -> None:
    at = signed_in("operator")
    session_id = at.session_state.session_id
    at.sidebar.button(key="logout").click()
    at.run()
    assert [t.value for t in at.title] == ["llm-admin"]
    assert "actor" not in at.session_state
    with db.Session() as session:
        row = session.get(DashboardSession, session_id)
        assert row is not None and row.ended_at is not None and row.ended_why == "signed out"
    # the session is over for every tab that holds it, not just this one
    with db.Session() as session:
        assert dashboard_sessions.resume(session, session_id=session_id) == ""


def test_an_idle_session_is_signed_out(signed_in: Callable[[str], AppTest]) -> None:
    at = signed_in("viewer")
    _age_session(at, last_seen_at=timedelta(minutes=31))
    at.run()
    assert "actor" not in at.session_state
    assert [t.value for t in at.title] == ["llm-admin"]
    assert "signed out after 30 minutes without activity" in at.info[0].value


def test_activity_keeps_a_session_alive_past_the_idle_timeout_but_not_past_twelve_hours(
    signed_in: Callable[[str], AppTest],
) -> None:
    at = signed_in("viewer")
    _age_session(at, last_seen_at=timedelta(minutes=29), created_at=timedelta(hours=11))
    at.run()
    assert at.session_state.actor.name == "viewer"
    assert _session_row(at).last_seen_at > utcnow().replace(tzinfo=None) - timedelta(minutes=1)

    _age_session(at, last_seen_at=timedelta(minutes=1), created_at=timedelta(hours=12, minutes=1))
    at.run()
    assert "actor" not in at.session_state
    assert "Your session ended after 12 hours" in at.info[0].value


def _change_user(username: str, **values: object) -> None:
    """What another admin's change does to the row, while this session stays open."""
    from app import db
    from app.services import users

    with db.Session.begin() as session:
        user = users.find_user(session, username=username)
        assert user is not None
        for key, value in values.items():
            setattr(user, key, value)


def test_a_demoted_admin_loses_admin_rights_in_the_open_session(signed_in: Callable[[str], AppTest]) -> None:
    at = signed_in("admin")
    assert at.session_state.actor.can("manage_users")
    _change_user("admin", role="viewer")

    at.run()  # the next action

    assert not at.exception
    assert at.session_state.actor.role == "viewer"
    assert not at.session_state.actor.can("manage_users")
    assert "Signed in as **admin** (viewer)" in [m.value for m in at.sidebar.markdown]


def test_a_disabled_user_is_signed_out_on_the_next_action(signed_in: Callable[[str], AppTest]) -> None:
    at = signed_in("operator")
    _change_user("operator", disabled=True)

    at.run()

    assert "actor" not in at.session_state
    assert [t.value for t in at.title] == ["llm-admin"]
    assert "your account was disabled or removed" in at.info[0].value
