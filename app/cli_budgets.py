"""`llm-admin budget ...`, `alerts deliver` and `recommend`: spend, and what to do about it."""

from __future__ import annotations

import argparse
import math
from typing import Any

from app.cli import Context, out, subcommands_of, table
from app.errors import LlmAdminError
from app.models import Budget
from app.services import budgets, recommendations, webhooks


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


def cmd_alerts_deliver(ctx: Context, args: argparse.Namespace) -> int:
    url = ctx.settings.alert_webhook_url
    if not url:
        raise LlmAdminError(
            "no webhook configured: set LLM_ADMIN_ALERT_WEBHOOK_URL to a Slack-compatible "
            "incoming-webhook URL"
        )
    with ctx.session() as session:
        # an operator asking to deliver now means now: no backoff wait, but the attempt limit holds
        sent = webhooks.deliver_pending(session, url=url, timeout=args.timeout, backoff_seconds=0)
        left = webhooks.backlog(session)
    out(f"delivered {sent} alert{'s' * (sent != 1)}; {left.pending} still pending, {left.given_up} given up")
    return 0 if left.pending == 0 else 1


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


def register(sub: Any) -> None:
    """Add the budget and recommend commands, and `alerts deliver`, to the top-level parser."""
    p = sub.add_parser("budget", help="daily or monthly spend limits per provider or route")
    bsub = p.add_subparsers(dest="action", required=True)
    add = bsub.add_parser("add", help="alerts at 50/80/100%%; --enforce refuses requests at 100%%")
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--provider", metavar="NAME")
    target.add_argument("--route", metavar="TYPE", help="an agent type, e.g. summarizer")
    target.add_argument("--application", metavar="NAME", help="a caller key's application")
    add.add_argument("--period", choices=budgets.PERIODS, required=True)
    add.add_argument("--limit-usd", required=True)
    add.add_argument("--enforce", action="store_true")
    bsub.add_parser("list", help="budgets with this period's spend")
    change = bsub.add_parser("set", help="change a budget's limit or enforcement")
    change.add_argument("id", type=int)
    change.add_argument("--limit-usd")
    change.add_argument("--enforce", action=argparse.BooleanOptionalAction, default=None)
    bsub.add_parser("remove").add_argument("id", type=int)
    bsub.add_parser("check", help="check spend now and raise the alerts due (the monitor does this)")
    p.set_defaults(func=cmd_budget)

    deliver = subcommands_of(sub.choices["alerts"]).add_parser(
        "deliver", help="send undelivered alerts to LLM_ADMIN_ALERT_WEBHOOK_URL now"
    )
    deliver.add_argument("--timeout", type=float, default=5.0)
    deliver.set_defaults(func=cmd_alerts_deliver)

    p = sub.add_parser("recommend", help="cheaper models each route could use, with the estimated saving")
    p.add_argument("--days", type=int, default=30, help="usage window (default 30 days)")
    p.set_defaults(func=cmd_recommend)
