"""The hostile config files of issue 14, each with the import limit that refuses it."""

from __future__ import annotations

from collections.abc import Callable


def _laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _deployments(n: int) -> str:
    rows = "".join(
        f"  - model_name: m{i}\n    litellm_params: {{model: openai/gpt-4o-mini}}\n" for i in range(n)
    )
    return "model_list:\n" + rows


# name: (the file's text, the setting named in the refusal)
HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    "nested_sequences_100k": (lambda: "[" * 100_000, "LLM_ADMIN_IMPORT_MAX_DEPTH"),
    "nested_maps_20k": (lambda: "{a: " * 20_000 + "1" + "}" * 20_000, "LLM_ADMIN_IMPORT_MAX_DEPTH"),
    "billion_laughs_9_levels": (lambda: _laughs(9), "LLM_ADMIN_IMPORT_MAX_ALIAS_NODES"),
    "laughs_6_levels": (lambda: _laughs(6), "LLM_ADMIN_IMPORT_MAX_ALIAS_NODES"),
    "string_60mb": (lambda: "model_list: []\nx: " + "a" * 60_000_000 + "\n", "LLM_ADMIN_IMPORT_MAX_BYTES"),
    "string_1mb": (
        lambda: "model_list: []\ngeneral_settings: {x: " + "a" * 1_000_000 + "}\n",
        "LLM_ADMIN_IMPORT_MAX_STRING",
    ),
    "deployments_20k": (lambda: _deployments(20_000), "LLM_ADMIN_IMPORT_MAX_DEPLOYMENTS"),
    "duplicate_keys": (
        lambda: _deployments(1) + "router_settings: {num_retries: 1}\nrouter_settings: {num_retries: 9}\n",
        "duplicate key 'router_settings'",
    ),
}
