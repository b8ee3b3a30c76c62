"""Alert delivery to a webhook (Slack-compatible JSON): once per alert, retried with backoff, then dropped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.models import Alert, as_utc, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# attempt n+1 waits BACKOFF_SECONDS * 2**n after attempt n (30 s, 60 s, 120 s, 240 s: ~7.5 min in all)
BACKOFF_SECONDS = 30.0
BATCH = 100
_ICONS = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


@dataclass(frozen=True)
class Backlog:
    """Alerts not delivered yet: still to try, and given up after the last attempt."""

    pending: int
    given_up: int


def payload(alert: Alert) -> dict[str, Any]:
    """The Slack-compatible body for one alert: `text` for Slack, the fields for anything else."""
    at = as_utc(alert.at)
    where = f" ({alert.provider})" if alert.provider else ""
    return {
        "text": f"{_ICONS.get(alert.severity, '')} [{alert.severity.upper()}] {alert.kind}{where}: "
        f"{alert.message}".strip(),
        "alert_id": alert.id,
        "severity": alert.severity,
        "kind": alert.kind,
        "provider": alert.provider,
        "message": alert.message,
        "time": at.isoformat(),
    }


def _due_after(attempts: int, backoff_seconds: float) -> timedelta:
    """How long after it was raised an alert that failed `attempts` times is due again: at once, then
    1, 3, 7, 15 … backoff steps (the schedule `deliver_pending` selects by)."""
    return timedelta(seconds=backoff_seconds * (2**attempts - 1))


def _scrub(text: str, url: str) -> str:
    """An error text without the webhook URL or any part of it that may hold a token."""
    parts = urlsplit(url)
    secrets = [url, url.rstrip("/"), parts.path, parts.query, parts.netloc]
    if parts.path not in ("", "/"):
        secrets += [segment for segment in parts.path.split("/") if len(segment) >= 6]
    for secret in sorted({s for s in secrets if s and s != "/"}, key=len, reverse=True):
        text = text.replace(secret, "…")
    return " ".join(text.split())[:300]


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[str | None, bool]:
    """(error or None, whether the endpoint itself is unreachable)."""
    try:
        response = client.post(url, json=body)
    except httpx.HTTPError as exc:
        # httpx puts the URL in some messages: name the failure, then scrub what detail remains
        return _scrub(f"{type(exc).__name__}: {exc}", url), True
    if 200 <= response.status_code < 300:
        return None, False
    return _scrub(f"HTTP {response.status_code}: {response.text[:200]}", url), False


def deliver_pending(
    session: Session,
    *,
    url: str,
    timeout: float = 5.0,
    max_attempts: int = MAX_ATTEMPTS,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    backoff_seconds: float = BACKOFF_SECONDS,
) -> int:
    """POST each due, undelivered, unacknowledged alert once; returns how many were delivered.

    A failure counts an attempt and records why (never the URL); after max_attempts the alert is given
    up. When the endpoint cannot be reached the sweep stops there rather than wait out every timeout.
    """
    if max_attempts < 1:
        return 0
    moment = as_utc(now or utcnow()).astimezone(UTC)
    # due: raised at least _due_after(attempts) ago, one condition per attempt count
    due_now = or_(
        *(
            and_(Alert.delivery_attempts == n, Alert.at <= moment - _due_after(n, backoff_seconds))
            for n in range(max_attempts)
        )
    )
    due = session.scalars(
        select(Alert)
        .where(Alert.delivered_at.is_(None), Alert.acknowledged_at.is_(None), due_now)
        .order_by(Alert.at, Alert.id)
        .limit(BATCH)
        # two monitors sweeping at once on PostgreSQL each take different alerts (SQLite runs one writer)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return 0
    own_client = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    delivered = 0
    try:
        for alert in due:
            error, unreachable = _post(http, url, payload(alert))
            if error is None:
                alert.delivered_at = utcnow()
                alert.delivery_error = None
                delivered += 1
                continue
            alert.delivery_attempts += 1
            alert.delivery_error = error
            gave_up = alert.delivery_attempts >= max_attempts
            log.warning(
                "alert %s: webhook delivery failed (attempt %s of %s%s): %s",
                alert.id,
                alert.delivery_attempts,
                max_attempts,
                ", giving up" if gave_up else "",
                error,
            )
            if unreachable:
                break
    finally:
        if own_client:
            http.close()
    session.flush()
    return delivered


def backlog(session: Session, *, max_attempts: int = MAX_ATTEMPTS) -> Backlog:
    """How many open alerts are still to deliver, and how many were given up."""
    undelivered = (Alert.delivered_at.is_(None), Alert.acknowledged_at.is_(None))
    pending = session.scalar(
        select(func.count(Alert.id)).where(*undelivered, Alert.delivery_attempts < max_attempts)
    )
    given_up = session.scalar(
        select(func.count(Alert.id)).where(*undelivered, Alert.delivery_attempts >= max_attempts)
    )
    return Backlog(pending=int(pending or 0), given_up=int(given_up or 0))
