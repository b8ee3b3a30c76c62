"""Agent routes as LiteLLM model groups and fallbacks (pure).

A route `summarizer` with steps [preferred, fallback 1, ...] becomes one model group per step:
`agent/summarizer`, `agent/summarizer/fallback-1`, ... Each holds copies of that step's deployments,
marked with the route (for the cost-limit hook and usage rows). Every step group gets an explicit
fallback list naming only the later steps of the same route (the last one an empty list), for
errors and for context-window errors alike. LiteLLM follows fallbacks of fallbacks and applies
`default_fallbacks` to any group without its own entry: explicit lists keep a request inside its
route, so a local-only route never reaches another provider and a cost limit covers every step.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from generator.names import PROVIDER_KEY

ROUTE_PREFIX = "agent/"
ROUTE_KEY = "llm_admin_route"  # model_info: the agent type a route deployment serves
STEP_KEY = "llm_admin_step"  # model_info: the model alias the step stands for
MAX_COST_KEY = "llm_admin_max_cost_usd"  # model_info: the route's cost limit per request
LOCAL_ONLY_KEY = "llm_admin_local_only"  # model_info: the route may only use local providers
# The smallest chat request: a one-word message costs about 8 prompt tokens, and 1 completion token.
MIN_REQUEST_TOKENS = (8, 1)


@dataclass(frozen=True)
class RouteRow:
    agent_type: str
    model: str
    fallbacks: tuple[str, ...] = ()
    max_cost_usd: float | None = None
    local_only: bool = False
    weights: dict[str, dict[str, float]] = field(default_factory=dict)  # {alias: {provider: weight}}

    @property
    def steps(self) -> tuple[str, ...]:
        return (self.model, *self.fallbacks)


def group_name(agent_type: str, position: int = 0) -> str:
    base = f"{ROUTE_PREFIX}{agent_type}"
    return base if position == 0 else f"{base}/fallback-{position}"


def price_per_token(deployment: dict[str, Any]) -> tuple[float | None, float | None]:
    info = deployment.get("model_info") or {}
    return info.get("input_cost_per_token"), info.get("output_cost_per_token")


def cheapest_request_usd(deployments: Iterable[dict[str, Any]]) -> float:
    """The least a request can be charged when priced at the priciest of these deployments."""
    prices = [price_per_token(d) for d in deployments]
    prompt, completion = MIN_REQUEST_TOKENS
    return max((p or 0.0) for p, _ in prices) * prompt + max((c or 0.0) for _, c in prices) * completion


def route_problems(
    route: RouteRow, by_alias: dict[str, list[dict[str, Any]]], local: dict[str, bool]
) -> list[str]:
    """Why this route cannot be rendered: each problem names the route, the step and the fix."""
    where = f"route {route.agent_type}"
    problems = []
    seen: set[str] = set()
    for alias in route.steps:
        if alias in seen:
            problems.append(
                f"{where}: model '{alias}' appears twice in the chain (a cycle); list each model once"
            )
        seen.add(alias)
        deployments = by_alias.get(alias)
        if not deployments:
            problems.append(
                f"{where}: model '{alias}' is unknown or disabled; enable a model with that alias "
                "or remove it from the route"
            )
            continue
        if route.local_only:
            remote = sorted({provider_of(d) for d in deployments if not local.get(provider_of(d), False)})
            if remote:
                problems.append(
                    f"{where}: is local only, but model '{alias}' is served by {', '.join(remote)}, "
                    "which is not local; remove the step or mark the provider local"
                )
        if route.max_cost_usd is not None:
            unpriced = [d for d in deployments if None in price_per_token(d)]
            if unpriced:
                names = ", ".join(sorted(provider_of(d) for d in unpriced))
                problems.append(
                    f"{where}: has a cost limit, but model '{alias}' ({names}) has no price; set its "
                    "input and output price per 1M tokens or remove the limit"
                )
    for alias, weights in route.weights.items():
        served = {provider_of(d) for d in by_alias.get(alias, [])}
        if alias not in route.steps:
            problems.append(f"{where}: weights given for '{alias}', which is not a step of the route")
        for provider, weight in weights.items():
            if provider not in served:
                problems.append(f"{where}: weight for '{alias}' on {provider}, which does not serve it")
            if not isinstance(weight, int | float) or weight <= 0:
                problems.append(f"{where}: weight for '{alias}' on {provider} must be a number above 0")
    if route.max_cost_usd is not None and not problems:
        everything = [d for alias in route.steps for d in by_alias[alias]]
        floor = cheapest_request_usd(everything)
        if route.max_cost_usd < floor:
            problems.append(
                f"{where}: max cost ${route.max_cost_usd:g} is below the cheapest possible request "
                f"(${floor:.8f}: {MIN_REQUEST_TOKENS[0]} prompt + {MIN_REQUEST_TOKENS[1]} completion "
                "tokens at the priciest step); raise the limit or drop the priciest model"
            )
    return problems


def provider_of(deployment: dict[str, Any]) -> str:
    return str((deployment.get("model_info") or {}).get(PROVIDER_KEY) or "")


def render_routes(
    routes: Iterable[RouteRow],
    by_alias: dict[str, list[dict[str, Any]]],
    *,
    local: dict[str, bool],
    down: set[str],
) -> tuple[list[dict[str, Any]], list[dict[str, list[str]]], list[dict[str, list[str]]], list[str]]:
    """(deployments, fallbacks, context-window fallbacks, problems) for these routes.

    `down`: providers the monitor marks down. Their deployments are left out of a step that has
    another one, and a step they alone serve is skipped while another step can serve; a route whose
    every step is down keeps them all, so callers get the providers' own error.
    """
    deployments: list[dict[str, Any]] = []
    fallbacks: list[dict[str, list[str]]] = []
    window_fallbacks: list[dict[str, list[str]]] = []
    problems: list[str] = []
    for route in sorted(routes, key=lambda r: r.agent_type):
        found = route_problems(route, by_alias, local)
        if found:
            problems.extend(found)
            continue
        steps = [(alias, _serving(by_alias[alias], down)) for alias in route.steps]
        if any(up for _, (_, up) in steps):
            steps = [(alias, (chosen, True)) for alias, (chosen, up) in steps if up]
        groups, windows = [], []
        for position, (alias, (chosen, _)) in enumerate(steps):
            group = group_name(route.agent_type, position)
            groups.append(group)
            windows.append(min((d["model_info"].get("max_input_tokens") or 0) for d in chosen))
            for original in chosen:
                deployments.append(_route_copy(original, route, alias, group))
        for i, group in enumerate(groups):
            fallbacks.append({group: groups[i + 1 :]})
            larger = sorted((windows[j], j) for j in range(i + 1, len(groups)) if windows[j] > windows[i] > 0)
            window_fallbacks.append({group: [groups[j] for _, j in larger]})
    return deployments, fallbacks, window_fallbacks, problems


def _serving(deployments: list[dict[str, Any]], down: set[str]) -> tuple[list[dict[str, Any]], bool]:
    """The deployments a step serves with, and whether any of them is up."""
    up = [d for d in deployments if provider_of(d) not in down]
    return (up, True) if up else (deployments, False)


def _route_copy(original: dict[str, Any], route: RouteRow, alias: str, group: str) -> dict[str, Any]:
    deployment = copy.deepcopy(original)
    deployment["model_name"] = group
    info = deployment["model_info"]
    info["id"] = f"{info['id']}@{group}"
    info[ROUTE_KEY] = route.agent_type
    info[STEP_KEY] = alias
    if route.max_cost_usd is not None:
        info[MAX_COST_KEY] = route.max_cost_usd
    if route.local_only:
        info[LOCAL_ONLY_KEY] = True
    weight = route.weights.get(alias, {}).get(provider_of(original))
    if weight is not None:
        deployment["litellm_params"]["weight"] = weight
    return deployment


def context_window_fallbacks(
    by_alias: dict[str, list[dict[str, Any]]], local: dict[str, bool]
) -> list[dict[str, list[str]]]:
    """Each chat group with a known window falls back to the groups with larger ones, smallest first.

    A group served only by local providers falls back only to such groups: a prompt too long for a
    local model is not sent to the cloud unasked.
    """
    windows, local_groups = {}, set()
    for alias, deployments in by_alias.items():
        infos = [d.get("model_info") or {} for d in deployments]
        if all(i.get("mode", "chat") == "chat" and i.get("max_input_tokens") for i in infos):
            windows[alias] = min(i["max_input_tokens"] for i in infos)
            if all(local.get(provider_of(d), False) for d in deployments):
                local_groups.add(alias)
    out = []
    for alias, window in sorted(windows.items()):
        larger = sorted(
            (w, a)
            for a, w in windows.items()
            if w > window and (alias not in local_groups or a in local_groups)
        )
        if larger:
            out.append({alias: [a for _, a in larger]})
    return out
