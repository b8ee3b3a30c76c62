"""Budgets: spend limits per provider, route or caller application; each period's bar; add, change,
remove (admins); alerts at 50/80/100 %, and an enforced budget refuses requests once spent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session

from app import db, ui
from app.defaults import PERIODS
from app.errors import LlmAdminError, ValidationError
from app.services import budgets, caller_keys, model_table, routes
from app.services.access import Actor

actor: Actor = st.session_state.actor
state = st.session_state
can_edit = actor.can("edit")
LABELS = {"scope": "Applies to", "target": "Which one", "period": "Period", "limit_usd": "Limit (USD)"}

st.title("Budgets")
st.caption(
    "The monitor alerts at 50, 80 and 100 % of a budget in its period (UTC days and months). An enforced "
    "budget also makes the proxy refuse the requests it covers once it is spent, until the period ends."
)


def _errors(scope: str, field: str | None = None) -> None:
    for name, message in state.get(f"{scope}_errors", {}).items():
        if field is None or name == field:
            st.error(f"**{LABELS.get(name, 'Budget')}**: {ui.text(message)}", icon="⚠️")


def _run(scope: str, done: str, change: Callable[[Session], Any]) -> bool:
    """One budgets service call in one transaction; its errors are kept for the page to show inline."""
    try:
        with db.Session.begin() as session:
            change(session)
    except ValidationError as exc:
        state[f"{scope}_errors"] = {e.field: e.message for e in exc.errors}
        return False
    except LlmAdminError as exc:
        state[f"{scope}_errors"] = {"form": str(exc)}
        return False
    state[f"{scope}_errors"] = {}
    state.budgets_flash = done
    return True


def _targets(session: Session) -> dict[str, list[str]]:
    """What each scope can name: providers, routes (agent types), caller keys' applications."""
    return {
        "provider": list(model_table.provider_choices(session).values()),
        "route": [r.agent_type for r in routes.list_routes(session)],
        "application": sorted(k.application for k in caller_keys.list_keys(session) if k.revoked_at is None),
    }


def _add() -> None:
    limit, enforce = state.budgets_new_limit, state.budgets_new_enforce
    scope, period = state.budgets_new_scope, state.budgets_new_period
    target = state.get(f"budgets_new_target_{scope}") or ""
    if _run(
        "budgets_add",
        f"Added the {period} budget of {ui.text(target)}.",
        lambda s: budgets.add_budget(
            s, actor=actor, scope=scope, target=target, period=period, limit_usd=limit, enforce=enforce
        ),
    ):
        state.budgets_new_limit = ""


def _save(budget: budgets.BudgetStatus) -> None:
    limit, enforce = state[f"budget_{budget.id}_limit"], state[f"budget_{budget.id}_enforce"]
    _run(
        f"budget_{budget.id}",
        f"Saved the {budget.period} budget of {ui.text(budget.target)}.",
        lambda s: budgets.update_budget(
            s,
            actor=actor,
            budget_id=budget.id,
            expected_version=budget.version,
            limit_usd=limit,
            enforce=enforce,
        ),
    )


def _remove(budget: budgets.BudgetStatus) -> None:
    _run(
        f"budget_{budget.id}",
        f"Removed the {budget.period} budget of {ui.text(budget.target)}.",
        lambda s: budgets.remove_budget(s, actor=actor, budget_id=budget.id),
    )
    state.budgets_confirm_remove = None


with db.Session.begin() as session:
    rows = budgets.list_budgets(session)
    targets = _targets(session) if can_edit else {}

flash = state.pop("budgets_flash", None)
if flash:
    st.success(flash)

if not rows:
    st.info("No budgets yet." + (" Add one below." if can_edit else " An admin adds them here."))
for budget in rows:
    status = (
        "spent, requests refused"
        if budget.exhausted and budget.enforce
        else "spent (alerting only)"
        if budget.exhausted
        else "enforced"
        if budget.enforce
        else ""
    )
    st.progress(
        min(budget.percent / 100, 1.0),
        text=(
            f"{budget.scope} **{ui.text(budget.target)}** ({budget.period}): {ui.usd(budget.spent_usd)} of "
            f"{ui.usd(budget.limit_usd)} ({budget.percent:.0f}%){' — ' + status if status else ''}"
        ),
    )
    if not can_edit:
        continue
    with st.expander(f"Change the {budget.period} budget of {ui.text(budget.target)}"):
        st.text_input("Limit (USD)", value=f"{budget.limit_usd:g}", key=f"budget_{budget.id}_limit")
        st.toggle(
            "Enforce: refuse requests once spent",
            value=budget.enforce,
            key=f"budget_{budget.id}_enforce",
        )
        save, remove = st.columns(2)
        save.button("Save", key=f"budget_{budget.id}_save", on_click=_save, args=(budget,))
        if remove.button("Remove…", key=f"budget_{budget.id}_remove"):
            state.budgets_confirm_remove = budget.id
        if state.get("budgets_confirm_remove") == budget.id:
            st.warning(
                f"Remove the {budget.period} budget of {ui.text(budget.target)}? Its past alerts stay."
            )
            yes, no = st.columns(2)
            yes.button(
                "Yes, remove",
                key=f"budget_{budget.id}_remove_confirm",
                type="primary",
                on_click=_remove,
                args=(budget,),
            )
            if no.button("Cancel", key=f"budget_{budget.id}_remove_cancel"):
                state.budgets_confirm_remove = None
                st.rerun()
        _errors(f"budget_{budget.id}")

if can_edit:
    st.subheader("Add a budget")
    scope = st.selectbox(
        "Applies to",
        budgets.SCOPES,
        key="budgets_new_scope",
        format_func=lambda s: f"a {s.replace('_', ' ')}",
    )
    choices = targets.get(scope, [])
    if choices:
        st.selectbox("Which one", choices, key=f"budgets_new_target_{scope}")
    else:
        st.caption(f"No {scope} to budget yet.")
    _errors("budgets_add", "target")
    st.selectbox("Period", PERIODS, key="budgets_new_period", index=len(PERIODS) - 1)
    _errors("budgets_add", "period")
    st.text_input("Limit (USD)", key="budgets_new_limit", placeholder="e.g. 100")
    _errors("budgets_add", "limit_usd")
    st.toggle("Enforce: refuse requests once spent", key="budgets_new_enforce")
    st.button("Add budget", key="budgets_add", type="primary", on_click=_add)
    _errors("budgets_add", "scope")
    _errors("budgets_add", "form")
