"""What an admin waits for, measured side by side in one run, on an idle machine and beside two
busy-loop processes: `config apply --yes` (CLI) and the dashboard's Apply (AppTest) until the proxy
serves the new revision, for 20 and for 10,000 models; `provider list` start-up; the proxy's first boot.
Two keep-alive clients send chat requests through the proxy all along: none may fail.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/apply.py [--applies 5] [--sizes 20,10000]

Targets: apply → live p50 ≤ 1.5 s idle at 20 models and ≤ 3 s with the CPU hogs; provider list ≤ 0.5 s;
first boot ≤ 10 s idle; 0 failed requests.
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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

from app import db  # noqa: E402
from app.crypto import load_master_key  # noqa: E402
from app.models import Model  # noqa: E402
from app.runtime.proxy_state import ProxyState, state_path  # noqa: E402
from app.services import providers, users  # noqa: E402
from app.services.access import Actor  # noqa: E402
from app.settings import load_settings  # noqa: E402
from tests.pg import free_port  # noqa: E402
from tests.upstream import FakeUpstream  # noqa: E402

BIN = Path(sys.executable).parent
ADMIN = Actor("bench", "admin")
PASSWORD = "bench password 123"


def busy_loop() -> None:
    while True:
        pass


@contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    hogs = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(count)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.terminate()
            hog.join()


class Load:
    """Keep-alive clients sending chat requests to the proxy until stopped; counts failures."""

    def __init__(self, url: str, key: str, clients: int = 2):
        self.url, self.key = url, key
        self.ok = self.failed = 0
        self.errors: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        body = {"model": "m-0", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        ) as c:
            while not self._stop.is_set():
                try:
                    status = c.post("/v1/chat/completions", json=body).status_code
                    error = None if status == 200 else f"HTTP {status}"
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                with self._lock:
                    if error is None:
                        self.ok += 1
                    else:
                        self.failed += 1
                        self.errors[error] = self.errors.get(error, 0) + 1
                time.sleep(0.02)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


class DidNotBoot(Exception):
    """The proxy did not serve its first revision, or a command failed: its last words say why."""


class Stack:
    """A data dir with one provider on a fake upstream and `size` enabled models, and an admin user."""

    def __init__(self, root: Path, size: int, upstream: FakeUpstream):
        self.root, self.port = root, free_port()
        self.env = {
            **os.environ,
            "LLM_ADMIN_DATA_DIR": str(root),
            "LLM_ADMIN_PROXY_PORT": str(self.port),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        os.environ.update(self.env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.cli("db", "upgrade")
        self.settings = load_settings()
        db.init(self.settings.database_url)
        from app.crypto import load_key_ring

        with db.Session.begin() as session:
            provider = providers.create_provider(
                session,
                actor=ADMIN,
                ring=load_key_ring(self.settings),
                name="bench",
                type="custom",
                base_url=f"{upstream.base_url}/v1",
                secrets={"api_key": "sk-bench-0123456789abcdef"},
            )
            session.execute(
                insert(Model),
                [
                    {
                        "provider_id": provider.id,
                        "identifier": f"fake-model-{i}",
                        "alias": f"m-{i}",
                        "enabled": True,
                        "input_cost_per_1m": 1.0,
                        "output_cost_per_1m": 2.0,
                        "created_by": "bench",
                        "updated_by": "bench",
                    }
                    for i in range(size)
                ],
            )
            users.create_user(session, actor=ADMIN, username="admin", password=PASSWORD, role="admin")
        self.key = load_master_key(self.settings) or ""
        self.supervisor: subprocess.Popen[bytes] | None = None
        self.changes = 0

    def cli(self, *args: str) -> float:
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "llm-admin"), *args], env=self.env, capture_output=True, text=True)
        if done.returncode:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
            raise DidNotBoot(f"`llm-admin {' '.join(args)}` failed: {' '.join(last)}")
        return time.perf_counter() - started

    def change(self) -> None:
        """An edit an admin would apply: a new price for one model."""
        self.changes += 1
        with db.Session.begin() as session:
            session.execute(
                update(Model).where(Model.alias == "m-1").values(input_cost_per_1m=1.0 + self.changes / 100)
            )

    def live_revision(self) -> int | None:
        state = ProxyState.load(state_path(self.settings))
        return state.live_revision if state else None

    def boot(self) -> float:
        """`llm-admin proxy run` from nothing to its first revision live (s)."""
        started = time.perf_counter()
        log = open(self.root / "supervisor.out", "ab")  # noqa: SIM115 - the child keeps it
        self.supervisor = subprocess.Popen(
            [str(BIN / "llm-admin"), "proxy", "run", "--workers", "2"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while self.live_revision() is None:
            if time.monotonic() > deadline or self.supervisor.poll() is not None:
                tail = (self.root / "supervisor.out").read_text(errors="replace").splitlines()[-3:]
                raise DidNotBoot(" / ".join(line.strip() for line in tail))
            time.sleep(0.02)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.supervisor and self.supervisor.poll() is None:
            os.killpg(self.supervisor.pid, signal.SIGTERM)
            self.supervisor.wait(60)


def dashboard_apply(stack: Stack) -> Callable[[], float]:
    """The Config page's Apply… then Yes, apply (AppTest, signed in as admin), until it reports."""
    from streamlit.testing.v1 import AppTest

    from app import ui
    from tests.pages.conftest import sign_in

    ui.settings.cache_clear()
    at = AppTest.from_file(str(HERE.parent / "streamlit_app.py"), default_timeout=600)
    sign_in(at, "admin", PASSWORD)
    at.switch_page("pages/config.py").run()

    def apply() -> float:
        stack.change()
        started = time.perf_counter()
        at.button(key="config_apply").click().run()
        at.button(key="config_apply_confirm").click().run()
        elapsed = time.perf_counter() - started
        shown = [s.value for s in at.success]
        if at.error or not any(" live " in text for text in shown):
            raise SystemExit(f"the dashboard's apply did not go live: {[e.value for e in at.error]} {shown}")
        return elapsed

    return apply


def run_size(size: int, applies: int, hogs: int, upstream: FakeUpstream) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "data", size, upstream)
        stack.cli("config", "apply", "--yes")
        with cpu_hogs(hogs):
            figures = {"first boot": stack.boot()}
            try:
                with Load(stack.url, stack.key) as load:
                    cli = []
                    for _ in range(applies):
                        stack.change()
                        cli.append(stack.cli("config", "apply", "--yes"))
                    apply = dashboard_apply(stack)
                    board = [apply() for _ in range(applies)]
                figures["CLI apply → live p50"] = statistics.median(cli)
                figures["dashboard apply → live p50"] = statistics.median(board)
                figures["provider list p50"] = statistics.median(
                    stack.cli("provider", "list") for _ in range(5)
                )
                figures["requests"] = load.ok + load.failed
                figures["failed"] = load.failed
            finally:
                stack.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applies", type=int, default=5)
    parser.add_argument("--sizes", default="20,10000")
    args = parser.parse_args()
    upstream = FakeUpstream().start()
    rows: dict[tuple[int, str], dict[str, float]] = {}
    unbooted: list[str] = []
    for size in (int(s) for s in args.sizes.split(",")):
        for hogs, label in ((0, "idle"), (2, "2 CPU hogs")):
            try:
                rows[(size, label)] = run_size(size, args.applies, hogs, upstream)
            except DidNotBoot as exc:
                print(f"{size:>6} models, {label:10}: not live: {exc}", flush=True)
                unbooted.append(f"{size} models, {label}")
                continue
            print(
                f"{size:>6} models, {label:10}: "
                + ", ".join(
                    f"{k} {v:.2f} s" if k not in ("requests", "failed") else f"{k} {v:.0f}"
                    for k, v in rows[(size, label)].items()
                ),
                flush=True,
            )
    upstream.stop()
    small_idle, small_busy = rows.get((20, "idle")), rows.get((20, "2 CPU hogs"))
    verdicts = []
    if small_idle and small_busy:
        verdicts = [
            ("CLI apply idle ≤ 1.5 s", small_idle["CLI apply → live p50"] <= 1.5),
            ("dashboard apply idle ≤ 1.5 s", small_idle["dashboard apply → live p50"] <= 1.5),
            ("CLI apply with hogs ≤ 3 s", small_busy["CLI apply → live p50"] <= 3),
            ("dashboard apply with hogs ≤ 3 s", small_busy["dashboard apply → live p50"] <= 3),
            ("provider list ≤ 0.5 s", small_idle["provider list p50"] <= 0.5),
            ("first boot idle ≤ 10 s", small_idle["first boot"] <= 10),
        ]
    verdicts.append(("0 failed requests", all(r["failed"] == 0 for r in rows.values())))
    verdicts += [(f"live with {case}", False) for case in unbooted]
    for name, ok in verdicts:
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
