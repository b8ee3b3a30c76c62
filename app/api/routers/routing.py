"""Routes (`agent/<type>`: a preferred model, then fallbacks), the default fallbacks, and budgets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict

from app.api.common import ActorDep, PageDep, as_json, etag, expected_version, paginate, transaction
from app.errors import NotFoundError
from app.models import Budget
from app.services import budgets, routes
from app.services.rows import load

router = APIRouter(prefix="/api", tags=["routing"])


class RouteFields(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str
    fallbacks: list[str] = []
    max_cost_usd: float | None = None
    local_only: bool = False
    weights: dict[str, dict[str, float]] | None = None  # {alias: {provider name: weight}}


class RouteSave(RouteFields):
    version: int | None = None  # the version you read (or send If-Match); stale → 409


class Aliases(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    aliases: list[str]


class NewBudget(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    scope: str  # provider | route | application
    target: str = ""
    period: str  # daily | monthly
    limit_usd: float
    enforce: bool = False


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    limit_usd: float | None = None
    enforce: bool | None = None
    version: int | None = None


@router.get("/routes", tags=["routing"])
def list_routes(actor: ActorDep, page: PageDep) -> dict[str, Any]:
    with transaction() as session:
        return paginate(as_json(routes.list_routes(session)), page)


@router.get("/route-choices")
def step_choices(actor: ActorDep) -> dict[str, Any]:
    """The aliases a route step may name, by provider."""
    with transaction() as session:
        return routes.step_choices(session)


@router.post("/routes/preview")
def preview_route(agent_type: str, body: RouteFields, actor: ActorDep) -> dict[str, Any]:
    """The YAML a route would produce with today's rows, and its problems; nothing is stored."""
    with transaction() as session:
        return as_json(routes.preview_route(session, agent_type=agent_type, **body.model_dump()))


@router.get("/routes/{agent_type}")
def get_route(agent_type: str, actor: ActorDep, response: Response) -> Any:
    with transaction() as session:
        route = routes.get_route(session, agent_type)
        response.headers.update(etag(route.version))
        return as_json(route)


@router.put("/routes/{agent_type}")
def save_route(
    agent_type: str,
    body: RouteSave,
    actor: ActorDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Add the route (201) or replace it (200); a stale version (If-Match or `version`) → 409."""
    with transaction() as session:
        try:
            current: int | None = routes.get_route(session, agent_type).version
        except NotFoundError:
            current = None
        version = expected_version(if_match, body.version, current) if current is not None else None
        route = routes.save_route(
            session,
            actor=actor,
            agent_type=agent_type,
            expected_version=version,
            **body.model_dump(exclude={"version"}),
        )
        response.headers.update(etag(route.version))
        if current is None:
            response.status_code = 201
        return as_json(route)


@router.delete("/routes/{agent_type}", status_code=204)
def remove_route(agent_type: str, actor: ActorDep) -> None:
    with transaction() as session:
        routes.remove_route(session, actor=actor, agent_type=agent_type)


@router.get("/default-fallbacks")
def default_fallbacks(actor: ActorDep) -> dict[str, list[str]]:
    with transaction() as session:
        return {"aliases": routes.default_fallbacks(session)}


@router.put("/default-fallbacks")
def set_default_fallbacks(body: Aliases, actor: ActorDep) -> dict[str, list[str]]:
    with transaction() as session:
        return {"aliases": routes.set_default_fallbacks(session, actor=actor, aliases=body.aliases)}


@router.get("/budgets", tags=["budgets"])
def list_budgets(actor: ActorDep, page: PageDep) -> dict[str, Any]:
    """Each budget with what was spent against it in its current period."""
    with transaction() as session:
        return paginate(budgets.list_budgets(session), page)


@router.post("/budgets", status_code=201, tags=["budgets"])
def add_budget(body: NewBudget, actor: ActorDep, response: Response) -> Any:
    with transaction() as session:
        budget = budgets.add_budget(session, actor=actor, **body.model_dump())
        response.headers["Location"] = f"/api/budgets/{budget.id}"
        return as_json(budget)


@router.get("/budgets/{budget_id}", tags=["budgets"])
def get_budget(budget_id: int, actor: ActorDep, response: Response) -> Any:
    with transaction() as session:
        status = next((b for b in budgets.list_budgets(session) if b.id == budget_id), None)
    if status is None:
        raise NotFoundError(f"budget {budget_id} does not exist; GET /api/budgets lists them")
    response.headers.update(etag(status.version))
    return as_json(status)


@router.put("/budgets/{budget_id}", tags=["budgets"])
def update_budget(
    budget_id: int,
    body: BudgetUpdate,
    actor: ActorDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    with transaction() as session:
        current: Budget = load(session, Budget, budget_id, kind="budget")
        budget = budgets.update_budget(
            session,
            actor=actor,
            budget_id=budget_id,
            expected_version=expected_version(if_match, body.version, current.version),
            **changes,
        )
        response.headers.update(etag(budget.version))
        return as_json(budget)


@router.delete("/budgets/{budget_id}", status_code=204, tags=["budgets"])
def remove_budget(budget_id: int, actor: ActorDep) -> None:
    with transaction() as session:
        budgets.remove_budget(session, actor=actor, budget_id=budget_id)
