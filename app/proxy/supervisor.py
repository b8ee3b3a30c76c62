"""`llm-admin proxy run`: the LiteLLM proxy under gunicorn, reloaded gracefully on every new revision.

On a new file: pre-flight the config (our checks and LiteLLM's, in this process) → HUP the gunicorn
master → verify every worker serves the new revision (read back from /v1/model/info) → mark it live.
When any step fails the last good file is restored (and reloaded if needed), the revision is marked
failed and an alert names the reason: a bad config never takes the proxy down.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import update

from app import db
from app.crypto import load_key_ring, load_master_key
from app.models import ConfigRevision
from app.services import alerts
from app.services.config import stored_secrets
from app.settings import Settings
from generator import files, render, validate
from generator.build import REVISION_KEY

log = logging.getLogger("llm_admin.proxy")
_HEADER_REVISION = re.compile(r"^# revision: (\d+)$", re.M)
POLL_SECONDS = 0.05  # how often the config file is checked
VERIFY_POLL_SECONDS = 0.01
START_DEADLINE = 180.0
RELOAD_DEADLINE = 30.0
HEARTBEAT_SECONDS = 1.0
# a supervisor whose state file has not been touched for this long is gone (works across containers
# sharing the data volume, where its pid means nothing)
STALE_SECONDS = 10.0


def state_path(settings: Settings, name: str | None = None) -> Path:
    """This supervisor's state file; several named ones (`LLM_ADMIN_PROXY_NAME`) share a data dir."""
    name = settings.proxy_name if name is None else name
    return settings.data_dir / (f"proxy-state-{name}.json" if name else "proxy-state.json")


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
        return time.time() - self.heartbeat_at < STALE_SECONDS

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


def wait_for_report(settings: Settings, accept: Callable[[ReloadResult], bool]) -> ReloadResult | None:
    """Every running supervisor's first reload result that `accept`s, combined; None if not in time."""
    deadline = time.monotonic() + RELOAD_DEADLINE + 15
    while time.monotonic() < deadline:
        states = replica_states(settings)
        reports = [s.last_reload for s in states if s.last_reload and accept(s.last_reload)]
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


def child_pids(pid: int) -> set[int]:
    """The live children of a process, from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        if fields and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            children.add(int(entry.name))
    return children


def served_revisions(host: str, port: int, master_key: str) -> set[int | None] | None:
    """The revision stamps the proxy answers with on one fresh connection, or None if it does not."""
    target = "127.0.0.1" if host == "0.0.0.0" else host
    try:
        response = httpx.get(
            f"http://{target}:{port}/v1/model/info",
            headers={"Authorization": f"Bearer {master_key}", "Connection": "close"},
            timeout=5,
        )
        if response.status_code != 200:
            return None
        data = response.json().get("data") or []
    except (httpx.HTTPError, ValueError):
        return None
    return {(d.get("model_info") or {}).get(REVISION_KEY) for d in data} or {None}


def revision_of(text: str) -> int | None:
    match = _HEADER_REVISION.search(text)
    return int(match.group(1)) if match else None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Supervisor:
    """Runs the gunicorn master, watches the config file, reloads, verifies, rolls back."""

    def __init__(self, settings: Settings, *, host: str, port: int, workers: int):
        self.settings = settings
        self.host, self.port, self.workers = host, port, workers
        self.config_path = settings.config_path.resolve()
        suffix = f"-{settings.proxy_name}" if settings.proxy_name else ""
        self.workers_dir = settings.data_dir.resolve() / f"proxy-workers{suffix}"
        self.log_name = f"proxy{suffix}.log"
        self.reload_request = reload_request_path(settings)
        self.state_file = state_path(settings)
        self._reload_seen = self._request_mtime()
        self.master_key = load_master_key(settings) or ""
        self.process: subprocess.Popen[bytes] | None = None
        self.state = ProxyState(os.getpid(), None, host, port, workers, time.time(), name=settings.proxy_name)
        self.last_good: str | None = None
        self._reload_requested = False
        self._stopping = False
        db.init(settings.database_url)

    # --- process ---------------------------------------------------------------------------

    def proxy_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LITELLM_MASTER_KEY"] = self.master_key
        env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        env["LLM_ADMIN_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["LLM_ADMIN_DATABASE_URL"] = self.settings.database_url
        env["LLM_ADMIN_WORKERS_DIR"] = str(self.workers_dir)
        env["LLM_ADMIN_PROXY_WORKERS"] = str(self.workers)  # caller keys' rpm/tpm are split among them
        # no route list or API document for callers: only liveness answers without a key
        env.update({"NO_DOCS": "True", "NO_REDOC": "True", "NO_OPENAPI": "True"})
        return env

    def start_proxy(self) -> None:
        log_dir = self.settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(log_dir / self.log_name, "ab")  # the child keeps it open
        shutil.rmtree(self.workers_dir, ignore_errors=True)
        self.workers_dir.mkdir(parents=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.proxy.server",
                "--config",
                str(self.config_path),
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.proxy_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        self.state.master_pid = self.process.pid
        self.state.started_at = time.time()

    def stop_proxy(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- verification ----------------------------------------------------------------------

    def verify(
        self,
        revision: int | None,
        *,
        old_workers: set[int],
        deadline: float,
        phases: Callable[[str], None] = lambda _: None,
    ) -> str | None:
        """None when every worker serves `revision`; otherwise why not. `phases` hears each step.

        Old workers stop accepting as soon as gunicorn TERMs them (they may linger, draining their
        keep-alive clients); so: every new worker has started on `revision` (its own report, see
        worker.py), and the proxy answers a fresh connection with `revision`."""
        assert self.process is not None
        seen: set[int | None] | None = None
        while time.monotonic() < deadline:
            self._heartbeat()
            if self.process.poll() is not None:
                return f"the proxy exited with code {self.process.returncode}; see data/logs/{self.log_name}"
            new_workers = child_pids(self.process.pid) - old_workers
            if len(new_workers) >= self.workers:
                phases("workers forked")
                started = self.started_workers(new_workers)
                if len(started) == len(new_workers):
                    phases("workers started")
                    seen = set().union(*started.values())
                    if seen == {revision}:
                        served = served_revisions(self.host, self.port, self.master_key)
                        seen = served if served is not None else seen
                        if served == {revision}:
                            self.prune_worker_reports()
                            return None
            time.sleep(VERIFY_POLL_SECONDS)
        serving = ", ".join(sorted(str(r) for r in (seen or {None})))
        return f"not live within the deadline (the proxy serves revision {serving})"

    def started_workers(self, pids: set[int]) -> dict[int, set[int | None]]:
        """The revisions each of `pids` reported serving once started; a worker still starting is absent."""
        started = {}
        for pid in pids:
            text = files.read_text(self.workers_dir / f"{pid}.json")
            if text:
                started[pid] = set(json.loads(text)["revisions"])
        return started

    def prune_worker_reports(self) -> None:
        live = child_pids(self.process.pid) if self.process else set()
        for path in self.workers_dir.glob("*.json"):
            if path.stem.isdigit() and int(path.stem) not in live:
                path.unlink(missing_ok=True)

    def preflight(self, text: str) -> list[str]:
        """Our structural checks and LiteLLM's routing check, before any worker sees the file."""
        try:
            config = render.load_yaml(text)
        except yaml.YAMLError as exc:
            return [f"not valid YAML: {str(exc).splitlines()[0]}"]
        if not isinstance(config, dict):
            return ["not a LiteLLM config (expected a mapping with model_list)"]
        env = self.proxy_env()
        with db.Session() as session:
            stored, readable = stored_secrets(session, ring=load_key_ring(self.settings))

        def resolvable(name: str) -> bool:
            return name in readable if name in stored else bool(env.get(name))

        return (
            validate.structural_problems(config, resolvable=resolvable)
            + validate.module_problems(config, config_dir=self.config_path.parent)
        ) or validate.litellm_problems(config)

    # --- lifecycle -------------------------------------------------------------------------

    def boot(self) -> None:
        """Start on the current file, or on the last live revision when the current one is bad."""
        text = files.read_text(self.config_path)
        if text is None:
            raise RuntimeError(f"no config at {self.config_path}; run `llm-admin config apply` first")
        problems = self.preflight(text)
        if problems:
            raise RuntimeError("the config cannot be served: " + "; ".join(problems))
        started = time.monotonic()
        self.start_proxy()
        problem = self.verify(revision_of(text), old_workers=set(), deadline=started + START_DEADLINE)
        if problem:
            self.stop_proxy()
            raise RuntimeError(f"the proxy did not start: {problem}")
        self._live(text, (time.monotonic() - started) * 1000)

    def reload(self, text: str) -> ReloadResult:
        """Apply a new file: pre-flight, HUP, verify; restore the last good file on failure."""
        assert self.process is not None
        started = time.monotonic()
        phases: dict[str, float] = {}

        def phase(name: str) -> None:
            phases.setdefault(name, round((time.monotonic() - started) * 1000, 1))

        revision = revision_of(text)
        problems = self.preflight(text)
        phase("preflight")
        if problems:
            return self._fail(revision, "; ".join(problems), started, reloaded=False)
        old_workers = child_pids(self.process.pid)
        os.kill(self.process.pid, signal.SIGHUP)
        deadline = started + RELOAD_DEADLINE
        problem = self.verify(revision, old_workers=old_workers, deadline=deadline, phases=phase)
        if problem:
            return self._fail(revision, problem, started, reloaded=True)
        return self._live(text, (time.monotonic() - started) * 1000, phases)

    def _live(self, text: str, ms: float, phases: dict[str, float] | None = None) -> ReloadResult:
        revision = revision_of(text)
        self.last_good = text
        self.state.live_revision, self.state.live_sha256 = revision, sha256(text)
        message = f"revision {revision} live in {ms:.0f} ms"
        result = ReloadResult(revision, True, round(ms, 1), message, phases=phases or {})
        self._record(result, status="live")
        return result

    def _fail(self, revision: int | None, reason: str, started: float, *, reloaded: bool) -> ReloadResult:
        restored = self.state.live_revision
        if self.last_good is not None:
            files.write_atomic(self.config_path, self.last_good)
            if reloaded:
                assert self.process is not None
                if self.process.poll() is None:
                    old_workers = child_pids(self.process.pid)
                    os.kill(self.process.pid, signal.SIGHUP)
                    deadline = time.monotonic() + RELOAD_DEADLINE
                    self.verify(restored, old_workers=old_workers, deadline=deadline)
                else:  # a worker that cannot boot halts gunicorn: start it again on the restored file
                    self.start_proxy()
                    self.verify(restored, old_workers=set(), deadline=time.monotonic() + START_DEADLINE)
        ms = (time.monotonic() - started) * 1000
        message = f"revision {revision} failed: {reason}; revision {restored} restored"
        result = ReloadResult(revision, False, round(ms, 1), message)
        self._record(result, status="failed")
        with db.Session.begin() as session:
            alerts.raise_alert(
                session,
                kind="reload_failed",
                severity="critical",
                message=message,
                dedup_key=f"reload_failed:{revision}",
            )
        log.error(message)
        return result

    def _record(self, result: ReloadResult, *, status: str) -> None:
        self.state.last_reload = result
        self.state.save(self.state_file)
        # a hand-edited live file carries the live revision's header: that revision is still live
        if result.revision is not None and (result.ok or result.revision != self.state.live_revision):
            with db.Session.begin() as session:
                session.execute(
                    update(ConfigRevision)
                    .where(ConfigRevision.number == result.revision)
                    .values(status=status, message=result.message)
                )
        log.info(result.message)

    def request_reload(self, *_: Any) -> None:
        self._reload_requested = True

    def _request_mtime(self) -> float:
        try:
            return self.reload_request.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _heartbeat(self) -> None:
        """Keep the state file fresh, and notice a reload asked for through the shared data dir."""
        now = time.time()
        if now - self.state.heartbeat_at >= HEARTBEAT_SECONDS:
            self.state.heartbeat_at = now
            self.state.save(self.state_file)
            mtime = self._request_mtime()
            if mtime != self._reload_seen:
                self._reload_seen, self._reload_requested = mtime, True

    def request_stop(self, *_: Any) -> None:
        self._stopping = True

    def run(self) -> int:
        """Boot, then watch the file until SIGTERM/SIGINT; SIGHUP forces a reload of the current file."""
        signal.signal(signal.SIGHUP, self.request_reload)
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if not self.config_path.exists():
            log.warning(
                "no config at %s yet: waiting for the first `llm-admin config apply`", self.config_path
            )
            while not self.config_path.exists() and not self._stopping:
                self._heartbeat()  # so `proxy status` and `config apply` see us
                time.sleep(0.2)
            if self._stopping:
                self.state_file.unlink(missing_ok=True)
                return 0
        self.boot()
        try:
            while not self._stopping:
                time.sleep(POLL_SECONDS)
                self._heartbeat()
                assert self.process is not None
                if self.process.poll() is not None:
                    log.error("the proxy exited (%s); restarting it", self.process.returncode)
                    self.boot()
                    continue
                text = files.read_text(self.config_path)
                if text is None:
                    continue
                if self._reload_requested or sha256(text) != self.state.live_sha256:
                    self._reload_requested = False
                    self.reload(text)
        finally:
            self.stop_proxy()
            self.state_file.unlink(missing_ok=True)
        return 0
