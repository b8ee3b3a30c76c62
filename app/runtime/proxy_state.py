"""The supervisors' state files: what `proxy status`, `config apply` and the dashboard read back from
every running supervisor on a data dir, and where its workers report readiness."""

from __future__ import annotations

import functools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.runtime.processes import pid_alive
from app.settings import Settings
from generator import files
from generator.build import REVISION_KEY

START_DEADLINE = 180.0
RELOAD_DEADLINE = 30.0
# each deployment adds to what a new worker loads into LiteLLM's router: ~2.5 ms each on an idle 2-core
# box, up to ~15 ms beside two busy loops while the old workers go on serving (benchmarks/apply.py:
# 10,000 models, CLI apply to live 119-159 s); the slope leaves half as much again
DEADLINE_PER_DEPLOYMENT = 0.022
MAX_DEPLOYMENTS = 10_000  # the size the reload path is measured at (benchmarks/apply.py)


def reload_deadline(deployments: int) -> float:
    """How long a reload of a config of this many deployments may take before it counts as failed
    (30 s, 250 s at 10,000 deployments)."""
    return RELOAD_DEADLINE + deployments * DEADLINE_PER_DEPLOYMENT


def start_deadline(deployments: int) -> float:
    """The same for the proxy's first start (180 s, 400 s at 10,000)."""
    return START_DEADLINE + deployments * DEADLINE_PER_DEPLOYMENT


# a supervisor whose state file has not been touched for this long is gone (works across containers
# sharing the data volume, where its pid means nothing)
STALE_SECONDS = 10.0


def state_path(settings: Settings, name: str | None = None) -> Path:
    """This supervisor's state file; several named ones (`LLM_ADMIN_PROXY_NAME`) share a data dir."""
    name = settings.proxy_name if name is None else name
    return settings.data_dir / (f"proxy-state-{name}.json" if name else "proxy-state.json")


def workers_dir(settings: Settings) -> Path:
    """Where this supervisor's workers report readiness (`<pid>.json`, see worker.py)."""
    suffix = f"-{settings.proxy_name}" if settings.proxy_name else ""
    return settings.data_dir.resolve() / f"proxy-workers{suffix}"


def ready_workers(settings: Settings, pids: set[int]) -> set[int]:
    """The pids among `pids` that reported ready: started, their keys resolved."""
    directory = workers_dir(settings)
    return {pid for pid in pids if (directory / f"{pid}.json").exists()}


def reload_request_path(settings: Settings) -> Path:
    """Touched by `llm-admin proxy reload`: every supervisor on this data dir reloads."""
    return settings.data_dir / "proxy-reload-request"


@dataclass
class ReloadResult:
    revision: int | None
    ok: bool
    ms: float
    message: str
    at: float = field(default_factory=time.time)
    phases: dict[str, float] = field(default_factory=dict)  # ms from the start at each step
    pending: bool = False  # not a verdict: the revision waits (for the database) and is retried


@dataclass
class ProxyState:
    """What `llm-admin proxy status` and `config apply` read back from a running supervisor."""

    supervisor_pid: int
    master_pid: int | None
    host: str
    port: int
    workers: int
    started_at: float
    live_revision: int | None = None
    live_sha256: str | None = None
    last_reload: ReloadResult | None = None
    name: str = ""
    heartbeat_at: float = 0.0
    hostname: str = ""  # where supervisor_pid means something

    def save(self, path: Path) -> None:
        files.write_atomic(path, json.dumps(asdict(self), indent=2), mode=0o644)

    @classmethod
    def load(cls, path: Path) -> ProxyState | None:
        text = files.read_text(path)
        if not text:
            return None
        data = json.loads(text)
        last = data.pop("last_reload", None)
        return cls(**data, last_reload=ReloadResult(**last) if last else None)

    @property
    def running(self) -> bool:
        if time.time() - self.heartbeat_at >= STALE_SECONDS:
            return False
        # on this host a dead pid is known at once, not only when the heartbeat goes stale
        return self.hostname != socket.gethostname() or pid_alive(self.supervisor_pid)

    @property
    def label(self) -> str:
        return self.name or f"{self.host}:{self.port}"


def replica_states(settings: Settings) -> list[ProxyState]:
    """Every running supervisor on this data dir (one, or several in the `ha` profile), by name."""
    states = []
    for path in sorted(settings.data_dir.glob("proxy-state*.json")):
        try:
            state = ProxyState.load(path)
        except (ValueError, TypeError):  # a file from another version: not one of ours now
            continue
        if state is not None and state.running:
            states.append(state)
    return states


def wait_for_report(
    settings: Settings, accept: Callable[[ReloadResult], bool], *, seconds: float | None = None
) -> ReloadResult | None:
    """Every running supervisor's first reload result that `accept`s, combined; None if not in time."""
    # by default as long as the slowest reload may take: the wait ends as soon as the report is there
    deadline = time.monotonic() + (reload_deadline(MAX_DEPLOYMENTS) + 15 if seconds is None else seconds)
    while time.monotonic() < deadline:
        states = replica_states(settings)
        reports = [
            s.last_reload
            for s in states
            if s.last_reload and not s.last_reload.pending and accept(s.last_reload)
        ]
        if states and len(reports) == len(states):
            return combined(states, [r for r in reports if r is not None])
        time.sleep(0.02)
    return None


def combined(states: list[ProxyState], reports: list[ReloadResult]) -> ReloadResult:
    """One proxy's report as it is; several proxies' as one line naming each."""
    if len(reports) == 1:
        return reports[0]
    ok = all(r.ok for r in reports)
    revision = reports[0].revision
    each = ", ".join(f"{s.label} in {r.ms:.0f} ms" for s, r in zip(states, reports, strict=True))
    failed = "; ".join(f"{s.label}: {r.message}" for s, r in zip(states, reports, strict=True) if not r.ok)
    message = f"revision {revision} live on {len(reports)} proxies ({each})" if ok else failed
    return ReloadResult(revision, ok, max(r.ms for r in reports), message)


@functools.cache
def _client() -> Any:
    """One HTTP client per process: making one costs ~35 ms (its TLS context), each reload asks at
    least once, and `Connection: close` still gives every question a fresh connection."""
    import httpx  # here: reading state files needs no HTTP client

    return httpx.Client()


def served_revisions(
    host: str, port: int, master_key: str, model_id: str | None = None
) -> set[int | None] | None:
    """The revision stamps the proxy answers with on one fresh connection, or None if it does not.
    With `model_id`, only that deployment's info is asked for (10,000 deployments: seconds saved)."""
    import httpx

    target = "127.0.0.1" if host == "0.0.0.0" else host
    try:
        response = _client().get(
            f"http://{target}:{port}/v1/model/info",
            params={"litellm_model_id": model_id} if model_id else None,
            headers={"Authorization": f"Bearer {master_key}", "Connection": "close"},
            timeout=5,
        )
        if response.status_code != 200:
            return None
        data = response.json().get("data") or []
    except (httpx.HTTPError, ValueError):
        return None
    return {(d.get("model_info") or {}).get(REVISION_KEY) for d in data} or {None}
