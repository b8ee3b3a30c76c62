"""Key rotation: re-encrypt every stored secret under the newest key, all or nothing."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import KEY_SETTING, KeyRing, ciphertext_key_id
from app.errors import SecretKeyError
from app.models import ProviderCredential, utcnow
from app.services import audit
from app.services.access import Actor, authorize


def unreadable_secrets(session: Session, *, ring: KeyRing) -> Counter[str]:
    """How many stored secrets each missing key id made (empty when the ring reads them all)."""
    tokens = session.scalars(
        select(ProviderCredential.ciphertext).where(ProviderCredential.ciphertext.is_not(None))
    )
    return Counter(kid for t in tokens if (kid := ciphertext_key_id(t or "")) not in ring.ids)


def require_readable(session: Session, *, ring: KeyRing) -> None:
    """One clear error naming the setting and how many secrets it cannot read."""
    missing = unreadable_secrets(session, ring=ring)
    if missing:
        total = sum(missing.values())
        ids = ", ".join(sorted(missing))
        raise SecretKeyError(
            f"{KEY_SETTING} cannot read {total} stored secret{'s' * (total != 1)} "
            f"(made by key {ids}); add that key back after the newest one and retry. "
            "Nothing was changed."
        )


def rotate_keys(session: Session, *, actor: Actor, ring: KeyRing) -> int:
    """Re-encrypt every stored secret under the newest key; returns how many were re-encrypted."""
    authorize(actor, "edit")
    require_readable(session, ring=ring)
    rotated = 0
    for cred in session.scalars(select(ProviderCredential).where(ProviderCredential.ciphertext.is_not(None))):
        assert cred.ciphertext is not None
        if ciphertext_key_id(cred.ciphertext) == ring.current_id:
            continue
        cred.ciphertext = ring.encrypt(ring.decrypt(cred.ciphertext))
        cred.updated_at = utcnow()
        rotated += 1
    audit.record(
        session,
        actor=actor,
        action="keys.rotate",
        target_type="key_ring",
        details={"reencrypted": rotated, "current_key_id": ring.current_id},
    )
    return rotated
