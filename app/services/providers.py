"""Providers: create, update, soft delete, restore, list, reveal, with secrets encrypted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.orm import Session, selectinload

from app import catalog
from app.crypto import KeyRing, mask
from app.errors import FieldError, NotFoundError, SecretKeyError, ValidationError
from app.models import Model, Provider, ProviderCredential, utcnow
from app.services import audit
from app.services.access import Actor, authorize
from app.services.rows import UNSET, check_version, flush_guarded, load
from app.validation import (
    check_env_name,
    check_int,
    check_name,
    check_param,
    check_secret,
    check_timeout,
    check_url,
    normalize_name,
)


@dataclass(frozen=True)
class CredentialView:
    """A secret field as the dashboard may show it."""

    field: str
    masked: str | None
    env_var: str | None


@dataclass(frozen=True)
class ProviderView:
    """A provider with its secrets masked."""

    id: int
    name: str
    type: str
    base_url: str | None
    is_local: bool
    params: dict[str, Any]
    default_model: str | None
    rpm: int | None
    tpm: int | None
    timeout_seconds: float | None
    priority: int
    enabled: bool
    deleted: bool
    last_test_at: datetime | None
    last_test_ok: bool | None
    last_test_latency_ms: float | None
    last_test_message: str | None
    version: int
    updated_at: datetime
    updated_by: str
    credentials: list[CredentialView] = field(default_factory=list)
    model_count: int = 0
    enabled_model_count: int = 0


def view(
    provider: Provider, ring: KeyRing | None = None, counts: tuple[int, int] | None = None
) -> ProviderView:
    """Mask a provider for display; without a ring a stored key shows as '(stored)'.

    `counts`: (models, enabled models) when the caller counted them in SQL; else from provider.models.
    """
    if counts is None:
        counts = (len(provider.models), sum(1 for m in provider.models if m.enabled))
    creds = []
    for cred in provider.credentials:
        shown: str | None = None
        if cred.ciphertext:
            shown = "(stored)"
            if ring is not None and ring.can_decrypt(cred.ciphertext):
                shown = mask(ring.decrypt(cred.ciphertext))
        creds.append(CredentialView(cred.field, shown, cred.env_var))
    return ProviderView(
        id=provider.id,
        name=provider.name,
        type=provider.type,
        base_url=provider.base_url,
        is_local=provider.is_local,
        params=dict(provider.params or {}),
        default_model=provider.default_model,
        rpm=provider.rpm,
        tpm=provider.tpm,
        timeout_seconds=provider.timeout_seconds,
        priority=provider.priority,
        enabled=provider.enabled,
        deleted=provider.deleted_at is not None,
        last_test_at=provider.last_test_at,
        last_test_ok=provider.last_test_ok,
        last_test_latency_ms=provider.last_test_latency_ms,
        last_test_message=provider.last_test_message,
        version=provider.version,
        updated_at=provider.updated_at,
        updated_by=provider.updated_by,
        credentials=creds,
        model_count=counts[0],
        enabled_model_count=counts[1],
    )


def _load(session: Session, provider_id: int) -> Provider:
    provider: Provider = load(session, Provider, provider_id, kind="provider")
    return provider


def find_provider(session: Session, *, name: str, include_deleted: bool = True) -> Provider:
    """The provider with this name (compared case- and whitespace-insensitively)."""
    query = select(Provider).where(Provider.name_key == normalize_name(name))
    provider = session.scalars(query).one_or_none()
    if provider is None or (provider.deleted_at is not None and not include_deleted):
        raise NotFoundError(f"no provider named '{name}'; `llm-admin provider list` shows them")
    return provider


def _check_name_free(
    session: Session, name: str, errors: list[FieldError], *, except_id: int | None = None
) -> None:
    other = session.scalars(select(Provider).where(Provider.name_key == normalize_name(name))).first()
    if other is not None and other.id != except_id:
        hint = "restore it or pick another name" if other.deleted_at else "pick another name"
        state = "a deleted provider" if other.deleted_at else "provider"
        errors.append(FieldError("name", f"{state} '{other.name}' already has this name; {hint}"))


def _clean_params(
    ptype: catalog.ProviderType, params: dict[str, Any], errors: list[FieldError]
) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        spec = ptype.field(key)
        if spec is None or spec.secret:
            known = ", ".join(f.name for f in ptype.param_fields) or "none"
            errors.append(FieldError(f"params.{key}", f"is not a {ptype.label} parameter; known: {known}"))
            continue
        if key == "extra_headers":
            headers = _parse_headers(value, errors)
            if headers:
                cleaned[key] = headers
            continue
        text = check_param(f"params.{key}", value, errors)
        if text is not None:
            cleaned[key] = text
    return cleaned


def _parse_headers(value: Any, errors: list[FieldError]) -> dict[str, str] | None:
    if value in (None, "", {}):
        return None
    try:
        headers = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        headers = None
    ok = isinstance(headers, dict) and all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and "\n" not in k + v
        for k, v in headers.items()
    )
    if not ok:
        errors.append(
            FieldError(
                "params.extra_headers",
                'must be a JSON object of header names to text values, e.g. {"X-Team": "ml"}',
            )
        )
        return None
    return dict(sorted(headers.items()))  # type: ignore[union-attr]


def _check_required_params(
    ptype: catalog.ProviderType, params: dict[str, Any], errors: list[FieldError]
) -> None:
    for spec in ptype.param_fields:
        if spec.required and not params.get(spec.name):
            example = f", e.g. {spec.default}" if spec.default else ""
            errors.append(
                FieldError(
                    f"params.{spec.name}",
                    f"is required for {ptype.label}; enter the {spec.label.lower()}{example}",
                )
            )


def _clean_secrets(
    ptype: catalog.ProviderType,
    secrets: dict[str, str],
    secret_envs: dict[str, str],
    errors: list[FieldError],
) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    envs: dict[str, str] = {}
    for key in sorted(set(secrets) | set(secret_envs)):
        spec = ptype.field(key)
        if spec is None or not spec.secret:
            known = ", ".join(f.name for f in ptype.secret_fields) or "none"
            errors.append(FieldError(key, f"is not a secret field of {ptype.label}; known: {known}"))
            continue
        if key in secrets and key in secret_envs:
            errors.append(FieldError(key, "give either a value or an environment variable, not both"))
            continue
        if key in secrets:
            text = check_secret(key, secrets[key], errors)
            if text is not None:
                values[key] = text
        else:
            name = check_env_name(f"{key}_env", secret_envs[key], errors)
            if name is not None:
                envs[key] = name
    return values, envs


def _apply_secrets(provider: Provider, ring: KeyRing, values: dict[str, str], envs: dict[str, str]) -> None:
    for key in sorted(set(values) | set(envs)):
        cred = provider.credential(key)
        if cred is None:
            cred = ProviderCredential(field=key)
            provider.credentials.append(cred)
        cred.ciphertext = ring.encrypt(values[key]) if key in values else None
        cred.env_var = envs.get(key)
        cred.updated_at = utcnow()


def _changed_secrets(
    provider: Provider, ring: KeyRing, values: dict[str, str], envs: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The secrets given that differ from the stored ones (a key sent again is no change)."""

    def same_value(key: str, value: str) -> bool:
        cred = provider.credential(key)
        stored = cred.ciphertext if cred is not None and cred.env_var is None else None
        return bool(stored) and ring.can_decrypt(stored) and ring.decrypt(stored) == value  # type: ignore[arg-type]

    def same_env(key: str, name: str) -> bool:
        cred = provider.credential(key)
        return cred is not None and not cred.ciphertext and cred.env_var == name

    return (
        {k: v for k, v in values.items() if not same_value(k, v)},
        {k: v for k, v in envs.items() if not same_env(k, v)},
    )


def _missing_required_secrets(ptype: catalog.ProviderType, provider: Provider) -> list[FieldError]:
    errors = []
    for spec in ptype.secret_fields:
        cred = provider.credential(spec.name)
        if spec.required and (cred is None or not (cred.ciphertext or cred.env_var)):
            errors.append(
                FieldError(
                    spec.name,
                    f"is required for {ptype.label}; paste it or give an environment variable",
                )
            )
    return errors


def _flush(session: Session, provider: Provider) -> None:
    taken = FieldError("name", f"'{provider.name}' is taken by another provider; pick another name")
    flush_guarded(session, provider, kind="provider", label=provider.name, duplicate=taken)


def create_provider(
    session: Session,
    *,
    actor: Actor,
    ring: KeyRing,
    name: str,
    type: str,
    base_url: str | None = None,
    secrets: dict[str, str] | None = None,
    secret_envs: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    default_model: str | None = None,
    rpm: Any = None,
    tpm: Any = None,
    timeout_seconds: Any = None,
    priority: Any = 0,
    is_local: bool | None = None,
    enabled: bool = True,
    adopting: bool = False,
) -> Provider:
    """Add a provider; every error found is reported at once and nothing is stored.

    `adopting` (config import) keeps exactly what a hand-written config had: no default base URL or
    params, and no required-field checks (LiteLLM may read those from its own environment).
    """
    authorize(actor, "edit")
    errors: list[FieldError] = []
    clean_name = check_name("name", name, errors)
    ptype = catalog.get_type(type) if isinstance(type, str) else None
    if ptype is None:
        errors.append(FieldError("type", f"must be one of: {', '.join(catalog.type_ids())}"))
        raise ValidationError(errors)
    if clean_name:
        _check_name_free(session, clean_name, errors)
    url = check_url("base_url", base_url, errors, required=ptype.base_url_required and not adopting)
    defaults = {} if adopting else _param_defaults(ptype)
    clean_params = _clean_params(ptype, {**defaults, **(params or {})}, errors)
    if not adopting:
        _check_required_params(ptype, clean_params, errors)
    values, envs = _clean_secrets(ptype, secrets or {}, secret_envs or {}, errors)
    limits = _clean_limits(errors, rpm=rpm, tpm=tpm, timeout_seconds=timeout_seconds, priority=priority)
    if errors:
        raise ValidationError(errors)
    assert clean_name is not None
    provider = Provider(
        name=clean_name,
        name_key=normalize_name(clean_name),
        type=ptype.id,
        base_url=url if url is not None or adopting else ptype.default_base_url,
        is_local=ptype.local if is_local is None else bool(is_local),
        params=clean_params,
        default_model=(default_model or "").strip() or None,
        enabled=bool(enabled),
        created_by=actor.name,
        updated_by=actor.name,
        credentials=[],
        **limits,
    )
    _apply_secrets(provider, ring, values, envs)
    missing = [] if adopting else _missing_required_secrets(ptype, provider)
    if missing:
        raise ValidationError(missing)
    session.add(provider)
    _flush(session, provider)
    audit.record(
        session,
        actor=actor,
        action="provider.create",
        target_type="provider",
        target_id=provider.id,
        target_name=provider.name,
        details={"after": _snapshot(provider), "encrypted_fields": sorted(values)},
    )
    return provider


def _param_defaults(ptype: catalog.ProviderType) -> dict[str, Any]:
    return {f.name: f.default for f in ptype.param_fields if f.default}


def _clean_limits(errors: list[FieldError], **given: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is UNSET:
            continue
        if key in ("rpm", "tpm"):
            out[key] = check_int(key, value, errors, low=1, high=1_000_000_000)
        elif key == "timeout_seconds":
            out[key] = check_timeout(key, value, errors)
        elif key == "priority":
            out[key] = check_int(key, value, errors, low=-1000, high=1000) or 0
    return out


def _snapshot(provider: Provider) -> dict[str, Any]:
    return {
        "name": provider.name,
        "type": provider.type,
        "base_url": provider.base_url,
        "is_local": provider.is_local,
        "params": dict(provider.params or {}),
        "default_model": provider.default_model,
        "rpm": provider.rpm,
        "tpm": provider.tpm,
        "timeout_seconds": provider.timeout_seconds,
        "priority": provider.priority,
        "enabled": provider.enabled,
        # field_env: VAR (not field: VAR) so the audit log's masking leaves variable names readable
        "env_sources": {f"{c.field}_env": c.env_var for c in provider.credentials if c.env_var},
    }


def update_provider(
    session: Session,
    *,
    actor: Actor,
    ring: KeyRing,
    provider_id: int,
    expected_version: int,
    name: Any = UNSET,
    base_url: Any = UNSET,
    secrets: dict[str, str] | None = None,
    secret_envs: dict[str, str] | None = None,
    params: Any = UNSET,
    default_model: Any = UNSET,
    rpm: Any = UNSET,
    tpm: Any = UNSET,
    timeout_seconds: Any = UNSET,
    priority: Any = UNSET,
    is_local: Any = UNSET,
    enabled: Any = UNSET,
) -> Provider:
    """Change a provider the user opened at expected_version; a newer edit wins a conflict error."""
    authorize(actor, "edit")
    provider = _load(session, provider_id)
    check_version(provider, expected_version, kind="provider", label=provider.name)
    ptype = catalog.PROVIDER_TYPES[provider.type]
    before = _snapshot(provider)
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    if name is not UNSET:
        clean = check_name("name", name, errors)
        if clean:
            _check_name_free(session, clean, errors, except_id=provider.id)
            changes.update(name=clean, name_key=normalize_name(clean))
    if base_url is not UNSET:
        url = check_url("base_url", base_url, errors, required=ptype.base_url_required)
        changes["base_url"] = url if url is not None else ptype.default_base_url
    if params is not UNSET:
        clean_params = _clean_params(ptype, params or {}, errors)
        _check_required_params(ptype, clean_params, errors)
        changes["params"] = clean_params
    values, envs = _clean_secrets(ptype, secrets or {}, secret_envs or {}, errors)
    changes.update(
        _clean_limits(errors, rpm=rpm, tpm=tpm, timeout_seconds=timeout_seconds, priority=priority)
    )
    if enabled is not UNSET and enabled and provider.deleted_at is not None:
        errors.append(FieldError("enabled", f"'{provider.name}' is deleted; restore it first"))
    if errors:
        raise ValidationError(errors)
    if default_model is not UNSET:
        changes["default_model"] = (default_model or "").strip() or None
    if is_local is not UNSET:
        changes["is_local"] = bool(is_local)
    if enabled is not UNSET:
        changes["enabled"] = bool(enabled)
    changes = {key: value for key, value in changes.items() if getattr(provider, key) != value}
    values, envs = _changed_secrets(provider, ring, values, envs)
    if not changes and not values and not envs:
        return provider  # the same save again changes nothing: no new version, no audit entry
    for key, value in changes.items():
        setattr(provider, key, value)
    _apply_secrets(provider, ring, values, envs)
    provider.updated_at = utcnow()
    provider.updated_by = actor.name
    _flush(session, provider)
    audit.record(
        session,
        actor=actor,
        action="provider.update",
        target_type="provider",
        target_id=provider.id,
        target_name=provider.name,
        details={
            "before": before,
            "after": _snapshot(provider),
            "replaced_fields": sorted(values),
        },
    )
    return provider


def delete_provider(session: Session, *, actor: Actor, provider_id: int) -> Provider:
    """Soft delete: the provider and all its models stop serving; restore brings it back."""
    authorize(actor, "edit")
    provider = _load(session, provider_id)
    if provider.deleted_at is not None:
        return provider
    provider.deleted_at = utcnow()
    provider.enabled = False
    disabled = [m.identifier for m in provider.models if m.enabled]
    for model in provider.models:
        model.enabled = False
    provider.updated_at = utcnow()
    provider.updated_by = actor.name
    _flush(session, provider)
    audit.record(
        session,
        actor=actor,
        action="provider.delete",
        target_type="provider",
        target_id=provider.id,
        target_name=provider.name,
        details={"models_disabled": disabled},
    )
    return provider


def restore_provider(session: Session, *, actor: Actor, provider_id: int) -> Provider:
    """Undo a soft delete; the provider comes back enabled, its models stay disabled."""
    authorize(actor, "edit")
    provider = _load(session, provider_id)
    if provider.deleted_at is None:
        return provider
    provider.deleted_at = None
    provider.enabled = True
    provider.updated_at = utcnow()
    provider.updated_by = actor.name
    _flush(session, provider)
    audit.record(
        session,
        actor=actor,
        action="provider.restore",
        target_type="provider",
        target_id=provider.id,
        target_name=provider.name,
    )
    return provider


def set_provider_enabled(session: Session, *, actor: Actor, provider_id: int, enabled: bool) -> Provider:
    """Enable or disable a provider without touching anything else."""
    authorize(actor, "edit")
    provider = _load(session, provider_id)
    if provider.deleted_at is not None and enabled:
        raise ValidationError([FieldError("enabled", f"'{provider.name}' is deleted; restore it first")])
    provider.enabled = enabled
    provider.updated_at = utcnow()
    provider.updated_by = actor.name
    _flush(session, provider)
    audit.record(
        session,
        actor=actor,
        action="provider.enable" if enabled else "provider.disable",
        target_type="provider",
        target_id=provider.id,
        target_name=provider.name,
    )
    return provider


def get_provider(session: Session, *, provider_id: int, ring: KeyRing | None = None) -> ProviderView:
    """One provider, secrets masked."""
    return view(_load(session, provider_id), ring)


def _provider_query(
    *, include_deleted: bool, type: str | None, enabled: bool | None, search: str | None
) -> Select[Provider]:
    query = select(Provider)
    if not include_deleted:
        query = query.where(Provider.deleted_at.is_(None))
    if type:
        query = query.where(Provider.type == type)
    if enabled is not None:
        query = query.where(Provider.enabled.is_(enabled))
    if search:
        query = query.where(Provider.name_key.contains(normalize_name(search), autoescape=True))
    return query


def list_providers(
    session: Session,
    *,
    ring: KeyRing | None = None,
    include_deleted: bool = False,
    type: str | None = None,
    enabled: bool | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ProviderView]:
    """Providers by priority then name, secrets masked; models counted in SQL, not loaded.
    `limit`/`offset` page through them in SQL, so a page costs the same at any number of providers."""
    query = (
        _provider_query(include_deleted=include_deleted, type=type, enabled=enabled, search=search)
        .options(selectinload(Provider.credentials))
        .order_by(Provider.priority.desc(), Provider.name_key, Provider.id)
        .offset(offset)
        .limit(limit)
    )
    found = list(session.scalars(query))
    counted = select(
        Model.provider_id, func.count(Model.id), func.sum(case((Model.enabled, 1), else_=0))
    ).group_by(Model.provider_id)
    if limit is not None:
        counted = counted.where(Model.provider_id.in_([p.id for p in found]))
    counts = {pid: (int(total), int(on or 0)) for pid, total, on in session.execute(counted)}
    return [view(p, ring, counts.get(p.id, (0, 0))) for p in found]


def count_providers(
    session: Session,
    *,
    include_deleted: bool = False,
    type: str | None = None,
    enabled: bool | None = None,
    search: str | None = None,
) -> int:
    """How many providers `list_providers` lists with the same filters."""
    query = _provider_query(include_deleted=include_deleted, type=type, enabled=enabled, search=search)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def reveal_secret(
    session: Session, *, actor: Actor, ring: KeyRing, provider_id: int, field: str = "api_key"
) -> str:
    """The plain secret, for an admin only; the reveal itself is audited."""
    authorize(actor, "reveal")
    provider = _load(session, provider_id)
    value = resolve_secret(provider, ring, field, environ={})
    audit.record(
        session,
        actor=actor,
        action="provider.reveal_key",
        target_type="provider",
        target_id=provider.id,
        target_name=provider.name,
        details={"field": field},
    )
    return value


def resolve_secret(provider: Provider, ring: KeyRing, field: str, *, environ: dict[str, str]) -> str:
    """The secret a provider uses: decrypted from the database or read from the environment."""
    cred = provider.credential(field)
    if cred is None:
        raise NotFoundError(f"provider '{provider.name}' has no {field}")
    if cred.ciphertext:
        return ring.decrypt(cred.ciphertext)
    if cred.env_var and cred.env_var in environ:
        return environ[cred.env_var]
    raise SecretKeyError(
        f"provider '{provider.name}' reads {field} from ${cred.env_var}, which is not set here"
    )


def record_test_result(
    session: Session,
    *,
    actor: Actor,
    provider_id: int,
    ok: bool,
    latency_ms: float | None,
    message: str,
) -> Provider:
    """Store the outcome of Test Connection (does not bump the edit version)."""
    authorize(actor, "operate")
    provider = _load(session, provider_id)
    # a test result is not an edit: keep the optimistic-lock version for the admin's form
    session.execute(
        update(Provider)
        .where(Provider.id == provider.id)
        .execution_options(synchronize_session=False)
        .values(
            last_test_at=utcnow(),
            last_test_ok=ok,
            last_test_latency_ms=latency_ms,
            last_test_message=message[:2000],
        )
    )
    session.expire(provider)
    audit.record(
        session,
        actor=actor,
        action="provider.test",
        target_type="provider",
        target_id=provider.id,
        target_name=provider.name,
        details={"ok": ok, "latency_ms": latency_ms, "message": message[:500]},
    )
    return provider
