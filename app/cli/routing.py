"""`llm-admin route ...`: agent routes (callers ask for the model `agent/<type>`)."""

from __future__ import annotations

import argparse

from app.cli.common import Context, out, table
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
