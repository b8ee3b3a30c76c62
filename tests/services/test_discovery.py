"""Test Connection and Sync models for a stored provider: the probe target, the record, the new models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app import catalog, db
from app.crypto import KeyRing
from app.errors import PermissionDenied, SecretKeyError
from app.models import AuditEntry, Model, Provider
from app.probes import ProbeTarget
from app.services import discovery, models, providers
from app.services.access import Actor
from tests.upstream import FakeUpstream

KEY = "sk-disc-0123456789abcdef"
OPERATOR = Actor("olga", "operator")
VIEWER = Actor("vic", "viewer")


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(models=("gpt-4o-mini", "gpt-4o", "bad id with spaces"), api_key=KEY).start()
    yield server
    server.stop()


def _provider(ring: KeyRing, actor: Actor, base_url: str, **kw: object) -> int:
    with db.Session.begin() as session:
        return providers.create_provider(
            session, actor=actor, ring=ring, name="Up", type="openai", base_url=base_url, **kw
        ).id


def test_target_decrypts_stored_secrets_and_reads_env_ones(db_url: str, ring: KeyRing, admin: Actor) -> None:
    stored = _provider(
        ring, admin, "http://127.0.0.1:9/v1", secrets={"api_key": KEY}, params={"organization": "o"}
    )
    with db.Session.begin() as session:
        env = providers.create_provider(
            session, actor=admin, ring=ring, name="Env", type="openai", secret_envs={"api_key": "MY_KEY"}
        ).id
    with db.Session.begin() as session:
        target = discovery.target_for(session, actor=OPERATOR, ring=ring, provider_id=stored, environ={})
        from_env = discovery.target_for(
            session, actor=OPERATOR, ring=ring, provider_id=env, environ={"MY_KEY": "sk-from-env"}
        )
        with pytest.raises(SecretKeyError, match=r"reads api_key from \$MY_KEY, which is not set here"):
            discovery.target_for(session, actor=OPERATOR, ring=ring, provider_id=env, environ={})
    assert (target.type, target.base_url, target.secrets, target.params) == (
        "openai",
        "http://127.0.0.1:9/v1",
        {"api_key": KEY},
        {"organization": "o"},
    )
    assert from_env.secrets == {"api_key": "sk-from-env"}


def test_a_viewer_cannot_probe(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _provider(ring, admin, "http://127.0.0.1:9/v1", secrets={"api_key": KEY})
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        discovery.target_for(session, actor=VIEWER, ring=ring, provider_id=pid, environ={})


def test_probe_and_record(db_url: str, ring: KeyRing, admin: Actor, upstream: FakeUpstream) -> None:
    pid = _provider(ring, admin, f"{upstream.base_url}/v1", secrets={"api_key": KEY})
    with db.Session.begin() as session:
        target = discovery.target_for(session, actor=OPERATOR, ring=ring, provider_id=pid, environ={})
    result = discovery.probe(target, timeout=5)
    assert (result.ok, result.models) == (True, ["bad id with spaces", "gpt-4o", "gpt-4o-mini"])
    with db.Session.begin() as session:
        discovery.record_test(session, actor=OPERATOR, provider_id=pid, result=result)
    with db.Session.begin() as session:
        provider = session.get(Provider, pid)
        assert provider is not None
        assert (provider.last_test_ok, provider.last_test_message, provider.version) == (
            True,
            "connected; 3 models listed",
            1,
        )
        assert session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "provider.test")
        ).all() == ["olga"]


def test_sync_adds_new_models_disabled_with_cost_map_defaults(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    pid = _provider(ring, admin, "http://127.0.0.1:9/v1", secrets={"api_key": KEY})
    with db.Session.begin() as session:
        models.create_model(session, actor=admin, provider_id=pid, identifier="gpt-4o", enabled=True)
    with db.Session.begin() as session:
        result = discovery.sync_models(
            session,
            actor=admin,
            provider_id=pid,
            discovered=["gpt-4o-mini", "gpt-4o", "bad id", "gpt-4o-mini"],
        )
    assert (result.added, result.existing, [e.field for e in result.skipped]) == (
        ["gpt-4o-mini"],
        ["gpt-4o"],
        ["bad id"],
    )
    with db.Session.begin() as session:
        rows = {m.identifier: m for m in session.scalars(select(Model))}
        known = catalog.model_defaults("openai", "gpt-4o-mini")
        assert rows["gpt-4o-mini"].enabled is False
        assert rows["gpt-4o"].enabled is True  # an existing model is left as it was
        assert (rows["gpt-4o-mini"].input_cost_per_1m, rows["gpt-4o-mini"].context_window) == (
            known.input_cost_per_1m,
            known.context_window,
        )


def test_only_admins_sync(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _provider(ring, admin, "http://127.0.0.1:9/v1", secrets={"api_key": KEY})
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        discovery.sync_models(session, actor=OPERATOR, provider_id=pid, discovered=["gpt-4o"])


@pytest.mark.parametrize(
    ("type_id", "default", "listed", "expected"),
    [
        ("openai", None, ["gpt-4o", "gpt-4o-mini", "o1"], "gpt-4o-mini"),  # the catalog's first default
        ("openai", "o1", ["gpt-4o", "gpt-4o-mini", "o1"], "o1"),  # the provider's own default
        ("ollama", None, ["llama3.1:latest", "qwen2.5"], "llama3.1:latest"),
        ("openai", None, ["zeta", "alpha"], "alpha"),
        ("openai", None, [], None),
    ],
)
def test_enable_default_model_picks_one(
    db_url: str,
    ring: KeyRing,
    admin: Actor,
    type_id: str,
    default: str | None,
    listed: list[str],
    expected: str | None,
) -> None:
    with db.Session.begin() as session:
        pid = providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="P",
            type=type_id,
            default_model=default,
            secrets={"api_key": KEY} if type_id == "openai" else None,
        ).id
        discovery.sync_models(session, actor=admin, provider_id=pid, discovered=listed)
    with db.Session.begin() as session:
        assert discovery.enable_default_model(session, actor=admin, ring=ring, provider_id=pid) == expected
    with db.Session.begin() as session:
        enabled = session.scalars(select(Model.identifier).where(Model.enabled.is_(True))).all()
        provider = session.get(Provider, pid)
        assert provider is not None
        assert enabled == ([expected] if expected else [])
        assert provider.default_model == (expected or default)
    with db.Session.begin() as session:  # a provider with an enabled model is left alone
        assert discovery.enable_default_model(session, actor=admin, ring=ring, provider_id=pid) is None


def test_probe_of_a_closed_port_says_to_check_the_url() -> None:
    result = discovery.probe(ProbeTarget("custom", "http://127.0.0.1:9/v1"), timeout=2)
    assert not result.ok
    assert "check the base URL and network" in result.message
