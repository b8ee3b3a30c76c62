"""Key rotation: re-encrypt every stored secret under the newest key, or change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.crypto import KEY_SETTING, KeyRing, ciphertext_key_id, generate_key
from app.errors import SecretKeyError
from app.models import AuditEntry, ProviderCredential
from app.services import keys, providers
from app.services.access import Actor

PROVIDERS = 50


def _key_for(index: int) -> str:
    return f"sk-rotation-test-{index:04d}-abcdefghijkl"


def _add_providers(ring: KeyRing, actor: Actor) -> None:
    with db.Session.begin() as session:
        for i in range(PROVIDERS):
            providers.create_provider(
                session,
                actor=actor,
                ring=ring,
                name=f"provider-{i:02d}",
                type="openai",
                secrets={"api_key": _key_for(i)},
            )


def _ciphertexts() -> dict[int, str]:
    with db.Session.begin() as session:
        rows = session.execute(select(ProviderCredential.id, ProviderCredential.ciphertext)).all()
    return {cid: token or "" for cid, token in rows}


def test_rotation_moves_all_50_secrets_to_the_newest_key(db_url: str, admin: Actor) -> None:
    key_a, key_b = generate_key(), generate_key()
    ring_a = KeyRing.from_strings([key_a])
    _add_providers(ring_a, admin)
    assert {ciphertext_key_id(t) for t in _ciphertexts().values()} == {ring_a.current_id}

    ring_ba = KeyRing.from_strings([key_b, key_a])
    with db.Session.begin() as session:
        rotated = keys.rotate_keys(session, actor=admin, ring=ring_ba)

    assert rotated == PROVIDERS
    ring_b = KeyRing.from_strings([key_b])
    tokens = _ciphertexts()
    assert len(tokens) == PROVIDERS
    assert {ciphertext_key_id(t) for t in tokens.values()} == {ring_b.current_id}
    assert sorted(ring_b.decrypt(t) for t in tokens.values()) == sorted(_key_for(i) for i in range(PROVIDERS))


def test_rotation_is_audited_with_the_count_and_new_key(db_url: str, admin: Actor) -> None:
    key_a, key_b = generate_key(), generate_key()
    _add_providers(KeyRing.from_strings([key_a]), admin)
    ring_ba = KeyRing.from_strings([key_b, key_a])
    with db.Session.begin() as session:
        keys.rotate_keys(session, actor=admin, ring=ring_ba)
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "keys.rotate")).one()
        assert (entry.actor, entry.details) == (
            "alice",
            {"reencrypted": PROVIDERS, "current_key_id": ring_ba.current_id},
        )


def test_rotating_again_under_the_same_key_re_encrypts_nothing(db_url: str, admin: Actor) -> None:
    key_a, key_b = generate_key(), generate_key()
    _add_providers(KeyRing.from_strings([key_a]), admin)
    ring_ba = KeyRing.from_strings([key_b, key_a])
    with db.Session.begin() as session:
        keys.rotate_keys(session, actor=admin, ring=ring_ba)
    before = _ciphertexts()
    with db.Session.begin() as session:
        assert keys.rotate_keys(session, actor=admin, ring=KeyRing.from_strings([key_b])) == 0
    assert _ciphertexts() == before


def test_rotating_without_the_old_key_fails_clearly_and_changes_nothing(db_url: str, admin: Actor) -> None:
    key_a, key_b = generate_key(), generate_key()
    ring_a = KeyRing.from_strings([key_a])
    _add_providers(ring_a, admin)
    before = _ciphertexts()
    with db.Session.begin() as session:
        audit_count = session.scalar(select(func.count(AuditEntry.id)))

    with pytest.raises(SecretKeyError) as err, db.Session.begin() as session:
        keys.rotate_keys(session, actor=admin, ring=KeyRing.from_strings([key_b]))

    message = str(err.value)
    assert KEY_SETTING in message
    assert f"cannot read {PROVIDERS} stored secrets" in message
    assert ring_a.current_id in message
    assert "Nothing was changed" in message
    assert _ciphertexts() == before
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(AuditEntry.id))) == audit_count
    assert sorted(ring_a.decrypt(t) for t in before.values()) == sorted(_key_for(i) for i in range(PROVIDERS))


def test_unreadable_secrets_counts_them_per_missing_key(db_url: str, admin: Actor) -> None:
    ring_a = KeyRing.from_strings([generate_key()])
    _add_providers(ring_a, admin)
    with db.Session.begin() as session:
        assert keys.unreadable_secrets(session, ring=ring_a) == {}
        missing = keys.unreadable_secrets(session, ring=KeyRing.from_strings([generate_key()]))
    assert dict(missing) == {ring_a.current_id: PROVIDERS}
