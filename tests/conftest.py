"""Fixtures: every database test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from app import db, migrate  # noqa: E402
from app.crypto import KeyRing, generate_key  # noqa: E402
from app.services.access import Actor  # noqa: E402
from tests.pg import PostgresServer, start_postgres  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()


def _create_pg_database(server: PostgresServer, name: str, template: str | None = None) -> str:
    engine = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        suffix = f" TEMPLATE {template}" if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    engine.dispose()
    return server.url(name)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Lazily migrated template databases, one per backend."""
    return {}


def _template_for(backend: str, request: pytest.FixtureRequest, cache: dict[str, object]) -> object:
    if backend not in cache:
        if backend == "sqlite":
            path = request.getfixturevalue("tmp_path_factory").mktemp("template") / "template.db"
            url = f"sqlite:///{path}"
            migrate.upgrade(url)
            db.make_engine(url).dispose()
            cache[backend] = path
        else:
            server: PostgresServer = request.getfixturevalue("postgres")
            url = _create_pg_database(server, "llm_admin_template")
            migrate.upgrade(url)
            db.make_engine(url).dispose()
            cache[backend] = "llm_admin_template"
    return cache[backend]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_templates: dict[str, object],
) -> Iterator[str]:
    """A fresh, migrated database on this backend, bound to app.db.Session."""
    template = _template_for(backend, request, migrated_templates)
    if backend == "sqlite":
        path = tmp_path / "llm-admin.db"
        shutil.copy(str(template), path)
        url = f"sqlite:///{path}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = _create_pg_database(server, f"t{next(_counter)}_{os.getpid()}", template=str(template))
    db.init(url)
    yield url
    db.make_engine(url).dispose()


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on this backend (for migration tests)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = _create_pg_database(server, f"e{next(_counter)}_{os.getpid()}")
    yield url
    db.make_engine(url).dispose()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.from_strings([generate_key()])


@pytest.fixture
def admin() -> Actor:
    return Actor("alice", "admin")


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running `llm-admin` against this test's database."""
    env = {
        "LLM_ADMIN_DATABASE_URL": db_url,
        "LLM_ADMIN_DATA_DIR": str(tmp_path / "data"),
        "LLM_ADMIN_SECRET_KEYS": generate_key(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
