"""Raising an alert: one open alert per outage, a repeat within the window only counts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Alert, as_utc, utcnow

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
