"""`llm-admin config import`: adopt a hand-written LiteLLM config into providers, models and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import catalog
from app.crypto import KeyRing
from app.errors import LlmAdminError
from app.models import Model, Provider, utcnow
from app.services import audit
from app.services.access import Actor, authorize
from app.services.config import ConfigInvalid, get_settings_row
from app.services.providers import create_provider
from generator import bounded_yaml
from generator.adopt import AdoptError, Adoption, adopt
from generator.bounded_yaml import YamlLimits


@dataclass
class ImportReport:
    providers: int = 0
    models: int = 0
    settings: int = 0
    warnings: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)  # render defaults added (or kept out), one a line


def _litellm_provider(model: str) -> str | None:
    """The provider LiteLLM itself resolves a bare model name to (`anthropic.claude-…` → bedrock)."""
    import litellm  # slow import: paid by an import, never by the dashboard's pages

    try:
        return str(litellm.get_llm_provider(model=model)[1])
    except Exception:  # LiteLLM raises BadRequestError when it cannot tell
        return None


def _cost_map_mode(route: str) -> str | None:
    """The mode LiteLLM's cost map gives `provider/model` (or the bare model), else None."""
    costs = catalog.cost_map()
    entry = costs.get(route) or costs.get(route.partition("/")[2]) or {}
    return str(entry["mode"]) if entry.get("mode") else None


def _secret_fields() -> dict[str, set[str]]:
    return {t.id: {f.name for f in t.secret_fields} for t in catalog.PROVIDER_TYPES.values()}


def import_config(
    session: Session,
    *,
    actor: Actor,
    ring: KeyRing,
    text: str,
    keep_behaviour: bool = False,
    limits: YamlLimits | None = None,
) -> ImportReport:
    """Create the rows that render this config back; plain-text keys are encrypted on the way in.

    `keep_behaviour`: where the file sets no retries, cooldowns, router timeout or drop_params, keep
    LiteLLM's defaults instead of llm-admin's failover defaults (the report lists each either way).
    `limits` bound what a hostile file may cost (size, nesting, aliases, duplicates, strings, deployments).
    """
    authorize(actor, "edit")
    parsed = _load(text, limits)
    adoption = _adopt(parsed, keep_behaviour=keep_behaviour)
    created, report_changes = _create_providers(session, actor=actor, ring=ring, adoption=adoption)
    _add_models(session, actor=actor, adoption=adoption, created=created)
    sections = _merge_settings(session, actor=actor, adoption=adoption)
    session.flush()
    report = ImportReport(
        providers=len(created),
        models=len(adoption.models),
        settings=sum(1 for v in sections.values() if v),
        warnings=adoption.warnings + report_changes,
        defaults=adoption.defaults,
    )
    audit.record(
        session,
        actor=actor,
        action="config.import",
        target_type="config",
        details={"providers": report.providers, "models": report.models, "warnings": len(report.warnings)},
    )
    return report


def _load(text: str, limits: YamlLimits | None) -> Any:
    """Parse the file as YAML within `limits` (default YamlLimits()); refuse it as LlmAdminError otherwise."""
    try:
        return bounded_yaml.load(text, limits or YamlLimits())
    except bounded_yaml.LimitExceeded as exc:
        raise LlmAdminError(f"import refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise LlmAdminError(f"not valid YAML: {str(exc).splitlines()[0]}") from None


def _adopt(parsed: Any, *, keep_behaviour: bool) -> Adoption:
    """Turn the parsed config into providers, models and settings; its problems raise ConfigInvalid."""
    prefixes = {t.id: t.litellm_provider for t in catalog.PROVIDER_TYPES.values()}
    try:
        return adopt(
            parsed,
            prefixes=prefixes,
            provider_of=_litellm_provider,
            mode_of=_cost_map_mode,
            secret_fields=_secret_fields(),
            keep_behaviour=keep_behaviour,
        )
    except AdoptError as exc:
        raise ConfigInvalid(exc.problems) from None


def _free_name(wanted: str, taken: set[str]) -> str:
    """`wanted`, else `wanted-2`, `wanted-3`, … : the first name not in `taken` (casefolded); now taken."""
    name, n = wanted, 1
    while name.casefold() in taken:
        n += 1
        name = f"{wanted}-{n}"
    taken.add(name.casefold())
    return name


def _create_providers(
    session: Session, *, actor: Actor, ring: KeyRing, adoption: Adoption
) -> tuple[dict[int, Provider], list[str]]:
    """Create a provider per adopted one under a free name: the rows by id(adopted), and the warnings."""
    taken = {name.casefold() for name in session.scalars(select(Provider.name))}
    created: dict[int, Provider] = {}
    report_changes: list[str] = []
    for adopted in adoption.providers:
        name = _free_name(adopted.name, taken)
        ptype = catalog.PROVIDER_TYPES[adopted.type]
        known = {f.name for f in ptype.param_fields}
        provider = create_provider(
            session,
            actor=actor,
            ring=ring,
            name=name,
            type=adopted.type,
            base_url=adopted.base_url,
            secrets={s.field: s.value for s in adopted.secrets if s.value is not None},
            secret_envs={s.field: s.env_var for s in adopted.secrets if s.env_var is not None},
            params={k: v for k, v in adopted.params.items() if k in known},
            rpm=adopted.limits.get("rpm"),
            tpm=adopted.limits.get("tpm"),
            timeout_seconds=adopted.limits.get("timeout_seconds"),
            adopting=True,
        )
        created[id(adopted)] = provider
        if adopted.base_url and provider.base_url != adopted.base_url:
            report_changes.append(
                f"provider {name}: api_base '{adopted.base_url}' is stored as '{provider.base_url}' "
                "(llm-admin's form of a base URL; LiteLLM calls the same endpoints)"
            )
    return created, report_changes


def _add_models(session: Session, *, actor: Actor, adoption: Adoption, created: dict[int, Provider]) -> None:
    """Add an enabled model per adopted one; provider params its type does not know go to extra_params."""
    for model in adoption.models:
        provider = created[id(model.provider)]
        known_params = {f.name for f in catalog.PROVIDER_TYPES[provider.type].param_fields}
        extra = dict(model.extra_params)
        for key, value in model.provider.params.items():
            if key not in known_params:
                extra.setdefault(key, value)
        session.add(
            Model(
                provider=provider,
                identifier=model.identifier,
                alias=model.alias,
                enabled=True,
                input_cost_per_1m=model.input_cost_per_1m,
                output_cost_per_1m=model.output_cost_per_1m,
                context_window=model.context_window,
                max_output_tokens=model.max_output_tokens,
                mode=model.mode,
                extra_params=extra,
                extra_model_info=model.extra_model_info,
                created_by=actor.name,
                updated_by=actor.name,
            )
        )


def _merge_settings(session: Session, *, actor: Actor, adoption: Adoption) -> dict[str, dict[str, Any]]:
    """Merge the adopted settings over the stored ones, key by key: the sections adopted, by column."""
    settings = get_settings_row(session)
    sections = {
        "router_settings": adoption.router_settings,
        "litellm_settings": adoption.litellm_settings,
        "general_settings": adoption.general_settings,
        "extra": adoption.extra,
    }
    for key, value in sections.items():
        setattr(settings, key, {**(getattr(settings, key) or {}), **value})
    settings.updated_at = utcnow()
    settings.updated_by = actor.name
    return sections
