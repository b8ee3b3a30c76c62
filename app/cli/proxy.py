"""`llm-admin proxy run|reload|status`: the supervised LiteLLM proxy, or the stock one's revision."""

from __future__ import annotations

import argparse
import time

from app.cli.common import Context, out
from app.errors import LlmAdminError
from app.runtime import proxy_state
from app.runtime.processes import child_pids
from app.services import config, golive


def cmd_proxy(ctx: Context, args: argparse.Namespace) -> int:
    settings = ctx.settings
    path = proxy_state.state_path(settings)
    state = proxy_state.ProxyState.load(path)
    if args.action == "run":
        if state is not None and state.running:
            raise LlmAdminError(f"a supervisor already runs (pid {state.supervisor_pid}); stop it first")
        from app.proxy import supervisor  # only `proxy run` loads the supervisor (httpx, the checks)

        runner = supervisor.Supervisor(
            settings,
            host=args.host or settings.proxy_host,
            port=args.port or settings.proxy_port,
            workers=args.workers,
        )
        try:
            return runner.run()
        except RuntimeError as exc:
            raise LlmAdminError(str(exc)) from None
    if args.action == "reload":
        result = golive.request_reload(settings, actor=ctx.actor)
        out(result.message)
        return 0 if result.ok else 1
    states = proxy_state.replica_states(settings)
    if not states:
        return _stock_status(ctx)
    for state in states:
        if len(states) > 1:
            out(f"[{state.label}]")
        if state.master_pid is None:
            out(f"supervisor pid {state.supervisor_pid}: waiting for the first `llm-admin config apply`")
            continue
        workers = child_pids(state.master_pid)
        ready = proxy_state.ready_workers(settings, workers)
        out(f"supervisor pid {state.supervisor_pid}, proxy on {state.host}:{state.port}")
        out(f"revision live: {state.live_revision}")
        # a worker counts as serving only once it reported ready (with its keys resolved)
        out(f"workers: {len(ready)} serving, {len(workers)} running (of {state.workers})")
        out(f"uptime: {time.time() - state.started_at:.0f} s")
        last = state.last_reload
        out(f"last reload: {last.message if last else 'none'}")
    return 0


def _stock_status(ctx: Context) -> int:
    """Without our supervisor: ask the proxy itself which revision it serves."""
    with ctx.session() as session:
        latest = next(iter(config.history(session, limit=1)), None)
        applied = latest.number if latest else None
    host, port = ctx.settings.proxy_host, ctx.settings.proxy_port
    live = golive.served_revision(ctx.settings)
    out(f"no llm-admin supervisor; the proxy at {host}:{port} serves revision {live}")
    if applied is not None and applied != live:
        out(f"revision {applied}: applied, waiting for restart (`{golive.restart_advice(ctx.settings)}`)")
    return 0
