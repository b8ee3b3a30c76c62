"""Dashboard sessions on the server (both backends) and the two routes that set and clear the cookie,
served by Starlette as the dashboard serves them (streamlit run dashboard.py mounts the same routes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app import db, ui
from app.dashboard_routes import SESSION_PATH, SIGNOUT_PATH, routes, safe_next
from app.models import DashboardSession, User, as_utc, utcnow
from app.services import dashboard_sessions, users
from app.services.access import Actor
from app.services.dashboard_sessions import ABSOLUTE, COOKIE, HANDOFF, IDLE, Resumed

PASSWORD = "correct horse battery"
ROOT_ACTOR = Actor("setup", "admin")


@pytest.fixture
def user(db_url: str) -> User:
    with db.Session.begin() as session:
        made = users.create_user(
            session, actor=ROOT_ACTOR, username="dana", password=PASSWORD, role="operator"
        )
        session.expunge(made)
        return made


def _signed_in(user: User) -> tuple[int, str]:
    """A sign-in whose code the browser redeemed: the session id and the cookie's token."""
    with db.Session.begin() as session:
        session_id, code = dashboard_sessions.start(session, user=session.merge(user))
    with db.Session.begin() as session:
        token = dashboard_sessions.redeem(session, code)
    assert token is not None
    return session_id, token


def _resume(**how: object) -> Resumed | str:
    with db.Session.begin() as session:
        return dashboard_sessions.resume(session, **how)  # type: ignore[arg-type]


def _set(session_id: int, **values: object) -> None:
    with db.Session.begin() as session:
        row = session.get(DashboardSession, session_id)
        for field, value in values.items():
            setattr(row, field, value)


def test_a_redeemed_code_names_the_session_by_its_token_and_only_the_hash_is_stored(user: User) -> None:
    session_id, token = _signed_in(user)
    resumed = _resume(token=token)
    assert isinstance(resumed, Resumed)
    assert (resumed.actor, resumed.session_id) == (Actor("dana", "operator"), session_id)
    with db.Session() as session:
        row = session.get(DashboardSession, session_id)
        assert row is not None and row.token_hash and token not in row.token_hash
        assert row.handoff_hash is None  # the code is spent


def test_a_code_works_once_and_only_for_a_minute(user: User) -> None:
    with db.Session.begin() as session:
        _, code = dashboard_sessions.start(session, user=session.merge(user))
    with db.Session.begin() as session:
        assert dashboard_sessions.redeem(session, code) is not None
    with db.Session.begin() as session:
        assert dashboard_sessions.redeem(session, code) is None  # replayed
        assert dashboard_sessions.redeem(session, "made-up") is None
        assert dashboard_sessions.redeem(session, "") is None
    with db.Session.begin() as session:
        _, late = dashboard_sessions.start(session, user=session.merge(user))
    with db.Session.begin() as session:
        assert dashboard_sessions.redeem(session, late, now=utcnow() + HANDOFF + timedelta(seconds=1)) is None


def test_idle_and_absolute_timeouts_end_the_session_on_the_server_and_say_so_once(user: User) -> None:
    session_id, token = _signed_in(user)
    assert isinstance(_resume(token=token, now=utcnow() + IDLE - timedelta(minutes=1)), Resumed)
    later = utcnow() + IDLE * 2
    assert _resume(token=token, now=later) == dashboard_sessions.ENDED_BECAUSE["idle"]
    assert _resume(token=token, now=later) == ""  # over: the sign-in page says nothing more

    session_id, token = _signed_in(user)
    _set(session_id, created_at=utcnow() - ABSOLUTE - timedelta(minutes=1))
    assert _resume(token=token) == dashboard_sessions.ENDED_BECAUSE["expired"]


def test_a_tab_signed_in_again_is_not_signed_out_by_the_old_cookie(user: User) -> None:
    _, old_token = _signed_in(user)
    with db.Session.begin() as session:
        dashboard_sessions.end(session, token=old_token)
    with db.Session.begin() as session:  # signed in again; the browser still sends the old cookie
        new_id, _ = dashboard_sessions.start(session, user=session.merge(user))
    resumed = _resume(token=old_token, session_id=new_id)
    assert isinstance(resumed, Resumed) and resumed.session_id == new_id
    assert _resume(token=old_token) == ""  # the old cookie alone opens nothing


def test_activity_is_written_at_most_every_thirty_seconds(user: User) -> None:
    session_id, token = _signed_in(user)
    seen = utcnow() - timedelta(seconds=10)
    _set(session_id, last_seen_at=seen)
    _resume(token=token)
    with db.Session() as session:
        row = session.get(DashboardSession, session_id)
        assert row is not None and as_utc(row.last_seen_at) == seen
    _set(session_id, last_seen_at=utcnow() - timedelta(minutes=5))
    _resume(token=token)
    with db.Session() as session:
        row = session.get(DashboardSession, session_id)
        assert row is not None and utcnow() - as_utc(row.last_seen_at) < timedelta(seconds=5)


def test_the_role_is_read_again_and_a_disabled_user_is_signed_out(user: User) -> None:
    _, token = _signed_in(user)
    with db.Session.begin() as session:
        session.get(User, user.id).role = "viewer"  # type: ignore[union-attr]
    resumed = _resume(token=token)
    assert isinstance(resumed, Resumed) and resumed.actor.role == "viewer"
    with db.Session.begin() as session:
        session.get(User, user.id).disabled = True  # type: ignore[union-attr]
    assert _resume(token=token) == dashboard_sessions.ENDED_BECAUSE["disabled"]


def test_a_password_change_ends_the_users_other_sessions_and_a_reset_ends_all(user: User) -> None:
    mine, my_token = _signed_in(user)
    _, other_tab = _signed_in(user)
    actor = Actor("dana", "operator")
    with db.Session.begin() as session:
        users.change_own_password(
            session, actor=actor, current=PASSWORD, password="a brand new password", keep_session=mine
        )
    assert isinstance(_resume(token=my_token), Resumed)
    assert _resume(token=other_tab) == ""
    with db.Session.begin() as session:
        users.change_password(session, actor=ROOT_ACTOR, user_id=user.id, password="reset by the admin")
    assert _resume(token=my_token) == ""


# ---- the routes, over HTTP -------------------------------------------------------------------------


@pytest.fixture
def client(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("LLM_ADMIN_DATABASE_URL", db_url)
    monkeypatch.setenv("LLM_ADMIN_DATA_DIR", str(tmp_path / "data"))
    ui.settings.cache_clear()
    with TestClient(Starlette(routes=routes), base_url="http://127.0.0.1:8501") as test_client:
        yield test_client
    ui.settings.cache_clear()


def _code(user: User) -> tuple[int, str]:
    with db.Session.begin() as session:
        return dashboard_sessions.start(session, user=session.merge(user))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_session_route_sets_an_httponly_samesite_cookie_and_returns_to_the_page(
    client: TestClient, user: User
) -> None:
    session_id, code = _code(user)
    response = client.get(
        SESSION_PATH, params={"code": code, "next": "/provider-list?x=1"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/provider-list?x=1"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower() and f"max-age={int(ABSOLUTE.total_seconds())}" in cookie.lower()
    assert "secure" not in attributes  # plain http on loopback; https gets Secure
    token = response.cookies[COOKIE]
    resumed = _resume(token=token)
    assert isinstance(resumed, Resumed) and resumed.session_id == session_id

    again = client.get(SESSION_PATH, params={"code": code}, follow_redirects=False)
    assert again.status_code == 303 and "set-cookie" not in again.headers  # a replayed code sets nothing


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_over_https_the_cookie_is_secure(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user: User
) -> None:
    monkeypatch.setenv("LLM_ADMIN_DATABASE_URL", db_url)
    monkeypatch.setenv("LLM_ADMIN_DATA_DIR", str(tmp_path / "data"))
    ui.settings.cache_clear()
    with TestClient(Starlette(routes=routes), base_url="https://admin.example") as https:
        _, code = _code(user)
        response = https.get(SESSION_PATH, params={"code": code}, follow_redirects=False)
    ui.settings.cache_clear()
    assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sign_out_ends_the_session_on_the_server_and_clears_the_cookie(
    client: TestClient, user: User
) -> None:
    _, token = _signed_in(user)
    client.cookies.set(COOKIE, token)
    response = client.get(SIGNOUT_PATH, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert (
        f'{COOKIE}=""' in response.headers["set-cookie"]
        and "max-age=0" in response.headers["set-cookie"].lower()
    )
    assert _resume(token=token) == ""  # a copy of the cookie opens nothing any more


@pytest.mark.parametrize(
    ("wanted", "safe"),
    [
        ("/routes", "/routes"),
        ("/usage-costs?period=7d", "/usage-costs?period=7d"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_only_a_path_on_this_site_is_returned_to(wanted: str | None, safe: str) -> None:
    assert safe_next(wanted) == safe
