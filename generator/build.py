"""Rows in, LiteLLM config dict out: the pure core of the generator."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from generator.names import PROVIDER_KEY
from generator.routes import ROUTE_PREFIX, RouteRow, context_window_fallbacks, provider_of, render_routes

SECRET_MANAGER_MODULE = "llm_admin_secrets"
SECRET_MANAGER_CLASS = "LlmAdminSecretManager"
HOOKS_MODULE = "llm_admin_hooks"
HOOKS = f"{HOOKS_MODULE}.hooks"  # litellm_settings.callbacks entry: our usage and failover hooks
AUTH_MODULE = "llm_admin_auth"
AUTH = f"{AUTH_MODULE}.user_api_key_auth"  # general_settings.custom_auth: our caller keys
MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
REVISION_KEY = "llm_admin_revision"

# Failover defaults: a dead, erroring or hanging primary is left within 5 s. No retries on the same
# deployment (the fallback is the retry), its first failure puts a deployment in cooldown for 30 s so the
# next requests skip it at once, and a request waits at most 4 s for the provider (for a stream, 4 s
# between chunks). A provider's own timeout (timeout_seconds) and the config's router_settings
# override these.
DEFAULT_ROUTER_SETTINGS: dict[str, Any] = {
    "routing_strategy": "simple-shuffle",
    "num_retries": 0,
    "allowed_fails": 0,
    "cooldown_time": 30,
    "timeout": 4,
}
# LiteLLM counts tokens for some models (Llama, Command R) with a tokenizer it downloads from Hugging
# Face on first use: no request may wait on the internet, so it counts with its bundled tiktoken.
DEFAULT_LITELLM_SETTINGS: dict[str, Any] = {"drop_params": True, "disable_hf_tokenizer_download": True}


def stored_secret_env(provider_id: int, field_name: str) -> str:
    """The name under which a database-stored secret is resolved at run time."""
    return f"LLM_ADMIN_P{provider_id}_{field_name.upper()}"


def stored_secret_ref(env_name: str) -> tuple[int, str] | None:
    """(provider id, field) for one of our stored-secret names, else None."""
    if not env_name.startswith("LLM_ADMIN_P"):
        return None
    head, _, rest = env_name.removeprefix("LLM_ADMIN_P").partition("_")
    if not head.isdigit() or not rest:
        return None
    return int(head), rest.lower()


@dataclass(frozen=True)
class SecretRow:
    """Where one secret field of a provider comes from at run time (never its value)."""

    field: str
    env_var: str | None  # the operator's own variable; None when stored encrypted in our database


@dataclass(frozen=True)
class Endpoint:
    """Where LiteLLM sends a model of one mode: its provider prefix and its api_base."""

    prefix: str
    api_base: str | None


@dataclass(frozen=True)
class ProviderRow:
    id: int
    name: str
    type: str
    litellm_provider: str
    base_url: str | None
    params: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[SecretRow, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    timeout_seconds: float | None = None
    is_local: bool = False
    down: bool = False  # the health monitor's verdict: traffic is steered off it where it can be
    # by model mode, where a mode is served elsewhere than litellm_provider + base_url (Cohere's
    # embed endpoint, Ollama's embeddings under ollama/)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelRow:
    id: int
    provider_id: int
    identifier: str
    alias: str
    input_cost_per_1m: float | None = None
    output_cost_per_1m: float | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    mode: str | None = "chat"  # None: not stated, LiteLLM goes by the endpoint called
    extra_params: dict[str, Any] = field(default_factory=dict)
    extra_model_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GlobalRow:
    """Settings beyond the rows: overrides, fallbacks and anything imported we do not model."""

    router_settings: dict[str, Any] = field(default_factory=dict)
    litellm_settings: dict[str, Any] = field(default_factory=dict)
    general_settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RedisRow:
    """The Redis several proxies share their router state through (cooldowns, usage)."""

    host: str
    port: int = 6379
    password_env: str | None = None  # the proxy's variable holding the password


@dataclass(frozen=True)
class ConfigInput:
    """Everything the generator reads: enabled providers, models and routes only."""

    providers: tuple[ProviderRow, ...]
    models: tuple[ModelRow, ...]
    settings: GlobalRow = field(default_factory=GlobalRow)
    routes: tuple[RouteRow, ...] = ()
    redis: RedisRow | None = None


class BuildError(Exception):
    """Rows that cannot form a config; each problem names the row and the fix.

    `config` holds what could be built without the offending rows, so callers can still check it
    and report every problem at once.
    """

    def __init__(self, problems: list[str], config: dict[str, Any]):
        self.problems = problems
        self.config = config
        super().__init__("; ".join(problems))


def secret_env_names(providers: Iterable[ProviderRow]) -> list[str]:
    """The names our secret manager answers for: every database-stored secret."""
    return sorted(stored_secret_env(p.id, s.field) for p in providers for s in p.secrets if s.env_var is None)


def _secret_ref(provider: ProviderRow, secret: SecretRow) -> str:
    return f"os.environ/{secret.env_var or stored_secret_env(provider.id, secret.field)}"


def per_token(per_1m: float | None) -> float | None:
    # 12 significant digits: 0.4 / 1e6 renders as 4.0e-07, not 4.0000000000000003e-07
    return None if per_1m is None else float(f"{per_1m / 1_000_000:.12g}")


def deployment_id(model: ModelRow) -> str:
    return str(model.extra_model_info.get("id") or f"llm-admin-m{model.id}")


def _deployment(provider: ProviderRow, model: ModelRow, revision: int) -> dict[str, Any]:
    endpoint = provider.endpoints.get(model.mode or "chat") or Endpoint(
        provider.litellm_provider, provider.base_url
    )
    params: dict[str, Any] = {"model": f"{endpoint.prefix}/{model.identifier}"}
    if endpoint.api_base:
        params["api_base"] = endpoint.api_base
    for secret in provider.secrets:
        params[secret.field] = _secret_ref(provider, secret)
    for key, value in sorted(provider.params.items()):
        params[key] = copy.deepcopy(value)
    for key, value in (("rpm", provider.rpm), ("tpm", provider.tpm), ("timeout", provider.timeout_seconds)):
        if value is not None:
            params[key] = value
    params.update(copy.deepcopy(model.extra_params))

    info: dict[str, Any] = {"id": deployment_id(model)}
    known = {
        "input_cost_per_token": per_token(model.input_cost_per_1m),
        "output_cost_per_token": per_token(model.output_cost_per_1m),
        "max_input_tokens": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "mode": model.mode,
    }
    info.update({k: v for k, v in known.items() if v is not None})
    info.update({k: copy.deepcopy(v) for k, v in model.extra_model_info.items() if k != "id"})
    info[PROVIDER_KEY] = provider.name
    info[REVISION_KEY] = revision
    return {"model_name": model.alias, "litellm_params": params, "model_info": info}


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _model_deployments(rows: ConfigInput, revision: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The deployments of the enabled providers' models, and a problem for each model that cannot be one."""
    providers = {p.id: p for p in rows.providers}
    problems: list[str] = []
    deployments: list[dict[str, Any]] = []
    owner: dict[tuple[str, int], str] = {}
    modes: dict[str, str] = {}
    for model in sorted(rows.models, key=lambda m: (m.alias, m.provider_id, m.identifier, m.id)):
        provider = providers.get(model.provider_id)
        if provider is None:
            continue  # a model of a disabled or deleted provider does not serve
        where = f"model {provider.name}/{model.identifier}"
        if model.alias.startswith(ROUTE_PREFIX):
            problems.append(
                f"{where}: alias '{model.alias}' starts with '{ROUTE_PREFIX}', which names "
                "routes; pick another alias"
            )
            continue
        other = owner.setdefault((model.alias, provider.id), model.identifier)
        if other != model.identifier:
            problems.append(
                f"{where}: alias '{model.alias}' is already used by {provider.name}/{other}; an alias "
                "may repeat only across providers (a load-balanced group), so rename one of them"
            )
            continue
        # a deployment with no stated mode (imported so) fits any group: LiteLLM goes by the endpoint
        group_mode = modes.setdefault(model.alias, model.mode) if model.mode else None
        if group_mode is not None and model.mode is not None and group_mode != model.mode:
            problems.append(
                f"{where}: is {_article(model.mode)} {model.mode} model but group '{model.alias}' serves "
                f"{group_mode}; give it another alias"
            )
            continue
        deployments.append(_deployment(provider, model, revision))
    return deployments, problems


def _litellm_settings(settings: GlobalRow, *, managed: bool) -> dict[str, Any]:
    """litellm_settings: the saved ones over the defaults; a managed proxy's callbacks end with our hooks."""
    litellm_settings = {**DEFAULT_LITELLM_SETTINGS, **copy.deepcopy(settings.litellm_settings)}
    if managed:
        callbacks = list(litellm_settings.get("callbacks") or [])
        litellm_settings["callbacks"] = [*callbacks, HOOKS] if HOOKS not in callbacks else callbacks
    return litellm_settings


def _context_windows(
    router: dict[str, Any],
    litellm_settings: dict[str, Any],
    by_alias: dict[str, list[dict[str, Any]]],
    local: dict[str, bool],
    route_windows: list[dict[str, list[str]]],
) -> list[Any]:
    """The context-window fallbacks: the saved ones, else those of the groups, then the routes'."""
    windows = router.get("context_window_fallbacks")
    if windows is None:
        own = litellm_settings.get("context_window_fallbacks")
        if own is None:
            windows = context_window_fallbacks(by_alias, local)
        else:  # LiteLLM reads litellm_settings' list unless router_settings has one; routes need one
            windows = own if route_windows else []
    return list(windows) + route_windows


def _router_settings(
    rows: ConfigInput,
    litellm_settings: dict[str, Any],
    by_alias: dict[str, list[dict[str, Any]]],
    local: dict[str, bool],
    route_fallbacks: list[dict[str, list[str]]],
    route_windows: list[dict[str, list[str]]],
) -> dict[str, Any]:
    """router_settings: the saved ones over the defaults, with the routes' fallbacks and the shared Redis."""
    router = {**DEFAULT_ROUTER_SETTINGS, **copy.deepcopy(rows.settings.router_settings)}
    route_groups = {next(iter(entry)) for entry in route_fallbacks}
    router["fallbacks"] = [
        entry for entry in router.get("fallbacks") or [] if not set(entry) & route_groups
    ] + route_fallbacks
    router["context_window_fallbacks"] = _context_windows(
        router, litellm_settings, by_alias, local, route_windows
    )
    for key in ("fallbacks", "context_window_fallbacks"):
        if not router[key]:
            del router[key]
    if rows.redis is not None:  # every proxy reads and writes cooldowns there: one shared view
        router["redis_host"], router["redis_port"] = rows.redis.host, rows.redis.port
        if rows.redis.password_env:
            router["redis_password"] = f"os.environ/{rows.redis.password_env}"
    return router


def _general_settings(rows: ConfigInput, *, managed: bool) -> dict[str, Any]:
    """general_settings: our master key (and, managed, our auth and secret manager) over the saved ones."""
    general: dict[str, Any] = {
        "master_key": f"os.environ/{MASTER_KEY_ENV}",
        "store_model_in_db": False,
    }
    if managed:
        general["custom_auth"] = AUTH
    serving = {m.provider_id for m in rows.models}
    hosted = secret_env_names(p for p in rows.providers if p.id in serving)
    if hosted and managed:
        general["key_management_system"] = "custom"
        general["key_management_settings"] = {
            "custom_secret_manager": f"{SECRET_MANAGER_MODULE}.{SECRET_MANAGER_CLASS}",
            "hosted_keys": hosted,
            "access_mode": "read_only",
        }
    for key, value in rows.settings.general_settings.items():
        general.setdefault(key, copy.deepcopy(value))
    return general


def build_config(rows: ConfigInput, *, revision: int, managed: bool = True) -> dict[str, Any]:
    """The LiteLLM config for these rows; raises BuildError listing every problem.

    `managed`: the proxy runs with llm-admin installed (our supervisor), so it loads our secret
    manager and usage hooks. A stock LiteLLM image gets neither: its stored secrets come from the
    env file `llm-admin config export-env` writes, under the same os.environ/ names.
    """
    deployments, problems = _model_deployments(rows, revision)
    by_alias: dict[str, list[dict[str, Any]]] = {}
    for deployment in deployments:
        by_alias.setdefault(deployment["model_name"], []).append(deployment)
    down = {p.name for p in rows.providers if p.down}
    local = {p.name: p.is_local for p in rows.providers}
    route_deployments, route_fallbacks, route_windows, route_problems = render_routes(
        rows.routes, by_alias, local=local, down=down
    )
    problems.extend(route_problems)
    # a down provider leaves every group that has another deployment to serve it
    deployments = [
        d
        for d in deployments
        if provider_of(d) not in down or all(provider_of(o) in down for o in by_alias[d["model_name"]])
    ] + route_deployments

    litellm_settings = _litellm_settings(rows.settings, managed=managed)
    config: dict[str, Any] = {
        "model_list": deployments,
        "router_settings": _router_settings(
            rows, litellm_settings, by_alias, local, route_fallbacks, route_windows
        ),
        "litellm_settings": litellm_settings,
        "general_settings": _general_settings(rows, managed=managed),
    }
    for key, value in sorted(rows.settings.extra.items()):
        config.setdefault(key, copy.deepcopy(value))
    if problems:
        raise BuildError(problems, config)
    return config
