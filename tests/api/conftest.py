"""A real API server on loopback (uvicorn in a thread, one per test) over the test's database, on
SQLite and PostgreSQL, with a user and a token for each role; clients are plain httpx."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from app import db
from app.api.app import create_app
from app.crypto import generate_key
from app.models import User
from app.services import api_tokens, users
from app.services.access import ROLES, Actor
from app.settings import Settings
from tests.pg import free_port

MASTER = "sk-api-tests-master-key-0123456789"


@dataclass
class Api:
    """The running server: `client(role)` sends that role's token; `anonymous()` sends none."""

    base_url: str
    settings: Settings
    tokens: dict[str, str]
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, role: str = "admin") -> httpx.Client:
        return self._open({"Authorization": f"Bearer {self.tokens[role]}"})

    def anonymous(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return self._open(headers or {})

    def _open(self, headers: dict[str, str]) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot; the test process keeps its own
        pass


def make_settings(db_url: str, tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return Settings(
        data_dir=data,
        database_url=db_url,
        secret_keys=(generate_key(),),
        config_path=data / "litellm-config.yaml",
        master_key=MASTER,
        proxy_port=free_port(),  # nothing listens there: no proxy runs in these tests
    )


@functools.cache
def _password_hash(password: str) -> str:
    """scrypt once per password for the whole run (three a test cost ~0.3 s of each API test)."""
    return users.hash_password(password)


def seed_users(password: str = "a-long-password-1") -> dict[str, str]:
    """One user per role (alice the admin, oscar the operator, vera the viewer), a token each."""
    names = {"admin": "alice", "operator": "oscar", "viewer": "vera"}
    tokens = {}
    system = Actor("cli:test", "admin")
    with db.Session.begin() as session:
        for role in ROLES:
            session.add(User(username=names[role], password_hash=_password_hash(password), role=role))
            session.flush()
            _, tokens[role] = api_tokens.create_token(
                session, actor=system, name="tests", username=names[role]
            )
    return tokens


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(db_url, tmp_path)
    tokens = seed_users()
    port = free_port()
    server = _Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(600):  # uvicorn's own readiness flag, not a fixed sleep
        if server.started:
            ready.set()
            break
        thread.join(0.05)
    assert ready.is_set(), "the API server did not start"
    running = Api(f"http://127.0.0.1:{port}", settings, tokens)
    yield running
    running.close()
    server.should_exit = True
    thread.join(30)
