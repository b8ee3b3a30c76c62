"""Agent routes: `agent/<type>` → a preferred model, ordered fallbacks, a cost limit, local only.

The rules a route must satisfy live in the generator (`generator.routes.route_problems`): a route is
checked here by rendering it with the current rows, so the dashboard, the CLI and `config apply`
give the same answer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import FieldError, NotFoundError, ValidationError
from app.models import ConfigSettings, Model, Provider, Route, utcnow
from app.services import audit
from app.services.access import Actor, authorize
from app.services.config_input import get_settings_row, load_input
from app.services.rows import check_version, flush_guarded
from generator import build, render
from generator.build import REVISION_KEY
from generator.routes import ROUTE_KEY, ROUTE_PREFIX, RouteRow

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


def step_choices(session: Session) -> dict[str, list[str]]:
    """Enabled model aliases (what a route step may name) → the providers that serve each."""
    rows = session.execute(
        select(Model.alias, Provider.name)
        .join(Provider, Model.provider_id == Provider.id)
        .where(Model.enabled.is_(True), Provider.enabled.is_(True), Provider.deleted_at.is_(None))
        .distinct()
        .order_by(Model.alias, Provider.name)
    )
    choices: dict[str, list[str]] = {}
    for alias, provider in rows:
        choices.setdefault(alias, []).append(provider)
    return choices


def default_fallbacks(session: Session) -> list[str]:
    """The `default_fallbacks` in force: tried for any model group without fallbacks of its own."""
    row = session.get(ConfigSettings, 1)
    return list((row.router_settings or {}).get("default_fallbacks") or []) if row else []


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
    return _build_with(session, candidate)[1]


def _build_with(session: Session, candidate: RouteRow) -> tuple[dict[str, Any], list[FieldError]]:
    """The config built from today's rows with this route as the only one, and its problems."""
    rows = dataclasses.replace(load_input(session, routes=False), routes=(candidate,))
    try:
        return build.build_config(rows, revision=0), []
    except build.BuildError as exc:
        prefix = f"route {candidate.agent_type}: "
        errors = [
            FieldError(_field_of(problem, candidate), problem.removeprefix(prefix))
            for problem in exc.problems
            if problem.startswith(prefix)
        ]
        return exc.config, errors


@dataclass(frozen=True)
class RoutePreview:
    """The YAML a route produces (its step groups' deployments and fallbacks), or why it cannot."""

    text: str
    errors: list[FieldError]


def preview_route(
    session: Session,
    *,
    agent_type: str,
    model: str,
    fallbacks: list[str] | tuple[str, ...] = (),
    max_cost_usd: float | None = None,
    local_only: bool = False,
    weights: dict[str, dict[str, float]] | None = None,
) -> RoutePreview:
    """Render one route, saved or not, with today's rows; nothing is stored."""
    name = agent_type.strip().lower() or "new-route"
    steps = [s.strip() for s in [model or "", *fallbacks]]
    candidate = RouteRow(
        agent_type=name,
        model=steps[0],
        fallbacks=tuple(steps[1:]),
        max_cost_usd=max_cost_usd,
        local_only=local_only,
        weights=weights or {},
    )
    config, errors = _build_with(session, candidate)
    part = route_part(config, name)
    return RoutePreview(render.render_body(part) if part["model_list"] else "", errors)


def route_part(config: dict[str, Any], agent_type: str) -> dict[str, Any]:
    """The pieces of a config one route produced: its deployments and its groups' fallbacks."""
    deployments = []
    for deployment in config.get("model_list") or []:
        info = deployment.get("model_info") or {}
        if info.get(ROUTE_KEY) == agent_type:
            # the revision stamp belongs to an apply, not to the route
            info = {k: v for k, v in info.items() if k != REVISION_KEY}
            deployments.append({**deployment, "model_info": info})
    base = f"{ROUTE_PREFIX}{agent_type}"
    router = config.get("router_settings") or {}
    out: dict[str, Any] = {"model_list": deployments, "router_settings": {}}
    for key in ("fallbacks", "context_window_fallbacks"):
        entries = [
            entry
            for entry in router.get(key) or []
            if any(group == base or group.startswith(f"{base}/") for group in entry)
        ]
        if entries:
            out["router_settings"][key] = entries
    return out


def parse_weights(lines: Iterable[str]) -> dict[str, dict[str, float]]:
    """ALIAS@PROVIDER=WEIGHT lines (blank ones skipped) → {alias: {provider: weight}}."""
    weights: dict[str, dict[str, float]] = {}
    for line in lines:
        pair = line.strip()
        if not pair:
            continue
        target, _, value = pair.partition("=")
        alias, _, provider = target.partition("@")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not alias.strip() or not provider.strip() or not weight > 0:
            raise ValidationError(
                [FieldError("weights", f"'{pair}' is not ALIAS@PROVIDER=WEIGHT with a weight above 0")]
            )
        weights.setdefault(alias.strip(), {})[provider.strip()] = weight
    return weights


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
