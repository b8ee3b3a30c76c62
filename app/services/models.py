"""Models: add, update, bulk enable/disable, search; defaults from LiteLLM's cost map."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from app import catalog
from app.errors import FieldError, NotFoundError, ValidationError
from app.models import Model, Provider, Route, utcnow
from app.services import audit
from app.services.access import Actor, authorize
from app.services.rows import check_version, flush_guarded, load
from app.validation import MAX_CONTEXT_WINDOW, check_identifier, check_int, check_name, check_price

STATUSES = ("active", "deprecated")
# LiteLLM's model modes (its cost map's `mode`): which endpoint a model serves
MODES = (
    "chat",
    "completion",
    "embedding",
    "image_generation",
    "audio_transcription",
    "audio_speech",
    "rerank",
    "moderation",
    "responses",
)
CAPABILITIES = (
    "supports_streaming",
    "supports_tools",
    "supports_vision",
    "supports_audio",
    "supports_system_messages",
)
EDITABLE = (
    "alias",
    "display_name",
    "mode",
    "enabled",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "context_window",
    "max_output_tokens",
    "status",
    "is_default",
    *CAPABILITIES,
)


def _clean(values: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    """Validate the editable fields present in values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in EDITABLE:
            errors.append(FieldError(key, f"is not a model field; editable: {', '.join(EDITABLE)}"))
        elif key == "alias":
            out[key] = check_identifier("alias", value, errors)
        elif key == "display_name":  # optional: empty shows the alias
            out[key] = None if value is None or str(value).strip() == "" else check_name(key, value, errors)
        elif key in ("input_cost_per_1m", "output_cost_per_1m"):
            out[key] = check_price(key, value, errors)
        elif key == "context_window":
            out[key] = check_int(key, value, errors, low=1, high=MAX_CONTEXT_WINDOW, hint="; use tokens")
        elif key == "max_output_tokens":
            out[key] = check_int(key, value, errors, low=1, high=MAX_CONTEXT_WINDOW)
        elif key == "mode":
            if value not in MODES:
                errors.append(FieldError("mode", f"must be one of {', '.join(MODES)}"))
            out[key] = value
        elif key == "status":
            if value not in STATUSES:
                errors.append(FieldError("status", f"must be one of {', '.join(STATUSES)}"))
            out[key] = value
        else:
            if not isinstance(value, bool):
                errors.append(FieldError(key, "must be true or false"))
            out[key] = bool(value)
    return out


def _check_serving(provider: Provider, clean: dict[str, Any], errors: list[FieldError]) -> None:
    """A model of a deleted provider stays disabled until the provider is restored."""
    if clean.get("enabled") is True and provider.deleted_at is not None:
        errors.append(FieldError("enabled", f"{provider.name} is deleted; restore it first"))


def _snapshot(model: Model) -> dict[str, Any]:
    return {"identifier": model.identifier, **{k: getattr(model, k) for k in EDITABLE}}


def _flush(session: Session, model: Model) -> None:
    taken = FieldError(
        "model", f"'{model.identifier}' is already on this provider; edit the existing row instead"
    )
    flush_guarded(session, model, kind="model", label=model.identifier, duplicate=taken)


def create_model(
    session: Session, *, actor: Actor, provider_id: int, identifier: str, **values: Any
) -> Model:
    """Add a model to a provider; unset prices, window and capabilities come from LiteLLM."""
    authorize(actor, "edit")
    provider: Provider = load(session, Provider, provider_id, kind="provider")
    errors: list[FieldError] = []
    ident = check_identifier("model", identifier, errors)
    if ident and session.scalar(
        select(Model.id).where(Model.provider_id == provider.id, Model.identifier == ident)
    ):
        errors.append(
            FieldError("model", f"'{ident}' is already on {provider.name}; edit the existing row instead")
        )
    if ident:
        # an invalid identifier is reported once, not again as a missing alias
        values.setdefault("alias", ident)
    clean = _clean(values, errors)
    _check_serving(provider, clean, errors)
    if errors:
        raise ValidationError(errors)
    assert ident is not None
    known = catalog.model_defaults(provider.type, ident)
    defaults: dict[str, Any] = {
        "input_cost_per_1m": known.input_cost_per_1m,
        "output_cost_per_1m": known.output_cost_per_1m,
        "context_window": known.context_window,
        "max_output_tokens": known.max_output_tokens,
        **known.capabilities,
    }
    for key, value in defaults.items():
        if clean.get(key) is None:
            clean[key] = value
    clean.setdefault("mode", known.mode or "chat")
    model = Model(
        provider=provider,
        identifier=ident,
        created_by=actor.name,
        updated_by=actor.name,
        **clean,
    )
    session.add(model)
    _flush(session, model)
    audit.record(
        session,
        actor=actor,
        action="model.create",
        target_type="model",
        target_id=model.id,
        target_name=f"{provider.name}/{ident}",
        details={"after": _snapshot(model), "defaults_from_litellm": known.known},
    )
    return model


def update_model(
    session: Session, *, actor: Actor, model_id: int, expected_version: int, **changes: Any
) -> Model:
    """Change a model opened at expected_version."""
    authorize(actor, "edit")
    model: Model = load(session, Model, model_id, kind="model")
    check_version(model, expected_version, kind="model", label=model.identifier)
    errors: list[FieldError] = []
    clean = _clean(changes, errors)
    _check_serving(model.provider, clean, errors)
    if errors:
        raise ValidationError(errors)
    clean = {key: value for key, value in clean.items() if getattr(model, key) != value}
    if not clean:
        return model  # the same save again changes nothing: no new version, no audit entry
    before = _snapshot(model)
    for key, value in clean.items():
        setattr(model, key, value)
    model.updated_at = utcnow()
    model.updated_by = actor.name
    _flush(session, model)
    audit.record(
        session,
        actor=actor,
        action="model.update",
        target_type="model",
        target_id=model.id,
        target_name=f"{model.provider.name}/{model.identifier}",
        details={"before": before, "after": _snapshot(model)},
    )
    return model


def set_models_enabled(session: Session, *, actor: Actor, model_ids: list[int], enabled: bool) -> list[Model]:
    """Enable or disable many models at once; one audit entry names them all."""
    authorize(actor, "edit")
    models = list(
        session.scalars(select(Model).options(joinedload(Model.provider)).where(Model.id.in_(model_ids)))
    )
    missing = set(model_ids) - {m.id for m in models}
    if missing:
        raise NotFoundError(f"models {sorted(missing)} do not exist")
    if enabled:
        deleted = [m for m in models if m.provider.deleted_at is not None]
        if deleted:
            raise ValidationError(
                [FieldError("enabled", f"{deleted[0].provider.name} is deleted; restore it first")]
            )
    for model in models:
        model.enabled = enabled
        model.updated_at = utcnow()
        model.updated_by = actor.name
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="model.enable" if enabled else "model.disable",
        target_type="model",
        details={"models": [f"{m.provider.name}/{m.identifier}" for m in models]},
    )
    return models


def delete_model(session: Session, *, actor: Actor, model_id: int) -> None:
    """Remove a model from its provider; refused while a route names its alias and no other model
    serves that alias (the route would point at nothing)."""
    authorize(actor, "edit")
    model: Model = load(session, Model, model_id, kind="model")
    others = session.scalar(
        select(func.count(Model.id)).where(Model.alias == model.alias, Model.id != model.id)
    )
    if not others:
        for route in session.scalars(select(Route)):
            if model.alias == route.model or model.alias in (route.fallbacks or []):
                raise ValidationError(
                    [
                        FieldError(
                            "model",
                            f"route agent/{route.agent_type} uses '{model.alias}'; change the route first",
                        )
                    ]
                )
    audit.record(
        session,
        actor=actor,
        action="model.delete",
        target_type="model",
        target_id=model.id,
        target_name=f"{model.provider.name}/{model.identifier}",
        details={"before": _snapshot(model)},
    )
    session.delete(model)
    session.flush()


def find_model(session: Session, *, provider_id: int, identifier: str) -> Model:
    model = session.scalars(
        select(Model).where(Model.provider_id == provider_id, Model.identifier == identifier)
    ).one_or_none()
    if model is None:
        raise NotFoundError(f"no model '{identifier}' on that provider; `llm-admin model list` shows them")
    return model


def _model_filters(
    provider_id: int | None, query: str | None, enabled: bool | None, include_deleted_providers: bool
) -> list[Any]:
    where: list[Any] = []
    if not include_deleted_providers:
        where.append(Provider.deleted_at.is_(None))
    if provider_id is not None:
        where.append(Model.provider_id == provider_id)
    if enabled is not None:
        where.append(Model.enabled.is_(enabled))
    if query:
        text = query.strip().lower()
        where.append(
            or_(
                Model.identifier.icontains(text, autoescape=True),
                Model.alias.icontains(text, autoescape=True),
            )
        )
    return where


def search_models(
    session: Session,
    *,
    provider_id: int | None = None,
    query: str | None = None,
    enabled: bool | None = None,
    include_deleted_providers: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[Model]:
    """Models by provider and identifier, filtered; `limit`/`offset` page through them in SQL."""
    stmt = (
        select(Model)
        .join(Model.provider)
        .options(joinedload(Model.provider))
        .where(*_model_filters(provider_id, query, enabled, include_deleted_providers))
        .order_by(Provider.name_key, Model.identifier, Model.id)
        .offset(offset)
        .limit(limit or None)
    )
    return list(session.scalars(stmt))


def count_models(
    session: Session,
    *,
    provider_id: int | None = None,
    query: str | None = None,
    enabled: bool | None = None,
    include_deleted_providers: bool = False,
) -> int:
    """How many models `search_models` finds with the same filters."""
    stmt = (
        select(func.count(Model.id))
        .join(Model.provider)
        .where(*_model_filters(provider_id, query, enabled, include_deleted_providers))
    )
    return session.scalar(stmt) or 0
