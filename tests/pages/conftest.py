"""Page tests: Streamlit's AppTest against a real database, as a signed-in user of each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import db, ui
from app.services import users
from app.services.access import Actor

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


@pytest.fixture
def dashboard_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LLM_ADMIN_DATABASE_URL", db_url)
    monkeypatch.setenv("LLM_ADMIN_DATA_DIR", str(tmp_path / "data"))
    ui.settings.cache_clear()
    root = Actor("setup", "admin")
    with db.Session.begin() as session:
        for role in ("admin", "operator", "viewer"):
            users.create_user(session, actor=root, username=role, password=PASSWORD, role=role)
    yield
    ui.settings.cache_clear()


@pytest.fixture
def app(dashboard_env: None) -> AppTest:
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)


def sign_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    at.run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    at.run()
    if "session_id" not in at.session_state:
        return at  # refused
    # In a browser the sign-in ends with a redirect that sets the session cookie and loads the page
    # again; AppTest has no browser, so its next run resumes the session by the id it holds.
    return at.run()


@pytest.fixture
def signed_in(app: AppTest) -> Callable[[str], AppTest]:
    return lambda role: sign_in(app, role)
