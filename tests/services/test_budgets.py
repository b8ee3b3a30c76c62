"""Budgets: validation, spend from usage events, thresholds alerted once per period, exhausted targets."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app import db
from app.cli import main
from app.crypto import KeyRing
from app.errors import ConflictError, PermissionDenied, ValidationError
from app.models import Alert, AuditEntry, Budget, Route
from app.runtime import budgets as runtime_budgets
from app.runtime import usage as usage_sink
from app.services import budgets, providers
from app.services.access import Actor

NOW = datetime(2031, 5, 14, 12, 0, tzinfo=UTC)


def _setup(ring: KeyRing, admin: Actor) -> None:
    """Provider 'OpenAI Prod' and route 'summarizer'."""
    with db.Session.begin() as session:
        providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="OpenAI Prod",
            type="openai",
            secrets={"api_key": "sk-x" * 6},
        )
        session.add(Route(agent_type="summarizer", model="gpt-4o", created_by="t", updated_by="t"))


def _usage(
    cost: float, *, at: datetime = NOW, provider: str = "OpenAI Prod", route: str | None = None
) -> None:
    """A usage event, written as the proxy's event writer writes it (with its rollups)."""
    event = {
        "at": at,
        "provider": provider,
        "model_group": route or "gpt-4o",
        "route": route,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cost_usd": cost,
        "status": "success",
    }
    with db.Session.begin() as session:
        usage_sink.record_events(session, [event])


def _add(admin: Actor, **kw: object) -> int:
    values: dict[str, object] = {"scope": "route", "target": "summarizer", "period": "daily", "limit_usd": 10}
    values.update(kw)
    with db.Session.begin() as session:
        return budgets.add_budget(session, actor=admin, now=NOW, **values).id  # type: ignore[arg-type]


def _evaluate(now: datetime = NOW) -> list[tuple[str, str]]:
    with db.Session.begin() as session:
        return [(a.severity, a.message) for a in budgets.evaluate(session, now=now)]


def _budget(budget_id: int) -> Budget:
    with db.Session.begin() as session:
        budget = session.get(Budget, budget_id)
        assert budget is not None
        session.expunge(budget)
        return budget


def test_period_bounds_are_utc_days_and_months() -> None:
    assert budgets.period_bounds("daily", NOW) == (
        datetime(2031, 5, 14, tzinfo=UTC),
        datetime(2031, 5, 15, tzinfo=UTC),
    )
    assert budgets.period_bounds("monthly", datetime(2031, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2031, 12, 1, tzinfo=UTC),
        datetime(2032, 1, 1, tzinfo=UTC),
    )
    # 01:30 on the 15th in UTC+2 is still the 14th in UTC
    early = datetime(2031, 5, 15, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert budgets.period_bounds("daily", early)[0] == datetime(2031, 5, 14, tzinfo=UTC)


def test_invalid_budgets_name_each_field_and_store_nothing(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        budgets.add_budget(session, actor=admin, scope="team", target="x", period="weekly", limit_usd=0)
    assert err.value.fields == ["scope", "period", "limit_usd"]
    assert "must be one of provider, route" in str(err.value)
    cases = [
        ({"scope": "provider", "target": "Nope"}, "target", "no provider named 'Nope'"),
        ({"target": "translator"}, "target", "no route for agent type 'translator'"),
        ({"target": "  "}, "target", "is required"),
        ({"limit_usd": -5}, "limit_usd", "must be more than 0 USD"),
        ({"limit_usd": "ten"}, "limit_usd", "must be an amount in USD"),
        ({"limit_usd": float("nan")}, "limit_usd", "must be more than 0 USD"),
        ({"limit_usd": True}, "limit_usd", "must be an amount in USD"),
    ]
    for change, field, text in cases:
        values: dict[str, object] = {
            "scope": "route",
            "target": "summarizer",
            "period": "daily",
            "limit_usd": 10,
        }
        values.update(change)
        with pytest.raises(ValidationError) as err, db.Session.begin() as session:
            budgets.add_budget(session, actor=admin, **values)  # type: ignore[arg-type]
        assert err.value.fields == [field]
        assert text in str(err.value)
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Budget.id))) == 0


def test_add_normalizes_targets_refuses_duplicates_and_is_audited(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    _setup(ring, admin)
    pid = _add(admin, scope="provider", target="  openai   PROD ", limit_usd="12.5")
    rid = _add(admin, target="agent/summarizer", period="monthly")
    assert (_budget(pid).target, _budget(pid).limit_usd) == ("OpenAI Prod", 12.5)
    assert _budget(rid).target == "summarizer"
    with pytest.raises(ValidationError, match=r"target: a daily budget for provider OpenAI Prod exists"):
        _add(admin, scope="provider", target="OpenAI Prod")
    _add(admin, scope="provider", target="OpenAI Prod", period="monthly")  # another period is fine
    with db.Session.begin() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "budget")).all()
    assert actions == ["budget.create"] * 3


def test_only_admins_edit_budgets(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    budget_id = _add(admin)
    operator = Actor("olga", "operator")
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        budgets.add_budget(
            session, actor=operator, scope="provider", target="OpenAI Prod", period="daily", limit_usd=1
        )
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        budgets.remove_budget(session, actor=operator, budget_id=budget_id)
    with db.Session.begin() as session:
        budgets.remove_budget(session, actor=admin, budget_id=budget_id)
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Budget.id))) == 0
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "budget.delete"


def test_route_and_provider_spend_count_only_their_events_in_the_period(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    _setup(ring, admin)
    _usage(1.25, route="agent/summarizer")
    _usage(2.00, route="agent/summarizer", at=NOW.replace(hour=0, minute=0))  # first instant of the day
    _usage(4.00)  # same provider, no route
    _usage(8.00, route="agent/translator")
    _usage(16.0, provider="Anthropic", route="agent/summarizer")
    _usage(32.0, route="agent/summarizer", at=NOW.replace(hour=0) - timedelta(microseconds=1))  # yesterday
    _usage(64.0, at=datetime(2031, 6, 1, tzinfo=UTC))  # next month
    route_daily = _add(admin)
    provider_daily = _add(admin, scope="provider", target="OpenAI Prod")
    provider_monthly = _add(admin, scope="provider", target="OpenAI Prod", period="monthly", limit_usd=100)
    with db.Session.begin() as session:
        spent = {
            b: budgets.spend(session, session.get_one(Budget, b), NOW)
            for b in (route_daily, provider_daily, provider_monthly)
        }
    assert spent == {
        route_daily: pytest.approx(1.25 + 2.00 + 16.0),
        provider_daily: pytest.approx(1.25 + 2.00 + 4.00 + 8.00),
        provider_monthly: pytest.approx(1.25 + 2.00 + 4.00 + 8.00 + 32.0),
    }
    with db.Session.begin() as session:
        listed = {
            b.id: (round(b.spent_usd, 2), round(b.percent, 2), b.exhausted)
            for b in budgets.list_budgets(session, now=NOW)
        }
    assert listed == {
        route_daily: (19.25, 192.5, True),
        provider_daily: (15.25, 152.5, True),
        provider_monthly: (47.25, 47.25, False),
    }


def test_each_threshold_is_alerted_once_per_period(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    budget_id = _add(admin)
    assert _evaluate() == []
    _usage(4.99, route="agent/summarizer")
    assert _evaluate() == []
    _usage(0.01, route="agent/summarizer")
    assert _evaluate() == [("info", "Budget for route summarizer (daily $10.00): $5.00 spent, 50%")]
    assert _evaluate() == []
    _usage(3.12, route="agent/summarizer")
    assert _evaluate() == [("warning", "Budget for route summarizer (daily $10.00): $8.12 spent, 81%")]
    assert _evaluate(NOW + timedelta(hours=1)) == []
    assert _budget(budget_id).exhausted is False
    _usage(1.88, route="agent/summarizer")
    assert _evaluate() == [
        (
            "critical",
            "Budget for route summarizer (daily $10.00): $10.00 spent, 100%; "
            "not enforced, requests still pass",
        )
    ]
    _usage(5.0, route="agent/summarizer")
    assert _evaluate() == []
    budget = _budget(budget_id)
    assert (budget.alerted_threshold, budget.exhausted) == (100, True)
    with db.Session.begin() as session:
        rows = session.execute(select(Alert.kind, Alert.severity, Alert.provider).order_by(Alert.id)).all()
    assert [tuple(r) for r in rows] == [
        ("budget", "info", None),
        ("budget", "warning", None),
        ("budget", "critical", None),
    ]


def test_a_jump_past_several_thresholds_is_one_alert(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    _add(admin, scope="provider", target="OpenAI Prod", limit_usd=2, enforce=True)
    _usage(2.5)
    assert _evaluate() == [
        (
            "critical",
            "Budget for provider OpenAI Prod (daily $2.00): $2.50 spent, 125%; "
            "requests are refused until the period ends",
        )
    ]
    with db.Session.begin() as session:
        assert session.scalars(select(Alert.provider)).all() == ["OpenAI Prod"]


def test_a_new_period_starts_over(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    budget_id = _add(admin, enforce=True)
    _usage(11.0, route="agent/summarizer")
    assert [s for s, _ in _evaluate()] == ["critical"]
    assert budgets_exhausted(NOW) == (set(), {"summarizer"})
    tomorrow = NOW + timedelta(days=1)
    # the new day has not spent anything: not exhausted even before the monitor's next check
    assert budgets_exhausted(tomorrow) == (set(), set())
    assert _evaluate(tomorrow) == []
    budget = _budget(budget_id)
    assert (budget.alerted_threshold, budget.exhausted) == (0, False)
    assert budget.alerted_period_start is not None
    assert budget.alerted_period_start.replace(tzinfo=UTC) == datetime(2031, 5, 15, tzinfo=UTC)
    _usage(6.0, route="agent/summarizer", at=tomorrow)
    assert _evaluate(tomorrow) == [("info", "Budget for route summarizer (daily $10.00): $6.00 spent, 60%")]


def test_two_checks_at_once_alert_once(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    _add(admin)
    _usage(6.0, route="agent/summarizer")
    with db.Session.begin() as late:
        # this monitor read the budget before the other one's check landed
        stale = late.scalars(select(Budget)).all()
        assert [b.alerted_threshold for b in stale] == [0]
        assert _evaluate() == [("info", "Budget for route summarizer (daily $10.00): $6.00 spent, 60%")]
        assert budgets.evaluate(late, now=NOW) == []
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Alert.id))) == 1


def budgets_exhausted(now: datetime) -> tuple[set[str], set[str]]:
    with db.Session.begin() as session:
        return runtime_budgets.exhausted_targets(session, now=now)


def test_exhausted_targets_are_the_enforced_exhausted_budgets(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    _setup(ring, admin)
    with db.Session.begin() as session:
        session.add(Route(agent_type="code-review", model="gpt-4o", created_by="t", updated_by="t"))
    _add(admin, enforce=True, limit_usd=1)
    _add(admin, target="code-review", limit_usd=1)  # exhausted, but only alerted
    provider_budget = _add(
        admin, scope="provider", target="OpenAI Prod", period="monthly", limit_usd=50, enforce=True
    )
    _usage(2.0, route="agent/summarizer")
    _usage(2.0, route="agent/code-review")
    _evaluate()
    assert budgets_exhausted(NOW) == (set(), {"summarizer"})
    _usage(46.0, at=NOW - timedelta(days=3))
    _evaluate()
    assert budgets_exhausted(NOW) == ({"OpenAI Prod"}, {"summarizer"})
    # raising the limit takes effect at once, without waiting for the next check
    with db.Session.begin() as session:
        version = session.get_one(Budget, provider_budget).version
        budgets.update_budget(
            session, actor=admin, budget_id=provider_budget, expected_version=version, limit_usd=100, now=NOW
        )
    assert budgets_exhausted(NOW) == (set(), {"summarizer"})


def test_checks_do_not_bump_the_version_an_admin_edits(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    budget_id = _add(admin)
    opened = _budget(budget_id).version
    _usage(9.0, route="agent/summarizer")
    assert len(_evaluate()) == 1
    with db.Session.begin() as session:
        budgets.update_budget(
            session, actor=admin, budget_id=budget_id, expected_version=opened, limit_usd=20
        )
    # a new limit alerts afresh against itself: $9 of $20 is 45%, no alert until 50%
    assert _budget(budget_id).alerted_threshold == 0
    _usage(1.0, route="agent/summarizer")
    assert _evaluate() == [("info", "Budget for route summarizer (daily $20.00): $10.00 spent, 50%")]
    with pytest.raises(ConflictError, match="changed by alice"), db.Session.begin() as session:
        budgets.update_budget(
            session, actor=admin, budget_id=budget_id, expected_version=opened, enforce=True
        )


# --- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def llm_admin(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_budget_commands(llm_admin: Callable[..., tuple[int, str, str]], ring: KeyRing, admin: Actor) -> None:
    _setup(ring, admin)
    _usage(3.0, route="agent/summarizer", at=datetime.now(UTC))
    code, out, _ = llm_admin(
        "budget", "add", "--route", "summarizer", "--period", "daily", "--limit-usd", "4"
    )
    assert code == 0 and out.startswith("budget 1 added: route summarizer (daily $4.00)")
    code, out, err = llm_admin("budget", "add", "--provider", "nope", "--period", "daily", "--limit-usd", "0")
    assert code == 1 and "target: no provider named 'nope'" in err and "limit_usd: must be more than 0" in err
    code, out, _ = llm_admin("budget", "list")
    assert code == 0
    assert out.splitlines()[1].split() == ["1", "route", "summarizer", "daily", "$4.00", "$3.00", "75%", "no"]
    # adding a budget already past a threshold alerts at once; a check finds nothing new
    with db.Session.begin() as session:
        assert session.scalars(select(Alert.message)).all() == [
            "Budget for route summarizer (daily $4.00): $3.00 spent, 75%"
        ]
    code, out, _ = llm_admin("budget", "check")
    assert (code, out.strip()) == (0, "0 new budget alerts")
    code, out, _ = llm_admin("budget", "set", "1", "--limit-usd", "2", "--enforce")
    assert code == 0 and out.strip() == "budget 1 now: route summarizer (daily $2.00), enforced"
    code, out, _ = llm_admin("budget", "list")
    assert out.splitlines()[1].split()[-3:] == ["150%", "yes", "EXHAUSTED"]
    code, out, _ = llm_admin("budget", "remove", "1")
    assert (code, out.strip()) == (0, "budget 1 removed")
    code, _, err = llm_admin("budget", "remove", "1")
    assert code == 1 and "budget 1 does not exist" in err
