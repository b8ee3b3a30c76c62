"""Checks on a config before it is written: every problem at once, each naming the row and the fix."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import math
import re
import subprocess
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from generator.build import stored_secret_ref
from generator.names import KEYLESS_API_KEY, PROVIDER_KEY
from generator.render import load_yaml

ENV_REF = "os.environ/"
# keys whose string values are secrets unless they are os.environ/ references
SECRET_KEY = re.compile(
    r"(api[_-]?key|secret|password|passwd|credentials|access_key|authorization|(^|_)token$)", re.I
)
_NOT_SECRET = frozenset({"custom_secret_manager", "key_management_system"})
_URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def plain_secrets(value: Any, path: str) -> list[str]:
    """Paths of plain-text secrets in value: secret-named keys, and URLs with a password in them."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if (
                isinstance(item, str)
                and SECRET_KEY.search(str(key))
                and str(key) not in _NOT_SECRET
                and not item.startswith(ENV_REF)
                and item != KEYLESS_API_KEY
            ):
                found.append(where)
            else:
                found.extend(plain_secrets(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(plain_secrets(item, f"{path}[{index}]"))
    elif isinstance(value, str) and _URL_CREDENTIALS.search(value):
        found.append(path)
    return found


def _where(deployment: dict[str, Any], index: int) -> str:
    info = deployment.get("model_info") or {}
    params = deployment.get("litellm_params") or {}
    provider = info.get(PROVIDER_KEY)
    model = params.get("model", "?")
    if provider:
        return f"model {provider}/{str(model).split('/', 1)[-1]} (group '{deployment.get('model_name')}')"
    return f"model_list[{index}] ('{deployment.get('model_name')}', {model})"


def secret_refs(config: dict[str, Any]) -> set[str]:
    """Every NAME referenced as os.environ/NAME anywhere in the config."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value.startswith(ENV_REF):
            found.add(value.removeprefix(ENV_REF))

    walk(config)
    return found


def _number_problems(where: str, info: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("input_cost_per_token", "output_cost_per_token"):
        value = info.get(key)
        if value is not None and (
            not isinstance(value, int | float) or not math.isfinite(value) or value < 0
        ):
            problems.append(f"{where}: {key} is {value!r}; set a price ≥ 0 per 1M tokens")
    for key in ("max_input_tokens", "max_output_tokens"):
        value = info.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            problems.append(f"{where}: {key} is {value!r}; set a whole number of tokens ≥ 1")
    return problems


def structural_problems(
    config: dict[str, Any], *, resolvable: Callable[[str], bool] | None = None
) -> list[str]:
    """Shape, plain-text secrets, prices, ids, fallbacks and (optionally) secret availability."""
    problems: list[str] = []
    deployments = config.get("model_list")
    if not isinstance(deployments, list):
        return ["model_list: must be a list of deployments; enable at least one model"]
    if not deployments:
        problems.append("model_list: no enabled models; enable a model of an enabled provider")
    ids: dict[str, str] = {}
    groups: set[str] = set()
    for index, deployment in enumerate(deployments):
        if not isinstance(deployment, dict):
            problems.append(f"model_list[{index}]: must be a mapping with model_name and litellm_params")
            continue
        where = _where(deployment, index)
        name = deployment.get("model_name")
        params = deployment.get("litellm_params")
        info = deployment.get("model_info") or {}
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: model_name is missing; give the model an alias")
        else:
            groups.add(name)
        if not isinstance(params, dict) or not isinstance(params.get("model"), str):
            problems.append(f"{where}: litellm_params.model is missing; set the model identifier")
            continue
        for path in plain_secrets(params, "litellm_params"):
            problems.append(
                f"{where}: {path} holds a plain-text secret; store it as the provider's key "
                "(encrypted) or reference an environment variable (os.environ/NAME)"
            )
        if not isinstance(info, dict):
            problems.append(f"{where}: model_info must be a mapping")
            continue
        problems.extend(_number_problems(where, info))
        dep_id = info.get("id")
        if dep_id is not None:
            if str(dep_id) in ids:
                problems.append(
                    f"{where}: deployment id '{dep_id}' repeats {ids[str(dep_id)]}; "
                    "give one of them another model_info.id"
                )
            ids[str(dep_id)] = where

    general = config.get("general_settings") or {}
    master = general.get("master_key")
    if master is not None and not (isinstance(master, str) and master.startswith(ENV_REF)):
        problems.append(
            "general_settings.master_key: holds a plain-text key; use os.environ/LITELLM_MASTER_KEY"
        )
    for section in sorted(k for k in config if k != "model_list"):
        for path in plain_secrets(config[section], section):
            problems.append(
                f"{path}: holds a plain-text secret; reference an environment variable (os.environ/NAME)"
            )
    problems.extend(_fallback_problems(config.get("router_settings") or {}, groups))
    if resolvable is not None:
        for name in sorted(secret_refs(config)):
            if not resolvable(name) and stored_secret_ref(name):
                problems.append(
                    f"secret {name}: stored in llm-admin, but LLM_ADMIN_SECRET_KEYS cannot decrypt it; "
                    "add the key that encrypted it (after the newest) or enter the provider's key again"
                )
            elif not resolvable(name):
                problems.append(
                    f"secret {name}: not set in the proxy's environment and not stored in llm-admin; "
                    f"export {name} for the proxy or store the key in the provider"
                )
    return problems


def _fallback_problems(router: dict[str, Any], groups: set[str]) -> list[str]:
    problems = []
    for key in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        entries = router.get(key) or []
        if not isinstance(entries, list):
            problems.append(f"router_settings.{key}: must be a list of {{group: [fallback, ...]}}")
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                problems.append(f"router_settings.{key}: each entry must map a group to a list")
                continue
            for group, targets in entry.items():
                for name in [group, *(targets if isinstance(targets, list) else [targets])]:
                    if name not in groups and name != "*":
                        problems.append(
                            f"router_settings.{key}: '{name}' is not an enabled model group; "
                            "enable it or remove it from the fallbacks"
                        )
    return problems


@lru_cache(maxsize=1)
def litellm_provider_prefixes() -> frozenset[str]:
    """The values of LiteLLM's own `LlmProviders` enum (`litellm.provider_list`), read from its source
    without importing LiteLLM, which takes seconds and hundreds of MB."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    source = Path(next(iter(spec.submodule_search_locations))) / "types" / "utils.py"
    tree = ast.parse(source.read_text())
    enum = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "LlmProviders")
    return frozenset(
        node.value.value
        for node in enum.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def routed_by_prefix(params: dict[str, Any]) -> bool:
    """LiteLLM's first rule in get_llm_provider: `<provider>/<model>` with a provider it lists."""
    model = params.get("model")
    if params.get("custom_llm_provider") or not isinstance(model, str) or "/" not in model:
        return False
    return model.split("/", 1)[0] in litellm_provider_prefixes()


def litellm_problems(config: dict[str, Any]) -> list[str]:
    """LiteLLM must recognise every deployment's provider: by the prefix of the model (its provider
    list, read without importing it), else by asking LiteLLM itself, in-process."""
    deployments = [
        (index, d)
        for index, d in enumerate(config.get("model_list") or [])
        if not routed_by_prefix(d.get("litellm_params") or {})
    ]
    if not deployments:
        return []
    import litellm  # slow import: paid only when a deployment is not routed by its prefix

    problems = []
    for index, deployment in deployments:
        params = deployment.get("litellm_params") or {}
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it also prints a coloured banner
                litellm.get_llm_provider(
                    model=params.get("model", ""),
                    custom_llm_provider=params.get("custom_llm_provider"),
                )
        except Exception as exc:  # LiteLLM raises BadRequestError for an unknown provider
            first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:200]
            problems.append(f"{_where(deployment, index)}: LiteLLM cannot route it ({first})")
    return problems


def module_problems(config: dict[str, Any], *, config_dir: Path) -> list[str]:
    """Callback and secret-manager modules LiteLLM will load ("module.attr"): next to the config,
    or importable. A missing one would stop every new worker from booting."""
    wanted = [
        ("litellm_settings.callbacks", c)
        for c in (config.get("litellm_settings") or {}).get("callbacks") or []
    ]
    manager = ((config.get("general_settings") or {}).get("key_management_settings") or {}).get(
        "custom_secret_manager"
    )
    if manager:
        wanted.append(("general_settings.key_management_settings.custom_secret_manager", manager))
    auth = (config.get("general_settings") or {}).get("custom_auth")
    if auth:
        wanted.append(("general_settings.custom_auth", auth))
    problems = []
    for where, spec in wanted:
        if not isinstance(spec, str) or "." not in spec:
            continue  # a built-in callback name such as "prometheus"
        module = spec.split(".", 1)[0]
        if not (config_dir / f"{module}.py").exists() and importlib.util.find_spec(module) is None:
            problems.append(f"{where}: '{spec}' cannot be loaded: no {module}.py next to the config")
    return problems


def proxy_problems(config_path: Path, *, env: dict[str, str], timeout: float = 120) -> list[str]:
    """Out of process: `litellm --config FILE --validate_config`, as the proxy itself would load it."""
    litellm_bin = Path(sys.executable).with_name("litellm")
    done = subprocess.run(
        [str(litellm_bin), "--config", str(config_path), "--validate_config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    reason = next(
        (line for line in reversed(output.splitlines()) if "failed" in line or "Error" in line),
        output.strip().splitlines()[-1] if output.strip() else "no output",
    ).strip()[:300]
    match = re.search(r"config OK \((\d+) models\)", output)
    if done.returncode != 0 or match is None:
        return [f"LiteLLM rejected the config: {reason}"]
    expected = len((load_yaml(config_path.read_text()) or {}).get("model_list") or [])
    if int(match.group(1)) != expected:
        return [f"LiteLLM loaded {match.group(1)} of {expected} deployments: {reason}"]
    return []
