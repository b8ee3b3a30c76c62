"""Alerts: raised deduplicated (one open alert per outage), listed, acknowledged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFoundError
from app.models import Alert, as_utc, utcnow
from app.services import audit
from app.services.access import Actor, authorize

DEDUP_WINDOW = timedelta(minutes=30)


def raise_alert(
    session: Session,
    *,
    kind: str,
    severity: str,
    message: str,
    dedup_key: str,
    provider: str | None = None,
    window: timedelta = DEDUP_WINDOW,
) -> tuple[Alert, bool]:
    """(alert, created): a repeat of an open alert seen within `window` only bumps its count."""
    now = utcnow()
    open_alert = session.scalars(
        select(Alert)
        .where(Alert.dedup_key == dedup_key, Alert.acknowledged_at.is_(None))
        .order_by(Alert.id.desc())
        .limit(1)
    ).first()
    if open_alert is not None:
        if now - as_utc(open_alert.last_seen_at) <= window:
            open_alert.occurrences += 1
            open_alert.last_seen_at = now
            return open_alert, False
    alert = Alert(
        kind=kind,
        severity=severity,
        message=message,
        dedup_key=dedup_key,
        provider=provider,
        at=now,
        last_seen_at=now,
    )
    session.add(alert)
    session.flush()
    return alert, True


def list_alerts(session: Session, *, include_acknowledged: bool = False, limit: int = 200) -> list[Alert]:
    """Newest first."""
    query = select(Alert).order_by(Alert.at.desc(), Alert.id.desc()).limit(limit)
    if not include_acknowledged:
        query = query.where(Alert.acknowledged_at.is_(None))
    return list(session.scalars(query))


def acknowledge(session: Session, *, actor: Actor, alert_id: int) -> Alert:
    authorize(actor, "operate")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"no alert {alert_id}; `llm-admin alerts list` shows the open ones")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = actor.name
        audit.record(
            session,
            actor=actor,
            action="alert.ack",
            target_type="alert",
            target_id=alert.id,
            target_name=alert.kind,
        )
    return alert
