"""Budgets page: each period's bar, add / change / remove with inline errors, enforcement; roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from app import db
from app.models import AuditEntry, Budget, Provider
from app.services import budgets
from app.services.access import Actor
from tests.pages.helpers import plain
from tests.services.test_usage import event, record

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def open_budgets(signed_in: Callable[[str], AppTest], role: str = "admin") -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/budgets.py")
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Budgets"]
    return at


def bars(at: AppTest) -> list[tuple[int, str]]:
    return [(p.proto.value, p.proto.text) for p in at.get("progress")]


def acme() -> None:
    with db.Session.begin() as session:
        session.add(Provider(name="Acme", name_key="acme", type="openai", created_by="t", updated_by="t"))


def stored() -> list[tuple[str, str, str, float, bool]]:
    with db.Session.begin() as session:
        return [
            (b.scope, b.target, b.period, b.limit_usd, b.enforce) for b in session.scalars(select(Budget))
        ]


@SQLITE
def test_bars_show_spend_against_each_limit_with_small_amounts_readable(
    signed_in: Callable[[str], AppTest], admin: Actor
) -> None:
    acme()
    with db.Session.begin() as session:
        budgets.add_budget(
            session, actor=admin, scope="provider", target="Acme", period="daily", limit_usd=0.0005
        )
        budgets.add_budget(
            session, actor=admin, scope="provider", target="Acme", period="monthly", limit_usd=4, enforce=True
        )
    record([event(at=datetime.now(UTC), cost_usd=0.0007)])
    at = open_budgets(signed_in, "viewer")
    assert bars(at) == [
        (100, "provider **Acme** (daily): $0.0007 of $0.0005 (140%) — spent (alerting only)"),
        (0, "provider **Acme** (monthly): $0.0007 of $4.00 (0%) — enforced"),
    ]
    assert [b.key for b in at.button] == ["logout"]  # a viewer only looks


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_an_admin_adds_an_enforced_budget_and_its_bar_appears(signed_in: Callable[[str], AppTest]) -> None:
    acme()
    at = open_budgets(signed_in)
    assert "No budgets yet" in at.info[0].value
    at.selectbox(key="budgets_new_scope").select("provider").run()
    at.selectbox(key="budgets_new_target_provider").select("Acme")
    at.selectbox(key="budgets_new_period").select("daily")
    at.text_input(key="budgets_new_limit").input("0.002")
    at.toggle(key="budgets_new_enforce").set_value(True)
    at.button(key="budgets_add").click().run()
    assert not at.exception
    assert at.success[0].value == "Added the daily budget of Acme."
    assert stored() == [("provider", "Acme", "daily", 0.002, True)]
    assert bars(at) == [(0, "provider **Acme** (daily): $0.00 of $0.002 (0%) — enforced")]
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "budget.create")).one()
        assert entry.actor == "admin"


@SQLITE
def test_every_bad_field_of_a_new_budget_is_named_and_nothing_is_stored(
    signed_in: Callable[[str], AppTest],
) -> None:
    at = open_budgets(signed_in)
    at.selectbox(key="budgets_new_scope").select("route").run()
    assert "No route to budget yet." in [c.value for c in at.caption]
    at.text_input(key="budgets_new_limit").input("-3")
    at.button(key="budgets_add").click().run()
    errors = [plain(e.value) for e in at.error]
    assert any(e.startswith("**Which one**: is required") for e in errors), errors
    assert any(e.startswith("**Limit (USD)**: must be more than 0 USD") for e in errors), errors
    assert stored() == []


@SQLITE
def test_an_admin_changes_the_limit_and_enforcement_then_removes_after_confirming(
    signed_in: Callable[[str], AppTest], admin: Actor
) -> None:
    acme()
    with db.Session.begin() as session:
        budget_id = budgets.add_budget(
            session, actor=admin, scope="provider", target="Acme", period="monthly", limit_usd=10
        ).id
    at = open_budgets(signed_in)
    at.text_input(key=f"budget_{budget_id}_limit").input("abc")
    at.button(key=f"budget_{budget_id}_save").click().run()
    assert any("**Limit (USD)**: must be an amount in USD" in plain(e.value) for e in at.error)
    assert stored() == [("provider", "Acme", "monthly", 10.0, False)]
    at.text_input(key=f"budget_{budget_id}_limit").input("25")
    at.toggle(key=f"budget_{budget_id}_enforce").set_value(True)
    at.button(key=f"budget_{budget_id}_save").click().run()
    assert stored() == [("provider", "Acme", "monthly", 25.0, True)]
    at.button(key=f"budget_{budget_id}_remove").click().run()
    assert "Its past alerts stay" in at.warning[0].value
    assert len(stored()) == 1  # asked, not yet done
    at.button(key=f"budget_{budget_id}_remove_confirm").click().run()
    assert not at.exception
    assert stored() == []
    assert at.success[0].value == "Removed the monthly budget of Acme."


@SQLITE
def test_a_change_over_someone_elses_change_is_refused(
    signed_in: Callable[[str], AppTest], admin: Actor
) -> None:
    acme()
    with db.Session.begin() as session:
        budget_id = budgets.add_budget(
            session, actor=admin, scope="provider", target="Acme", period="monthly", limit_usd=10
        ).id
    at = open_budgets(signed_in)
    with db.Session.begin() as session:
        budgets.update_budget(
            session, actor=Actor("bob", "admin"), budget_id=budget_id, expected_version=1, limit_usd=50
        )
    at.text_input(key=f"budget_{budget_id}_limit").input("20")
    at.button(key=f"budget_{budget_id}_save").click().run()
    assert any("was changed by bob" in plain(e.value) for e in at.error)
    assert stored() == [("provider", "Acme", "monthly", 50.0, False)]
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Budget.id))) == 1
