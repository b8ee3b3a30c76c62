"""Models: list (filtered, paged), create on a provider, read, update, delete, enable or disable many."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, SkipValidation

from app.api.common import ActorDep, PageDep, as_json, etag, expected_version, page_of, transaction
from app.models import Model
from app.services import models
from app.services.rows import load

router = APIRouter(prefix="/api/models", tags=["models"])


class ModelFields(BaseModel):
    """A model's editable fields; unset prices, window and capabilities come from LiteLLM's map.
    The service checks every one (types included), so they reach it as sent and one 422 lists every
    problem in its words."""

    model_config = ConfigDict(extra="forbid", strict=True)
    alias: SkipValidation[str | None] = None
    display_name: SkipValidation[str | None] = None
    mode: SkipValidation[str | None] = None
    enabled: SkipValidation[bool | None] = None
    input_cost_per_1m: SkipValidation[float | None] = None
    output_cost_per_1m: SkipValidation[float | None] = None
    context_window: SkipValidation[int | None] = None
    max_output_tokens: SkipValidation[int | None] = None
    status: SkipValidation[str | None] = None
    is_default: SkipValidation[bool | None] = None
    supports_streaming: SkipValidation[bool | None] = None
    supports_tools: SkipValidation[bool | None] = None
    supports_vision: SkipValidation[bool | None] = None
    supports_audio: SkipValidation[bool | None] = None
    supports_system_messages: SkipValidation[bool | None] = None


class NewModel(ModelFields):
    provider_id: int
    identifier: SkipValidation[str]


class ModelUpdate(ModelFields):
    version: int | None = None  # the version you read (or send If-Match); stale → 409


class Bulk(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ids: list[int]
    enabled: bool


def _shown(model: Model) -> dict[str, Any]:
    return {**as_json(model), "provider": model.provider.name}


@router.get("")
def list_models(
    actor: ActorDep,
    page: PageDep,
    provider_id: int | None = None,
    search: str | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """Models by provider name and identifier; `search` matches identifier and alias."""
    filters: dict[str, Any] = {"provider_id": provider_id, "query": search, "enabled": enabled}
    with transaction() as session:
        found = models.search_models(session, limit=page.limit, offset=page.offset, **filters)
        return page_of([_shown(m) for m in found], models.count_models(session, **filters), page)


@router.post("", status_code=201)
def create_model(body: NewModel, actor: ActorDep, response: Response) -> dict[str, Any]:
    values = body.model_dump(warnings=False, exclude_unset=True, exclude={"provider_id", "identifier"})
    with transaction() as session:
        model = models.create_model(
            session, actor=actor, provider_id=body.provider_id, identifier=body.identifier, **values
        )
        shown = _shown(model)
    response.headers.update(etag(shown["version"]))
    response.headers["Location"] = f"/api/models/{shown['id']}"
    return shown


@router.post("/bulk")
def set_enabled(body: Bulk, actor: ActorDep) -> dict[str, Any]:
    """Enable or disable many models in one change (one audit entry)."""
    with transaction() as session:
        changed = models.set_models_enabled(session, actor=actor, model_ids=body.ids, enabled=body.enabled)
        return {"changed": len(changed), "enabled": body.enabled}


@router.get("/{model_id}")
def get_model(model_id: int, actor: ActorDep, response: Response) -> dict[str, Any]:
    with transaction() as session:
        shown = _shown(load(session, Model, model_id, kind="model"))
    response.headers.update(etag(shown["version"]))
    return shown


@router.put("/{model_id}")
def update_model(
    model_id: int,
    body: ModelUpdate,
    actor: ActorDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Set the fields given (the others stay); a stale version (If-Match or `version`) → 409."""
    changes = body.model_dump(warnings=False, exclude_unset=True, exclude={"version"})
    with transaction() as session:
        current: Model = load(session, Model, model_id, kind="model")
        model = models.update_model(
            session,
            actor=actor,
            model_id=model_id,
            expected_version=expected_version(if_match, body.version, current.version),
            **changes,
        )
        shown = _shown(model)
    response.headers.update(etag(shown["version"]))
    return shown


@router.delete("/{model_id}", status_code=204)
def delete_model(model_id: int, actor: ActorDep) -> None:
    with transaction() as session:
        models.delete_model(session, actor=actor, model_id=model_id)
