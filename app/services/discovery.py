"""Test Connection and model sync for a stored provider: build the probe, record what it found."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import catalog, db
from app.crypto import KeyRing
from app.errors import FieldError
from app.models import Model, Provider
from app.probes import DEFAULT_TIMEOUT, ProbeResult, ProbeTarget, test_connection
from app.services import models, providers
from app.services.access import Actor, authorize
from app.services.rows import load
from app.validation import check_identifier


def target_for(
    session: Session,
    *,
    actor: Actor,
    ring: KeyRing,
    provider_id: int,
    environ: Mapping[str, str],
    sync: bool = False,
) -> ProbeTarget:
    """What a probe of this provider needs, its secrets decrypted or read from `environ`.

    `sync`: the probe's models are to be added, an edit: refused before the provider is asked."""
    authorize(actor, "edit" if sync else "operate")
    return probe_target(_provider(session, provider_id), ring=ring, environ=environ)


def probe_target(provider: Provider, *, ring: KeyRing, environ: Mapping[str, str]) -> ProbeTarget:
    """A loaded provider as a probe sees it; raises when a secret cannot be read here."""
    secrets = {
        c.field: providers.resolve_secret(provider, ring, c.field, environ=dict(environ))
        for c in provider.credentials
    }
    return ProbeTarget(
        provider.type, provider.base_url, secrets, dict(provider.params or {}), provider.default_model
    )


def probe(target: ProbeTarget, *, timeout: float = DEFAULT_TIMEOUT) -> ProbeResult:
    """Run Test Connection now and wait for it (no database session is held meanwhile)."""
    return asyncio.run(test_connection(target, timeout=timeout))


def record_test(session: Session, *, actor: Actor, provider_id: int, result: ProbeResult) -> None:
    """Keep the outcome on the provider (status column) and in the audit log."""
    providers.record_test_result(
        session,
        actor=actor,
        provider_id=provider_id,
        ok=result.ok,
        latency_ms=result.latency_ms,
        message=result.message,
    )


@dataclass(frozen=True)
class SyncResult:
    """What Sync models did: models added (disabled), already present, and skipped with the reason."""

    added: list[str] = field(default_factory=list)
    priced: list[str] = field(default_factory=list)  # of the added, those LiteLLM's cost map priced
    existing: list[str] = field(default_factory=list)
    skipped: list[FieldError] = field(default_factory=list)


def sync_models(
    session: Session,
    *,
    actor: Actor,
    provider_id: int,
    discovered: list[str],
    modes: Mapping[str, str] | None = None,
) -> SyncResult:
    """Add each discovered model not yet on the provider, disabled, priced from LiteLLM's cost map;
    its mode is what the provider's list says (`modes`), else the cost map's."""
    authorize(actor, "edit")
    provider = _provider(session, provider_id)
    have = set(session.scalars(select(Model.identifier).where(Model.provider_id == provider.id)))
    result = SyncResult()
    for identifier in sorted(set(discovered)):
        if identifier in have:
            result.existing.append(identifier)
            continue
        errors: list[FieldError] = []
        if check_identifier(identifier, identifier, errors) is None:
            result.skipped.extend(errors)
            continue
        listed_mode = {"mode": modes[identifier]} if modes and identifier in modes else {}
        model = models.create_model(
            session, actor=actor, provider_id=provider.id, identifier=identifier, enabled=False, **listed_mode
        )
        result.added.append(identifier)
        if model.input_cost_per_1m is not None or model.output_cost_per_1m is not None:
            result.priced.append(identifier)
    return result


def enable_default_model(session: Session, *, actor: Actor, ring: KeyRing, provider_id: int) -> str | None:
    """Enable one model of a provider that has none enabled, so it serves at once (onboarding).

    The choice: the provider's default model, else its type's first default it lists, else the first
    model; it becomes the provider's default model. Returns the identifier, or None without models.
    """
    authorize(actor, "edit")
    provider = _provider(session, provider_id)
    if any(m.enabled for m in provider.models):
        return None
    choice = _default_choice(provider, [m.identifier for m in provider.models])
    if choice is None:
        return None
    model = models.find_model(session, provider_id=provider.id, identifier=choice)
    models.update_model(
        session, actor=actor, model_id=model.id, expected_version=model.version, enabled=True, is_default=True
    )
    if provider.default_model != choice:
        providers.update_provider(
            session,
            actor=actor,
            ring=ring,
            provider_id=provider.id,
            expected_version=provider.version,
            default_model=choice,
        )
    return choice


def _provider(session: Session, provider_id: int) -> Provider:
    provider: Provider = load(session, Provider, provider_id, kind="provider")
    return provider


def _default_choice(provider: Provider, listed: list[str]) -> str | None:
    if provider.default_model in listed:
        return provider.default_model
    for wanted in catalog.PROVIDER_TYPES[provider.type].default_models:
        # Ollama lists "llama3.1:latest" for the catalog's "llama3.1"
        for name in (wanted, f"{wanted}:latest"):
            if name in listed:
                return name
    return sorted(listed)[0] if listed else None


@dataclass(frozen=True)
class Checked:
    """What Test Connection found, and with sync what it added and which model it enabled."""

    test: ProbeResult
    sync: SyncResult | None = None
    enabled: str | None = None


def check_connection(
    *,
    actor: Actor,
    ring: KeyRing,
    provider_id: int,
    environ: Mapping[str, str],
    sync: bool = False,
    enable_default: bool = False,
    notify: Callable[[str], None] = lambda _: None,
) -> Checked:
    """Test Connection now and record it; with `sync`, add the models it listed (disabled), and
    with `enable_default` enable one if none is. Frames its own transactions, like config.apply: none
    is held while the provider is asked. `notify` hears each step (the page shows them)."""
    with db.Session.begin() as session:
        target = target_for(
            session, actor=actor, ring=ring, provider_id=provider_id, environ=environ, sync=sync
        )
    notify(f"Asking {target.base_url or 'the provider'} for its models")
    result = probe(target)
    with db.Session.begin() as session:
        record_test(session, actor=actor, provider_id=provider_id, result=result)
    if not (sync and result.ok):
        return Checked(result)
    notify(f"Adding the {len(result.models)} models it listed")
    with db.Session.begin() as session:
        synced = sync_models(
            session, actor=actor, provider_id=provider_id, discovered=result.models, modes=result.modes
        )
        enabled = (
            enable_default_model(session, actor=actor, ring=ring, provider_id=provider_id)
            if enable_default
            else None
        )
    return Checked(result, synced, enabled)
