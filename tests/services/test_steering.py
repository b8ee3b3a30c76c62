"""Monitor steering (app.services.config.steer): it re-renders what an admin applied around the down
providers; edits not yet applied stay pending until an admin applies them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app import db
from app.crypto import KeyRing, generate_key
from app.errors import LlmAdminError
from app.models import AuditEntry, ConfigRevision
from app.monitor import MONITOR
from app.services import config, health, models, providers
from app.services.access import Actor
from app.settings import Settings, load_settings
from generator import render

KEY = generate_key()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.from_strings([KEY])


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        {
            "LLM_ADMIN_DATA_DIR": str(tmp_path / "data"),
            "LLM_ADMIN_DATABASE_URL": db_url,
            "LLM_ADMIN_SECRET_KEYS": KEY,
            "LITELLM_MASTER_KEY": "sk-steering-test-master-key-000000",
        }
    )


def _rows(admin: Actor, ring: KeyRing) -> dict[str, int]:
    """Two local providers serving one group, `fast`."""
    ids = {}
    with db.Session.begin() as session:
        for name, port in (("east", 11434), ("west", 11435)):
            provider = providers.create_provider(
                session, actor=admin, ring=ring, name=name, type="ollama", base_url=f"http://127.0.0.1:{port}"
            )
            models.create_model(
                session,
                actor=admin,
                provider_id=provider.id,
                identifier="llama3.1",
                alias="fast",
                enabled=True,
            )
            ids[name] = provider.id
    return ids


def _apply(settings: Settings, ring: KeyRing, actor: Actor) -> int:
    return config.apply(actor=actor, settings=settings, ring=ring, environ={}, deep=False).number


def _down(provider_id: int) -> None:
    with db.Session.begin() as session:
        for _ in range(3):
            health.record_probe(session, provider_id=provider_id, ok=False, latency_ms=None, error="refused")
        assert provider_id in health.down_provider_ids(session)


def _deployments(settings: Settings) -> list[tuple[str, str]]:
    live = render.load_yaml(settings.config_path.read_text())
    return sorted((d["model_name"], d["model_info"]["llm_admin_provider"]) for d in live["model_list"])


def _pending_edit(admin: Actor, provider_id: int) -> None:
    """An admin's edit, saved but not applied: a second group on `west`."""
    with db.Session.begin() as session:
        models.create_model(
            session, actor=admin, provider_id=provider_id, identifier="qwen2.5", alias="draft", enabled=True
        )


def _plan_summary(settings: Settings, ring: KeyRing, admin: Actor) -> str:
    with db.Session.begin() as session:
        return config.plan(session, settings=settings, ring=ring, environ={}, author=admin.name).summary


def test_steering_leaves_the_down_provider_out_and_keeps_pending_edits_pending(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    ids = _rows(admin, ring)
    assert _apply(settings, ring, admin) == 1
    _pending_edit(admin, ids["west"])
    _down(ids["east"])

    steered = config.steer(actor=MONITOR, settings=settings, ring=ring, environ={})

    assert steered is not None and steered.number == 2
    assert _deployments(settings) == [("fast", "west")]  # east left out, the pending `draft` not published
    with db.Session.begin() as session:
        first, second = (config.get_revision(session, number=n) for n in (1, 2))
        assert second.author == "monitor"
        assert second.summary.startswith(
            "monitor steering of revision 1: east down, left out where another provider serves; "
        )
        assert second.inputs == first.inputs
        query = select(AuditEntry.action).where(AuditEntry.target_type == "config_revision")
        assert list(session.scalars(query.order_by(AuditEntry.id))) == ["config.apply", "config.steer"]
    # `config diff` and the Config page still show the pending edit
    assert "+1 model" in _plan_summary(settings, ring, admin)

    assert _apply(settings, ring, admin) == 3
    assert _deployments(settings) == [("draft", "west"), ("fast", "west")]  # now it is live; east still out


def test_steering_again_with_nothing_changed_writes_nothing(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    ids = _rows(admin, ring)
    _apply(settings, ring, admin)
    _pending_edit(admin, ids["west"])
    assert config.steer(actor=MONITOR, settings=settings, ring=ring, environ={}) is None
    with db.Session.begin() as session:
        assert [r.number for r in config.history(session)] == [1]


def test_steering_from_a_revision_without_inputs_refuses_rather_than_publish_the_rows(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    ids = _rows(admin, ring)
    _apply(settings, ring, admin)
    with db.Session.begin() as session:
        session.scalars(select(ConfigRevision)).one().inputs = None  # written before revisions kept them
    _down(ids["east"])
    with pytest.raises(LlmAdminError) as caught:
        config.steer(actor=MONITOR, settings=settings, ring=ring, environ={})
    assert str(caught.value) == (
        "revision 1 was written before revisions kept their inputs, so the monitor cannot steer without "
        "publishing pending edits; apply once (`llm-admin config apply`)"
    )


def test_a_revision_s_inputs_hold_no_secret_value(settings: Settings, ring: KeyRing, admin: Actor) -> None:
    key = "sk-steering-secret-4f1e9a7c2b"
    with db.Session.begin() as session:
        openai = providers.create_provider(
            session, actor=admin, ring=ring, name="oa", type="openai", secrets={"api_key": key}
        )
        models.create_model(
            session, actor=admin, provider_id=openai.id, identifier="gpt-4o-mini", enabled=True
        )
    _apply(settings, ring, admin)
    with db.Session.begin() as session:
        inputs = config.get_revision(session, number=1).inputs
    assert inputs is not None and key not in repr(inputs)
    assert inputs["providers"][0]["secrets"] == [{"field": "api_key", "env_var": None}]
