"""Proxy runtime, measured side by side in one run: apply under load, failover latency, hook overhead.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/proxy_runtime.py [--applies 20]

1. Apply: N `config apply` under 4 clients' continuous keep-alive load through our supervisor:
   time from apply to "live", and failed requests of the total (targets: ≤ 1 s, 0 failed of ≥ 2,000).
2. Failover: a primary that refuses connections / answers 500 / hangs, with fallback to a backup
   group; the first request (the primary just died) and the steady state (primary in cooldown),
   against a direct request to the backup through the same proxy (targets: refused and 500 within
   50 ms of direct; hang within the 4 s timeout + 100 ms).
3. Hook overhead: p50 and p99 through two proxies on the same config, one with our usage hooks and
   one without, requests interleaved one for one (target: p50 ratio ≤ 1.05).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
import yaml  # noqa: E402

from app import db  # noqa: E402
from app.crypto import load_key_ring, load_master_key  # noqa: E402
from app.runtime.proxy_state import ProxyState, ReloadResult, state_path  # noqa: E402
from app.services import config, models, providers  # noqa: E402
from app.services.access import Actor  # noqa: E402
from app.settings import load_settings  # noqa: E402
from generator.build import HOOKS  # noqa: E402
from tests.pg import free_port  # noqa: E402
from tests.upstream import FakeUpstream  # noqa: E402

BIN = Path(sys.executable).parent
ADMIN = Actor("bench", "admin")
BODY = {"messages": [{"role": "user", "content": "hi"}]}


def load_client(url: str, key: str, stop: Callable[[], bool] | None, out: multiprocessing.Queue) -> None:
    """One keep-alive client sending chat requests until `stop` is set; reports (ok, failed, errors)."""
    ok = failed = 0
    errors: dict[str, int] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        while not stop.is_set():  # type: ignore[union-attr]
            try:
                response = client.post("/v1/chat/completions", json={"model": "chat", **BODY})
                if response.status_code == 200:
                    ok += 1
                    continue
                name = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                name = type(exc).__name__
            failed += 1
            errors[name] = errors.get(name, 0) + 1
    out.put((ok, failed, errors))


class Stack:
    """A data dir with providers on fake upstreams, applied, and our supervisor running the proxy."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        os.environ.update(
            LLM_ADMIN_DATA_DIR=str(root),
            LLM_ADMIN_PROXY_PORT=str(self.port),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
        )
        self.env = dict(os.environ)
        self.settings = load_settings()
        self.ring = load_key_ring(self.settings)
        self.key = load_master_key(self.settings) or ""
        self.url = f"http://127.0.0.1:{self.port}"
        self.supervisor: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [str(BIN / "llm-admin"), "db", "upgrade"], env=self.env, check=True, capture_output=True
        )
        db.init(self.settings.database_url)

    def add(self, name: str, base_url: str, alias: str) -> None:
        with db.Session.begin() as session:
            provider = providers.create_provider(
                session,
                actor=ADMIN,
                ring=self.ring,
                name=name,
                type="custom",
                base_url=f"{base_url}/v1",
                secrets={"api_key": f"sk-{name}-0123456789abcdef"},
            )
            models.create_model(
                session,
                actor=ADMIN,
                provider_id=provider.id,
                identifier="fake-model",
                alias=alias,
                enabled=True,
                input_cost_per_1m=1.0,
                output_cost_per_1m=2.0,
            )

    def fallbacks(self, mapping: dict[str, list[str]]) -> None:
        with db.Session.begin() as session:
            row = config.get_settings_row(session)
            row.router_settings = {"fallbacks": [{k: v} for k, v in mapping.items()]}

    def apply(self) -> int:
        return config.apply(
            actor=ADMIN, settings=self.settings, ring=self.ring, environ=self.env, deep=False
        ).number

    def wait_live(self, number: int, timeout: float = 60) -> ReloadResult:
        """The supervisor's report on revision `number` (its ms run from seeing the file to live)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = ProxyState.load(state_path(self.settings))
            last = state.last_reload if state else None
            if last is not None and last.revision == number:
                return last
            time.sleep(0.005)
        return ReloadResult(number, False, timeout * 1000, "no report from the supervisor")

    def start(self, number: int) -> None:
        log = open(self.root / "supervisor.out", "ab")  # noqa: SIM115 - the child keeps it
        self.supervisor = subprocess.Popen(
            [str(BIN / "llm-admin"), "proxy", "run", "--workers", "2"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        report = self.wait_live(number, timeout=180)
        if not report.ok:
            raise SystemExit(f"the supervisor did not start: {report.message}")

    def stop(self) -> None:
        if self.supervisor and self.supervisor.poll() is None:
            os.killpg(self.supervisor.pid, signal.SIGTERM)
            self.supervisor.wait(60)

    def client(self, url: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=url or self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )


def timed(client: httpx.Client, model: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = client.post("/v1/chat/completions", json={"model": model, **BODY}).status_code
    return status, (time.perf_counter() - started) * 1000


def bench_apply(stack: Stack, applies: int) -> None:
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    clients = [ctx.Process(target=load_client, args=(stack.url, stack.key, stop, out)) for _ in range(4)]
    for c in clients:
        c.start()
    time.sleep(2)
    times, reports = [], []
    for _ in range(applies):
        started = time.perf_counter()
        reports.append(stack.wait_live(stack.apply()))
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(1.0)  # load between applies too: ≥ 2,000 requests in all
    time.sleep(2)
    stop.set()
    results = [out.get(timeout=60) for _ in clients]
    for c in clients:
        c.join()
    ok_total, failed = sum(r[0] for r in results), sum(r[1] for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for name, n in r[2].items():
            errors[name] = errors.get(name, 0) + n
    print(f"\n1. apply under load: {applies} applies, 4 keep-alive clients")
    print(f"   apply → live: p50 {statistics.median(times):.0f} ms, max {max(times):.0f} ms  [target ≤ 1000]")
    seen_to_live = statistics.median(r.ms for r in reports)
    print(f"   of which file seen → live: p50 {seen_to_live:.0f} ms; steps (p50 ms from seen):")
    for step in ("preflight", "workers forked", "workers started"):
        at = [r.phases[step] for r in reports if step in r.phases]
        print(f"     {step:15s} {statistics.median(at) if at else float('nan'):6.0f}")
    print(f"   requests: {failed} failed of {ok_total + failed} {errors or ''}  [target 0 of ≥ 2,000]")
    failed_reloads = [r.message for r in reports if not r.ok]
    if failed_reloads:
        print(f"   reloads that failed: {failed_reloads}")


def bench_failover(stack: Stack) -> None:
    print("\n2. failover, ms through the same proxy (primary → fallback 'backup')")
    with stack.client() as client:
        for _ in range(5):
            timed(client, "backup")
        direct = statistics.median(timed(client, "backup")[1] for _ in range(30))
        print(f"   direct to backup: p50 {direct:.1f}")
        for mode in ("refused", "error500", "hang"):
            status, first = timed(client, f"primary-{mode}")
            steady = statistics.median(timed(client, f"primary-{mode}")[1] for _ in range(15))
            bound = "first ≤ 4100" if mode == "hang" else "≤ direct + 50"
            print(
                f"   {mode:8s}  first {first:7.1f} (HTTP {status}, first − direct {first - direct:+7.1f})"
                f"   steady {steady:6.1f} (steady − direct {steady - direct:+6.1f})  [{bound}]"
            )


def bench_hooks(stack: Stack, requests: int) -> None:
    """Two proxies, same config but for our callbacks, one worker each; requests alternate."""
    with_hooks = stack.settings.config_path
    without = stack.root / "no-hooks" / with_hooks.name
    without.parent.mkdir(exist_ok=True)
    data = yaml.safe_load(with_hooks.read_text())
    callbacks = [c for c in data["litellm_settings"].get("callbacks", []) if c != HOOKS]
    data["litellm_settings"]["callbacks"] = callbacks
    without.write_text(yaml.safe_dump(data))
    for shim in with_hooks.parent.glob("llm_admin_*.py"):
        (without.parent / shim.name).write_text(shim.read_text())
    ports = {"hooks": free_port(), "plain": free_port()}
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.proxy.server",
                "--config",
                str(path),
                "--port",
                str(ports[name]),
                "--workers",
                "1",
            ],
            env={**stack.env, "LITELLM_MASTER_KEY": stack.key},
            cwd=HERE.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for name, path in (("hooks", with_hooks), ("plain", without))
    }
    try:
        clients = {name: stack.client(f"http://127.0.0.1:{port}") for name, port in ports.items()}
        for client in clients.values():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if timed(client, "chat")[0] == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
        for _ in range(30):
            for client in clients.values():
                timed(client, "chat")
        samples: dict[str, list[float]] = {"hooks": [], "plain": []}
        for _ in range(requests):
            for name, client in clients.items():
                samples[name].append(timed(client, "chat")[1])
        q = {name: statistics.quantiles(values, n=100) for name, values in samples.items()}
        p50 = {name: statistics.median(values) for name, values in samples.items()}
        print(f"\n3. hook overhead: {requests} requests each, interleaved, 1 worker each")
        for name in ("plain", "hooks"):
            print(f"   {name:6s} p50 {p50[name]:6.1f} ms  p99 {q[name][98]:6.1f} ms")
        p50_ratio, p99_ratio = p50["hooks"] / p50["plain"], q["hooks"][98] / q["plain"][98]
        print(f"   ratio hooks/plain: p50 {p50_ratio:.3f}  p99 {p99_ratio:.3f}  [target p50 ≤ 1.05]")
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applies", type=int, default=20)
    parser.add_argument("--hook-requests", type=int, default=500)
    parser.add_argument("--only", choices=("apply", "failover", "hooks"), help="run one part")
    args = parser.parse_args()
    upstreams = {
        "chat": FakeUpstream().start(),
        "backup": FakeUpstream(reply="from the backup").start(),
        "error500": FakeUpstream(mode="error500").start(),
        "hang": FakeUpstream(mode="hang", hang_seconds=60).start(),
    }
    with tempfile.TemporaryDirectory(prefix="llm-admin-bench-") as tmp:
        stack = Stack(Path(tmp))
        stack.add("chat", upstreams["chat"].base_url, "chat")
        stack.add("backup", upstreams["backup"].base_url, "backup")
        stack.add("refused", f"http://127.0.0.1:{free_port()}", "primary-refused")  # nothing listens
        stack.add("error500", upstreams["error500"].base_url, "primary-error500")
        stack.add("hang", upstreams["hang"].base_url, "primary-hang")
        stack.fallbacks({f"primary-{m}": ["backup"] for m in ("refused", "error500", "hang")})
        stack.start(stack.apply())
        try:
            if args.only in (None, "apply"):
                bench_apply(stack, args.applies)
            if args.only in (None, "failover"):
                bench_failover(stack)
            if args.only in (None, "hooks"):
                bench_hooks(stack, args.hook_requests)
        finally:
            stack.stop()
            for upstream in upstreams.values():
                upstream.stop()


if __name__ == "__main__":
    main()
