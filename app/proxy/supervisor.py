"""`llm-admin proxy run`: the LiteLLM proxy under gunicorn, reloaded gracefully on every new revision.

On a new file: pre-flight the config (our checks and LiteLLM's, in this process) → a new generation of
workers beside the old one (TTIN to the gunicorn master, arbiter.py) → once every new worker has loaded
the new revision, the old ones retire (TTOU) → verify the proxy serves it (read back from
/v1/model/info) → mark it live. When any step fails the last good file is restored and reloaded (HUP),
the revision is marked failed and an alert names the reason: a bad config never takes the proxy down.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import db
from app.crypto import load_key_ring, load_master_key
from app.runtime import alerts, revisions
from app.runtime.processes import child_pids
from app.runtime.proxy_state import (
    START_DEADLINE,
    ProxyState,
    ReloadResult,
    reload_deadline,
    reload_request_path,
    served_revisions,
    start_deadline,
    state_path,
    workers_dir,
)
from app.runtime.secrets import export_env, stored_secrets
from app.settings import Settings
from generator import files, render, validate
from generator.build import stored_secret_ref

log = logging.getLogger("llm_admin.proxy")
POLL_SECONDS = 0.05  # how often the config file is checked
VERIFY_POLL_SECONDS = 0.01
HEARTBEAT_SECONDS = 1.0
DB_RETRY_SECONDS = 2.0  # how often a reload or a record that waits for the database is retried
LISTEN_BACKLOG = 2048


class DatabaseUnreachable(RuntimeError):
    """The database did not answer: what needs it waits and is retried."""


def listening_pids(port: int) -> set[int]:
    """The processes holding a listening TCP socket on port (from /proc; ours are visible to us)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address is HEXIP:HEXPORT; state 0A is LISTEN
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in inodes for link in links):
            pids.add(int(entry.name))
    return pids


def is_our_proxy(pid: int) -> bool:
    """A gunicorn master or worker of `python -m app.proxy.server` (ours, from any earlier supervisor)."""
    try:
        argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"app.proxy.server" in argv


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Supervisor:
    """Runs the gunicorn master, watches the config file, reloads, verifies, rolls back."""

    def __init__(self, settings: Settings, *, host: str, port: int, workers: int):
        self.settings = settings
        self.host, self.port, self.workers = host, port, workers
        self.config_path = settings.config_path.resolve()
        suffix = f"-{settings.proxy_name}" if settings.proxy_name else ""
        self.workers_dir = workers_dir(settings)
        self.log_name = f"proxy{suffix}.log"
        self.reload_request = reload_request_path(settings)
        self.state_file = state_path(settings)
        self._reload_seen = self._request_mtime()
        self.master_key = load_master_key(settings) or ""
        self.process: subprocess.Popen[bytes] | None = None
        self.state = ProxyState(
            os.getpid(),
            None,
            host,
            port,
            workers,
            time.time(),
            name=settings.proxy_name,
            hostname=socket.gethostname(),
        )
        self.last_good: str | None = None
        self._reload_requested = False
        self._stopping = False
        self.listener: socket.socket | None = None
        self.held: dict[str, str] = {}  # stored secrets as of the last good pre-flight (memory only)
        self._held_write: int | None = None
        self._db_backlog: list[Callable[[Session], object]] = []
        self._retry_at = 0.0
        self._pending_text: str | None = None
        # of the config last pre-flighted: its size (the reload's deadline) and one deployment's id
        # (the served check asks for that one, not for the info of every deployment)
        self.checked_deployments = 0
        self.probe_id: str | None = None
        db.init(settings.database_url)

    # --- process ---------------------------------------------------------------------------

    def proxy_env(self) -> dict[str, str]:
        # our stored-secret names never come from the environment (LiteLLM would fall back to it)
        env = {k: v for k, v in os.environ.items() if stored_secret_ref(k) is None}
        env["LITELLM_MASTER_KEY"] = self.master_key
        env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        env["LLM_ADMIN_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["LLM_ADMIN_DATABASE_URL"] = self.settings.database_url
        env["LLM_ADMIN_WORKERS_DIR"] = str(self.workers_dir)
        env["LLM_ADMIN_PROXY_WORKERS"] = str(self.workers)  # caller keys' rpm/tpm are split among them
        # no route list or API document for callers: only liveness answers without a key
        env.update({"NO_DOCS": "True", "NO_REDOC": "True", "NO_OPENAPI": "True"})
        return env

    def bind(self) -> socket.socket:
        """The listening socket, owned here for the supervisor's life: gunicorn serves on a copy, and
        callers queue in its backlog (instead of being refused) while gunicorn restarts."""
        if self.listener is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                self.end_old_proxy()
                sock.bind((self.host, self.port))
            sock.listen(LISTEN_BACKLOG)
            sock.set_inheritable(True)
            self.listener = sock
        return self.listener

    def end_old_proxy(self, timeout: float = 30.0) -> None:
        """An earlier proxy of ours (left by a supervisor that was killed) holds the port: end it.
        Anything else on the port is not ours to end: say which process it is."""
        holders = listening_pids(self.port) - {os.getpid()}
        strangers = {pid for pid in holders if not is_our_proxy(pid)}
        if strangers or not holders:
            who = ", ".join(str(p) for p in sorted(strangers)) or "a process not visible here"
            raise RuntimeError(
                f"port {self.port} is in use by {who}, not an llm-admin proxy; stop it or use --port"
            )
        log.warning("an old proxy (pids %s) holds port %s: ending it", sorted(holders), self.port)
        for pid in holders:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while listening_pids(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in listening_pids(self.port) & holders:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while listening_pids(self.port) and time.monotonic() < deadline + 5:
            time.sleep(0.1)

    def send_held(self) -> None:
        """Give the gunicorn master the secrets as now held: new workers use them if the DB is down."""
        if self._held_write is None:
            return
        try:
            os.write(self._held_write, (json.dumps(self.held) + "\n").encode())
        except (BlockingIOError, BrokenPipeError, OSError) as exc:
            log.warning("held secrets not sent to gunicorn (%s)", type(exc).__name__)

    def start_proxy(self) -> None:
        log_dir = self.settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.workers_dir, ignore_errors=True)
        self.workers_dir.mkdir(parents=True)
        listener = self.bind()
        if self._held_write is not None:
            os.close(self._held_write)
        held_read, self._held_write = os.pipe()
        os.set_blocking(self._held_write, False)
        self.send_held()
        # the child's copies (its stdout and stderr, the pipe's end) live as long as it does; ours are
        # closed here, whether it started or not: no start leaves a handle behind in the supervisor
        with open(log_dir / self.log_name, "ab") as log_file:
            try:
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
                        "--listen-fd",
                        str(listener.fileno()),
                        "--held-fd",
                        str(held_read),
                    ],
                    env=self.proxy_env(),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=Path(__file__).resolve().parents[2],
                    pass_fds=(listener.fileno(), held_read),
                )
            finally:
                os.close(held_read)
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
        probe_id: str | None = None,
        served: bool = True,
    ) -> str | None:
        """None when the new workers serve `revision`; otherwise why not. `phases` hears each step.

        Every new worker (not in `old_workers`) has started on `revision` (its own report, see
        worker.py); and unless `served` is False: no old worker still accepts (a retiring worker
        removes its report as it stops accepting; it may linger, draining its keep-alive clients), and
        the proxy answers a fresh connection with `revision`."""
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
                    if seen == {revision} and not served:
                        return None
                    if seen == {revision} and not self.accepting(old_workers):
                        answered = served_revisions(self.host, self.port, self.master_key, probe_id)
                        seen = answered if answered is not None else seen
                        if answered == {revision}:
                            self.prune_worker_reports()
                            return None
            time.sleep(VERIFY_POLL_SECONDS)
        serving = ", ".join(sorted(str(r) for r in (seen or {None})))
        return f"not live within the deadline (the proxy serves revision {serving})"

    def add_workers(self, old_workers: set[int], deadline: float) -> str | None:
        """A new generation beside the old one (TTIN, see arbiter.py): gunicorn forks its workers
        from the preloaded master and they load the file now in place."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGTTIN)
        while len(child_pids(self.process.pid) - old_workers) < self.workers:
            if self.process.poll() is not None:
                return None  # verify says how the proxy ended
            if time.monotonic() > deadline:
                return "the new workers were not forked within the deadline"
            self._heartbeat()
            time.sleep(VERIFY_POLL_SECONDS)
        return None

    def accepting(self, workers: set[int]) -> int:
        """How many of these workers still accept connections (alive and not retiring)."""
        assert self.process is not None
        return len(self.started_workers(child_pids(self.process.pid) & workers))

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
        deployments = [d for d in config.get("model_list") or [] if isinstance(d, dict)]
        self.checked_deployments = len(deployments)
        first = (deployments[0].get("model_info") or {}).get("id") if deployments else None
        self.probe_id = first if isinstance(first, str) else None
        env = self.proxy_env()
        try:
            ring = load_key_ring(self.settings)
            with db.Session() as session:
                stored, readable = stored_secrets(session, ring=ring)
                values = export_env(session, ring=ring)
        except SQLAlchemyError as exc:
            if self.last_good is not None and sha256(text) == sha256(self.last_good):
                return []  # it passed when it went live; the secrets it needs are held
            raise DatabaseUnreachable(f"the database is unreachable ({type(exc).__name__})") from exc

        def resolvable(name: str) -> bool:
            return name in readable if name in stored else bool(env.get(name))

        problems = (
            validate.structural_problems(config, resolvable=resolvable)
            + validate.module_problems(config, config_dir=self.config_path.parent)
        ) or validate.litellm_problems(config)
        if not problems:
            self.held = {name: values[name] for name in readable if name in values}
        return problems

    # --- the database, which may be down ----------------------------------------------------

    def _db_write(self, write: Callable[[Session], object]) -> None:
        """Write now, or keep the write for when the database answers again (never raise)."""
        self._db_backlog.append(write)
        self._flush_db_backlog()

    def _flush_db_backlog(self) -> None:
        while self._db_backlog:
            try:
                with db.Session.begin() as session:
                    self._db_backlog[0](session)
            except SQLAlchemyError as exc:
                log.warning(
                    "database unreachable (%s): %d records wait", type(exc).__name__, len(self._db_backlog)
                )
                self._retry_at = time.monotonic() + DB_RETRY_SECONDS
                return
            self._db_backlog.pop(0)

    # --- lifecycle -------------------------------------------------------------------------

    def boot(self) -> None:
        """Start on the current file, or on the last live revision when the current one is bad."""
        text = files.read_text(self.config_path)
        if text is None:
            raise RuntimeError(f"no config at {self.config_path}; run `llm-admin config apply` first")
        while True:
            try:
                problems = self.preflight(text)
                break
            except DatabaseUnreachable as exc:
                if self.last_good is not None:  # restart on what went live; the new file waits
                    log.warning("%s: restarting on revision %s", exc, self.state.live_revision)
                    files.write_atomic(self.config_path, self.last_good)
                    self._pending_text = text
                    text = self.last_good
                    continue
                log.warning("%s: the proxy starts when it answers", exc)
                self._heartbeat()
                if self._stopping:
                    raise RuntimeError("stopped while waiting for the database") from exc
                time.sleep(DB_RETRY_SECONDS)
        if problems:
            raise RuntimeError("the config cannot be served: " + "; ".join(problems))
        self.send_held()
        started = time.monotonic()
        self.start_proxy()
        problem = self.verify(
            render.revision_of(text),
            old_workers=set(),
            deadline=started + start_deadline(self.checked_deployments),
            probe_id=self.probe_id,
        )
        if problem:
            self.stop_proxy()
            raise RuntimeError(f"the proxy did not start: {problem}")
        self._live(text, (time.monotonic() - started) * 1000)

    def reload(self, text: str) -> ReloadResult:
        """Apply a new file: pre-flight, new workers beside the old, verify; on failure restore the old."""
        assert self.process is not None
        started = time.monotonic()
        phases: dict[str, float] = {}

        def phase(name: str) -> None:
            phases.setdefault(name, round((time.monotonic() - started) * 1000, 1))

        revision = render.revision_of(text)
        try:
            problems = self.preflight(text)
        except DatabaseUnreachable as exc:
            return self._wait(revision, str(exc), started)
        phase("preflight")
        if problems:
            return self._fail(revision, "; ".join(problems), started, reloaded=False)
        self.send_held()
        old_workers = child_pids(self.process.pid)
        deadline = started + reload_deadline(self.checked_deployments)
        # the old workers serve until the new ones have loaded the file (at 10,000 deployments on a
        # busy box that takes a minute: callers would wait in the backlog past their timeouts)
        problem = self.add_workers(old_workers, deadline) or self.verify(
            revision, old_workers=old_workers, deadline=deadline, phases=phase, served=False
        )
        if problem is None:
            os.kill(self.process.pid, signal.SIGTTOU)  # the old generation retires (arbiter.py)
            phase("old workers told to retire")
            problem = self.verify(
                revision, old_workers=old_workers, deadline=deadline, phases=phase, probe_id=self.probe_id
            )
        if problem:
            return self._fail(revision, problem, started, reloaded=True)
        return self._live(text, (time.monotonic() - started) * 1000, phases)

    def _wait(self, revision: int | None, reason: str, started: float) -> ReloadResult:
        """Keep serving the live revision and retry the new one shortly (the database is down)."""
        self._retry_at = time.monotonic() + DB_RETRY_SECONDS
        message = (
            f"revision {revision} waits: {reason}; revision {self.state.live_revision} keeps serving, "
            f"retrying every {DB_RETRY_SECONDS:.0f} s"
        )
        result = ReloadResult(
            revision, False, round((time.monotonic() - started) * 1000, 1), message, pending=True
        )
        if self.state.last_reload is None or self.state.last_reload.message != message:
            log.warning(message)
        self.state.last_reload = result
        self.state.save(self.state_file)
        return result

    def _live(self, text: str, ms: float, phases: dict[str, float] | None = None) -> ReloadResult:
        revision = render.revision_of(text)
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
                    deadline = time.monotonic() + reload_deadline(self.checked_deployments)
                    self.verify(restored, old_workers=old_workers, deadline=deadline)
                else:  # a worker that cannot boot halts gunicorn: start it again on the restored file
                    self.start_proxy()
                    self.verify(restored, old_workers=set(), deadline=time.monotonic() + START_DEADLINE)
        ms = (time.monotonic() - started) * 1000
        message = f"revision {revision} failed: {reason}; revision {restored} restored"
        result = ReloadResult(revision, False, round(ms, 1), message)
        self._record(result, status="failed")
        self._db_write(
            lambda session: alerts.raise_alert(
                session,
                kind="reload_failed",
                severity="critical",
                message=message,
                dedup_key=f"reload_failed:{revision}",
            )
        )
        log.error(message)
        return result

    def _record(self, result: ReloadResult, *, status: str) -> None:
        self.state.last_reload = result
        self.state.save(self.state_file)
        # a hand-edited live file carries the live revision's header: that revision is still live
        if result.revision is not None and (result.ok or result.revision != self.state.live_revision):
            number, message = result.revision, result.message
            self._db_write(lambda session: revisions.set_status(session, number, status, message))
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
        self._heartbeat()  # at once, so that an apply made while the proxy boots waits for it
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
                if time.monotonic() < self._retry_at:
                    continue  # the database was down a moment ago: retry shortly, not every poll
                self._flush_db_backlog()
                if self._pending_text is not None:  # a restart during an outage put it aside
                    files.write_atomic(self.config_path, self._pending_text)
                    self._pending_text = None
                text = files.read_text(self.config_path)
                if text is None:
                    continue
                if self._reload_requested or sha256(text) != self.state.live_sha256:
                    self._reload_requested = False
                    self.reload(text)
        finally:
            self.stop_proxy()
            self.state_file.unlink(missing_ok=True)
            if self.listener is not None:
                self.listener.close()
        return 0
