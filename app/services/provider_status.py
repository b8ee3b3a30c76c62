"""The providers table: each provider's connection status, last test, models and last 24 h usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import KeyRing
from app.models import Provider, ProviderHealth, as_utc, utcnow
from app.services import providers, usage_summary
from app.services.usage_summary import ProviderUsage

CONNECTED_WITHIN = timedelta(minutes=5)
STALE_AFTER = timedelta(hours=1)
# connected: ok within 5 min; idle: ok, 5–60 min ago; warning: ok but over an hour ago, or degraded
# by the monitor; disconnected: the last test failed or the monitor judges it down; untested: never.
STATUSES = ("connected", "idle", "warning", "disconnected", "untested")
ICONS = {"connected": "🟢", "idle": "🔵", "warning": "🟡", "disconnected": "🔴", "untested": "⚪"}


@dataclass(frozen=True)
class LastCheck:
    """The newest test of a provider, by an admin (Test Connection) or by the monitor."""

    at: datetime | None
    ok: bool | None
    monitor_status: str | None = None


def connection_status(check: LastCheck, *, now: datetime) -> str:
    """connected, idle, warning, disconnected or untested: the one rule the dashboard shows."""
    if check.monitor_status == "down":
        return "disconnected"
    if check.at is None or check.ok is None:
        return "warning" if check.monitor_status == "degraded" else "untested"
    if not check.ok:
        return "disconnected"
    age = now - as_utc(check.at)
    if check.monitor_status == "degraded" or age > STALE_AFTER:
        return "warning"
    return "connected" if age <= CONNECTED_WITHIN else "idle"


def ago(moment: datetime | None, *, now: datetime) -> str:
    """'tested 3 minutes ago' style age of a moment, or 'never tested'."""
    if moment is None:
        return "never tested"
    seconds = max(int((now - as_utc(moment)).total_seconds()), 0)
    if seconds < 60:
        return "tested just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"tested {count} {unit}{'s' * (count != 1)} ago"
    return "tested just now"  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class ProviderRow:
    """One line of the providers table."""

    provider: providers.ProviderView
    status: str
    tested: str
    last_check: LastCheck
    usage: ProviderUsage

    @property
    def label(self) -> str:
        return f"{ICONS[self.status]} {self.status}"


def last_check(view: providers.ProviderView, health: ProviderHealth | None) -> LastCheck:
    """The newer of the provider's last Test Connection and the monitor's last probe."""
    return _newer(view.last_test_at, view.last_test_ok, health)


def _newer(test_at: datetime | None, test_ok: bool | None, health: ProviderHealth | None) -> LastCheck:
    monitor_status = health.status if health is not None else None
    tested = as_utc(test_at) if test_at else None
    probe_at = as_utc(health.checked_at) if health is not None and health.checked_at else None
    if probe_at is not None and (tested is None or probe_at > tested):
        assert health is not None
        ok = health.status != "down" and health.consecutive_failures == 0
        return LastCheck(probe_at, ok, monitor_status)
    return LastCheck(tested, test_ok, monitor_status)


@dataclass(frozen=True)
class Status:
    """One provider's status as every page shows it, without its keys or usage."""

    status: str
    tested: str

    @property
    def label(self) -> str:
        return f"{ICONS[self.status]} {self.status}"


def statuses(session: Session, *, now: datetime | None = None) -> dict[int, Status]:
    """Provider id → its status and 'tested N ago', from two small reads (no keys, no usage): for
    the pages that show the status beside other things (Overview, Health)."""
    moment = now or utcnow()
    health = {h.provider_id: h for h in session.scalars(select(ProviderHealth))}
    out = {}
    for pid, test_at, test_ok in session.execute(
        select(Provider.id, Provider.last_test_at, Provider.last_test_ok).where(Provider.deleted_at.is_(None))
    ):
        check = _newer(test_at, test_ok, health.get(pid))
        out[pid] = Status(connection_status(check, now=moment), ago(check.at, now=moment))
    return out


def provider_rows(
    session: Session,
    *,
    ring: KeyRing | None = None,
    include_deleted: bool = False,
    now: datetime | None = None,
) -> list[ProviderRow]:
    """Every provider with its status, 'tested N ago' and last 24 h usage (aggregated in SQL)."""
    moment = now or utcnow()
    views = providers.list_providers(session, ring=ring, include_deleted=include_deleted)
    health = {h.provider_id: h for h in session.scalars(select(ProviderHealth))}
    usage = usage_summary.usage_by_provider(session, now=moment)
    rows = []
    for view in views:
        check = last_check(view, health.get(view.id))
        rows.append(
            ProviderRow(
                provider=view,
                status=connection_status(check, now=moment),
                tested=ago(check.at, now=moment),
                last_check=check,
                usage=usage.get(view.name, ProviderUsage()),
            )
        )
    return rows
