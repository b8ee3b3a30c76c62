"""Health monitor, measured: a 100-provider sweep, and how fast traffic leaves a dead provider.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/health.py [--only sweep|steer]

1. Sweep: 100 providers on fake upstreams served from another process (70 fast, 15 slow at 0.3–1.0 s,
   10 dead — nothing listens —, 5 hanging), probe timeout 1.5 s: wall time of each sweep (target
   ≤ 2 s) beside the sum of the probe times (what probing one after another would take).
2. Steering: group `chat` on two providers (primary, secondary) with fallback `backup`, our supervisor
   running the proxy with 2 workers, 4 keep-alive callers. The primary dies (starts answering 500) and
   stays dead for a window of the same length in both runs, side by side:
   a. LiteLLM's cooldown alone: each worker's first failing request cools the primary for 30 s, then
      it is tried again. Counted: caller requests that still reached the dead primary.
   b. With `llm-admin monitor` running: death → provider_down alert → config re-rendered without the
      primary → live; caller requests that reached the primary before and after that (target after: 0).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import yaml  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import db, monitor  # noqa: E402
from app.models import Alert, ConfigRevision, as_utc  # noqa: E402
from app.runtime.proxy_state import ProxyState, state_path  # noqa: E402
from benchmarks.proxy_runtime import BIN, Stack, load_client  # noqa: E402
from tests.pg import free_port  # noqa: E402
from tests.upstream import FakeUpstream  # noqa: E402

TIMEOUT = 1.5
MIX = {"fast": 70, "slow": 15, "dead": 10, "hang": 5}


# --- 1. sweep ------------------------------------------------------------------------------


def _serve(specs: list[dict[str, Any]], conn: Connection) -> None:
    """Child process: one fake upstream per spec; sends their base URLs, serves until told to stop."""
    upstreams = [FakeUpstream(**spec).start() for spec in specs]
    conn.send([u.base_url for u in upstreams])
    conn.recv()
    for upstream in upstreams:
        upstream.stop()


def bench_sweep(root: Path, sweeps: int) -> None:
    rng = random.Random(5)
    kinds = [kind for kind, n in MIX.items() for _ in range(n)]
    specs: list[dict[str, Any]] = []
    for kind in kinds:
        if kind == "slow":
            specs.append({"delay_seconds": round(rng.uniform(0.3, 1.0), 2)})
        elif kind == "hang":
            specs.append({"mode": "hang", "hang_seconds": 30})
        elif kind == "fast":
            specs.append({})
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(specs, child), daemon=True)
    server.start()
    urls = iter(parent.recv())
    stack = Stack(root)
    for i, kind in enumerate(kinds):
        url = f"http://127.0.0.1:{free_port()}" if kind == "dead" else next(urls)
        stack.add(f"{kind}-{i:03d}", url, f"m{i:03d}")
    print(
        f"\n1. sweep of {len(kinds)} providers ({', '.join(f'{n} {k}' for k, n in MIX.items())}), "
        f"timeout {TIMEOUT:g} s"
    )
    walls = []
    try:
        for n in range(1, sweeps + 1):
            summary = monitor.sweep(stack.settings, timeout=TIMEOUT, ring=stack.ring)
            walls.append(summary.wall_ms)
            by_kind: dict[str, list[monitor.Probed]] = {}
            for probed in summary.probed:
                by_kind.setdefault(probed.name.split("-")[0], []).append(probed)
            serial = sum(p.latency_ms or 0 for p in summary.probed)
            counts = ", ".join(f"{c} {s}" for s, c in sorted(summary.counts().items()))
            print(
                f"   sweep {n}: wall {summary.wall_ms:6.0f} ms  [target ≤ 2000]   sum of probe times "
                f"{serial / 1000:5.1f} s (×{serial / summary.wall_ms:.0f})   verdicts: {counts}"
            )
        print("   probe latency by kind, ms (p50 / max) in the last sweep:")
        for kind, probed in sorted(by_kind.items()):
            lat = [p.latency_ms or 0 for p in probed]
            ok = sum(p.ok for p in probed)
            print(f"     {kind:5s} {statistics.median(lat):7.0f} / {max(lat):6.0f}   ok {ok}/{len(probed)}")
        print(f"   wall p50 {statistics.median(walls):.0f} ms, max {max(walls):.0f} ms")
    finally:
        parent.send("stop")
        server.join(10)


# --- 2. steering ---------------------------------------------------------------------------


def _posts(upstream: FakeUpstream) -> int:
    return sum(1 for s in upstream.seen if s.method == "POST")


def _load(stack: Stack, clients: int) -> tuple[Any, Any, list[Any]]:
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=load_client, args=(stack.url, stack.key, stop, out)) for _ in range(clients)]
    for proc in procs:
        proc.start()
    return stop, out, procs


def _stop_load(stop: Any, out: Any, procs: list[Any]) -> tuple[int, int, dict[str, int]]:
    stop.set()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join()
    errors: dict[str, int] = {}
    for r in results:
        for name, n in r[2].items():
            errors[name] = errors.get(name, 0) + n
    return sum(r[0] for r in results), sum(r[1] for r in results), errors


def _watch(
    window: float, upstream: FakeUpstream, marks: dict[str, Callable[[], float | None]]
) -> tuple[list[tuple[float, int]], dict[str, float]]:
    """Sample the dead primary's request count every 10 ms for `window` s; times when each mark fires."""
    started = time.time()
    samples: list[tuple[float, int]] = []
    fired: dict[str, float] = {}
    while time.time() - started < window:
        samples.append((time.time(), _posts(upstream)))
        for name, probe in marks.items():
            if name not in fired:
                at = probe()
                if at is not None:
                    fired[name] = at
        time.sleep(0.01)
    return samples, fired


def _count_at(samples: list[tuple[float, int]], moment: float) -> int:
    """The dead primary's request count at `moment` (the last sample taken by then)."""
    return next((n for t, n in reversed(samples) if t <= moment), samples[0][1] if samples else 0)


def _hits_between(samples: list[tuple[float, int]], start: float, end: float | None = None) -> int:
    return _count_at(samples, end if end is not None else float("inf")) - _count_at(samples, start)


def _ts(moment: Any) -> float:
    return float(as_utc(moment).timestamp())


def bench_steer(root: Path, window: float, interval: float, recheck: float, clients: int) -> None:
    upstreams = {name: FakeUpstream().start() for name in ("primary", "secondary", "backup")}
    primary = upstreams["primary"]
    stack = Stack(root)
    monitor_proc: subprocess.Popen[bytes] | None = None
    try:
        stack.add("primary", primary.base_url, "chat")
        stack.add("secondary", upstreams["secondary"].base_url, "chat")
        stack.add("backup", upstreams["backup"].base_url, "backup")
        stack.fallbacks({"chat": ["backup"]})
        stack.start(stack.apply())
        print(
            f"\n2. traffic off a dead provider: group chat = primary + secondary (fallback backup), "
            f"2 workers, {clients} callers, primary answers 500 for {window:g} s in each run"
        )

        # a. LiteLLM's cooldown alone
        stop, out, procs = _load(stack, clients)
        time.sleep(2)
        t0 = time.time()
        primary.mode = "error500"
        samples, _ = _watch(window, primary, {})
        ok, failed, errors = _stop_load(stop, out, procs)
        total_a = _hits_between(samples, t0)
        first_s = _hits_between(samples, t0, t0 + 1)
        after_30 = _hits_between(samples, t0 + 30)
        print("   a. LiteLLM cooldown alone (allowed_fails 0, cooldown_time 30 s, per worker):")
        print(
            f"      caller requests that reached the dead primary: {total_a} "
            f"({first_s} in the first second, {after_30} after the 30 s cooldown ran out)"
        )
        print(f"      caller requests: {ok + failed}, failed {failed} {errors or ''}")

        # reset: the primary is back, and a reload gives fresh workers (no cooldown state)
        primary.mode = "ok"
        stack.wait_live(stack.apply())
        log = open(root / "monitor.out", "ab")  # noqa: SIM115 - the child keeps it
        monitor_proc = subprocess.Popen(
            [str(BIN / "llm-admin"), "monitor", "--interval", f"{interval:g}", "--recheck", f"{recheck:g}"],
            env=stack.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        time.sleep(3)  # its first sweep has run: every provider healthy

        # b. with the monitor
        stop, out, procs = _load(stack, clients)
        time.sleep(2)
        with db.Session.begin() as session:
            last_revision = session.scalars(
                select(ConfigRevision.number).order_by(ConfigRevision.number.desc())
            ).first()
        # die at a random point of the monitor's interval, as an outage would
        time.sleep(random.uniform(0, interval))
        t0 = time.time()
        primary.mode = "error500"
        revision: dict[str, int] = {}

        def alerted() -> float | None:
            with db.Session.begin() as session:
                at = session.scalars(
                    select(Alert.at).where(Alert.kind == "provider_down", Alert.provider == "primary")
                ).first()
            return _ts(at) if at is not None else None

        def applied() -> float | None:
            with db.Session.begin() as session:
                row = session.scalars(
                    select(ConfigRevision).where(
                        ConfigRevision.number > (last_revision or 0), ConfigRevision.author == "monitor"
                    )
                ).first()
            if row is None:
                return None
            revision["number"] = row.number
            return _ts(row.created_at)

        def live() -> float | None:
            state = ProxyState.load(state_path(stack.settings))
            last = state.last_reload if state else None
            if "number" in revision and last is not None and last.revision == revision["number"] and last.ok:
                return float(last.at)
            return None

        samples, fired = _watch(window, primary, {"alert": alerted, "applied": applied, "live": live})
        ok, failed, errors = _stop_load(stop, out, procs)
        print(
            f"   b. llm-admin monitor (interval {interval:g} s, recheck {recheck:g} s, timeout {TIMEOUT:g} s)"
        )
        for name in ("alert", "applied", "live"):
            shown = f"{(fired[name] - t0) * 1000:7.0f} ms" if name in fired else "    (not within the window)"
            print(f"      death → {name:8s}{shown}")
        with db.Session.begin() as session:
            message = session.scalars(
                select(Alert.message).where(Alert.kind == "provider_down", Alert.provider == "primary")
            ).first()
        print(f"      alert: {message}")
        if "number" in revision:
            text = (stack.settings.config_path).read_text()
            served = sorted(
                d["model_info"].get("llm_admin_provider", "?") for d in yaml.safe_load(text)["model_list"]
            )
            print(f"      revision {revision['number']} serves: {', '.join(served)}")
            if "primary" in served:
                print(
                    "      NOTE: the generator still renders the down primary; re-rendering cannot steer yet"
                )
        live_at = fired.get("live")
        before = _hits_between(samples, t0, live_at) if live_at else _hits_between(samples, t0)
        after = _hits_between(samples, live_at) if live_at else None
        print(
            f"      caller requests that reached the dead primary: {before} before live, "
            f"{after if after is not None else 'n/a'} after  [target after: 0]"
        )
        print(f"      caller requests: {ok + failed}, failed {failed} {errors or ''}")
        print(
            f"   with the defaults (interval {monitor.DEFAULT_INTERVAL:g} s, recheck "
            f"{monitor.DEFAULT_RECHECK:g} s) death → down takes at most interval + recheck + timeout = "
            f"{monitor.DEFAULT_INTERVAL + monitor.DEFAULT_RECHECK + TIMEOUT:g} s; sooner when a probe is the "
            "first to see it"
        )
    finally:
        if monitor_proc is not None and monitor_proc.poll() is None:
            os.killpg(monitor_proc.pid, signal.SIGTERM)
            monitor_proc.wait(30)
        stack.stop()
        for upstream in upstreams.values():
            upstream.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("sweep", "steer"), help="run one part")
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--window", type=float, default=40.0, help="seconds the primary stays dead")
    parser.add_argument("--interval", type=float, default=10.0, help="the monitor's interval in part 2")
    parser.add_argument("--recheck", type=float, default=2.0, help="the monitor's recheck in part 2")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    if args.only in (None, "sweep"):
        with tempfile.TemporaryDirectory(prefix="llm-admin-bench-health-") as tmp:
            bench_sweep(Path(tmp), args.sweeps)
    if args.only in (None, "steer"):
        with tempfile.TemporaryDirectory(prefix="llm-admin-bench-steer-") as tmp:
            bench_steer(Path(tmp), args.window, args.interval, args.recheck, args.clients)


if __name__ == "__main__":
    main()
