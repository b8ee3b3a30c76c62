"""Per-request cost limits of agent routes, enforced before the request leaves the proxy.

LiteLLM runs the pre-call hook once per request, not again on a fallback: so the worst case is
priced at the dearest deployment of the whole route (the dearest input price and, separately, the
dearest output price), and `max_tokens` is clamped so that worst case fits the limit. A request
whose prompt alone would not fit is refused with a 400 that names the limit, the estimate and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from generator.routes import MAX_COST_KEY, ROUTE_KEY

# Providers count tokens with their own tokenizers; ours is an estimate, so leave room for theirs.
TOKEN_MARGIN = 1.10
# For a model whose own tokenizer LiteLLM would download from Hugging Face (Llama, Command R, old
# Claude), the prompt is counted with the tiktoken encoding LiteLLM bundles instead, never fetched on
# the request path, and given this wider margin since the model's own tokenizer may count more.
FALLBACK_TOKEN_MARGIN = 1.5
COMPLETION_KEYS = ("max_tokens", "max_completion_tokens")


class CostLimitExceeded(Exception):
    """The prompt alone costs more than the route allows."""


@dataclass(frozen=True)
class RouteLimit:
    agent_type: str
    max_cost_usd: float
    input_cost_per_token: float  # the dearest of the route's deployments
    output_cost_per_token: float
    counting_model: str  # the LiteLLM model whose tokenizer estimates the prompt


@dataclass(frozen=True)
class Tokenizer:
    """How a model's prompts are counted: LiteLLM's choice for the model, or the bundled fallback."""

    custom: dict[str, Any] | None  # a LiteLLM custom_tokenizer; None: LiteLLM's own (local) choice
    margin: float


@lru_cache(maxsize=256)
def tokenizer_for(model: str) -> Tokenizer:
    """Chosen once per model: a tokenizer that needs no network, with its margin."""
    from litellm.utils import _return_openai_tokenizer, huggingface_tokenizer_kind

    if huggingface_tokenizer_kind(model) is None:  # tiktoken, bundled with LiteLLM
        return Tokenizer(None, TOKEN_MARGIN)
    # a dict is unhashable, so the frozen dataclass keeps it as is; the cache holds one per model
    return Tokenizer(dict(_return_openai_tokenizer(model)), FALLBACK_TOKEN_MARGIN)


def limits_from_config(config: dict[str, Any]) -> dict[str, RouteLimit]:
    """Model group → the limit of the route it belongs to, for every limited route's groups."""
    by_route: dict[str, list[dict[str, Any]]] = {}
    for d in config.get("model_list") or []:
        info = d.get("model_info") or {}
        if info.get(ROUTE_KEY) and info.get(MAX_COST_KEY) is not None:
            by_route.setdefault(str(info[ROUTE_KEY]), []).append(d)
    limits = {}
    for agent_type, deployments in by_route.items():
        infos = [d["model_info"] for d in deployments]
        dearest_input = max(deployments, key=lambda d: d["model_info"].get("input_cost_per_token") or 0.0)
        limit = RouteLimit(
            agent_type=agent_type,
            max_cost_usd=float(infos[0][MAX_COST_KEY]),
            input_cost_per_token=max(float(i.get("input_cost_per_token") or 0.0) for i in infos),
            output_cost_per_token=max(float(i.get("output_cost_per_token") or 0.0) for i in infos),
            counting_model=str((dearest_input.get("litellm_params") or {}).get("model") or ""),
        )
        for d in deployments:
            limits[str(d["model_name"])] = limit
    return limits


def prompt_tokens(limit: RouteLimit, data: dict[str, Any]) -> int:
    """LiteLLM's token count of what the request sends, with room for the provider's tokenizer.

    Nothing here reaches the network: the tokenizer is local (`tokenizer_for`) and images count as
    LiteLLM's default size instead of being fetched to measure them.
    """
    import litellm

    tokenizer = tokenizer_for(limit.counting_model)
    common: dict[str, Any] = {"model": limit.counting_model, "custom_tokenizer": tokenizer.custom}
    if data.get("messages") is not None:
        counted = litellm.token_counter(
            **common,
            messages=data["messages"],
            tools=data.get("tools"),
            use_default_image_token_count=True,
        )
    else:
        prompt = data.get("prompt") or data.get("input") or ""
        counted = litellm.token_counter(**common, text=str(prompt))
    return math.ceil(counted * tokenizer.margin)


def enforce(limit: RouteLimit, data: dict[str, Any], group: str) -> dict[str, Any]:
    """Clamp the completion so the worst case fits the limit; raise CostLimitExceeded if it cannot."""
    tokens = prompt_tokens(limit, data)
    input_cost = tokens * limit.input_cost_per_token
    choices = max(1, int(data.get("n") or 1))
    room = limit.max_cost_usd - input_cost
    per_token = limit.output_cost_per_token * choices
    allowed = math.floor(room / per_token + 1e-9) if per_token > 0 else None
    if room <= 0 or (allowed is not None and allowed < 1):
        raise CostLimitExceeded(
            f"{group} allows at most ${limit.max_cost_usd:g} per request, but this prompt is about "
            f"{tokens:,} tokens, ${input_cost:.6f} at the route's dearest input price "
            f"(${limit.input_cost_per_token * 1e6:g} per 1M tokens) before any answer. Shorten the "
            f"prompt, or ask an admin to raise the limit (llm-admin route add --agent "
            f"{limit.agent_type} ... --max-cost-usd X)."
        )
    if allowed is not None:
        present = [k for k in COMPLETION_KEYS if data.get(k) is not None]
        for key in present or ["max_tokens"]:
            data[key] = min(int(data.get(key) or allowed), allowed)
    return data
