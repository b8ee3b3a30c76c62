"""Provider templates (system and custom) and users (accounts, login throttling, roles)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from app import catalog, db
from app.crypto import KeyRing
from app.errors import PermissionDenied, ValidationError
from app.models import LoginThrottle, Model, ProviderCredential, ProviderTemplate, User
from app.services import models, providers, templates, users
from app.services.access import Actor
from app.services.login_throttle import FREE_FAILURES, LoginThrottled

KEY = "sk-test-0123456789abcdefXYZ"
PASSWORD = "correct horse battery staple"

# ---- templates -------------------------------------------------------------------------------------


def test_sync_creates_one_system_template_per_catalog_type(db_url: str) -> None:
    with db.Session.begin() as session:
        assert templates.sync_system_templates(session) == len(catalog.PROVIDER_TYPES)
    with db.Session.begin() as session:
        rows = templates.list_templates(session)
        assert sorted(t.type for t in rows) == sorted(catalog.PROVIDER_TYPES)
        assert {t.kind for t in rows} == {"system"}
        openai = templates.get_template(session, name="OpenAI")
        assert (openai.base_url, openai.settings["models"]) == (
            "https://api.openai.com/v1",
            ["gpt-4o-mini", "gpt-4o"],
        )
        azure = templates.get_template(session, name="Azure OpenAI")
        assert azure.params == {"api_version": "2024-10-21"}


def test_sync_is_idempotent(db_url: str) -> None:
    with db.Session.begin() as session:
        templates.sync_system_templates(session)
    with db.Session.begin() as session:
        first = [(t.id, t.name, t.type, t.base_url) for t in templates.list_templates(session)]
    with db.Session.begin() as session:
        assert templates.sync_system_templates(session) == 0
    with db.Session.begin() as session:
        assert [(t.id, t.name, t.type, t.base_url) for t in templates.list_templates(session)] == first


def _provider_with_models(ring: KeyRing, admin: Actor) -> int:
    with db.Session.begin() as session:
        provider = providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="Team Gateway",
            type="custom",
            base_url="https://llm.internal.example/v1",
            secrets={"api_key": KEY},
            params={"extra_headers": {"X-Team": "ml"}},
            rpm=120,
            timeout_seconds=30,
        )
        for identifier, enabled in (("gpt-4o", True), ("gpt-4o-mini", True), ("o1", False)):
            models.create_model(
                session, actor=admin, provider_id=provider.id, identifier=identifier, enabled=enabled
            )
        return provider.id


def test_custom_template_keeps_settings_but_no_secret(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _provider_with_models(ring, admin)
    with db.Session.begin() as session:
        templates.save_template_from_provider(session, actor=admin, provider_id=pid, name="Gateway")
    with db.Session.begin() as session:
        row = session.scalars(select(ProviderTemplate)).one()
        ciphertext = session.scalars(select(ProviderCredential.ciphertext)).one()
        stored = json.dumps(
            [row.name, row.kind, row.type, row.base_url, row.params, row.settings, row.created_by]
        )
    assert (row.kind, row.type, row.base_url) == ("custom", "custom", "https://llm.internal.example/v1")
    assert row.settings["models"] == ["gpt-4o", "gpt-4o-mini"]
    assert KEY not in stored
    assert KEY[-6:] not in stored
    assert ciphertext is not None and ciphertext not in stored
    assert "api_key" not in row.params


def test_provider_from_custom_template_matches_the_original(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _provider_with_models(ring, admin)
    with db.Session.begin() as session:
        templates.save_template_from_provider(session, actor=admin, provider_id=pid, name="Gateway")
    with db.Session.begin() as session:
        new = templates.create_provider_from_template(
            session,
            actor=admin,
            ring=ring,
            template_name="Gateway",
            name="Team Gateway EU",
            secrets={"api_key": "sk-other-0123456789abcdef"},
        ).id
    with db.Session.begin() as session:
        original = providers.get_provider(session, provider_id=pid)
        copy = providers.get_provider(session, provider_id=new, ring=ring)
        rows = session.scalars(select(Model).where(Model.provider_id == new).order_by(Model.id)).all()
    assert (copy.type, copy.base_url, copy.params) == (original.type, original.base_url, original.params)
    assert (copy.rpm, copy.timeout_seconds) == (120, 30.0)
    assert [(m.identifier, m.enabled, m.is_default) for m in rows] == [
        ("gpt-4o", True, True),
        ("gpt-4o-mini", False, False),
    ]
    assert copy.default_model == "gpt-4o"
    assert copy.credentials[0].masked == "sk-…def"


def test_template_names_are_unique(db_url: str, ring: KeyRing, admin: Actor) -> None:
    pid = _provider_with_models(ring, admin)
    with db.Session.begin() as session:
        templates.save_template_from_provider(session, actor=admin, provider_id=pid, name="Gateway")
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        templates.save_template_from_provider(session, actor=admin, provider_id=pid, name="Gateway")
    assert err.value.fields == ["name"]


# ---- users -----------------------------------------------------------------------------------------


def _create(admin: Actor, username: str, role: str = "admin", password: str = PASSWORD) -> int:
    with db.Session.begin() as session:
        return users.create_user(session, actor=admin, username=username, password=password, role=role).id


def _login(username: str, password: str) -> str | None:
    try:
        with db.Session.begin() as session:
            user = users.authenticate(session, username=username, password=password)
            return user.username if user else None
    except LoginThrottled:
        return None


def test_user_logs_in_with_the_right_password(db_url: str, admin: Actor) -> None:
    _create(admin, "alice")
    assert _login("alice", PASSWORD) == "alice"
    assert _login("ALICE ", PASSWORD) == "alice"


def test_wrong_password_or_unknown_user_returns_none(db_url: str, admin: Actor) -> None:
    _create(admin, "alice")
    assert _login("alice", PASSWORD + "!") is None
    assert _login("mallory", PASSWORD) is None


def test_five_wrong_passwords_make_the_source_wait_even_for_the_right_one(db_url: str, admin: Actor) -> None:
    _create(admin, "alice")
    for _ in range(FREE_FAILURES):
        assert _login("alice", "wrong password guess") is None
    assert _login("alice", PASSWORD) is None
    with db.Session.begin() as session:
        assert session.scalars(select(LoginThrottle.next_attempt_at)).one() > time.time()


def test_four_wrong_passwords_do_not_lock(db_url: str, admin: Actor) -> None:
    _create(admin, "alice")
    for _ in range(FREE_FAILURES - 1):
        _login("alice", "wrong password guess")
    assert _login("alice", PASSWORD) == "alice"


def test_disabled_user_cannot_log_in(db_url: str, admin: Actor) -> None:
    _create(admin, "alice")
    olga = _create(admin, "olga", role="operator")
    with db.Session.begin() as session:
        users.set_disabled(session, actor=admin, user_id=olga, disabled=True)
    assert _login("olga", PASSWORD) is None


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_create_users(db_url: str, admin: Actor, role: str) -> None:
    _create(admin, "alice")
    with pytest.raises(PermissionDenied, match=f"role '{role}'"), db.Session.begin() as session:
        users.create_user(
            session, actor=Actor("eve", role), username="mallory", password=PASSWORD, role="admin"
        )
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(User.id))) == 1


def test_the_last_admin_cannot_be_demoted_or_disabled(db_url: str, admin: Actor) -> None:
    alice = _create(admin, "alice")
    _create(admin, "olga", role="operator")
    with pytest.raises(ValidationError, match="last admin"), db.Session.begin() as session:
        users.set_role(session, actor=admin, user_id=alice, role="operator")
    with pytest.raises(ValidationError, match="last admin"), db.Session.begin() as session:
        users.set_disabled(session, actor=admin, user_id=alice, disabled=True)
    with db.Session.begin() as session:
        assert session.execute(select(User.role, User.disabled).where(User.id == alice)).one() == (
            "admin",
            False,
        )


def test_an_admin_can_be_demoted_when_another_remains(db_url: str, admin: Actor) -> None:
    alice = _create(admin, "alice")
    _create(admin, "bob")
    with db.Session.begin() as session:
        users.set_role(session, actor=admin, user_id=alice, role="viewer")
    with db.Session.begin() as session:
        assert session.scalar(select(User.role).where(User.id == alice)) == "viewer"


def test_password_hash_is_salted_scrypt_and_never_the_password(db_url: str, admin: Actor) -> None:
    _create(admin, "alice")
    _create(admin, "bob")
    with db.Session.begin() as session:
        hashes = session.scalars(select(User.password_hash).order_by(User.username)).all()
    for stored in hashes:
        scheme, n, r, p, salt, digest = stored.split("$")
        assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
        assert (len(bytes.fromhex(salt)), len(bytes.fromhex(digest))) == (16, 64)
        assert PASSWORD not in stored
        assert PASSWORD.encode().hex() not in stored
    assert hashes[0] != hashes[1]


def test_changed_password_replaces_the_old_one(db_url: str, admin: Actor) -> None:
    alice = _create(admin, "alice")
    with db.Session.begin() as session:
        users.change_password(session, actor=admin, user_id=alice, password="a brand new passphrase")
    assert _login("alice", PASSWORD) is None
    assert _login("alice", "a brand new passphrase") == "alice"
