"""Provider service: create, update, soft delete, restore, reveal, locking, masking."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.crypto import KeyRing
from app.errors import ConflictError, PermissionDenied, ValidationError
from app.models import AuditEntry, Model, Provider, ProviderCredential
from app.services import audit, models, providers
from app.services.access import Actor

KEY = "sk-test-0123456789abcdefXYZ"


def _add(ring: KeyRing, actor: Actor, name: str = "OpenAI Prod", **kw: object) -> int:
    with db.Session.begin() as session:
        p = providers.create_provider(
            session, actor=actor, ring=ring, name=name, type="openai", secrets={"api_key": KEY}, **kw
        )
        return p.id


def test_create_stores_key_encrypted_and_shows_it_masked(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _add(ring, admin)
    with db.Session.begin() as session:
        cred = session.scalars(select(ProviderCredential)).one()
        view = providers.get_provider(session, provider_id=pid, ring=ring)
    assert KEY not in (cred.ciphertext or "")
    assert ring.decrypt(cred.ciphertext or "") == KEY
    assert view.credentials[0].masked == "sk-…XYZ"
    assert view.base_url == "https://api.openai.com/v1"


def test_names_collide_regardless_of_case_and_spacing(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _add(ring, admin, name="OpenAI Prod")
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        providers.create_provider(
            session, actor=admin, ring=ring, name="  openai   PROD ", type="openai", secrets={"api_key": KEY}
        )
    assert err.value.fields == ["name"]
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Provider.id))) == 1


def test_soft_delete_disables_models_and_restore_brings_provider_back(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    pid = _add(ring, admin)
    with db.Session.begin() as session:
        models.create_model(session, actor=admin, provider_id=pid, identifier="gpt-4o-mini", enabled=True)
        providers.delete_provider(session, actor=admin, provider_id=pid)
    with db.Session.begin() as session:
        assert providers.list_providers(session) == []
        assert [p.deleted for p in providers.list_providers(session, include_deleted=True)] == [True]
        assert session.scalar(select(Model.enabled)) is False
        providers.restore_provider(session, actor=admin, provider_id=pid)
    with db.Session.begin() as session:
        (view,) = providers.list_providers(session)
        assert view.enabled and not view.deleted


def test_second_save_from_a_stale_form_gets_a_conflict(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _add(ring, admin)
    bob = Actor("bob", "admin")
    with db.Session.begin() as session:
        opened = providers.get_provider(session, provider_id=pid).version
    with db.Session.begin() as session:
        providers.update_provider(
            session, actor=admin, ring=ring, provider_id=pid, expected_version=opened, rpm=100
        )
    with pytest.raises(ConflictError, match=r"changed by alice at .* since you opened it"):
        with db.Session.begin() as session:
            providers.update_provider(
                session, actor=bob, ring=ring, provider_id=pid, expected_version=opened, rpm=5
            )
    with db.Session.begin() as session:
        assert providers.get_provider(session, provider_id=pid).rpm == 100


def test_reveal_is_admin_only_and_audited(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _add(ring, admin)
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        providers.reveal_secret(session, actor=Actor("olga", "operator"), ring=ring, provider_id=pid)
    with db.Session.begin() as session:
        assert providers.reveal_secret(session, actor=admin, ring=ring, provider_id=pid) == KEY
    with db.Session.begin() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["provider.create", "provider.reveal_key"]


def test_audit_entries_list_newest_first_and_filter_by_actor(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    pid = _add(ring, admin)
    with db.Session.begin() as session:
        providers.set_provider_enabled(session, actor=Actor("bob", "admin"), provider_id=pid, enabled=False)
    with db.Session.begin() as session:
        assert [e.action for e in audit.list_entries(session)] == ["provider.disable", "provider.create"]
        assert [e.actor for e in audit.list_entries(session, actor="alice")] == ["alice"]
        assert [e.action for e in audit.list_entries(session, action="provider.dis")] == ["provider.disable"]
