"""The generator's input, read from the rows: enabled providers and models, the global settings, the
enabled routes (the config and the routes services both build from it)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import catalog
from app.models import ConfigSettings, Model, Provider, Route
from app.services import health
from generator import build
from generator.routes import RouteRow


def provider_row(provider: Provider) -> build.ProviderRow:
    ptype = catalog.PROVIDER_TYPES[provider.type]
    secrets = tuple(
        build.SecretRow(c.field, None if c.ciphertext else c.env_var)
        for c in provider.credentials
        if c.ciphertext or c.env_var
    )
    secret_fields = {s.field for s in secrets}
    return build.ProviderRow(
        id=provider.id,
        name=provider.name,
        type=provider.type,
        litellm_provider=ptype.litellm_provider,
        base_url=ptype.api_base(provider.base_url),
        endpoints={
            mode: build.Endpoint(ptype.litellm_prefix(mode), ptype.api_base(provider.base_url, mode))
            for mode in {m for m, _ in (*ptype.mode_paths, *ptype.mode_prefixes)}
        },
        params=ptype.deployment_params(dict(provider.params or {}), has_api_key="api_key" in secret_fields),
        secrets=secrets,
        rpm=provider.rpm,
        tpm=provider.tpm,
        timeout_seconds=provider.timeout_seconds,
        is_local=provider.is_local,
    )


def model_row(model: Model) -> build.ModelRow:
    return build.ModelRow(
        id=model.id,
        provider_id=model.provider_id,
        identifier=model.identifier,
        alias=model.alias,
        input_cost_per_1m=model.input_cost_per_1m,
        output_cost_per_1m=model.output_cost_per_1m,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        mode=model.mode,
        extra_params=dict(model.extra_params or {}),
        extra_model_info=dict(model.extra_model_info or {}),
    )


def route_row(route: Route) -> RouteRow:
    return RouteRow(
        agent_type=route.agent_type,
        model=route.model,
        fallbacks=tuple(route.fallbacks or ()),
        max_cost_usd=route.max_cost_usd,
        local_only=route.local_only,
        weights={k: dict(v) for k, v in (route.weights or {}).items()},
    )


def route_rows(session: Session) -> tuple[RouteRow, ...]:
    """The enabled routes, as the generator takes them."""
    query = select(Route).where(Route.enabled.is_(True)).order_by(Route.agent_type)
    return tuple(route_row(r) for r in session.scalars(query))


def get_settings_row(session: Session) -> ConfigSettings:
    row = session.get(ConfigSettings, 1)
    if row is None:
        row = ConfigSettings(id=1)
        session.add(row)
        session.flush()
    return row


def load_input(session: Session, *, routes: bool = True) -> build.ConfigInput:
    """The generator's input: enabled, non-deleted providers, their enabled models, enabled routes."""
    providers = list(
        session.scalars(
            select(Provider)
            .options(selectinload(Provider.credentials))
            .where(Provider.enabled.is_(True), Provider.deleted_at.is_(None))
        )
    )
    ids = [p.id for p in providers]
    models = session.scalars(select(Model).where(Model.enabled.is_(True), Model.provider_id.in_(ids)))
    row = session.get(ConfigSettings, 1)
    settings = (
        build.GlobalRow(
            router_settings=dict(row.router_settings or {}),
            litellm_settings=dict(row.litellm_settings or {}),
            general_settings=dict(row.general_settings or {}),
            extra=dict(row.extra or {}),
        )
        if row
        else build.GlobalRow()
    )
    down = health.down_provider_ids(session)
    return build.ConfigInput(
        providers=tuple(dataclasses.replace(provider_row(p), down=p.id in down) for p in providers),
        models=tuple(model_row(m) for m in models),
        settings=settings,
        routes=route_rows(session) if routes else (),
    )
