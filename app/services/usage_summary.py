"""Recent usage per provider, aggregated in SQL (the usage table can hold millions of rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.models import UsageEvent, utcnow

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ProviderUsage:
    """Requests, spend and failures of one provider over a window."""

    requests: int = 0
    cost_usd: float = 0.0
    errors: int = 0

    @property
    def error_rate(self) -> float | None:
        """Failed requests as a fraction of all requests; None when there were none."""
        return self.errors / self.requests if self.requests else None


def usage_by_provider(
    session: Session, *, now: datetime | None = None, window: timedelta = WINDOW
) -> dict[str, ProviderUsage]:
    """Usage per provider name since now - window, one GROUP BY over the (provider, at) index."""
    since = (now or utcnow()) - window
    failed = case((UsageEvent.status == "failure", 1), else_=0)
    query = (
        select(
            UsageEvent.provider,
            func.count(UsageEvent.id),
            func.coalesce(func.sum(UsageEvent.cost_usd), 0.0),
            func.coalesce(func.sum(failed), 0),
        )
        .where(UsageEvent.at >= since, UsageEvent.provider.is_not(None))
        .group_by(UsageEvent.provider)
    )
    return {
        name: ProviderUsage(int(count), float(cost), int(errors))
        for name, count, cost, errors in session.execute(query)
    }
