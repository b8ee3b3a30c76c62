"""What the add and edit forms of a provider start from: templates, and the fields each type needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app import catalog
from app.crypto import KeyRing
from app.models import Provider
from app.services import templates
from app.services.access import Actor, authorize


@dataclass(frozen=True)
class TemplateChoice:
    """A starting point for a new provider: a system template (one per type) or an admin's own."""

    name: str
    kind: str  # system | custom
    type: str
    base_url: str | None
    params: dict[str, Any] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    secret_envs: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Unique among the choices, e.g. 'system:openai' or 'custom:Team OpenAI'."""
        return f"system:{self.type}" if self.kind == templates.SYSTEM else f"custom:{self.name}"

    @property
    def label(self) -> str:
        return self.name if self.kind == templates.SYSTEM else f"{self.name} (custom, {self.type})"

    @property
    def default_model(self) -> str | None:
        return self.models[0] if self.models else None


def template_choices(session: Session) -> list[TemplateChoice]:
    """System templates in catalog order (from the catalog when not stored yet), then custom ones."""
    stored = templates.list_templates(session)
    system = {t.type: t for t in stored if t.kind == templates.SYSTEM}
    choices = []
    for ptype in catalog.PROVIDER_TYPES.values():
        row = system.get(ptype.id)
        choices.append(
            TemplateChoice(
                name=templates.system_template_name(ptype.id),
                kind=templates.SYSTEM,
                type=ptype.id,
                base_url=row.base_url if row else ptype.default_base_url,
                params=dict(row.params or {})
                if row
                else {f.name: f.default for f in ptype.param_fields if f.default},
                models=list((row.settings or {}).get("models") or []) if row else list(ptype.default_models),
            )
        )
    for row in stored:
        if row.kind == templates.CUSTOM and row.type in catalog.PROVIDER_TYPES:
            settings = dict(row.settings or {})
            choices.append(
                TemplateChoice(
                    name=row.name,
                    kind=templates.CUSTOM,
                    type=row.type,
                    base_url=row.base_url,
                    params=dict(row.params or {}),
                    models=list(settings.get("models") or []),
                    secret_envs=dict(settings.get("secret_envs") or {}),
                )
            )
    return choices


def shows_base_url(type_id: str) -> bool:
    """Whether the form asks for a base URL: only types whose base URL LiteLLM uses."""
    return catalog.PROVIDER_TYPES[type_id].shows_base_url


def create_from_template(
    session: Session, *, actor: Actor, ring: KeyRing, template_name: str, name: str, **fields: Any
) -> Provider:
    """A new provider from the template the form started from, with the template's models."""
    authorize(actor, "edit")
    templates.sync_system_templates(session)  # system templates follow the catalog
    return templates.create_provider_from_template(
        session, actor=actor, ring=ring, template_name=template_name, name=name, **fields
    )
