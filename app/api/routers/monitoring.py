"""What happened: provider health (now, over time, a sweep on demand), alerts, usage (the Usage
page's aggregates and CSV, per application, cheaper models), and the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from app import monitor
from app.api.common import ActorDep, PageDep, RingDep, SettingsDep, as_json, environ, page_ahead, transaction
from app.models import utcnow
from app.services import alerts, audit, health, recommendations, usage

router = APIRouter(prefix="/api", tags=["monitoring"])

Day = Annotated[date | None, Query(description="UTC day, e.g. 2026-12-01")]


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    """Default: the last 30 days, today included (the Usage page's default)."""
    last = end or utcnow().date()
    return start or last - timedelta(days=29), last


@router.get("/health", tags=["health"])
def current_health(actor: ActorDep, include_disabled: bool = False) -> list[Any]:
    """Each provider's verdict (up, degraded, down, unknown), worst first, with its fallbacks."""
    with transaction() as session:
        return as_json(health.list_health(session, include_disabled=include_disabled))


@router.get("/health/history", tags=["health"])
def health_history(
    actor: ActorDep,
    provider_id: Annotated[list[int], Query()],
    hours: Annotated[int, Query(ge=1, le=24 * 30)] = 24,
    bucket_seconds: Annotated[int, Query(ge=10, le=86_400)] = 300,
) -> list[Any]:
    """Probes per provider and time bucket: count, share succeeded, mean latency of the successes."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    with transaction() as session:
        return as_json(
            health.health_series(
                session, provider_ids=provider_id, since=since, bucket_seconds=bucket_seconds
            )
        )


@router.post("/health/sweep", tags=["health"])
def sweep(settings: SettingsDep, ring: RingDep, actor: ActorDep) -> Any:
    """Probe every enabled provider now, record the verdicts and steer the config off the down ones
    (then budgets are checked and new alerts delivered, as after the monitor's own sweeps)."""
    return as_json(monitor.sweep(settings, ring=ring, environ=environ(), actor=actor))


@router.get("/alerts", tags=["alerts"])
def list_alerts(actor: ActorDep, page: PageDep, include_acknowledged: bool = False) -> dict[str, Any]:
    with transaction() as session:
        rows = alerts.list_alerts(
            session, include_acknowledged=include_acknowledged, limit=page.limit + 1, offset=page.offset
        )
        return page_ahead(as_json(rows), page)


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"])
def acknowledge(alert_id: int, actor: ActorDep) -> Any:
    """Acknowledge an alert; acknowledging it again changes nothing."""
    with transaction() as session:
        return as_json(alerts.acknowledge(session, actor=actor, alert_id=alert_id))


@router.get("/usage", tags=["usage"])
def usage_report(
    actor: ActorDep, start: Day = None, end: Day = None, provider: str | None = None, route: str | None = None
) -> Any:
    """Totals, p50/p95 latency, and the breakdowns by day, provider, model group and route."""
    first, last = _range(start, end)
    with transaction() as session:
        report = usage.usage_report(session, start=first, end=last, provider=provider, route=route)
        options = usage.filter_options(session, start=first, end=last, report=report)
    return {**as_json(report), "providers": options[0], "routes": options[1]}


@router.get("/usage.csv", tags=["usage"], response_class=PlainTextResponse)
def usage_csv(
    actor: ActorDep, start: Day = None, end: Day = None, provider: str | None = None, route: str | None = None
) -> PlainTextResponse:
    first, last = _range(start, end)
    with transaction() as session:
        text = usage.export_csv(session, start=first, end=last, provider=provider, route=route)
    return PlainTextResponse(text, media_type="text/csv")


@router.get("/usage/applications", tags=["usage"])
def usage_by_application(actor: ActorDep, start: Day = None, end: Day = None) -> list[Any]:
    first, last = _range(start, end)
    with transaction() as session:
        return as_json(usage.usage_by_application(session, start=first, end=last))


@router.get("/usage/applications.csv", tags=["usage"], response_class=PlainTextResponse)
def usage_by_application_csv(actor: ActorDep, start: Day = None, end: Day = None) -> PlainTextResponse:
    first, last = _range(start, end)
    with transaction() as session:
        text = usage.export_application_csv(session, start=first, end=last)
    return PlainTextResponse(text, media_type="text/csv")


@router.get("/usage/recommendations", tags=["usage"])
def cheaper_models(actor: ActorDep, days: Annotated[int, Query(ge=1, le=365)] = 30) -> list[Any]:
    """Cheaper enabled models for each route, by estimated saving over the last `days` days."""
    with transaction() as session:
        return as_json(recommendations.recommend(session, days=days))


@router.get("/audit", tags=["audit"])
def audit_log(
    actor: ActorDep,
    page: PageDep,
    by: Annotated[str | None, Query(description="the actor's name")] = None,
    action: Annotated[str | None, Query(description="an action or its start, e.g. route.")] = None,
    target_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Every change, newest first; secret values masked."""
    with transaction() as session:
        rows = audit.list_entries(
            session,
            actor=by,
            action=action,
            target_type=target_type,
            since=since,
            until=until,
            limit=page.limit + 1,
            offset=page.offset,
        )
        return page_ahead(as_json(rows), page)
