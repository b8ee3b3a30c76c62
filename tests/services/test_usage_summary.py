"""Last 24 h usage per provider: requests, cost and error rate, aggregated in SQL."""

from __future__ import annotations

from datetime import timedelta

from app import db
from app.models import UsageEvent, utcnow
from app.services.usage_summary import ProviderUsage, usage_by_provider


def test_usage_is_grouped_by_provider_within_the_window(db_url: str) -> None:
    now = utcnow()
    with db.Session.begin() as session:
        for provider, cost, status, age in (
            ("a", 0.25, "success", timedelta(minutes=5)),
            ("a", 0.50, "failure", timedelta(hours=23)),
            ("a", 0.25, "success", timedelta(hours=1)),
            ("a", 7.00, "success", timedelta(hours=25)),  # outside the window
            ("b", 0.10, "failure", timedelta(minutes=1)),
            (None, 3.00, "success", timedelta(minutes=1)),  # no provider (rejected before routing)
        ):
            session.add(UsageEvent(provider=provider, cost_usd=cost, status=status, at=now - age))
    with db.Session.begin() as session:
        usage = usage_by_provider(session, now=now)
    assert usage == {"a": ProviderUsage(3, 1.0, 1), "b": ProviderUsage(1, 0.1, 1)}
    assert usage["a"].error_rate == 1 / 3
    assert usage["b"].error_rate == 1.0


def test_no_usage_means_no_rows_and_no_error_rate(db_url: str) -> None:
    with db.Session.begin() as session:
        assert usage_by_provider(session) == {}
    assert ProviderUsage().error_rate is None


def test_the_window_can_be_narrowed(db_url: str) -> None:
    now = utcnow()
    with db.Session.begin() as session:
        session.add(UsageEvent(provider="a", cost_usd=1.0, status="success", at=now - timedelta(hours=2)))
        session.add(UsageEvent(provider="a", cost_usd=2.0, status="success", at=now - timedelta(minutes=2)))
    with db.Session.begin() as session:
        assert usage_by_provider(session, now=now, window=timedelta(hours=1)) == {
            "a": ProviderUsage(1, 2.0, 0)
        }
