"""`llm-admin monitor` (active health probes) and `llm-admin health` (what the monitor found)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from app import monitor
from app.cli.common import Context, out, table
from app.services import health, providers


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def _print_once(summary: monitor.SweepSummary) -> None:
    rows = [
        [p.name, p.status, _ms(p.latency_ms), "" if p.ok else p.message]
        for p in sorted(summary.probed, key=lambda p: p.name.casefold())
    ]
    table(rows, ["PROVIDER", "STATUS", "LATENCY", "ERROR"])
    _print_actions(summary)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts().items()))
    out(f"{len(summary.probed)} provider(s) in {summary.wall_ms:.0f} ms: {counts or 'none enabled'}")


def _print_actions(summary: monitor.SweepSummary) -> None:
    for change in summary.transitions:
        out(f"{change.provider}: {change.old} → {change.new}")
    if summary.applied_revision is not None:
        out(f"config revision {summary.applied_revision} applied (down: {', '.join(summary.down) or 'none'})")
    if summary.apply_error:
        out(f"could not apply the config: {summary.apply_error}")
    for note in summary.notes:
        out(note)


def _print_sweep(summary: monitor.SweepSummary) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts().items()))
    down = f" — down: {', '.join(summary.down)}" if summary.down else ""
    out(
        f"{summary.at:%Y-%m-%d %H:%M:%S} sweep of {len(summary.probed)} provider(s) in "
        f"{summary.wall_ms:.0f} ms: {counts or 'none enabled'}{down}"
    )
    _print_actions(summary)
    sys.stdout.flush()  # a log file is block-buffered: each sweep shows up as it happens


def cmd_monitor(ctx: Context, args: argparse.Namespace) -> int:
    if not args.once:
        out(
            f"monitor: probing every {args.interval:g} s (timeout {args.timeout:g} s, failing providers "
            f"again after {args.recheck:g} s); Ctrl-C stops it"
        )
        sys.stdout.flush()
    return monitor.run(
        ctx.settings,
        interval=args.interval,
        once=args.once,
        timeout=args.timeout,
        recheck=args.recheck,
        report=_print_once if args.once else _print_sweep,
        slow_ms=args.slow_ms,
    )


def cmd_health(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.history is not None:
            ids = [providers.find_provider(session, name=args.provider).id] if args.provider else None
            points = health.health_history(session, provider_ids=ids, limit=max(args.history, 1))
            table(
                [
                    [_when(p.at), p.provider, "ok" if p.ok else "FAILED", _ms(p.latency_ms), p.error]
                    for p in points
                ],
                ["TIME (UTC)", "PROVIDER", "RESULT", "LATENCY", "ERROR"],
            )
            return 0
        views = health.list_health(session, include_disabled=args.all)
        if args.provider:
            wanted = providers.find_provider(session, name=args.provider).id
            views = [v for v in views if v.provider_id == wanted]
        table(
            [
                [
                    v.name,
                    v.status + ("" if v.enabled else " (disabled)"),
                    _ms(v.latency_ms),
                    v.consecutive_failures or "",
                    _when(v.checked_at),
                    _when(v.changed_at),
                    v.error,
                ]
                for v in views
            ],
            ["PROVIDER", "STATUS", "LATENCY", "FAILURES", "CHECKED (UTC)", "SINCE (UTC)", "ERROR"],
        )
    return 0
