"""Budgets: daily or monthly spend limits per provider, route or application, alerted at 50/80/100%,
from the usage rollups."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.defaults import PERIODS
from app.errors import FieldError, ValidationError
from app.models import (
    Alert,
    Budget,
    CallerKey,
    Provider,
    Route,
    UsageApplicationRollup,
    UsageRollup,
    as_utc,
    utcnow,
)
from app.runtime import usage as usage_sink
from app.runtime.budgets import label, period_bounds
from app.services import alerts, audit
from app.services.access import Actor, authorize
from app.services.rows import UNSET, check_version, flush_guarded, load
from app.validation import normalize_name
from generator.routes import ROUTE_PREFIX

SCOPES = ("provider", "route", "application")
# (percent of the limit, alert severity), highest first
THRESHOLDS = ((100, "critical"), (80, "warning"), (50, "info"))
MAX_LIMIT_USD = 10_000_000


@dataclass(frozen=True)
class BudgetStatus:
    """A budget with what was spent against it in the current period."""

    id: int
    scope: str
    target: str
    period: str
    limit_usd: float
    enforce: bool
    spent_usd: float
    percent: float
    exhausted: bool
    period_start: datetime
    version: int


def spent(session: Session, rows: list[Budget], now: datetime) -> dict[int, float]:
    """Budget id → USD spent on its provider, route or application in the period holding `now`.

    Read from the daily rollups the usage sink writes with every event (a period is whole UTC days),
    a handful of rows per budget however many events there are."""
    out: dict[int, float] = {}
    for scope, period in {(b.scope, b.period) for b in rows}:
        start, end = period_bounds(period, now)
        prefix = ROUTE_PREFIX if scope == "route" else ""
        wanted = [b for b in rows if (b.scope, b.period) == (scope, period)]
        if scope == "application":
            table: Any = UsageApplicationRollup
            column, grain = table.application, None
        else:
            table = UsageRollup
            column = table.provider if scope == "provider" else table.route
            grain = usage_sink.PROVIDER if scope == "provider" else usage_sink.ROUTE
        query = (
            select(column, func.sum(table.cost_usd))
            .where(
                table.day >= start.date(),
                table.day < end.date(),
                column.in_([prefix + b.target for b in wanted]),
            )
            .group_by(column)
        )
        if grain is not None:
            query = query.where(table.grain == grain)
        sums = {str(target): float(cost or 0.0) for target, cost in session.execute(query)}
        out.update({b.id: sums.get(prefix + b.target, 0.0) for b in wanted})
    return out


def spend(session: Session, budget: Budget, now: datetime) -> float:
    """USD spent on one budget's target in the period holding `now`."""
    return spent(session, [budget], now)[budget.id]


# --- validation -----------------------------------------------------------------------------


def _check_scope_target(
    session: Session, scope: object, target: object, errors: list[FieldError]
) -> tuple[str | None, str | None]:
    if scope not in SCOPES:
        errors.append(FieldError("scope", f"must be one of {', '.join(SCOPES)} (got {scope!r})"))
        return None, None
    assert isinstance(scope, str)
    if not isinstance(target, str) or not target.strip():
        what = {
            "provider": "a provider name",
            "route": "a route's agent type, e.g. summarizer",
            "application": "the application of a caller key",
        }[scope]
        errors.append(FieldError("target", f"is required; give {what}"))
        return scope, None
    text = target.strip()
    if scope == "application":
        row = session.scalars(select(CallerKey).where(CallerKey.name_key == normalize_name(text))).first()
        if row is None:
            errors.append(
                FieldError(
                    "target", f"no caller key for application '{text}'; `llm-admin key list` shows them"
                )
            )
            return scope, None
        return scope, row.application  # usage rows carry the key's application name
    if scope == "provider":
        provider = session.scalars(select(Provider).where(Provider.name_key == normalize_name(text))).first()
        if provider is None:
            errors.append(
                FieldError("target", f"no provider named '{text}'; `llm-admin provider list` shows them")
            )
            return scope, None
        if provider.deleted_at is not None:
            errors.append(FieldError("target", f"provider '{provider.name}' is deleted; restore it first"))
            return scope, None
        # usage rows carry the provider's display name
        return scope, provider.name
    agent_type = text.removeprefix(ROUTE_PREFIX)
    if session.scalar(select(Route.id).where(Route.agent_type == agent_type)) is None:
        errors.append(
            FieldError("target", f"no route for agent type '{agent_type}'; `llm-admin route list` shows them")
        )
        return scope, None
    return scope, agent_type


def _check_period(period: object, errors: list[FieldError]) -> str | None:
    if period not in PERIODS:
        errors.append(FieldError("period", f"must be one of {', '.join(PERIODS)} (got {period!r})"))
        return None
    assert isinstance(period, str)
    return period


def _check_limit(value: object, errors: list[FieldError]) -> float | None:
    try:
        if isinstance(value, bool):  # a checkbox is not an amount
            raise TypeError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        errors.append(FieldError("limit_usd", f"must be an amount in USD, e.g. 10 or 2.50 (got {value!r})"))
        return None
    if not math.isfinite(number) or number <= 0:
        errors.append(FieldError("limit_usd", f"must be more than 0 USD (got {value!r})"))
        return None
    if number > MAX_LIMIT_USD:
        errors.append(FieldError("limit_usd", f"is above ${MAX_LIMIT_USD:,}; check the units (USD)"))
        return None
    return number


def _snapshot(budget: Budget) -> dict[str, Any]:
    return {
        "scope": budget.scope,
        "target": budget.target,
        "period": budget.period,
        "limit_usd": budget.limit_usd,
        "enforce": budget.enforce,
    }


def _flush(session: Session, budget: Budget) -> None:
    taken = FieldError(
        "target", f"a {budget.period} budget for {budget.scope} {budget.target} exists; edit that one"
    )
    flush_guarded(session, budget, kind="budget", label=label(budget), duplicate=taken)


# --- admin actions --------------------------------------------------------------------------


def add_budget(
    session: Session,
    *,
    actor: Actor,
    scope: str,
    target: str,
    period: str,
    limit_usd: Any,
    enforce: bool = False,
    now: datetime | None = None,
) -> Budget:
    """Add a budget; every error found is reported at once and nothing is stored."""
    authorize(actor, "edit")
    errors: list[FieldError] = []
    clean_scope, clean_target = _check_scope_target(session, scope, target, errors)
    clean_period = _check_period(period, errors)
    limit = _check_limit(limit_usd, errors)
    if clean_scope and clean_target and clean_period:
        existing = session.scalar(
            select(Budget.id).where(
                Budget.scope == clean_scope, Budget.target == clean_target, Budget.period == clean_period
            )
        )
        if existing is not None:
            errors.append(
                FieldError(
                    "target",
                    f"a {clean_period} budget for {clean_scope} {clean_target} exists (id {existing}); "
                    f"change its limit instead",
                )
            )
    if errors:
        raise ValidationError(errors)
    assert clean_scope and clean_target and clean_period and limit is not None
    budget = Budget(
        scope=clean_scope,
        target=clean_target,
        period=clean_period,
        limit_usd=limit,
        enforce=bool(enforce),
        alerted_threshold=0,
        exhausted=False,
        created_by=actor.name,
        updated_by=actor.name,
    )
    session.add(budget)
    _flush(session, budget)
    audit.record(
        session,
        actor=actor,
        action="budget.create",
        target_type="budget",
        target_id=budget.id,
        target_name=label(budget),
        details={"after": _snapshot(budget)},
    )
    # exhausted is right at once, so enforcement does not wait for the monitor's next check
    _evaluate_one(session, budget, now or utcnow())
    return budget


def update_budget(
    session: Session,
    *,
    actor: Actor,
    budget_id: int,
    expected_version: int,
    limit_usd: Any = UNSET,
    enforce: Any = UNSET,
    now: datetime | None = None,
) -> Budget:
    """Change the limit or enforcement of a budget opened at expected_version."""
    authorize(actor, "edit")
    budget: Budget = load(session, Budget, budget_id, kind="budget")
    check_version(budget, expected_version, kind="budget", label=label(budget))
    errors: list[FieldError] = []
    before = _snapshot(budget)
    limit = _check_limit(limit_usd, errors) if limit_usd is not UNSET else None
    if enforce is not UNSET and not isinstance(enforce, bool):
        errors.append(FieldError("enforce", "must be true or false"))
    if errors:
        raise ValidationError(errors)
    if limit is not None and limit != budget.limit_usd:
        budget.limit_usd = limit
        # the thresholds are percentages of the old limit: alert afresh against the new one
        budget.alerted_threshold = 0
    if enforce is not UNSET:
        budget.enforce = enforce
    budget.updated_at = utcnow()
    budget.updated_by = actor.name
    _flush(session, budget)
    audit.record(
        session,
        actor=actor,
        action="budget.update",
        target_type="budget",
        target_id=budget.id,
        target_name=label(budget),
        details={"before": before, "after": _snapshot(budget)},
    )
    _evaluate_one(session, budget, now or utcnow())
    return budget


def remove_budget(session: Session, *, actor: Actor, budget_id: int) -> None:
    """Delete a budget; its past alerts stay."""
    authorize(actor, "edit")
    budget: Budget = load(session, Budget, budget_id, kind="budget")
    audit.record(
        session,
        actor=actor,
        action="budget.delete",
        target_type="budget",
        target_id=budget.id,
        target_name=label(budget),
        details={"before": _snapshot(budget)},
    )
    session.delete(budget)
    session.flush()


def list_budgets(session: Session, *, now: datetime | None = None) -> list[BudgetStatus]:
    """Every budget with its spend in the current period, by scope, target and period."""
    moment = now or utcnow()
    rows = list(session.scalars(select(Budget).order_by(Budget.scope, Budget.target, Budget.period)))
    sums = spent(session, rows, moment)
    return [status_of(budget, sums[budget.id], moment) for budget in rows]


def status_of(budget: Budget, spent: float, now: datetime) -> BudgetStatus:
    """A budget with what it has spent in the period holding `now`."""
    return BudgetStatus(
        id=budget.id,
        scope=budget.scope,
        target=budget.target,
        period=budget.period,
        limit_usd=budget.limit_usd,
        enforce=budget.enforce,
        spent_usd=spent,
        percent=100.0 * spent / budget.limit_usd,
        exhausted=spent >= budget.limit_usd,
        period_start=period_bounds(budget.period, now)[0],
        version=budget.version,
    )


# --- checks (the monitor) -------------------------------------------------------------------


def evaluate(session: Session, *, now: datetime | None = None) -> list[Alert]:
    """Check every budget: alert each threshold crossed once per period, and mark exhausted ones."""
    moment = now or utcnow()
    raised: list[Alert] = []
    for budget in session.scalars(select(Budget).order_by(Budget.id)).all():
        alert = _evaluate_one(session, budget, moment)
        if alert is not None:
            raised.append(alert)
    return raised


def _evaluate_one(session: Session, budget: Budget, now: datetime) -> Alert | None:
    start, _ = period_bounds(budget.period, now)
    spent = spend(session, budget, now)
    percent = 100.0 * spent / budget.limit_usd
    stored_start = as_utc(budget.alerted_period_start) if budget.alerted_period_start else None
    # a new period starts over
    already = budget.alerted_threshold if stored_start == start else 0
    crossed = next(((t, sev) for t, sev in THRESHOLDS if percent >= t), (0, ""))
    threshold = max(already, crossed[0])
    exhausted = spent >= budget.limit_usd
    if (threshold, start, exhausted) == (budget.alerted_threshold, stored_start, budget.exhausted):
        return None
    # compare-and-set, and no version bump (a check is not an edit: an admin's open form stays valid):
    # of two monitors checking at once, only the one whose update lands raises the alert
    previous_start = (
        Budget.alerted_period_start.is_(None)
        if budget.alerted_period_start is None
        else Budget.alerted_period_start == budget.alerted_period_start
    )
    claimed = session.execute(
        update(Budget)
        .where(Budget.id == budget.id, Budget.alerted_threshold == budget.alerted_threshold, previous_start)
        .values(alerted_threshold=threshold, alerted_period_start=start, exhausted=exhausted)
        .execution_options(synchronize_session=False)
    )
    session.expire(budget)
    if not getattr(claimed, "rowcount", 0) or threshold <= already:
        return None
    # one alert for the highest threshold newly crossed: a jump from 10% to 120% is one critical alert
    severity = crossed[1]
    message = f"Budget for {label(budget)}: ${spent:,.2f} spent, {math.floor(percent)}%"
    if threshold >= 100:
        message += (
            "; requests are refused until the period ends"
            if budget.enforce
            else "; not enforced, requests still pass"
        )
    alert, _ = alerts.raise_alert(
        session,
        kind="budget",
        severity=severity,
        message=message,
        dedup_key=f"budget:{budget.id}:{start:%Y-%m-%d}:{threshold}",
        provider=budget.target if budget.scope == "provider" else None,
    )
    return alert
