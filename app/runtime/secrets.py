"""Stored secrets at run time: resolved by their os.environ/ name (the proxy, export-env) and listed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.crypto import KeyRing
from app.errors import SecretKeyError
from app.models import Provider, ProviderCredential
from generator.build import stored_secret_env, stored_secret_ref


def read_stored_secret(session: Session, *, ring: KeyRing, name: str) -> str | None:
    """The decrypted value behind one of our names (LLM_ADMIN_P<id>_<FIELD>), or None."""
    ref = stored_secret_ref(name)
    if ref is None:
        return None
    provider_id, field = ref
    token = session.scalar(
        select(ProviderCredential.ciphertext).where(
            ProviderCredential.provider_id == provider_id, ProviderCredential.field == field
        )
    )
    return ring.decrypt(token) if token else None


def export_env(session: Session, *, ring: KeyRing, provider_ids: set[int] | None = None) -> dict[str, str]:
    """Name → plain value for every stored secret (for the 0600 env file of a stock LiteLLM image)."""
    query = select(Provider).options(selectinload(Provider.credentials))
    values = {}
    for provider in session.scalars(query):
        if provider_ids is not None and provider.id not in provider_ids:
            continue
        for cred in provider.credentials:
            if cred.ciphertext:
                values[stored_secret_env(provider.id, cred.field)] = ring.decrypt(cred.ciphertext)
    return values


def stored_secrets(session: Session, *, ring: KeyRing) -> tuple[set[str], set[str]]:
    """(every stored secret's name, the names this key ring can decrypt)."""
    stored: set[str] = set()
    readable: set[str] = set()
    for pid, field_name, token in session.execute(
        select(ProviderCredential.provider_id, ProviderCredential.field, ProviderCredential.ciphertext).where(
            ProviderCredential.ciphertext.is_not(None)
        )
    ):
        name = stored_secret_env(pid, field_name)
        stored.add(name)
        try:
            if ring.can_decrypt(token or ""):
                readable.add(name)
        except SecretKeyError:  # a corrupt row is one more problem to list, not a crash
            pass
    return stored, readable
