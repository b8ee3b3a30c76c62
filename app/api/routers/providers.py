"""Providers: list, create (plain or from a template), read, update, soft delete and restore, test
the connection, sync models, reveal a key (admins, audited), save as template, and what the machine
offers to add (environment keys, local servers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, SkipValidation

from app.api.common import (
    ActorDep,
    PageDep,
    RingDep,
    as_json,
    environ,
    etag,
    expected_version,
    page_of,
    transaction,
)
from app.errors import NotFoundError
from app.services import discovery, onboarding, provider_forms, provider_status, providers, templates

router = APIRouter(prefix="/api/providers", tags=["providers"])


class ProviderFields(BaseModel):
    """A provider's settings; secrets are write-only (`secrets`: field → value, stored encrypted;
    `secret_envs`: field → the environment variable the proxy reads it from).

    The scalars the service checks (name, URL, limits) reach it as sent, so one 422 lists every
    problem in the service's words; the rest must have their JSON type (no "yes" for true)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: SkipValidation[str | None] = None
    base_url: SkipValidation[str | None] = None
    secrets: dict[str, str] | None = None
    secret_envs: dict[str, str] | None = None
    params: dict[str, Any] | None = None
    default_model: str | None = None
    rpm: SkipValidation[int | None] = None
    tpm: SkipValidation[int | None] = None
    timeout_seconds: SkipValidation[float | None] = None
    priority: SkipValidation[int | None] = None
    is_local: bool | None = None
    enabled: bool | None = None


class NewProvider(ProviderFields):
    name: SkipValidation[str]  # type: ignore[assignment]
    type: SkipValidation[str | None] = None  # a provider type (`GET /api/provider-types`); or give `template`
    template: str | None = None  # start from this template (its type, settings and models)


class ProviderUpdate(ProviderFields):
    version: int | None = None  # the version you read (or send If-Match); stale → 409


class TemplateName(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: SkipValidation[str]


class RevealField(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    field: str = "api_key"


@router.get("")
def list_providers(
    ring: RingDep,
    actor: ActorDep,
    page: PageDep,
    type: str | None = None,
    enabled: bool | None = None,
    search: str | None = None,
    include_deleted: bool = False,
) -> dict[str, Any]:
    """Providers by priority then name, keys masked."""
    filters: dict[str, Any] = {
        "type": type,
        "enabled": enabled,
        "search": search,
        "include_deleted": include_deleted,
    }
    with transaction() as session:
        found = providers.list_providers(session, ring=ring, limit=page.limit, offset=page.offset, **filters)
        return page_of(found, providers.count_providers(session, **filters), page)


@router.post("", status_code=201)
def create_provider(body: NewProvider, ring: RingDep, actor: ActorDep, response: Response) -> Any:
    """Add a provider; every invalid field is listed in one 422 and nothing is stored."""
    fields = body.model_dump(warnings=False, exclude_unset=True, exclude={"template", "type", "name"})
    with transaction() as session:
        if body.template:
            row = provider_forms.create_from_template(
                session, actor=actor, ring=ring, template_name=body.template, name=body.name, **fields
            )
        else:
            row = providers.create_provider(
                session, actor=actor, ring=ring, name=body.name, type=body.type or "", **fields
            )
        created = providers.view(row, ring)
    response.headers.update(etag(created.version))
    response.headers["Location"] = f"/api/providers/{created.id}"
    return as_json(created)


@router.get("/status")
def provider_statuses(ring: RingDep, actor: ActorDep, include_deleted: bool = False) -> list[dict[str, Any]]:
    """The Providers page's table: each provider's one status (connected, idle, warning,
    disconnected, untested; the monitor's verdict when it has one), its last check and 24 h usage."""
    with transaction() as session:
        rows = provider_status.provider_rows(session, ring=ring, include_deleted=include_deleted)
    return [
        {
            "id": r.provider.id,
            "name": r.provider.name,
            "status": r.status,
            "tested": r.tested,
            "last_check": as_json(r.last_check),
            "usage_24h": as_json(r.usage),
        }
        for r in rows
    ]


@router.get("/detected")
def detected_providers(actor: ActorDep) -> list[Any]:
    """Keys in the environment and local servers that no provider uses yet (the onboarding list)."""
    with transaction() as session:
        return as_json(onboarding.detect(session, environ=environ()))


@router.post("/detected/{key}", status_code=201)
def add_detected(key: str, ring: RingDep, actor: ActorDep, response: Response) -> Any:
    """Add one detected provider by its key (e.g. `env:openai`, `local:ollama`)."""
    with transaction() as session:
        candidate = next((c for c in onboarding.detect(session, environ=environ()) if c.key == key), None)
        if candidate is None:
            raise NotFoundError(f"nothing detected as '{key}'; GET /api/providers/detected lists what is")
        added = providers.view(
            onboarding.add_candidate(session, actor=actor, ring=ring, candidate=candidate), ring
        )
    response.headers.update(etag(added.version))
    response.headers["Location"] = f"/api/providers/{added.id}"
    return as_json(added)


@router.get("/{provider_id}")
def get_provider(provider_id: int, ring: RingDep, actor: ActorDep, response: Response) -> Any:
    with transaction() as session:
        found = providers.get_provider(session, provider_id=provider_id, ring=ring)
    response.headers.update(etag(found.version))
    return as_json(found)


@router.put("/{provider_id}")
def update_provider(
    provider_id: int,
    body: ProviderUpdate,
    ring: RingDep,
    actor: ActorDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Set the fields given (the others stay); a stale version (If-Match or `version`) → 409."""
    fields = body.model_dump(warnings=False, exclude_unset=True, exclude={"version"})
    with transaction() as session:
        current = providers.get_provider(session, provider_id=provider_id)
        row = providers.update_provider(
            session,
            actor=actor,
            ring=ring,
            provider_id=provider_id,
            expected_version=expected_version(if_match, body.version, current.version),
            **fields,
        )
        changed = providers.view(row, ring)
    response.headers.update(etag(changed.version))
    return as_json(changed)


@router.delete("/{provider_id}", status_code=204)
def delete_provider(provider_id: int, actor: ActorDep) -> None:
    """Soft delete: the provider and its models stop serving; deleting it again changes nothing."""
    with transaction() as session:
        providers.delete_provider(session, actor=actor, provider_id=provider_id)


@router.post("/{provider_id}/restore")
def restore_provider(provider_id: int, ring: RingDep, actor: ActorDep) -> Any:
    with transaction() as session:
        return as_json(
            providers.view(providers.restore_provider(session, actor=actor, provider_id=provider_id), ring)
        )


@router.post("/{provider_id}/test")
def test_provider(
    provider_id: int,
    ring: RingDep,
    actor: ActorDep,
    sync: Annotated[bool, Query(description="also add the models it lists (disabled)")] = False,
    enable_default: Annotated[bool, Query(description="with sync: enable one model if none is")] = False,
) -> dict[str, Any]:
    """Test Connection now; the result is stored on the provider and in the audit log. No database
    transaction is held while the provider is asked."""
    checked = discovery.check_connection(
        actor=actor,
        ring=ring,
        provider_id=provider_id,
        environ=environ(),
        sync=sync,
        enable_default=enable_default,
    )
    outcome: dict[str, Any] = {"test": as_json(checked.test)}
    if checked.sync is not None:
        outcome["sync"] = as_json(checked.sync)
        if enable_default:
            outcome["enabled"] = checked.enabled
    return outcome


@router.post("/{provider_id}/sync")
def sync_provider_models(provider_id: int, ring: RingDep, actor: ActorDep) -> dict[str, Any]:
    """Ask the provider for its models and add the new ones, disabled (Test Connection with sync)."""
    return test_provider(provider_id, ring, actor, sync=True)


@router.post("/{provider_id}/reveal")
def reveal_secret(provider_id: int, body: RevealField, ring: RingDep, actor: ActorDep) -> dict[str, str]:
    """The plain secret, for admins only; the reveal is recorded in the audit log."""
    with transaction() as session:
        value = providers.reveal_secret(
            session, actor=actor, ring=ring, provider_id=provider_id, field=body.field
        )
    return {"field": body.field, "value": value}


@router.post("/{provider_id}/template", status_code=201)
def save_as_template(provider_id: int, body: TemplateName, actor: ActorDep) -> Any:
    """Keep this provider's settings (never its secrets) as a custom template."""
    with transaction() as session:
        return as_json(
            templates.save_template_from_provider(
                session, actor=actor, provider_id=provider_id, name=body.name
            )
        )
