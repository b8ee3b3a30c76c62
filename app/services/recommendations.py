"""Recommendations: cheaper models each route could use, with the saving its recent usage would have made."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Model, Provider, Route, UsageRollup, as_utc, utcnow
from app.runtime.usage import ROUTE
from app.services.budgets import ROUTE_PREFIX

# what a route's callers may rely on; a candidate must offer each one the preferred model offers
CAPABILITIES = ("supports_tools", "supports_vision", "supports_audio")


@dataclass(frozen=True)
class Recommendation:
    """Serve a route with `candidate` instead of `current`: what it would have saved."""

    route: str  # agent type
    current: str  # the route's preferred model alias
    candidate: str  # a cheaper model alias
    providers: tuple[str, ...]  # who serves the candidate
    input_cost_per_1m: float
    output_cost_per_1m: float
    context_window: int | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    actual_cost_usd: float  # what the route's requests cost in the window
    estimated_cost_usd: float  # the same tokens at the candidate's prices
    saving_usd: float


@dataclass(frozen=True)
class _Alias:
    """An alias over its enabled deployments: dearest price, common capabilities, smallest window."""

    alias: str
    mode: str
    input_cost: float | None
    output_cost: float | None
    best_input_cost: float | None
    best_output_cost: float | None
    capabilities: frozenset[str]  # offered by every deployment
    any_capabilities: frozenset[str]  # offered by some deployment
    context_window: int | None  # the smallest (None when a deployment's is unknown)
    largest_window: int | None
    local: bool  # every deployment on a local provider
    providers: tuple[str, ...]


@dataclass(frozen=True)
class _Usage:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    largest_request: int


def _aliases(session: Session) -> dict[str, _Alias]:
    # the columns, not Model objects: thousands of enabled models load several times faster
    columns = [
        Model.alias,
        Model.mode,
        Model.input_cost_per_1m,
        Model.output_cost_per_1m,
        Model.context_window,
    ]
    rows = session.execute(
        select(*columns, *(getattr(Model, c) for c in CAPABILITIES), Provider.name, Provider.is_local)
        .join(Model.provider)
        .where(Model.enabled.is_(True), Provider.enabled.is_(True), Provider.deleted_at.is_(None))
    ).all()
    grouped: dict[str, list[tuple[Any, str, bool]]] = defaultdict(list)
    for row in rows:
        grouped[row.alias].append((row, row.name, bool(row.is_local)))
    out = {}
    for alias, deployments in grouped.items():
        models = [m for m, _, _ in deployments]
        inputs = [m.input_cost_per_1m for m in models]
        outputs = [m.output_cost_per_1m for m in models]
        windows = [m.context_window for m in models]
        known_prices = None not in inputs and None not in outputs
        known_windows = [w for w in windows if w is not None]
        out[alias] = _Alias(
            alias=alias,
            mode=models[0].mode,
            input_cost=max(x for x in inputs if x is not None) if known_prices else None,
            output_cost=max(x for x in outputs if x is not None) if known_prices else None,
            best_input_cost=min(x for x in inputs if x is not None) if known_prices else None,
            best_output_cost=min(x for x in outputs if x is not None) if known_prices else None,
            capabilities=frozenset(c for c in CAPABILITIES if all(getattr(m, c) for m in models)),
            any_capabilities=frozenset(c for c in CAPABILITIES if any(getattr(m, c) for m in models)),
            context_window=None if None in windows else min(known_windows),
            largest_window=max(known_windows) if known_windows else None,
            local=all(is_local for _, _, is_local in deployments),
            providers=tuple(sorted({name for _, name, _ in deployments})),
        )
    return out


def _usage(session: Session, since: date, until: date) -> dict[str, _Usage]:
    """Per route model name, from the daily rollups (route grain): successful requests, their tokens and
    cost, the largest request. Whole UTC days: the last `days` days and today so far."""
    r = UsageRollup
    rows = session.execute(
        select(
            r.route,
            func.coalesce(func.sum(r.requests - r.failures), 0),
            func.coalesce(func.sum(r.prompt_tokens), 0),
            func.coalesce(func.sum(r.completion_tokens), 0),
            func.coalesce(func.sum(r.cost_usd), 0.0),
            func.coalesce(func.max(r.largest_request), 0),
        )
        .where(r.grain == ROUTE, r.route != "", r.day >= since, r.day <= until)
        .group_by(r.route)
    ).all()
    return {
        str(route): _Usage(int(n), int(prompt), int(completion), float(cost), int(largest))
        for route, n, prompt, completion, cost, largest in rows
    }


def recommend(session: Session, *, days: int = 30, now: datetime | None = None) -> list[Recommendation]:
    """Cheaper enabled models for each enabled route, by estimated saving over the last `days` days.

    A candidate is judged conservatively when an alias has several deployments: its dearest price, the
    capabilities all of them offer and its smallest window, against the preferred alias's cheapest price
    and every capability any of its deployments offers. Models without a known price are left out.
    """
    today = as_utc(now or utcnow()).astimezone(UTC).date()
    usage = _usage(session, today - timedelta(days=days), today)
    aliases = _aliases(session)
    out: list[Recommendation] = []
    for route in session.scalars(select(Route).where(Route.enabled.is_(True)).order_by(Route.agent_type)):
        current = aliases.get(route.model)
        if current is None or current.best_input_cost is None or current.best_output_cost is None:
            continue
        used = usage.get(ROUTE_PREFIX + route.agent_type, _Usage(0, 0, 0, 0.0, 0))
        # the window the traffic needs; with no traffic, whatever the preferred model offers
        needed_window = used.largest_request if used.requests else (current.largest_window or 0)
        current_price = current.best_input_cost + current.best_output_cost
        for candidate in aliases.values():
            if candidate.alias == route.model or candidate.mode != current.mode:
                continue
            if candidate.input_cost is None or candidate.output_cost is None:
                continue
            if candidate.input_cost + candidate.output_cost >= current_price:
                continue
            if not current.any_capabilities <= candidate.capabilities:
                continue
            if needed_window and (candidate.context_window or 0) < needed_window:
                continue
            if route.local_only and not candidate.local:
                continue
            estimated = (
                used.prompt_tokens * candidate.input_cost + used.completion_tokens * candidate.output_cost
            ) / 1_000_000
            saving = used.cost_usd - estimated
            if used.requests and saving < 0:
                # cheaper by list price, dearer for this route's mix of input and output
                continue
            out.append(
                Recommendation(
                    route=route.agent_type,
                    current=route.model,
                    candidate=candidate.alias,
                    providers=candidate.providers,
                    input_cost_per_1m=candidate.input_cost,
                    output_cost_per_1m=candidate.output_cost,
                    context_window=candidate.context_window,
                    requests=used.requests,
                    prompt_tokens=used.prompt_tokens,
                    completion_tokens=used.completion_tokens,
                    actual_cost_usd=used.cost_usd,
                    estimated_cost_usd=estimated,
                    saving_usd=saving,
                )
            )
    out.sort(key=lambda r: (-r.saving_usd, r.route, r.input_cost_per_1m + r.output_cost_per_1m, r.candidate))
    return out
