"""The proxy's secret manager: our names come from the database, else from what the master holds,
never from the environment; a name it cannot resolve is listed so the worker leaves before serving."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import db, migrate
from app.crypto import KeyRing, generate_key
from app.models import Provider, ProviderCredential
from app.proxy import secrets
from tests.pg import free_port

NAME = "LLM_ADMIN_P1_API_KEY"


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(secrets, "RETRY_SECONDS", 0.3)
    secrets.HELD.clear()
    secrets.UNRESOLVED.clear()
    yield
    secrets.HELD.clear()
    secrets.UNRESOLVED.clear()


def down_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PostgreSQL URL on a port nobody listens on, and our name set in the environment as a trap."""
    monkeypatch.setenv("LLM_ADMIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLM_ADMIN_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    monkeypatch.setenv(NAME, "sk-from-the-environment")


def test_with_the_database_down_and_nothing_held_the_name_is_unresolved_not_taken_from_the_environment(
    fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    down_database(monkeypatch, tmp_path)

    assert secrets.LlmAdminSecretManager().sync_read_secret(f"os.environ/{NAME}") is None
    assert secrets.UNRESOLVED == {NAME}


def test_with_the_database_down_the_value_the_master_holds_is_used(
    fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    down_database(monkeypatch, tmp_path)
    read, write = os.pipe()
    os.write(write, b'{"LLM_ADMIN_P1_API_KEY": "sk-old"}\n{"LLM_ADMIN_P1_API_KEY": "sk-held"}\n')
    secrets.held_from(read)

    assert secrets.LlmAdminSecretManager().sync_read_secret(NAME) == "sk-held"
    assert secrets.UNRESOLVED == set()


def test_the_database_value_wins_over_the_held_one(
    fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = generate_key()
    url = f"sqlite:///{tmp_path / 'llm-admin.db'}"
    migrate.upgrade(url)
    db.init(url)
    with db.Session.begin() as session:
        provider = Provider(
            name="Co",
            name_key="co",
            type="custom",
            base_url="http://127.0.0.1:1/v1",
            created_by="t",
            updated_by="t",
        )
        session.add(provider)
        session.flush()
        token = KeyRing.from_strings((key,)).encrypt("sk-current")
        session.add(ProviderCredential(provider_id=provider.id, field="api_key", ciphertext=token))
        name = f"LLM_ADMIN_P{provider.id}_API_KEY"
    monkeypatch.setenv("LLM_ADMIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLM_ADMIN_DATABASE_URL", url)
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", key)
    secrets.HELD[name] = "sk-rotated-away"

    assert secrets.LlmAdminSecretManager().sync_read_secret(name) == "sk-current"
