"""A hand-written LiteLLM config → the providers, models and settings that render it back (pure)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from generator.build import (
    DEFAULT_LITELLM_SETTINGS,
    DEFAULT_ROUTER_SETTINGS,
    MASTER_KEY_ENV,
    REVISION_KEY,
    ROUTE_PREFIX,
    SECRET_MANAGER_MODULE,
)
from generator.names import PROVIDER_KEY
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
# What LiteLLM does when a config leaves these out (litellm.Router and litellm's module defaults): the
# values an import keeps when the admin asks to keep the imported config's behaviour.
LITELLM_ROUTER_DEFAULTS: dict[str, Any] = {
    "num_retries": 2,
    "allowed_fails": 3,
    "cooldown_time": 5,
    "timeout": None,
}
LITELLM_SETTINGS_DEFAULTS: dict[str, Any] = {"drop_params": False}
CALLBACK_LISTS = ("callbacks", "success_callback", "failure_callback")


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
    mode: str | None
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
    defaults: list[str] = field(default_factory=list)  # the render defaults llm-admin adds, each a line


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


def _defaults(router: dict[str, Any], litellm_settings: dict[str, Any], *, keep: bool) -> list[str]:
    """The render defaults that change what this config did, one line each; with `keep`, the imported
    behaviour is written down instead (LiteLLM's own default, stated), so no default is added."""
    lines = []
    wanted = [("router_settings", router, DEFAULT_ROUTER_SETTINGS, LITELLM_ROUTER_DEFAULTS)]
    wanted.append(("litellm_settings", litellm_settings, DEFAULT_LITELLM_SETTINGS, LITELLM_SETTINGS_DEFAULTS))
    for section, values, ours, theirs in wanted:
        for key, before in theirs.items():
            if key in values:
                continue
            if keep:
                values[key] = before
                lines.append(
                    f"{section}.{key}: kept LiteLLM's default {before!r} (llm-admin's is {ours[key]!r})"
                )
            else:
                lines.append(
                    f"{section}.{key}: llm-admin renders {ours[key]!r} where the file had none "
                    f"(LiteLLM's default: {before!r}); import with --keep-behaviour to keep {before!r}"
                )
    return lines


def _callback_lists(settings: dict[str, Any], warnings: list[str]) -> None:
    """`callbacks: module.handler` is one callback to LiteLLM: store it as a list of one."""
    for key in CALLBACK_LISTS:
        if isinstance(settings.get(key), str):
            settings[key] = [settings[key]]
            warnings.append(
                f"litellm_settings.{key} was one name ('{settings[key][0]}'); it is stored as a list "
                "of one, which LiteLLM reads the same way"
            )


def _key_management(general: dict[str, Any], warnings: list[str]) -> None:
    """Keep an imported secret manager, and say when llm-admin's own must take its place."""
    system = general.get("key_management_system")
    manager = str((general.get("key_management_settings") or {}).get("custom_secret_manager") or "")
    if system == "custom" and manager.startswith(f"{SECRET_MANAGER_MODULE}."):
        general.pop("key_management_system")
        general.pop("key_management_settings", None)  # ours, written again on every render
    elif system is not None:
        warnings.append(
            f"general_settings.key_management_system '{system}' is kept; but while llm-admin stores any "
            "provider key it renders its own secret manager ('custom') in its place, so keep the keys "
            f"{system} holds as os.environ/ names exported for the proxy, or remove the stored keys"
        )


def _mode(info: dict[str, Any], route: str, mode_of: Callable[[str], str | None]) -> str | None:
    """The mode the file states, else the one LiteLLM's cost map knows for the model, else none."""
    stated = info.pop("mode", None)
    return str(stated) if stated is not None else mode_of(route)


def _model_list(config: Any) -> list[Any]:
    """The config's model_list (empty when it has none); AdoptError when the file is no LiteLLM config."""
    if not isinstance(config, dict) or not isinstance(config.get("model_list") or [], list):
        raise AdoptError(
            ["the file is not a LiteLLM config: it needs to be a mapping, its model_list a list"]
        )
    return config.get("model_list") or []


def _read_deployment(
    deployment: Any, where: str, warnings: list[str], problems: list[str]
) -> tuple[str, str, dict[str, Any], dict[str, Any]] | None:
    """(alias, model, litellm_params, model_info) copied from one model_list entry; None if unusable."""
    if not isinstance(deployment, dict) or not isinstance(deployment.get("litellm_params"), dict):
        problems.append(f"{where}: needs model_name and litellm_params")
        return None
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
        return None
    if alias.startswith(ROUTE_PREFIX):
        problems.append(f"{where}: model_name '{alias}' starts with '{ROUTE_PREFIX}', reserved for routes")
        return None
    return alias, model, params, info


def _base_url(params: dict[str, Any]) -> Any:
    """The api_base popped from params; an os.environ/ one stays in params (LiteLLM resolves it)."""
    base_url = params.pop("api_base", None)
    if isinstance(base_url, str) and base_url.startswith(ENV_REF):
        params["api_base"], base_url = base_url, None  # resolved by LiteLLM at run time: keep as is
    return base_url


def _secrets(
    params: dict[str, Any],
    *,
    prefix: str,
    type_id: str,
    storable: set[str],
    where: str,
    warnings: list[str],
    problems: list[str],
) -> list[SecretSource]:
    """The secrets popped from params that the type stores; one it cannot store is a problem."""
    secrets = []
    for f in SECRET_FIELDS:
        value = params.get(f)
        if value in (None, "") or (f not in storable and str(value).startswith(ENV_REF)):
            continue  # empty, or a reference this type does not store: kept verbatim in the params
        if f not in storable:
            problems.append(
                f"{where}: {f} on a {prefix}/ deployment: llm-admin's {type_id} type stores "
                f"no {f}; make it {f}: os.environ/NAME (kept as written) and import again"
            )
            params.pop(f)
            continue
        secrets.append(_secret(f, params.pop(f), warnings, where))
    return secrets


def _kept_params_problems(
    provider_params: dict[str, Any], params: dict[str, Any], base_url: Any, where: str
) -> list[str]:
    """A problem for each plain-text secret left among the params stored and rendered as they are."""
    # kept params are stored and rendered as they are: a plain secret among them would leak
    kept = {**provider_params, **params}
    if base_url:
        kept["api_base"] = base_url
    return [_cannot_store(where, path) for path in plain_secrets(kept, "litellm_params")]


def _provider(
    providers: list[AdoptedProvider],
    names: set[str],
    account: tuple[str, Any, dict[str, Any], list[SecretSource]],
    alias: str,
    identifier: str,
) -> AdoptedProvider:
    """The provider of this account not yet serving the alias or model, else a new one (appended)."""
    type_id, base_url, provider_params, secrets = account
    key = (
        type_id,
        base_url,
        tuple(sorted((s.field, s.value, s.env_var) for s in secrets)),
        repr(sorted(provider_params.items())),
    )
    provider = next(
        (p for p in providers if p.key == key and alias not in p.aliases and identifier not in p.identifiers),
        None,
    )
    if provider is None:
        provider = AdoptedProvider(
            key, _provider_name(type_id, base_url, names), type_id, base_url, provider_params, secrets, {}
        )
        providers.append(provider)
    provider.aliases.add(alias)
    provider.identifiers.add(identifier)
    return provider


def _model(
    provider: AdoptedProvider,
    route: str,
    identifier: str,
    alias: str,
    params: dict[str, Any],
    info: dict[str, Any],
    limits: dict[str, Any],
    mode_of: Callable[[str], str | None],
) -> AdoptedModel:
    """The model of one deployment; its prices, window and mode are taken out of params and info."""
    return AdoptedModel(
        provider=provider,
        identifier=identifier,
        alias=alias,
        input_cost_per_1m=_price_per_1m("input_cost_per_token", info, params),
        output_cost_per_1m=_price_per_1m("output_cost_per_token", info, params),
        context_window=info.pop("max_input_tokens", None),
        max_output_tokens=info.pop("max_output_tokens", None),
        mode=_mode(info, route, mode_of),
        extra_params=params,
        extra_model_info=info,
        limits=limits,
    )


def _adopt_models(
    model_list: list[Any],
    *,
    prefixes: dict[str, str],
    provider_of: Callable[[str], str | None],
    mode_of: Callable[[str], str | None],
    secret_fields: dict[str, set[str]] | None,
    warnings: list[str],
    problems: list[str],
) -> tuple[list[AdoptedProvider], list[AdoptedModel]]:
    """The providers and models of the model_list, in file order (problems and warnings noted)."""
    providers: list[AdoptedProvider] = []
    models: list[AdoptedModel] = []
    names: set[str] = set()
    for index, deployment in enumerate(model_list):
        where = f"model_list[{index}]"
        read = _read_deployment(deployment, where, warnings, problems)
        if read is None:
            continue
        alias, model, params, info = read
        prefix, identifier = _split_model(model, params, provider_of)
        base_url = _base_url(params)
        type_id = _type_for(prefix, base_url)
        storable = (secret_fields or {}).get(type_id, set(SECRET_FIELDS))
        secrets = _secrets(
            params,
            prefix=prefix,
            type_id=type_id,
            storable=storable,
            where=f"{where} ({alias})",
            warnings=warnings,
            problems=problems,
        )
        provider_params = {k: params.pop(k) for k in PROVIDER_PARAMS.get(type_id, ()) if k in params}
        limits = {ours: params.pop(theirs) for theirs, ours in LIMITS.items() if theirs in params}
        problems.extend(_kept_params_problems(provider_params, params, base_url, f"{where} ({alias}): "))
        if prefixes.get(type_id) != prefix:
            params["model"] = model  # keep the original routing prefix (e.g. ollama/ vs ollama_chat/)
        account = (type_id, base_url, provider_params, secrets)
        provider = _provider(providers, names, account, alias, identifier)

        info.pop(REVISION_KEY, None)
        info.pop(PROVIDER_KEY, None)
        models.append(
            _model(provider, f"{prefix}/{identifier}", identifier, alias, params, info, limits, mode_of)
        )
    return providers, models


def _general_settings(config: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The file's general_settings less what llm-admin renders itself (master key, store_model_in_db)."""
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
    if general.pop("store_model_in_db", False):
        warnings.append(
            "general_settings.store_model_in_db was true; llm-admin renders false: its database is the "
            "one source of models, so models added in LiteLLM's UI would not be kept"
        )
    _key_management(general, warnings)
    return general


def _extra(config: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The file's other top-level sections; plain environment_variables (maybe secrets) left out."""
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
    return extra


def _router_and_litellm_settings(
    config: dict[str, Any], warnings: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(router_settings, litellm_settings) that keep what LiteLLM did with the file's, once rendered."""
    router = copy.deepcopy(config.get("router_settings") or {})
    litellm_settings = copy.deepcopy(config.get("litellm_settings") or {})
    _callback_lists(litellm_settings, warnings)
    for key in ("num_retries", "allowed_fails"):
        # litellm.Router falls back to these litellm_settings; the generator's router defaults would win
        if key in litellm_settings and key not in router:
            router[key] = litellm_settings[key]
    if "context_window_fallbacks" not in litellm_settings:
        # the file had none: keep it so rather than gain the generator's window fallbacks on import
        router.setdefault("context_window_fallbacks", [])
    return router, litellm_settings


def _settings_problems(
    router: dict[str, Any], litellm_settings: dict[str, Any], general: dict[str, Any], extra: dict[str, Any]
) -> list[str]:
    """A problem for each plain-text secret in the settings, stored and rendered as they are too."""
    kept_settings = {
        "router_settings": router,
        "litellm_settings": litellm_settings,
        "general_settings": general,
        **extra,
    }
    return [
        _cannot_store("", path)
        for section in sorted(kept_settings, key=str)
        for path in plain_secrets(kept_settings[section], str(section))
    ]


def adopt(
    config: Any,
    *,
    prefixes: dict[str, str],
    provider_of: Callable[[str], str | None] = lambda model: None,
    mode_of: Callable[[str], str | None] = lambda model: None,
    secret_fields: dict[str, set[str]] | None = None,
    keep_behaviour: bool = False,
) -> Adoption:
    """Map a LiteLLM config onto providers and models.

    `prefixes` maps our types to LiteLLM prefixes; `provider_of` names the LiteLLM provider of a
    bare model name (LiteLLM's own resolution, as for `model: gpt-4o`); `mode_of` the cost map's mode
    of `provider/model`; `secret_fields` the secret fields each of our types stores; `keep_behaviour`
    keeps LiteLLM's defaults where the file sets none instead of llm-admin's failover defaults.
    """
    model_list = _model_list(config)
    warnings: list[str] = []
    problems: list[str] = []
    providers, models = _adopt_models(
        model_list,
        prefixes=prefixes,
        provider_of=provider_of,
        mode_of=mode_of,
        secret_fields=secret_fields,
        warnings=warnings,
        problems=problems,
    )
    general = _general_settings(config, warnings)
    extra = _extra(config, warnings)
    router, litellm_settings = _router_and_litellm_settings(config, warnings)
    defaults = _defaults(router, litellm_settings, keep=keep_behaviour)
    problems.extend(_settings_problems(router, litellm_settings, general, extra))
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
        defaults=defaults,
    )
