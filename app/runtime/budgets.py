"""Budget state the proxy's gates read: which enforced budgets are exhausted in the current period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Budget, as_utc, utcnow


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the UTC day or month that holds `now`."""
    moment = as_utc(now).astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def label(budget: Budget) -> str:
    """'route summarizer (daily $10.00)'."""
    return f"{budget.scope} {budget.target} ({budget.period} ${budget.limit_usd:,.2f})"


def exhausted_targets(session: Session, *, now: datetime | None = None) -> tuple[set[str], set[str]]:
    """(provider names, agent types) whose enforced budget is exhausted in the current period."""
    moment = now or utcnow()
    providers: set[str] = set()
    routes: set[str] = set()
    rows = session.execute(
        select(Budget.scope, Budget.target, Budget.period, Budget.alerted_period_start).where(
            Budget.enforce.is_(True), Budget.exhausted.is_(True)
        )
    )
    for scope, target, period, checked_start in rows:
        # marked in an earlier period and not checked since: the new period has not spent it yet
        if checked_start is None or as_utc(checked_start) < period_bounds(period, moment)[0]:
            continue
        if scope != "application":  # refused by the caller-key check instead (app/proxy/auth.py)
            (providers if scope == "provider" else routes).add(target)
    return providers, routes


def exhausted_applications(session: Session, *, now: datetime | None = None) -> dict[str, str]:
    """Application → the label of its enforced budget that is exhausted in the current period."""
    moment = now or utcnow()
    out: dict[str, str] = {}
    rows = session.scalars(
        select(Budget).where(
            Budget.scope == "application", Budget.enforce.is_(True), Budget.exhausted.is_(True)
        )
    )
    for budget in rows:
        checked = budget.alerted_period_start
        if checked is None or as_utc(checked) < period_bounds(budget.period, moment)[0]:
            continue
        out.setdefault(budget.target, label(budget))
    return out
