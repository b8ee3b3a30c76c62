"""Agent routes: `agent/<type>` → a preferred model, ordered fallbacks, a cost limit, local only.

The rules a route must satisfy live in the generator (`generator.routes.route_problems`): a route is
checked here by rendering it with the current rows, so the dashboard, the CLI and `config apply`
give the same answer.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import FieldError, NotFoundError, ValidationError
from app.models import ProviderHealth, Route, utcnow
from app.services import audit
from app.services.access import Actor, authorize
from app.services.rows import check_version, flush_guarded
from generator import build
from generator.routes import RouteRow

AGENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# route problem text → the form field it is about
_FIELD_OF = (
    ("local only", "local_only"),
    ("max cost", "max_cost_usd"),
    ("cost limit", "max_cost_usd"),
    ("weight", "weights"),
)


def list_routes(session: Session) -> list[Route]:
    return list(session.scalars(select(Route).order_by(Route.agent_type)))


def get_route(session: Session, agent_type: str) -> Route:
    route = session.scalar(select(Route).where(Route.agent_type == agent_type.strip().lower()))
    if route is None:
        raise NotFoundError(f"no route '{agent_type}'; `llm-admin route list` shows them")
    return route


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
    return tuple(route_row(r) for r in list_routes(session) if r.enabled)


def down_provider_ids(session: Session) -> set[int]:
    return set(session.scalars(select(ProviderHealth.provider_id).where(ProviderHealth.status == "down")))


def save_route(
    session: Session,
    *,
    actor: Actor,
    agent_type: str,
    model: str,
    fallbacks: list[str] | tuple[str, ...] = (),
    max_cost_usd: float | None = None,
    local_only: bool = False,
    weights: dict[str, dict[str, float]] | None = None,
    expected_version: int | None = None,
) -> Route:
    """Add a route, or replace an existing one (from a form opened at `expected_version`)."""
    authorize(actor, "edit")
    errors: list[FieldError] = []
    name = agent_type.strip().lower()
    if not AGENT_TYPE.match(name):
        errors.append(
            FieldError(
                "agent_type",
                f"'{agent_type}' is not an agent type; use lowercase letters, digits, '-' and '_' "
                "(up to 64), e.g. code-review",
            )
        )
    steps = [s.strip() for s in [model, *fallbacks]]
    if any(not s for s in steps):
        errors.append(FieldError("model", "a step is empty; name a model alias for every step"))
    if max_cost_usd is not None and not (isinstance(max_cost_usd, int | float) and max_cost_usd > 0):
        errors.append(FieldError("max_cost_usd", "must be a number of USD above 0, or unset for no limit"))
    if errors:
        raise ValidationError(errors)
    candidate = RouteRow(
        agent_type=name,
        model=steps[0],
        fallbacks=tuple(steps[1:]),
        max_cost_usd=None if max_cost_usd is None else float(max_cost_usd),
        local_only=local_only,
        weights=weights or {},
    )
    errors = route_errors(session, candidate)
    if errors:
        raise ValidationError(errors)

    route = session.scalar(select(Route).where(Route.agent_type == name))
    before = _snapshot(route) if route else None
    if route is None:
        route = Route(agent_type=name, created_by=actor.name)
        session.add(route)
    elif expected_version is not None:
        check_version(route, expected_version, kind="route", label=name)
    route.model, route.fallbacks = candidate.model, list(candidate.fallbacks)
    route.max_cost_usd, route.local_only, route.weights = candidate.max_cost_usd, local_only, weights or {}
    route.updated_by, route.updated_at = actor.name, utcnow()
    flush_guarded(
        session,
        route,
        kind="route",
        label=name,
        duplicate=FieldError("agent_type", f"a route '{name}' exists already; edit it instead"),
    )
    audit.record(
        session,
        actor=actor,
        action="route.update" if before else "route.add",
        target_type="route",
        target_id=route.id,
        target_name=name,
        details={"before": before, "after": _snapshot(route)},
    )
    return route


def remove_route(session: Session, *, actor: Actor, agent_type: str) -> None:
    authorize(actor, "edit")
    route = get_route(session, agent_type)
    audit.record(
        session,
        actor=actor,
        action="route.remove",
        target_type="route",
        target_id=route.id,
        target_name=route.agent_type,
        details={"before": _snapshot(route)},
    )
    session.delete(route)
    session.flush()


def route_errors(session: Session, candidate: RouteRow) -> list[FieldError]:
    """The generator's verdict on this route with today's enabled providers and models."""
    from app.services.config import load_input  # config imports this module for its input

    rows = dataclasses.replace(load_input(session, routes=False), routes=(candidate,))
    try:
        build.build_config(rows, revision=0)
    except build.BuildError as exc:
        prefix = f"route {candidate.agent_type}: "
        return [
            FieldError(_field_of(problem, candidate), problem.removeprefix(prefix))
            for problem in exc.problems
            if problem.startswith(prefix)
        ]
    return []


def _field_of(problem: str, route: RouteRow) -> str:
    if f"model '{route.model}' is unknown" in problem:
        return "model"
    return next((f for words, f in _FIELD_OF if words in problem), "fallbacks")


def _snapshot(route: Route) -> dict[str, Any]:
    return {
        "model": route.model,
        "fallbacks": list(route.fallbacks or []),
        "max_cost_usd": route.max_cost_usd,
        "local_only": route.local_only,
        "weights": route.weights or {},
    }


def set_default_fallbacks(session: Session, *, actor: Actor, aliases: list[str]) -> list[str]:
    """LiteLLM's `default_fallbacks`: tried, in order, for any model group without its own fallbacks."""
    from app.services.config import get_settings_row, load_input

    authorize(actor, "edit")
    names = [a.strip() for a in aliases]
    known = {m.alias for m in load_input(session, routes=False).models}
    errors = [
        FieldError("default_fallbacks", f"'{a}' is not an enabled model alias; enable it or leave it out")
        for a in names
        if a not in known
    ]
    if len(set(names)) != len(names):
        errors.append(FieldError("default_fallbacks", "a model appears twice; list each once"))
    if errors:
        raise ValidationError(errors)
    row = get_settings_row(session)
    before = list(row.router_settings.get("default_fallbacks") or [])
    settings = {k: v for k, v in row.router_settings.items() if k != "default_fallbacks"}
    row.router_settings = {**settings, "default_fallbacks": names} if names else settings
    row.updated_by, row.updated_at = actor.name, utcnow()
    audit.record(
        session,
        actor=actor,
        action="route.defaults",
        target_type="config_settings",
        target_id=row.id,
        details={"before": before, "after": names},
    )
    return names
