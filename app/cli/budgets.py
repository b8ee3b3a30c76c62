"""`llm-admin budget ...` and `recommend`: spend, and what to do about it."""

from __future__ import annotations

import argparse
import math
from typing import Any

from app.cli.common import Context, out, table
from app.errors import LlmAdminError
from app.models import Budget
from app.services import budgets, recommendations


def cmd_budget(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "add":
            scope, target = (
                ("provider", args.provider)
                if args.provider
                else ("route", args.route)
                if args.route
                else ("application", args.application)
            )
            budget = budgets.add_budget(
                session,
                actor=ctx.actor,
                scope=scope,
                target=target,
                period=args.period,
                limit_usd=args.limit_usd,
                enforce=args.enforce,
            )
            out(f"budget {budget.id} added: {budgets.label(budget)}{', enforced' if budget.enforce else ''}")
            return 0
        if args.action == "set":
            current = session.get(Budget, args.id)
            if current is None:
                raise LlmAdminError(f"no budget {args.id}; `llm-admin budget list` shows them")
            changes: dict[str, Any] = {}
            if args.limit_usd is not None:
                changes["limit_usd"] = args.limit_usd
            if args.enforce is not None:
                changes["enforce"] = args.enforce
            budget = budgets.update_budget(
                session, actor=ctx.actor, budget_id=args.id, expected_version=current.version, **changes
            )
            out(f"budget {budget.id} now: {budgets.label(budget)}{', enforced' if budget.enforce else ''}")
            return 0
        if args.action == "remove":
            budgets.remove_budget(session, actor=ctx.actor, budget_id=args.id)
            out(f"budget {args.id} removed")
            return 0
        if args.action == "check":
            raised = budgets.evaluate(session)
            for alert in raised:
                out(f"[{alert.severity}] {alert.message}")
            out(f"{len(raised)} new budget alert{'s' * (len(raised) != 1)}")
            return 0
        rows = budgets.list_budgets(session)
    table(
        [
            [
                b.id,
                b.scope,
                b.target,
                b.period,
                f"${b.limit_usd:,.2f}",
                f"${b.spent_usd:,.2f}",
                f"{math.floor(b.percent)}%",
                "yes" if b.enforce else "no",
                "EXHAUSTED" if b.exhausted else "",
            ]
            for b in rows
        ],
        ["ID", "SCOPE", "TARGET", "PERIOD", "LIMIT", "SPENT", "USED", "ENFORCED", "STATE"],
    )
    return 0


def cmd_recommend(ctx: Context, args: argparse.Namespace) -> int:
    if args.days < 1:
        raise LlmAdminError("--days must be 1 or more")
    with ctx.session() as session:
        rows = recommendations.recommend(session, days=args.days)
    if not rows:
        out(f"no cheaper model fits any route's needs (last {args.days} days of usage)")
        return 0
    table(
        [
            [
                r.route,
                r.current,
                r.candidate,
                ", ".join(r.providers),
                f"${r.input_cost_per_1m:g}/${r.output_cost_per_1m:g}",
                r.context_window,
                r.requests,
                f"${r.actual_cost_usd:,.2f}",
                f"${r.estimated_cost_usd:,.2f}",
                f"${r.saving_usd:,.2f}",
            ]
            for r in rows
        ],
        [
            "ROUTE",
            "NOW",
            "CANDIDATE",
            "PROVIDERS",
            "$/1M IN/OUT",
            "CONTEXT",
            "REQUESTS",
            "COST",
            "WOULD COST",
            "SAVING",
        ],
    )
    return 0
