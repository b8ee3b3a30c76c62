"""`llm-admin proxy run` as ops run it, for end-to-end tests: a data dir set up through the CLI, the
supervisor as a subprocess in a session of its own, and read-backs of what it records."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.models import Alert, UsageEvent
from app.runtime.proxy_state import ProxyState
from app.services.config import get_settings_row
from tests.e2e.proxy import BIN, ProxyFailed, proxy_env, running
from tests.pg import free_port

T = TypeVar("T")
STOP_TIMEOUT = 60.0


def llm_admin(
    data_dir: Path, *args: str, stdin: str | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the CLI on data_dir with a clean environment plus env; check=True asserts it exits 0."""
    done = subprocess.run(
        [str(BIN / "llm-admin"), *args],
        env=proxy_env({"LLM_ADMIN_DATA_DIR": str(data_dir), **env}),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert done.returncode == 0, f"llm-admin {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def add_provider(
    data_dir: Path, name: str, base_url: str, *extra: str, key: str = "sk-fake-upstream", **env: str
) -> None:
    """A `custom` (OpenAI-compatible) provider; its key is stored unless extra names a variable."""
    if "--api-key-env" in extra:
        llm_admin(
            data_dir,
            "provider",
            "add",
            "--name",
            name,
            "--type",
            "custom",
            "--base-url",
            base_url,
            *extra,
            **env,
        )
    else:
        llm_admin(
            data_dir,
            *(
                "provider",
                "add",
                "--name",
                name,
                "--type",
                "custom",
                "--base-url",
                base_url,
                "--api-key-stdin",
            ),
            *extra,
            stdin=key + "\n",
            **env,
        )


def add_model(
    data_dir: Path,
    provider: str,
    alias: str,
    *,
    model: str = "fake-model",
    cost_in: str = "1",
    cost_out: str = "2",
    **env: str,
) -> None:
    """An enabled model of provider, served as alias, priced per 1M tokens."""
    llm_admin(
        data_dir,
        *("model", "add", "--provider", provider, "--model", model, "--alias", alias),
        *("--input-cost-per-1m", cost_in, "--output-cost-per-1m", cost_out, "--enable"),
        **env,
    )


def set_router_settings(data_dir: Path, router_settings: dict[str, Any]) -> None:
    """What the dashboard's routing page stores: the config_settings row's router_settings."""
    engine = create_engine(f"sqlite:///{data_dir / 'llm-admin.db'}")
    with Session(engine) as session, session.begin():
        get_settings_row(session).router_settings = router_settings
    engine.dispose()


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """probe() once it returns something truthy, or fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Supervised:
    """A running `llm-admin proxy run`: its data dir, URL, process and master key."""

    data_dir: Path
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    master_key: str

    @property
    def config(self) -> Path:
        return self.data_dir / "litellm-config.yaml"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "proxy-state.json"

    def state(self) -> ProxyState | None:
        return ProxyState.load(self.state_file)

    def cli(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        return llm_admin(self.data_dir, *args, check=check, **env)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.master_key}"}, timeout=timeout
        )

    def chat(self, model: str, client: httpx.Client | None = None) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        if client is not None:
            return client.post("/v1/chat/completions", json=body)
        with self.client() as fresh:
            return fresh.post("/v1/chat/completions", json=body)

    def served_revisions(self) -> set[int]:
        with self.client() as client:
            response = client.get("/v1/model/info", headers={"Connection": "close"})
        assert response.status_code == 200, response.text
        return {d["model_info"]["llm_admin_revision"] for d in response.json()["data"]}

    def logs(self) -> str:
        proxy_log = self.data_dir / "logs" / "proxy.log"
        parts = [p.read_text(errors="replace")[-4000:] for p in (self.log_path, proxy_log) if p.exists()]
        return "\n---\n".join(parts)

    def stop(self) -> int:
        """SIGTERM the supervisor alone (it stops its gunicorn master) and wait for it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT)

    def usage(self) -> list[UsageEvent]:
        return _read(self.data_dir, select(UsageEvent).order_by(UsageEvent.id))

    def alerts(self, kind: str | None = None) -> list[Alert]:
        query = select(Alert).order_by(Alert.id)
        if kind:
            query = query.where(Alert.kind == kind)
        return _read(self.data_dir, query)


def _read(data_dir: Path, query: Any) -> list[Any]:
    engine = create_engine(f"sqlite:///{data_dir / 'llm-admin.db'}")
    try:
        with Session(engine, expire_on_commit=False) as session:
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows
    finally:
        engine.dispose()


@contextmanager
def supervised(
    data_dir: Path, *, workers: int = 2, env: Mapping[str, str] | None = None
) -> Iterator[Supervised]:
    """`llm-admin proxy run --port <free> --workers N` until the block ends, once its revision is live."""
    port = free_port()
    command = [str(BIN / "llm-admin"), "proxy", "run", "--port", str(port), "--workers", str(workers)]
    log_path = data_dir / "logs" / "supervisor.log"
    with running(
        command, port=port, env={"LLM_ADMIN_DATA_DIR": str(data_dir), **(env or {})}, log_path=log_path
    ) as proxy:
        sup = Supervised(
            data_dir, proxy.url, proxy.process, log_path, (data_dir / "master.key").read_text().strip()
        )

        def live() -> ProxyState | None:
            if sup.process.poll() is not None:
                raise ProxyFailed(f"the supervisor exited with {sup.process.returncode}:\n{sup.logs()}")
            state = sup.state()
            return state if state and state.live_revision is not None else None

        wait_for(live, 60, "the supervisor to report a live revision")
        yield sup


class Load:
    """Client threads, each with keep-alive connections, sending chat requests to the proxies in turn
    (as a load balancer would) until stopped."""

    def __init__(self, urls: Sequence[str], key: str, *, clients: int, model: str):
        self.urls, self.key, self.model = list(urls), key, model
        self.ok = 0
        self.answered_at: list[float] = []  # time.monotonic() of each answered request
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        body = {"model": self.model, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as client:
            for url in itertools.cycle(self.urls):
                if self._stop.is_set():
                    return
                try:
                    response = client.post(f"{url}/v1/chat/completions", json=body)
                    outcome = "ok" if response.status_code == 200 else f"{url} HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    outcome = f"{url} {type(exc).__name__}: {exc}"
                with self._lock:
                    if outcome == "ok":
                        self.ok += 1
                        self.answered_at.append(time.monotonic())
                    else:
                        self.failures[outcome] += 1

    def answered_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(start <= at <= end for at in self.answered_at)

    @property
    def total(self) -> int:
        return self.ok + sum(self.failures.values())

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
