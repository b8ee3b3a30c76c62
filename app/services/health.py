"""Provider health: probe results recorded, providers judged healthy/degraded/down, alerts on transitions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, delete, func, select
from sqlalchemy.orm import Session

from app.defaults import DEGRADED_LATENCY_MS
from app.errors import NotFoundError
from app.models import (
    ConfigSettings,
    HealthCheck,
    Model,
    Provider,
    ProviderHealth,
    Route,
    as_utc,
    utcnow,
)
from app.services import alerts
from generator.routes import ROUTE_PREFIX

# Thresholds. One failed probe may be a blip: degraded. Two in a row: down, and the config is
# re-rendered without the provider. A probe slower than DEGRADED_LATENCY_MS: degraded (still serving).
DOWN_AFTER_FAILURES = 2
STATUSES = ("unknown", "healthy", "degraded", "down")
KEEP_HISTORY = timedelta(days=7)
MAX_LISTED = 8  # fallbacks named in one alert; the rest are counted


@dataclass(frozen=True)
class Transition:
    """A provider's status changed with this probe; `alert_id` is the alert it raised, if any."""

    provider_id: int
    provider: str
    old: str
    new: str
    alert_id: int | None = None


@dataclass(frozen=True)
class HealthView:
    """A provider's current health, for pages and the CLI."""

    provider_id: int
    name: str
    type: str
    is_local: bool
    enabled: bool
    status: str
    consecutive_failures: int
    latency_ms: float | None
    error: str | None
    checked_at: datetime | None
    changed_at: datetime | None


@dataclass(frozen=True)
class HealthPoint:
    """One probe in a provider's history."""

    provider_id: int
    provider: str
    at: datetime
    ok: bool
    latency_ms: float | None
    error: str | None


def classify(
    *, ok: bool, latency_ms: float | None, consecutive_failures: int, slow_ms: float = DEGRADED_LATENCY_MS
) -> str:
    """healthy, degraded or down for a probe; `consecutive_failures` counts this probe too."""
    if not ok:
        return "down" if consecutive_failures >= DOWN_AFTER_FAILURES else "degraded"
    if latency_ms is not None and latency_ms > slow_ms:
        return "degraded"
    return "healthy"


def record_probe(
    session: Session,
    *,
    provider_id: int,
    ok: bool,
    latency_ms: float | None,
    error: str | None = None,
    at: datetime | None = None,
    slow_ms: float = DEGRADED_LATENCY_MS,
) -> Transition | None:
    """Store one probe result, judge the provider again, and alert when it goes down or comes back."""
    provider = session.get(Provider, provider_id)
    if provider is None:
        raise NotFoundError(f"no provider {provider_id}; `llm-admin provider list` shows them")
    moment = at or utcnow()
    error = None if ok else (error or "probe failed")[:2000]
    session.add(HealthCheck(provider_id=provider_id, at=moment, ok=ok, latency_ms=latency_ms, error=error))
    health = session.get(ProviderHealth, provider_id)
    if health is None:
        health = ProviderHealth(provider_id=provider_id, status="unknown", consecutive_failures=0)
        session.add(health)
        session.flush()
    old = health.status or "unknown"
    was_down_since = as_utc(health.changed_at) if health.changed_at else None
    failures = 0 if ok else (health.consecutive_failures or 0) + 1
    new = classify(ok=ok, latency_ms=latency_ms, consecutive_failures=failures, slow_ms=slow_ms)
    health.consecutive_failures = failures
    health.latency_ms = latency_ms
    health.error = error
    health.checked_at = moment
    if new == old:
        return None
    health.status = new
    health.changed_at = moment
    session.flush()  # the fallback search below must see this provider as down
    alert_id = None
    if new == "down":
        message = f"Provider {provider.name} down, {describe_fallbacks(session, provider_id=provider_id)}"
        alert, _ = alerts.raise_alert(
            session,
            kind="provider_down",
            severity="critical",
            message=f"{message} (last error: {error})",
            dedup_key=f"provider_down:{provider_id}",
            provider=provider.name,
        )
        alert_id = alert.id
    elif old == "down":
        outage = _duration(moment - was_down_since) if was_down_since else "a while"
        shown = f"{latency_ms:.0f} ms" if latency_ms is not None else "answering"
        alert, _ = alerts.raise_alert(
            session,
            kind="provider_recovered",
            severity="info",
            message=f"Provider {provider.name} recovered after {outage} down: {new}, {shown}",
            dedup_key=f"provider_recovered:{provider_id}",
            provider=provider.name,
        )
        alert_id = alert.id
    return Transition(provider_id, provider.name, old, new, alert_id)


def _duration(span: timedelta) -> str:
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# --- which fallback traffic uses now -------------------------------------------------------


def _serving(session: Session) -> dict[str, set[int]]:
    """alias → ids of the enabled, non-deleted providers with an enabled model under that alias."""
    rows = session.execute(
        select(Model.alias, Model.provider_id)
        .join(Provider, Provider.id == Model.provider_id)
        .where(Model.enabled.is_(True), Provider.enabled.is_(True), Provider.deleted_at.is_(None))
    )
    serving: dict[str, set[int]] = {}
    for alias, pid in rows:
        serving.setdefault(alias, set()).add(pid)
    return serving


def _config_fallbacks(session: Session) -> tuple[dict[str, list[str]], list[str]]:
    """router_settings.fallbacks as {alias: [aliases]} and default_fallbacks, as an admin stored them."""
    row = session.get(ConfigSettings, 1)
    router: Mapping[str, Any] = (row.router_settings or {}) if row else {}
    mapping: dict[str, list[str]] = {}
    for entry in router.get("fallbacks") or []:
        if isinstance(entry, dict):
            for alias, steps in entry.items():
                if isinstance(steps, list):
                    mapping.setdefault(str(alias), [str(s) for s in steps])
    defaults = [str(s) for s in router.get("default_fallbacks") or [] if isinstance(s, str)]
    return mapping, defaults


def fallback_chains(session: Session, *, provider_id: int) -> list[tuple[str, list[str]]]:
    """(what callers ask for, its ordered steps) for every route and model group the provider serves in."""
    serving = _serving(session)
    chains: list[tuple[str, list[str]]] = []
    covered: set[str] = set()
    routes = session.scalars(select(Route).where(Route.enabled.is_(True)).order_by(Route.agent_type))
    for route in routes:
        steps = [route.model, *(route.fallbacks or [])]
        if any(provider_id in serving.get(step, ()) for step in steps):
            chains.append((f"{ROUTE_PREFIX}{route.agent_type}", steps))
            covered.update(steps)  # named through their route, not again as model groups
    mapping, defaults = _config_fallbacks(session)
    for alias in sorted(a for a, pids in serving.items() if provider_id in pids and a not in covered):
        chains.append((alias, [alias, *(mapping.get(alias) or defaults)]))
    return chains


def next_serving_step(
    steps: Sequence[str], *, provider_id: int, serving: Mapping[str, set[int]], down: set[int]
) -> str | None:
    """The step traffic now lands on: from the first step the provider serves, the first step another
    provider that is not down can serve (the same alias when another deployment serves it)."""
    first = next((i for i, step in enumerate(steps) if provider_id in serving.get(step, ())), None)
    if first is None:
        return None
    for step in steps[first:]:
        others = serving.get(step, set()) - down - {provider_id}
        if others:
            return step if step != steps[first] else f"{step} (its other deployments)"
    return None


def describe_fallbacks(session: Session, *, provider_id: int) -> str:
    """'using fallback Y for agent/a, agent/b; no fallback available for agent/c' (X going down)."""
    serving = _serving(session)
    down = down_provider_ids(session) | {provider_id}
    chains = fallback_chains(session, provider_id=provider_id)
    if not chains:
        return "it serves no enabled model, so no traffic is affected"
    by_fallback: dict[str | None, list[str]] = {}
    for name, steps in chains:
        target = next_serving_step(steps, provider_id=provider_id, serving=serving, down=down)
        by_fallback.setdefault(target, []).append(name)
    parts = [
        f"using fallback {target} for {_listed(names)}"
        for target, names in sorted(by_fallback.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        if target is not None
    ]
    if None in by_fallback:
        parts.append(f"no fallback available for {_listed(by_fallback[None])}")
    return "; ".join(parts)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown if len(names) <= MAX_LISTED else f"{shown} and {len(names) - MAX_LISTED} more"


# --- reading -------------------------------------------------------------------------------


def down_provider_ids(session: Session) -> set[int]:
    """Providers the monitor judges down (the generator leaves their deployments out)."""
    return set(session.scalars(select(ProviderHealth.provider_id).where(ProviderHealth.status == "down")))


def list_health(session: Session, *, include_disabled: bool = False) -> list[HealthView]:
    """Every non-deleted provider's current health, worst first then by name ('unknown' if never probed)."""
    query = (
        select(Provider, ProviderHealth)
        .outerjoin(ProviderHealth, ProviderHealth.provider_id == Provider.id)
        .where(Provider.deleted_at.is_(None))
    )
    if not include_disabled:
        query = query.where(Provider.enabled.is_(True))
    rank = {"down": 0, "degraded": 1, "unknown": 2, "healthy": 3}
    views = [
        HealthView(
            provider_id=p.id,
            name=p.name,
            type=p.type,
            is_local=p.is_local,
            enabled=p.enabled,
            status=h.status if h else "unknown",
            consecutive_failures=h.consecutive_failures if h else 0,
            latency_ms=h.latency_ms if h else None,
            error=h.error if h else None,
            checked_at=as_utc(h.checked_at) if h and h.checked_at else None,
            changed_at=as_utc(h.changed_at) if h and h.changed_at else None,
        )
        for p, h in session.execute(query)
    ]
    return sorted(views, key=lambda v: (rank.get(v.status, 2), v.name.casefold()))


def health_history(
    session: Session,
    *,
    provider_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    limit: int = 10_000,
) -> list[HealthPoint]:
    """Probe results oldest first (the latest `limit` of them), for a latency/availability chart."""
    query = (
        select(HealthCheck, Provider.name)
        .join(Provider, Provider.id == HealthCheck.provider_id)
        .order_by(HealthCheck.at.desc(), HealthCheck.id.desc())
        .limit(limit)
    )
    if provider_ids is not None:
        query = query.where(HealthCheck.provider_id.in_(list(provider_ids)))
    if since is not None:
        query = query.where(HealthCheck.at >= since)
    points = [
        HealthPoint(c.provider_id, name, as_utc(c.at), c.ok, c.latency_ms, c.error)
        for c, name in session.execute(query)
    ]
    return points[::-1]


@dataclass(frozen=True)
class HealthBucket:
    """The probes of one provider in one time bucket: for charts over many providers and days."""

    provider: str
    start: datetime
    probes: int
    ok_share: float
    latency_ms: float | None  # mean of the successful probes


def _epoch_seconds(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":  # stored as text: strftime reads it back
        return func.cast(func.strftime("%s", column), Integer)
    return func.extract("epoch", column)


def health_series(
    session: Session, *, provider_ids: Iterable[int], since: datetime, bucket_seconds: int
) -> list[HealthBucket]:
    """Probes grouped per provider and bucket in SQL, oldest first (not one row per probe)."""
    bucket = func.floor(_epoch_seconds(session, HealthCheck.at) / bucket_seconds) * bucket_seconds
    ok = case((HealthCheck.ok.is_(True), 1.0), else_=0.0)
    latency = case((HealthCheck.ok.is_(True), HealthCheck.latency_ms), else_=None)
    query = (
        select(Provider.name, bucket, func.count(HealthCheck.id), func.avg(ok), func.avg(latency))
        .join(Provider, Provider.id == HealthCheck.provider_id)
        .where(HealthCheck.provider_id.in_(list(provider_ids)), HealthCheck.at >= since)
        .group_by(Provider.name, bucket)
        .order_by(bucket, Provider.name)
    )
    return [
        HealthBucket(
            name,
            datetime.fromtimestamp(float(start), UTC),
            int(count),
            float(share),
            None if mean is None else float(mean),
        )
        for name, start, count, share, mean in session.execute(query)
    ]


def prune_history(session: Session, *, before: datetime) -> int:
    """Delete probe results older than `before`; the number deleted."""
    result = session.execute(delete(HealthCheck).where(HealthCheck.at < before))
    return int(getattr(result, "rowcount", 0) or 0)
