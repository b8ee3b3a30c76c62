"""Alerts: raised deduplicated (one open alert per outage; `app.runtime.alerts`), listed, acknowledged."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFoundError
from app.models import Alert, utcnow
from app.runtime.alerts import DEDUP_WINDOW, raise_alert
from app.services import audit
from app.services.access import Actor, authorize

__all__ = ["DEDUP_WINDOW", "acknowledge", "list_alerts", "raise_alert"]


def list_alerts(
    session: Session, *, include_acknowledged: bool = False, limit: int = 200, offset: int = 0
) -> list[Alert]:
    """Newest first."""
    query = select(Alert).order_by(Alert.at.desc(), Alert.id.desc()).offset(offset).limit(limit)
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
