"""Provider types (what llm-admin knows of each kind of provider) and templates to start from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app import catalog
from app.api.common import ActorDep, PageDep, as_json, paginate, transaction
from app.errors import NotFoundError
from app.services import provider_forms

router = APIRouter(prefix="/api", tags=["templates"])


@router.get("/provider-types")
def provider_types(actor: ActorDep) -> list[Any]:
    """Every provider type: its fields (secret or not), default base URL, key format, default models."""
    return [as_json(t) for t in catalog.PROVIDER_TYPES.values()]


def _choice(choice: provider_forms.TemplateChoice) -> dict[str, Any]:
    return {
        **as_json(choice),
        "key": choice.key,
        "label": choice.label,
        "default_model": choice.default_model,
    }


@router.get("/templates")
def list_templates(actor: ActorDep, page: PageDep) -> dict[str, Any]:
    """System templates (one per type) then custom ones; `POST /api/providers` with `template` uses one."""
    with transaction() as session:
        return paginate([_choice(c) for c in provider_forms.template_choices(session)], page)


@router.get("/templates/{name}")
def get_template(name: str, actor: ActorDep) -> dict[str, Any]:
    with transaction() as session:
        found = next((c for c in provider_forms.template_choices(session) if c.name == name), None)
    if found is None:
        raise NotFoundError(f"template '{name}' does not exist; GET /api/templates lists them")
    return _choice(found)
