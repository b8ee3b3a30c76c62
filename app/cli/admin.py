"""`llm-admin db`, `create-admin`, `user`, `keys` (the key ring) and `alerts`: administration."""

from __future__ import annotations

import argparse
import getpass
import sys

from app import migrate
from app.cli.common import Context, confirm, out, table
from app.crypto import generate_key, random_password
from app.errors import LlmAdminError
from app.services import alerts, keys, templates, users

# --- db -------------------------------------------------------------------------------------


def cmd_db(ctx: Context, args: argparse.Namespace) -> int:
    url = ctx.settings.database_url
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
        with ctx.session() as session:
            templates.sync_system_templates(session)
        out(f"database at revision {migrate.current(url)}")
    elif args.action == "downgrade":
        if not args.yes and not confirm(
            f"Downgrade the database to {args.revision or '-1'}? Data may be lost."
        ):
            return 1
        migrate.downgrade(url, args.revision or "-1")
        out(f"database at revision {migrate.current(url)}")
    elif args.action == "check":
        migrate.check(url)
        out("models and migrations agree")
    else:
        out(migrate.current(url))
    return 0


# --- users ----------------------------------------------------------------------------------


def cmd_create_admin(ctx: Context, args: argparse.Namespace) -> int:
    password = ctx.settings.admin_password
    generated = False
    if not password:
        if sys.stdin.isatty() and not args.generate:
            password = getpass.getpass("Password for the new admin: ")
        else:
            password, generated = random_password(), True
    with ctx.session() as session:
        if args.if_none and users.count_users(session):
            out("users exist already; nothing to do")
            return 0
        user = users.create_user(
            session,
            actor=ctx.actor,
            username=args.username,
            password=password,
            role="admin",
            one_time=generated,
        )
        name = user.username
    out(f"admin '{name}' created")
    if generated:
        out(f"one-time password: {password}  (the first sign-in asks for a new one)")
    return 0


def cmd_user(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        waiting = users.unlock(session, actor=ctx.actor, username=args.name)
    out(f"{args.name}: unlocked ({waiting} source(s) were waiting after failed sign-ins)")
    return 0


# --- keys -----------------------------------------------------------------------------------


def cmd_keys(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "generate":
        out(generate_key())
        return 0
    ring = ctx.ring()
    with ctx.session() as session:
        if args.action == "status":
            missing = keys.unreadable_secrets(session, ring=ring)
            out(f"newest key: {ring.current_id}; keys in ring: {', '.join(ring.ids)}")
            out(f"unreadable secrets: {sum(missing.values())}")
            return 1 if missing else 0
        count = keys.rotate_keys(session, actor=ctx.actor, ring=ring)
    out(f"re-encrypted {count} secret{'s' * (count != 1)} under key {ring.current_id}")
    return 0


# --- alerts ---------------------------------------------------------------------------------


def cmd_alerts(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "ack":
            alert = alerts.acknowledge(session, actor=ctx.actor, alert_id=args.id)
            out(f"alert {alert.id} acknowledged")
            return 0
        rows = alerts.list_alerts(session, include_acknowledged=args.all)
        table(
            [
                [
                    a.id,
                    f"{a.at:%Y-%m-%d %H:%M}",
                    a.severity,
                    a.kind,
                    a.occurrences,
                    a.message,
                    a.acknowledged_by or "",
                ]
                for a in rows
            ],
            ["ID", "TIME (UTC)", "SEVERITY", "KIND", "SEEN", "MESSAGE", "ACK BY"],
        )
    return 0


def cmd_alerts_deliver(ctx: Context, args: argparse.Namespace) -> int:
    from app.services import webhooks  # httpx: only for the command that sends

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
