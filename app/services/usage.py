"""Usage and costs: spend, requests, tokens, errors and latency over a date range, from the daily rollups.

Every usage event also adds to `usage_rollups` (a cube over provider, model group and route per UTC
day) and, when it succeeded with a known latency, to `usage_latency_rollups` (a histogram with
buckets about 1% wide), in the transaction that inserts it (`app.runtime.usage`, called by the
proxy's event writer). The page's questions then read one grain's rows for the range: a few thousand rows at
most, however many millions of events there are. Sums and counts are exact; p50/p95 are the
nearest-rank percentiles of successful requests, exact when the rank falls on a bucket's smallest or
largest value (so for a handful of requests), else within 0.5%. Days are UTC days.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Integer, Select, case, cast, delete, func, insert, literal, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.errors import FieldError, ValidationError
from app.models import (
    UsageApplicationRollup,
    UsageEvent,
    UsageLatencyRollup,
    UsageRollup,
)
from app.runtime.usage import (
    APP_SUMS,
    GRAINS,
    LATENCY_GRAINS,
    LOG_GAMMA,
    MIN_LATENCY_MS,
    MODEL_GROUP,
    PROVIDER,
    ROUTE,
    SUMS,
    bucket_value,
)


@dataclass(frozen=True)
class UsageRow:
    """The figures of one group (a day, a provider, a model group, a route) or of the whole range."""

    key: str | date
    requests: int = 0
    failures: int = 0
    fallbacks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def error_rate(self) -> float | None:
        """Failed requests as a fraction of all requests; None when there were none."""
        return self.failures / self.requests if self.requests else None


@dataclass(frozen=True)
class UsageReport:
    """Usage over [start, end] (UTC days, both included), for one provider and/or route if given."""

    start: date
    end: date
    provider: str | None
    route: str | None
    totals: UsageRow
    p50_ms: float | None  # successful requests only
    p95_ms: float | None
    by_day: list[UsageRow] = field(default_factory=list)  # every day of the range, oldest first
    by_provider: list[UsageRow] = field(default_factory=list)  # dearest first
    by_model_group: list[UsageRow] = field(default_factory=list)
    by_route: list[UsageRow] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.totals.requests == 0


def _day_sql(session: Session) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(literal("UTC", literal_execute=True), UsageEvent.at), Date)
    return func.date(UsageEvent.at)  # SQLite keeps UTC times as text


def _ensure_sqlite_math(session: Session) -> None:
    """ln() and ceil() on SQLite builds without the math functions."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    try:
        connection.execute(text("SELECT ceil(ln(2.0))"))
    except Exception:  # pragma: no cover - depends on how SQLite was built
        raw: Any = connection.connection.driver_connection
        raw.create_function("ln", 1, math.log, deterministic=True)
        raw.create_function("ceil", 1, math.ceil, deterministic=True)


def rebuild_rollups(session: Session, *, since: date | None = None) -> None:
    """Recompute the rollups from the usage events (of days from `since` on, or all): the backfill.

    The finest grains are summed from the events in SQL, the coarser ones from those rows. Safe
    while the proxy writes: a writer's events are either in the sums or added after them; a rebuild
    that meets a row a writer has just created fails as a duplicate key, and can be run again.
    """
    _ensure_sqlite_math(session)
    for model in (UsageRollup, UsageLatencyRollup, UsageApplicationRollup):
        session.execute(delete(model).where(model.day >= since) if since else delete(model))
    start = datetime.combine(since, time(), UTC) if since else None
    day = _day_sql(session).label("day")
    failed = case((UsageEvent.status == "failure", 1), else_=0)
    events = select(
        day,
        func.coalesce(UsageEvent.provider, "").label("provider"),
        func.coalesce(UsageEvent.model_group, "").label("model_group"),
        func.coalesce(UsageEvent.route, "").label("route"),
        failed.label("failed"),
        case((UsageEvent.fallback, 1), else_=0).label("fallback"),
        UsageEvent.prompt_tokens,
        UsageEvent.completion_tokens,
        UsageEvent.cost_usd,
        UsageEvent.status,
        UsageEvent.latency_ms,
    )
    if start is not None:
        events = events.where(UsageEvent.at >= start)
    e = events.subquery()
    finest = PROVIDER | MODEL_GROUP | ROUTE
    session.execute(
        insert(UsageRollup).from_select(
            ["grain", "day", "provider", "model_group", "route", *SUMS, "largest_request"],
            select(
                literal(finest),
                e.c.day,
                e.c.provider,
                e.c.model_group,
                e.c.route,
                func.count(),
                func.sum(e.c.failed),
                func.sum(e.c.fallback),
                func.sum(e.c.prompt_tokens),
                func.sum(e.c.completion_tokens),
                func.sum(e.c.cost_usd),
                func.max(case((e.c.status == "success", e.c.prompt_tokens + e.c.completion_tokens), else_=0)),
            ).group_by(e.c.day, e.c.provider, e.c.model_group, e.c.route),
        )
    )
    for grain in GRAINS[:-1]:
        session.execute(insert(UsageRollup).from_select(*_coarser(UsageRollup, finest, grain, since)))
    latency = case((e.c.latency_ms < MIN_LATENCY_MS, MIN_LATENCY_MS), else_=e.c.latency_ms)
    bucket = cast(func.ceil(func.ln(latency) / LOG_GAMMA), Integer).label("bucket")
    buckets = (
        select(e.c.day, e.c.provider, e.c.route, e.c.latency_ms, bucket)
        .where(e.c.status == "success", e.c.latency_ms.is_not(None))
        .subquery()
    )
    session.execute(
        insert(UsageLatencyRollup).from_select(
            ["grain", "day", "provider", "route", "bucket", "requests", "min_ms", "max_ms"],
            select(
                literal(PROVIDER | ROUTE),
                buckets.c.day,
                buckets.c.provider,
                buckets.c.route,
                buckets.c.bucket,
                func.count(),
                func.min(buckets.c.latency_ms),
                func.max(buckets.c.latency_ms),
            ).group_by(buckets.c.day, buckets.c.provider, buckets.c.route, buckets.c.bucket),
        )
    )
    for grain in LATENCY_GRAINS[:-1]:
        session.execute(
            insert(UsageLatencyRollup).from_select(
                *_coarser(UsageLatencyRollup, PROVIDER | ROUTE, grain, since)
            )
        )
    _rebuild_application_rollups(session, since)


def _rebuild_application_rollups(session: Session, since: date | None) -> None:
    """usage_application_rollups from the events, as `_add_application_rollups` keeps them."""
    day = _day_sql(session).label("day")
    ok = UsageEvent.status == "success"
    events = select(
        day,
        func.coalesce(UsageEvent.application, "").label("application"),
        case((UsageEvent.status == "failure", 1), else_=0).label("failed"),
        case((UsageEvent.status == "refused", 1), else_=0).label("refused"),
        UsageEvent.prompt_tokens,
        UsageEvent.completion_tokens,
        UsageEvent.cost_usd,
        case((ok, func.coalesce(UsageEvent.latency_ms, 0.0)), else_=0.0).label("latency"),
    )
    if since is not None:
        events = events.where(UsageEvent.at >= datetime.combine(since, time(), UTC))
    e = events.subquery()
    session.execute(
        insert(UsageApplicationRollup).from_select(
            ["day", "application", *APP_SUMS],
            select(
                e.c.day,
                e.c.application,
                func.count(),
                func.sum(e.c.failed),
                func.sum(e.c.refused),
                func.sum(e.c.prompt_tokens),
                func.sum(e.c.completion_tokens),
                func.sum(e.c.cost_usd),
                func.sum(e.c.latency),
            ).group_by(e.c.day, e.c.application),
        )
    )


def _coarser(model: Any, source: int, grain: int, since: date | None) -> tuple[list[str], Select[Any]]:
    """INSERT ... SELECT parts that sum the rows of grain `source` into rows of `grain`."""
    dims = [name for name in ("provider", "model_group", "route") if hasattr(model, name)]
    bits = {"provider": PROVIDER, "model_group": MODEL_GROUP, "route": ROUTE}
    kept = [getattr(model, name) for name in dims if grain & bits[name]]
    extra = [model.bucket] if model is UsageLatencyRollup else []
    columns: list[Any] = [literal(grain), model.day]
    columns += [getattr(model, name) if grain & bits[name] else literal("") for name in dims]
    if model is UsageRollup:
        names = [*SUMS, "largest_request"]
        columns += [func.sum(getattr(model, name)) for name in SUMS] + [func.max(model.largest_request)]
    else:
        names = ["bucket", "requests", "min_ms", "max_ms"]
        columns += [model.bucket, func.sum(model.requests), func.min(model.min_ms), func.max(model.max_ms)]
    query = select(*columns).where(model.grain == source).group_by(model.day, *kept, *extra)
    if since:
        query = query.where(model.day >= since)
    return ["grain", "day", *dims, *names], query


# --- reading ------------------------------------------------------------------------------


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise ValidationError(
            [FieldError("end", f"must be on or after the start ({start:%Y-%m-%d}); got {end:%Y-%m-%d}")]
        )


def _grain(base: int, provider: str | None, route: str | None) -> int:
    return base | (PROVIDER if provider is not None else 0) | (ROUTE if route is not None else 0)


def _filtered(model: Any, grain: int, start: date, end: date, provider: str | None, route: str | None) -> Any:
    conditions = [model.grain == grain, model.day >= start, model.day <= end]
    if provider is not None:
        conditions.append(model.provider == provider)
    if route is not None:
        conditions.append(model.route == route)
    return conditions


def _sum(column: Any) -> Any:
    """SUM in the column's own type: PostgreSQL sums bigints as numeric, which arrives as Decimal
    (slow to read: a 30-day report reads ~2,000 groups of 5 sums)."""
    return cast(func.coalesce(func.sum(column), 0), column.type)


def _sum_columns() -> list[Any]:
    return [_sum(getattr(UsageRollup, name)) for name in SUMS]


def _row(key: str | date, sums: Sequence[Any]) -> UsageRow:
    requests, failures, fallbacks, prompt, completion, cost = sums
    return UsageRow(
        key, int(requests), int(failures), int(fallbacks), int(prompt), int(completion), float(cost)
    )


def _by(
    session: Session, dimension: str, start: date, end: date, provider: str | None, route: str | None
) -> list[UsageRow]:
    bits = {"provider": PROVIDER, "model_group": MODEL_GROUP, "route": ROUTE}
    column = getattr(UsageRollup, dimension)
    grain = _grain(bits[dimension], provider, route)
    rows = session.execute(
        select(column, *_sum_columns())
        .where(*_filtered(UsageRollup, grain, start, end, provider, route))
        .group_by(column)
    ).all()
    out = [_row(str(key), sums) for key, *sums in rows]
    out.sort(key=lambda r: (-r.cost_usd, -r.requests, str(r.key)))
    return out


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def percentile(histogram: Sequence[tuple[int, int, float, float]], fraction: float) -> float | None:
    """Nearest-rank percentile of a histogram [(bucket, count, min, max)] sorted by bucket.

    Exact when the rank falls on the smallest or largest value of its bucket (always so when the
    bucket holds one distinct value), else the bucket's middle kept within its extremes (within 0.5%).
    None when the histogram is empty.
    """
    total = sum(row[1] for row in histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bucket, count, low, high in histogram:
        if seen + count >= rank:
            if rank == seen + 1:
                return low
            if rank == seen + count:
                return high
            return min(max(bucket_value(bucket), low), high)
        seen += count
    raise AssertionError("unreachable: the counts add up to the total")  # pragma: no cover


def usage_report(
    session: Session, *, start: date, end: date, provider: str | None = None, route: str | None = None
) -> UsageReport:
    """Usage from `start` to `end` (UTC days, both included), optionally of one provider and/or route.

    `provider` and `route` take the values of `filter_options` ("" for events without one).
    """
    _check_range(start, end)
    grain = _grain(0, provider, route)
    daily = {
        _as_date(day): _row(_as_date(day), sums)
        for day, *sums in session.execute(
            select(UsageRollup.day, *_sum_columns())
            .where(*_filtered(UsageRollup, grain, start, end, provider, route))
            .group_by(UsageRollup.day)
        )
    }
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    by_day = [daily.get(day, UsageRow(day)) for day in days]
    totals = _row("total", [sum(getattr(r, name) for r in by_day) for name in SUMS])
    histogram = [
        (int(bucket), int(count), float(low), float(high))
        for bucket, count, low, high in session.execute(
            select(
                UsageLatencyRollup.bucket,
                _sum(UsageLatencyRollup.requests),
                func.min(UsageLatencyRollup.min_ms),
                func.max(UsageLatencyRollup.max_ms),
            )
            .where(*_filtered(UsageLatencyRollup, grain, start, end, provider, route))
            .group_by(UsageLatencyRollup.bucket)
            .order_by(UsageLatencyRollup.bucket)
        )
    ]
    empty = totals.requests == 0
    return UsageReport(
        start=start,
        end=end,
        provider=provider,
        route=route,
        totals=totals,
        p50_ms=percentile(histogram, 0.50),
        p95_ms=percentile(histogram, 0.95),
        by_day=by_day,
        by_provider=[] if empty else _by(session, "provider", start, end, provider, route),
        by_model_group=[] if empty else _by(session, "model_group", start, end, provider, route),
        by_route=[] if empty else _by(session, "route", start, end, provider, route),
    )


@dataclass(frozen=True)
class ApplicationUsage:
    """The figures of one caller application ("" for the master key) over a date range.

    `refused` counts requests the proxy refused for the caller (auth, scope, limits, budget): they are
    the caller's, so they are in `requests` but never in `failures`, the providers' errors.
    """

    application: str
    requests: int = 0
    failures: int = 0
    refused: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms_sum: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def served(self) -> int:
        """Requests that reached a provider and succeeded."""
        return self.requests - self.failures - self.refused

    @property
    def error_rate(self) -> float | None:
        """Provider errors as a fraction of the requests sent on to a provider (refusals left out)."""
        sent = self.requests - self.refused
        return self.failures / sent if sent else None

    @property
    def mean_latency_ms(self) -> float | None:
        """The mean latency of successful requests; None when there were none."""
        return self.latency_ms_sum / self.served if self.served > 0 else None


def _application_usage(application: Any, sums: Sequence[Any]) -> ApplicationUsage:
    requests, failures, refused, prompt, completion, cost, latency = sums
    return ApplicationUsage(
        str(application),
        int(requests),
        int(failures),
        int(refused),
        int(prompt),
        int(completion),
        float(cost),
        float(latency),
    )


def usage_by_application(session: Session, *, start: date, end: date) -> list[ApplicationUsage]:
    """Usage per caller application from `start` to `end` (UTC days, both included), dearest first."""
    _check_range(start, end)
    r = UsageApplicationRollup
    rows = session.execute(
        select(r.application, *(func.coalesce(func.sum(getattr(r, name)), 0) for name in APP_SUMS))
        .where(r.day >= start, r.day <= end)
        .group_by(r.application)
    ).all()
    out = [_application_usage(app, sums) for app, *sums in rows]
    out.sort(key=lambda u: (-u.cost_usd, -u.requests, u.application))
    return out


APPLICATION_CSV_COLUMNS = (
    "day",
    "application",
    "requests",
    "failures",
    "refused",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "mean_latency_ms",
)


def export_application_csv(session: Session, *, start: date, end: date) -> str:
    """Usage per day and caller application as CSV ("" for the master key); `failures` are the
    providers' errors, `refused` the requests the proxy refused for the caller."""
    _check_range(start, end)
    r = UsageApplicationRollup
    query = (
        select(r.day, r.application, *(getattr(r, name) for name in APP_SUMS))
        .where(r.day >= start, r.day <= end)
        .order_by(r.day, r.application)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(APPLICATION_CSV_COLUMNS)
    for day, app, *sums in session.execute(query):
        figures = _application_usage(app, sums)
        mean = figures.mean_latency_ms
        writer.writerow(
            [
                _as_date(day).isoformat(),
                app,
                *(int(v) for v in sums[:5]),
                round(figures.cost_usd, 9),
                "" if mean is None else round(mean, 1),
            ]
        )
    return out.getvalue()


def filter_options(
    session: Session, *, start: date, end: date, report: UsageReport | None = None
) -> tuple[list[str], list[str]]:
    """(providers, routes) with usage from `start` to `end`, sorted; "" stands for none/unknown.

    `report`: the report of this range, if read already; unfiltered, its breakdowns by provider and
    by route name exactly these, so they are taken from it instead of summing the rollups again.
    """
    _check_range(start, end)
    if report is not None and (report.start, report.end) == (start, end):
        if report.provider is None and report.route is None:
            return sorted(str(r.key) for r in report.by_provider), sorted(str(r.key) for r in report.by_route)

    def distinct(grain: int, column: Any) -> list[str]:
        query = select(column).where(*_filtered(UsageRollup, grain, start, end, None, None)).distinct()
        return sorted(str(value) for value in session.scalars(query))

    return distinct(PROVIDER, UsageRollup.provider), distinct(ROUTE, UsageRollup.route)


CSV_COLUMNS = (
    "day",
    "provider",
    "model_group",
    "route",
    "requests",
    "failures",
    "fallbacks",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)


def export_csv(
    session: Session, *, start: date, end: date, provider: str | None = None, route: str | None = None
) -> str:
    """The aggregated usage as CSV: one line per day, provider, model group and route."""
    _check_range(start, end)
    grain = PROVIDER | MODEL_GROUP | ROUTE
    query = (
        select(
            UsageRollup.day,
            UsageRollup.provider,
            UsageRollup.model_group,
            UsageRollup.route,
            *(getattr(UsageRollup, name) for name in SUMS),
        )
        .where(*_filtered(UsageRollup, grain, start, end, provider, route))
        .order_by(UsageRollup.day, UsageRollup.provider, UsageRollup.model_group, UsageRollup.route)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for day, provider_name, group, route_name, *sums in session.execute(query):
        *counts, cost = sums
        writer.writerow(
            [
                _as_date(day).isoformat(),
                provider_name,
                group,
                route_name,
                *(int(n) for n in counts),
                round(cost, 9),
            ]
        )
    return out.getvalue()
