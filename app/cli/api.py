"""`llm-admin api` (the management HTTP API) and `llm-admin token create|list|revoke`."""

from __future__ import annotations

import argparse
import signal

from app.cli.common import Context, out, table
from app.services import api_tokens


def cmd_api(ctx: Context, args: argparse.Namespace) -> int:
    import uvicorn

    from app.api.app import create_app

    # one line per request (with its request ID) on stderr and in the log file (main sets both up)
    out(f"llm-admin API on http://{args.host}:{args.port}/api (docs: /api/docs)")
    # On SIGTERM or SIGINT uvicorn finishes the requests in flight, then raises the signal again for
    # the handler it found: with the default one the process would die of it (exit -15) after a clean
    # shutdown. A handler that does nothing makes the end an exit 0, as `monitor` ends on SIGTERM.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(
            create_app(ctx.settings), host=args.host, port=args.port, access_log=False, log_level="warning"
        )
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
    out("llm-admin API stopped")
    return 0


def cmd_token(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "create":
            info, token = api_tokens.create_token(
                session, actor=ctx.actor, name=args.name, username=args.user, days=args.days
            )
            expires = f"{info.expires_at:%Y-%m-%d %H:%M} UTC"
            out(f"token {info.id} for {info.username} ({info.name}), expires {expires}:")
            out(token)
            out("It is shown this once: store it now (send it as 'Authorization: Bearer <token>').")
            return 0
        if args.action == "list":
            rows = api_tokens.list_tokens(session, actor=ctx.actor, username=args.user)
            table(
                [
                    [
                        t.id,
                        t.username,
                        t.name,
                        f"{t.prefix}…",
                        t.state,
                        f"{t.expires_at:%Y-%m-%d %H:%M}",
                        f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
                    ]
                    for t in rows
                ],
                ["ID", "USER", "NAME", "TOKEN", "STATE", "EXPIRES (UTC)", "LAST USED"],
            )
            return 0
        info = api_tokens.revoke_token(session, actor=ctx.actor, token_id=args.id)
    out(f"token {info.id} of {info.username} ({info.name}): revoked")
    return 0
