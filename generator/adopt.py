"""A hand-written LiteLLM config → the providers, models and settings that render it back (pure)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from generator.build import MASTER_KEY_ENV, REVISION_KEY, ROUTE_PREFIX
from generator.validate import (
    ENV_REF,
    plain_secrets,  # the check the rendered file gets
)

# LiteLLM prefix → our catalog type (custom is any other OpenAI-compatible endpoint)
PREFIX_TYPES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure_openai",
    "bedrock": "bedrock",
    "gemini": "gemini",
    "vertex_ai": "vertex_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "together_ai": "together_ai",
    "replicate": "replicate",
    "groq": "groq",
    "mistral": "mistral",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}
# params that identify the account a deployment talks to, per catalog type (besides base URL and secrets)
PROVIDER_PARAMS = {
    "openai": ("organization", "extra_headers"),
    "anthropic": ("extra_headers",),
    "azure_openai": ("api_version", "extra_headers"),
    "bedrock": ("aws_region_name",),
    "vertex_ai": ("vertex_project", "vertex_location"),
    "custom": ("extra_headers",),
    "localai": (),
}
SECRET_FIELDS = (
    "api_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "vertex_credentials",
)
LIMITS = {"rpm": "rpm", "tpm": "tpm", "timeout": "timeout_seconds"}
MODELLED_INFO = (
    "id",
    "input_cost_per_token",
    "output_cost_per_token",
    "max_input_tokens",
    "max_output_tokens",
    "mode",
)
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class SecretSource:
    field: str
    value: str | None = None  # a plain-text secret found in the file: to be encrypted
    env_var: str | None = None


@dataclass
class AdoptedProvider:
    key: tuple[Any, ...]
    name: str
    type: str
    base_url: str | None
    params: dict[str, Any]
    secrets: list[SecretSource]
    limits: dict[str, Any]
    aliases: set[str] = field(default_factory=set)
    identifiers: set[str] = field(default_factory=set)


@dataclass
class AdoptedModel:
    provider: AdoptedProvider
    identifier: str
    alias: str
    input_cost_per_1m: float | None
    output_cost_per_1m: float | None
    context_window: int | None
    max_output_tokens: int | None
    mode: str
    extra_params: dict[str, Any]
    extra_model_info: dict[str, Any]
    limits: dict[str, Any] = field(default_factory=dict)


@dataclass
class Adoption:
    providers: list[AdoptedProvider]
    models: list[AdoptedModel]
    router_settings: dict[str, Any]
    litellm_settings: dict[str, Any]
    general_settings: dict[str, Any]
    extra: dict[str, Any]
    warnings: list[str]


class AdoptError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _split_model(
    model: str, params: dict[str, Any], provider_of: Callable[[str], str | None]
) -> tuple[str, str]:
    prefix, sep, rest = model.partition("/")
    if params.get("custom_llm_provider"):
        return str(params["custom_llm_provider"]), model
    if not sep:
        # a bare name (`claude-haiku-4-5`): LiteLLM finds its provider in the cost map, and so do we
        return provider_of(model) or "openai", model
    return prefix, rest


def _type_for(prefix: str, base_url: str | None) -> str:
    if prefix == "openai" and base_url and urlsplit(base_url).hostname not in (None, "api.openai.com"):
        return "custom"
    return PREFIX_TYPES.get(prefix, "custom")


def _secret(field_name: str, value: Any, warnings: list[str], where: str) -> SecretSource:
    if isinstance(value, str) and value.startswith(ENV_REF):
        return SecretSource(field_name, env_var=value.removeprefix(ENV_REF))
    warnings.append(
        f"{where}: {field_name} was in plain text; it is now stored encrypted. "
        "Remove it from the old file (and rotate it if that file was shared)."
    )
    return SecretSource(field_name, value=str(value))


def _cannot_store(where: str, path: str) -> str:
    leaf = path.rpartition(".")[2]
    return (
        f"{where}{path} is a plain-text secret llm-admin cannot store encrypted; make it "
        f"{leaf}: os.environ/NAME, export NAME for the proxy, and import again"
    )


def _provider_name(type_id: str, base_url: str | None, taken: set[str]) -> str:
    host = urlsplit(base_url).hostname if base_url else None
    base = type_id if not host or type_id not in ("custom", "localai", "ollama") else f"{type_id}-{host}"
    base = _SLUG.sub("-", base.lower()).strip("-")[:90] or "provider"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _price_per_1m(key: str, info: dict[str, Any], params: dict[str, Any]) -> float | None:
    """A per-token price from model_info or litellm_params (either is LiteLLM custom pricing)."""
    value = info.pop(key, None)
    if value is None:
        value = params.pop(key, None)
    return None if value is None else float(value) * 1_000_000


def _settle_limits(providers: list[AdoptedProvider], models: list[AdoptedModel]) -> None:
    """A limit every deployment of a provider shares becomes the provider's; others stay per model."""
    for provider in providers:
        own = [m for m in models if m.provider is provider]
        for theirs, ours in LIMITS.items():
            values = {repr(m.limits.get(ours)) for m in own}
            if len(values) == 1 and own[0].limits.get(ours) is not None:
                provider.limits[ours] = own[0].limits[ours]
                continue
            for m in own:
                if ours in m.limits:
                    m.extra_params[theirs] = m.limits[ours]


def adopt(
    config: Any,
    *,
    prefixes: dict[str, str],
    provider_of: Callable[[str], str | None] = lambda model: None,
) -> Adoption:
    """Map a LiteLLM config onto providers and models.

    `prefixes` maps our types to LiteLLM prefixes; `provider_of` names the LiteLLM provider of a
    bare model name (from LiteLLM's cost map), as LiteLLM itself resolves `model: gpt-4o`.
    """
    if not isinstance(config, dict) or not isinstance(config.get("model_list"), list):
        raise AdoptError(["the file is not a LiteLLM config: it needs a model_list"])
    warnings: list[str] = []
    problems: list[str] = []
    providers: list[AdoptedProvider] = []
    models: list[AdoptedModel] = []
    names: set[str] = set()

    for index, deployment in enumerate(config["model_list"]):
        where = f"model_list[{index}]"
        if not isinstance(deployment, dict) or not isinstance(deployment.get("litellm_params"), dict):
            problems.append(f"{where}: needs model_name and litellm_params")
            continue
        params = copy.deepcopy(deployment["litellm_params"])
        info = copy.deepcopy(deployment.get("model_info") or {})
        for key, value in deployment.items():
            if key in ("rpm", "tpm"):
                params.setdefault(key, value)  # older configs put limits here; LiteLLM's router reads both
            elif key not in ("model_name", "litellm_params", "model_info"):
                warnings.append(f"{where}: '{key}' next to litellm_params is not a LiteLLM key; not imported")
        alias = str(deployment.get("model_name") or "").strip()
        model = params.pop("model", None)
        if not alias or not isinstance(model, str):
            problems.append(f"{where}: needs model_name and litellm_params.model")
            continue
        if alias.startswith(ROUTE_PREFIX):
            problems.append(
                f"{where}: model_name '{alias}' starts with '{ROUTE_PREFIX}', reserved for routes"
            )
            continue
        prefix, identifier = _split_model(model, params, provider_of)
        base_url = params.pop("api_base", None)
        if isinstance(base_url, str) and base_url.startswith(ENV_REF):
            params["api_base"], base_url = base_url, None  # resolved by LiteLLM at run time: keep as is
        type_id = _type_for(prefix, base_url)
        secrets = [
            _secret(f, params.pop(f), warnings, f"{where} ({alias})") for f in SECRET_FIELDS if f in params
        ]
        provider_params = {k: params.pop(k) for k in PROVIDER_PARAMS.get(type_id, ()) if k in params}
        limits = {ours: params.pop(theirs) for theirs, ours in LIMITS.items() if theirs in params}
        # kept params are stored and rendered as they are: a plain secret among them would leak
        kept = {**provider_params, **params}
        if base_url:
            kept["api_base"] = base_url
        problems.extend(
            _cannot_store(f"{where} ({alias}): ", path) for path in plain_secrets(kept, "litellm_params")
        )
        if prefixes.get(type_id) != prefix:
            params["model"] = model  # keep the original routing prefix (e.g. ollama/ vs ollama_chat/)
        key = (
            type_id,
            base_url,
            tuple(sorted((s.field, s.value, s.env_var) for s in secrets)),
            repr(sorted(provider_params.items())),
        )
        provider = next(
            (
                p
                for p in providers
                if p.key == key and alias not in p.aliases and identifier not in p.identifiers
            ),
            None,
        )
        if provider is None:
            provider = AdoptedProvider(
                key, _provider_name(type_id, base_url, names), type_id, base_url, provider_params, secrets, {}
            )
            providers.append(provider)
        provider.aliases.add(alias)
        provider.identifiers.add(identifier)

        info.pop(REVISION_KEY, None)
        info.pop("llm_admin_provider", None)
        models.append(
            AdoptedModel(
                provider=provider,
                identifier=identifier,
                alias=alias,
                input_cost_per_1m=_price_per_1m("input_cost_per_token", info, params),
                output_cost_per_1m=_price_per_1m("output_cost_per_token", info, params),
                context_window=info.pop("max_input_tokens", None),
                max_output_tokens=info.pop("max_output_tokens", None),
                mode=str(info.pop("mode", "chat")),
                extra_params=params,
                extra_model_info=info,
                limits=limits,
            )
        )
    general = copy.deepcopy(config.get("general_settings") or {})
    master = general.pop("master_key", None)
    if isinstance(master, str) and not master.startswith(ENV_REF):
        warnings.append(
            "general_settings.master_key was in plain text; the config now reads "
            "os.environ/LITELLM_MASTER_KEY: export that for the proxy and remove the key from the old file"
        )
    elif isinstance(master, str) and master != f"{ENV_REF}{MASTER_KEY_ENV}":
        warnings.append(
            f"general_settings.master_key read {master}; the config now reads "
            f"{ENV_REF}{MASTER_KEY_ENV}: export that for the proxy"
        )
    for managed in ("store_model_in_db", "key_management_system", "key_management_settings"):
        general.pop(managed, None)
    extra = {
        k: copy.deepcopy(v)
        for k, v in config.items()
        if k not in ("model_list", "router_settings", "litellm_settings", "general_settings")
    }
    env_vars = extra.get("environment_variables")
    if isinstance(env_vars, dict):
        plain = sorted(k for k, v in env_vars.items() if not (isinstance(v, str) and v.startswith(ENV_REF)))
        if plain:
            extra["environment_variables"] = {k: v for k, v in env_vars.items() if k not in plain}
            warnings.append(
                f"environment_variables {', '.join(plain)} were not imported (they may be secrets): "
                "export them in the proxy's environment instead"
            )
    router = copy.deepcopy(config.get("router_settings") or {})
    litellm_settings = copy.deepcopy(config.get("litellm_settings") or {})
    for key in ("num_retries", "allowed_fails"):
        # litellm.Router falls back to these litellm_settings; the generator's router defaults would win
        if key in litellm_settings and key not in router:
            router[key] = litellm_settings[key]
    if "context_window_fallbacks" not in litellm_settings:
        # the file had none: keep it so rather than gain the generator's window fallbacks on import
        router.setdefault("context_window_fallbacks", [])
    # settings are stored and rendered as they are, too
    kept_settings = {
        "router_settings": router,
        "litellm_settings": litellm_settings,
        "general_settings": general,
        **extra,
    }
    for section in sorted(kept_settings, key=str):
        problems.extend(
            _cannot_store("", path) for path in plain_secrets(kept_settings[section], str(section))
        )
    if problems:
        raise AdoptError(problems)
    _settle_limits(providers, models)
    return Adoption(
        providers=providers,
        models=models,
        router_settings=router,
        litellm_settings=litellm_settings,
        general_settings=general,
        extra=extra,
        warnings=warnings,
    )
