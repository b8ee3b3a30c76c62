"""Provider templates: one system template per catalog type, and custom ones saved by admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import catalog
from app.crypto import KeyRing
from app.errors import FieldError, NotFoundError, ValidationError
from app.models import Provider, ProviderTemplate
from app.services import audit, models, providers
from app.services.access import Actor, authorize
from app.validation import check_name, normalize_name

SYSTEM = "system"
CUSTOM = "custom"


def system_template_name(type_id: str) -> str:
    return catalog.PROVIDER_TYPES[type_id].label


def sync_system_templates(session: Session) -> int:
    """Make the stored system templates match the catalog; returns how many were added."""
    existing = {
        t.type: t for t in session.scalars(select(ProviderTemplate).where(ProviderTemplate.kind == SYSTEM))
    }
    added = 0
    for ptype in catalog.PROVIDER_TYPES.values():
        template = existing.get(ptype.id)
        if template is None:
            template = ProviderTemplate(kind=SYSTEM, type=ptype.id, created_by="system")
            session.add(template)
            added += 1
        template.name = system_template_name(ptype.id)
        template.base_url = ptype.default_base_url
        template.params = {f.name: f.default for f in ptype.param_fields if f.default}
        template.settings = {"models": list(ptype.default_models)}
    session.flush()
    return added


def list_templates(session: Session, *, type: str | None = None) -> list[ProviderTemplate]:
    query = select(ProviderTemplate).order_by(ProviderTemplate.kind.desc(), ProviderTemplate.name)
    if type:
        query = query.where(ProviderTemplate.type == type)
    return list(session.scalars(query))


def get_template(session: Session, *, name: str) -> ProviderTemplate:
    template = session.scalars(select(ProviderTemplate).where(ProviderTemplate.name == name)).one_or_none()
    if template is None:
        raise NotFoundError(f"no template named '{name}'")
    return template


def save_template_from_provider(
    session: Session, *, actor: Actor, provider_id: int, name: str
) -> ProviderTemplate:
    """Keep a provider's settings (never its secrets) as a custom template."""
    authorize(actor, "edit")
    provider = session.get(Provider, provider_id)
    if provider is None:
        raise NotFoundError(f"provider {provider_id} does not exist")
    errors: list[FieldError] = []
    clean = check_name("name", name, errors)
    system = {normalize_name(system_template_name(t)) for t in catalog.PROVIDER_TYPES}
    if clean and normalize_name(clean) in system:
        # system templates are stored when first used: the name would collide then
        errors.append(FieldError("name", f"'{clean}' is a system template's name; pick another name"))
    elif clean and session.scalar(select(ProviderTemplate.id).where(ProviderTemplate.name == clean)):
        errors.append(FieldError("name", f"a template named '{clean}' exists; pick another name"))
    if errors:
        raise ValidationError(errors)
    template = ProviderTemplate(
        name=clean,
        kind=CUSTOM,
        type=provider.type,
        base_url=provider.base_url,
        params=dict(provider.params or {}),
        settings={
            "models": [m.identifier for m in provider.models if m.enabled],
            "rpm": provider.rpm,
            "tpm": provider.tpm,
            "timeout_seconds": provider.timeout_seconds,
            "is_local": provider.is_local,
            "secret_envs": {c.field: c.env_var for c in provider.credentials if c.env_var},
        },
        created_by=actor.name,
    )
    session.add(template)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="template.create",
        target_type="template",
        target_id=template.id,
        target_name=template.name,
        details={"from_provider": provider.name},
    )
    return template


def create_provider_from_template(
    session: Session,
    *,
    actor: Actor,
    ring: KeyRing,
    template_name: str,
    name: str,
    **overrides: Any,
) -> Provider:
    """A new provider from a template, with the template's models (the first one enabled)."""
    template = get_template(session, name=template_name)
    settings = dict(template.settings or {})
    fields: dict[str, Any] = {
        "base_url": template.base_url,
        "params": dict(template.params or {}),
        "rpm": settings.get("rpm"),
        "tpm": settings.get("tpm"),
        "timeout_seconds": settings.get("timeout_seconds"),
        "is_local": settings.get("is_local"),
        "secret_envs": settings.get("secret_envs") or None,
        "default_model": (settings.get("models") or [None])[0],
    }
    fields.update(overrides)
    if fields.get("secrets"):
        fields["secret_envs"] = {
            k: v for k, v in (fields.get("secret_envs") or {}).items() if k not in fields["secrets"]
        }
    provider = providers.create_provider(
        session, actor=actor, ring=ring, name=name, type=template.type, **fields
    )
    for index, identifier in enumerate(settings.get("models") or []):
        models.create_model(
            session,
            actor=actor,
            provider_id=provider.id,
            identifier=identifier,
            enabled=index == 0,
            is_default=index == 0,
        )
    return provider
