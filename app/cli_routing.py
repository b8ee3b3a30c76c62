"""`llm-admin route ...`: agent routes (callers ask for the model `agent/<type>`)."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli import Context, out, table
from app.services import config, routes


def cmd_route(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "add":
            route = routes.save_route(
                session,
                actor=ctx.actor,
                agent_type=args.agent,
                model=args.model,
                fallbacks=args.fallback or [],
                max_cost_usd=args.max_cost_usd,
                local_only=args.local_only,
                weights=routes.parse_weights(args.weight or []),
            )
            out(f"route agent/{route.agent_type} saved; `llm-admin config apply` puts it live")
        elif args.action == "remove":
            routes.remove_route(session, actor=ctx.actor, agent_type=args.agent)
            out(f"route agent/{args.agent} removed; `llm-admin config apply` puts it live")
        elif args.action == "defaults":
            aliases = routes.set_default_fallbacks(session, actor=ctx.actor, aliases=args.fallback or [])
            out(f"default fallbacks: {', '.join(aliases) or 'none'}")
        else:
            defaults = config.get_settings_row(session).router_settings.get("default_fallbacks") or []
            table(
                [
                    [
                        f"agent/{r.agent_type}",
                        " → ".join([r.model, *(r.fallbacks or [])]),
                        "" if r.max_cost_usd is None else f"${r.max_cost_usd:g}",
                        "yes" if r.local_only else "",
                        "" if r.enabled else "disabled",
                    ]
                    for r in routes.list_routes(session)
                ],
                ["ROUTE", "MODEL → FALLBACKS", "MAX COST", "LOCAL ONLY", ""],
            )
            out(f"default fallbacks (any other model): {', '.join(defaults) or 'none'}")
    return 0


def register(sub: Any) -> None:
    """Add the route commands to the top-level parser."""
    p = sub.add_parser("route", help="agent routes: preferred model, fallbacks, cost limit, local only")
    rsub = p.add_subparsers(dest="action", required=True)
    add = rsub.add_parser("add", help="add or replace the route callers reach as model agent/TYPE")
    add.add_argument("--agent", required=True, metavar="TYPE", help="agent type, e.g. summarizer")
    add.add_argument("--model", required=True, metavar="ALIAS", help="the preferred model")
    add.add_argument("--fallback", action="append", metavar="ALIAS", help="next model on failure (repeat)")
    add.add_argument("--max-cost-usd", type=float, help="the most one request may cost")
    add.add_argument("--local-only", action="store_true", help="only local providers may serve it")
    add.add_argument(
        "--weight", action="append", metavar="ALIAS@PROVIDER=W", help="share of a step's traffic"
    )
    rsub.add_parser("list")
    remove = rsub.add_parser("remove")
    remove.add_argument("agent", metavar="TYPE")
    defaults = rsub.add_parser("defaults", help="fallbacks for every model without its own")
    defaults.add_argument("--fallback", action="append", metavar="ALIAS", help="in order; none clears")
    p.set_defaults(func=cmd_route)
