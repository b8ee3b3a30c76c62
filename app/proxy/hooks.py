"""Our LiteLLM callbacks: a usage row per request and a failover alert, written off the request path.

Loaded by the proxy through `litellm_settings.callbacks: ["llm_admin_hooks.hooks"]` (a shim file
next to the config). The request path only puts an event on a queue; a writer thread inserts them in
batches. While the database is down events wait in a bounded buffer; overflow is dropped, counted,
and reported as an alert once the database is back. A caller's request never fails because of us.

Events a worker holds while the database is down are spooled to `data/usage-spool/<host>-<pid>.jsonl`
(with the count dropped so far) on every failed write and at exit; a worker whose writer runs adopts
the spool of a worker that died, so a worker's death loses no buffered event and no dropped count.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import litellm
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger
from sqlalchemy import insert

from app import db
from app.models import UsageEvent
from app.proxy import cost_limit, litellm_fixes
from app.proxy.auth import APPLICATION_KEY
from app.proxy.budget_gate import BudgetGate
from app.proxy.processes import pid_alive
from app.services import alerts, usage
from app.settings import load_settings
from generator import render
from generator.build import REVISION_KEY
from generator.routes import LOCAL_ONLY_KEY, ROUTE_KEY, ROUTE_PREFIX, STEP_KEY

log = logging.getLogger("llm_admin.hooks")
litellm_fixes.apply()
MAX_BUFFER = 50_000
BATCH = 500
FLUSH_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 5.0
ADOPT_SECONDS = 1.0  # how often the spools of dead workers are looked for


@dataclass(frozen=True)
class Deployment:
    provider: str | None
    group: str
    revision: int | None
    step: str | None = None  # for a route's deployment: the model alias its step stands for
    route: str | None = None  # ... and its agent type
    input_cost_per_token: float | None = None  # the configured price, None when the model has none
    output_cost_per_token: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The configured price of these tokens; None when no price is configured."""
        if self.input_cost_per_token is None and self.output_cost_per_token is None:
            return None
        return prompt_tokens * (self.input_cost_per_token or 0.0) + completion_tokens * (
            self.output_cost_per_token or 0.0
        )


def read_config(path: str | None) -> dict[str, Any]:
    """The config this worker serves (LiteLLM read the same file at startup)."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as fh:
        return render.load_yaml(fh.read()) or {}


def local_only_routes(config: dict[str, Any]) -> dict[str, list[str]]:
    """Model group of a local-only route → the local providers the whole route may use."""
    groups: dict[str, str] = {}
    providers: dict[str, set[str]] = {}
    for d in config.get("model_list") or []:
        info = d.get("model_info") or {}
        if info.get(LOCAL_ONLY_KEY):
            groups[str(d.get("model_name"))] = str(info.get(ROUTE_KEY))
            providers.setdefault(str(info.get(ROUTE_KEY)), set()).add(str(info.get("llm_admin_provider")))
    return {group: sorted(providers[route]) for group, route in groups.items()}


def deployments_of(config: dict[str, Any]) -> dict[str, Deployment]:
    """Deployment id → provider, group, revision, step."""
    out = {}
    for d in config.get("model_list") or []:
        info = d.get("model_info") or {}
        if info.get("id"):
            out[str(info["id"])] = Deployment(
                info.get("llm_admin_provider"),
                d.get("model_name"),
                info.get(REVISION_KEY),
                info.get(STEP_KEY),
                info.get(ROUTE_KEY),
                info.get("input_cost_per_token"),
                info.get("output_cost_per_token"),
            )
    return out


def _encode(row: dict[str, Any]) -> str:
    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})


def _decode(line: str) -> dict[str, Any]:
    row = json.loads(line)
    if isinstance(row.get("at"), str):
        row["at"] = datetime.fromisoformat(row["at"])
    return dict(row)


class Spool:
    """This worker's file of events not yet in the database, and the adoption of dead workers' files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.host = socket.gethostname()
        self.path = directory / f"{self.host}-{os.getpid()}.jsonl"
        self.rows = 0  # how many of the writer's pending rows the file holds
        self.dropped = 0  # ... and how much of its dropped count
        self.claimed: list[Path] = []  # adopted files, removed once their rows are safe here

    def append(self, rows: list[dict[str, Any]], dropped: int) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lines = [_encode(r) for r in rows]
        if dropped > self.dropped:
            lines.append(json.dumps({"_dropped": dropped - self.dropped}))
        if lines:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write("\n".join(lines) + "\n")
        self.rows += len(rows)
        self.dropped = max(self.dropped, dropped)
        self._release_claimed()

    def written(self) -> None:
        """Everything pending reached the database: the file is not needed any more."""
        self.path.unlink(missing_ok=True)
        self.rows = self.dropped = 0
        self._release_claimed()

    def _release_claimed(self) -> None:
        for path in self.claimed:
            path.unlink(missing_ok=True)
        self.claimed.clear()

    def adopt(self) -> tuple[list[dict[str, Any]], int]:
        """The rows and dropped count of every dead worker's spool on this host (each claimed once)."""
        rows: list[dict[str, Any]] = []
        dropped = 0
        if not self.directory.is_dir():
            return rows, dropped
        for path in sorted(self.directory.glob("*.jsonl")):
            host, _, pid = path.stem.rpartition("-")
            if path == self.path or host != self.host or not pid.isdigit() or pid_alive(int(pid)):
                continue
            claimed = path.with_name(f"{path.name}.adopted-{os.getpid()}")
            try:
                path.rename(claimed)  # atomic: one adopter only
            except FileNotFoundError:
                continue
            for line in claimed.read_text().splitlines():
                if not line.strip():
                    continue
                try:
                    row = _decode(line)
                except ValueError:  # a line cut short by the death: that one event is counted dropped
                    dropped += 1
                    continue
                if "_dropped" in row:
                    dropped += int(row["_dropped"])
                else:
                    rows.append(row)
            self.claimed.append(claimed)
        return rows, dropped


# refusals of the proxy itself (caller-key auth, scope, budget; LiteLLM's rate limiter), never a provider's
REFUSAL_CLASSES = frozenset({"CallerRefused", "ProxyRateLimitError"})


def refused_by_proxy(kwargs: dict[str, Any], error: dict[str, Any]) -> bool:
    """The request was refused before it reached any provider, for reasons of its caller."""
    exception = kwargs.get("exception")
    return type(exception).__name__ in REFUSAL_CLASSES or error.get("error_class") in REFUSAL_CLASSES


def caller_application(kwargs: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    """The caller key's application, from what custom_auth returned or the refusal it raised."""
    own = getattr(kwargs.get("exception"), "application", None)
    if isinstance(own, str):
        return own
    key_metadata = metadata.get("user_api_key_metadata") or {}
    name = key_metadata.get(APPLICATION_KEY) if isinstance(key_metadata, dict) else None
    return name if isinstance(name, str) else None


class EventWriter:
    """A daemon thread that batches rows into the database; put() never blocks and never raises."""

    def __init__(self, spool_dir: Path | None = None) -> None:
        self.spool = Spool(spool_dir) if spool_dir is not None else None
        self._adopt_at = 0.0
        self.queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self.pending: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.written = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # the writer thread and close() at exit take turns
        self._db_ready = False

    def put(self, kind: str, row: dict[str, Any]) -> None:
        self.queue.put((kind, row))
        self.start()

    def start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="llm-admin-events", daemon=True)
                    self._thread.start()
                    # a worker retired by a reload exits with its last events still queued: write them
                    atexit.register(self.close)

    def _run(self) -> None:
        backoff = FLUSH_SECONDS
        while True:
            time.sleep(backoff)
            backoff = FLUSH_SECONDS if self._write() else min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _write(self, timeout: float = -1) -> bool:
        """Drain the queue and write it all; False when the database refused (the events are kept)."""
        if not self._write_lock.acquire(timeout=timeout):
            return False
        try:
            if self.spool is not None and time.monotonic() >= self._adopt_at:
                # again and again: a worker retired beside this one leaves its spool when it exits
                self._adopt_at = time.monotonic() + ADOPT_SECONDS
                rows, dropped = self.spool.adopt()
                self.pending.extend(rows)
                self.dropped += dropped
            failovers = self._drain()
            if not (self.pending or failovers or self.dropped):
                return True  # nothing to write: an idle writer leaves the database (and its binding) alone
            try:
                if not self._db_ready:
                    db.init(load_settings().database_url)
                    self._db_ready = True
                self._flush(failovers)
                return True
            except Exception as exc:  # the database is down or refusing: keep the events, try later
                log.warning(
                    "usage events not written yet (%s); %d buffered", type(exc).__name__, len(self.pending)
                )
                for alert in failovers:
                    self.queue.put(("alert", alert))
                self._spool()
                return False
        finally:
            self._write_lock.release()

    def _spool(self) -> None:
        if self.spool is None:
            return
        try:
            self.spool.append(list(self.pending)[self.spool.rows :], self.dropped)
        except OSError as exc:
            log.warning("usage events not spooled (%s)", exc)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is still queued, retrying for up to timeout seconds (called at exit)."""
        deadline = time.monotonic() + timeout
        while not self._write(timeout=max(deadline - time.monotonic(), 0)) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _drain(self) -> list[dict[str, Any]]:
        failovers: list[dict[str, Any]] = []
        while True:
            try:
                kind, row = self.queue.get_nowait()
            except queue.Empty:
                return failovers
            if kind == "alert":
                failovers.append(row)
                continue
            self.pending.append(row)
            if len(self.pending) > MAX_BUFFER:
                self.pending.popleft()
                self.dropped += 1
                if self.spool is not None and self.spool.rows:
                    self.spool.rows -= 1  # the file's oldest row is now counted dropped instead

    def _flush(self, failovers: list[dict[str, Any]]) -> None:
        rows, dropped = list(self.pending), self.dropped
        with db.Session.begin() as session:
            for start in range(0, len(rows), BATCH):
                session.execute(insert(UsageEvent), rows[start : start + BATCH])
            usage.add_to_rollups(session, rows)  # the usage page's daily sums, in the same transaction
            for alert in failovers:
                alerts.raise_alert(session, **alert)
            if dropped:
                alerts.raise_alert(
                    session,
                    kind="usage_dropped",
                    severity="warning",
                    dedup_key="usage_dropped",
                    message=f"{dropped} usage events were dropped while the database was unreachable",
                )
        # only now that the transaction committed: a failed commit keeps every row for the next try
        for _ in rows:
            self.pending.popleft()
        self.written += len(rows)
        self.dropped -= dropped
        if self.spool is not None:
            self.spool.written()


class LlmAdminHooks(CustomLogger):  # type: ignore[misc]
    """Usage rows for every request; an alert when a fallback had to serve."""

    def __init__(self) -> None:
        super().__init__()
        self.writer = EventWriter(load_settings().data_dir / "usage-spool")
        self.writer.start()  # adopts the spool of a worker that died, even before any request
        config = read_config(os.environ.get("CONFIG_FILE_PATH"))
        self.deployments = deployments_of(config)
        self.limits = cost_limit.limits_from_config(config)
        self.local_only = local_only_routes(config)
        self.route_of = {d.group: d.route for d in self.deployments.values() if d.route}
        self.budgets = BudgetGate()

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """A route whose enforced budget is spent is refused (429); a limited route's request gets
        `max_tokens` clamped to fit its limit, or is refused (400)."""
        group = str(data.get("model") or "")
        route = self.route_of.get(group)
        if route and route in self.budgets.blocked()[1]:
            raise HTTPException(
                status_code=429,
                detail={
                    "error": f"the budget of route {route} is spent for this period: requests to "
                    f"{group} are refused until it resets or an admin raises it (`llm-admin budget list`)"
                },
            )
        limit = self.limits.get(group)
        if limit is None:
            return data
        try:
            return cost_limit.enforce(limit, data, group)
        except cost_limit.CostLimitExceeded as exc:
            raise HTTPException(status_code=400, detail={"error": str(exc)}) from None

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list[Any],
        messages: Any,
        request_kwargs: dict[str, Any] | None = None,
        parent_otel_span: Any = None,
    ) -> list[dict[str, Any]]:
        """Deployments of a provider whose enforced budget is spent are not used (a fallback may be)."""
        blocked = self.budgets.blocked()[0]
        if not blocked:
            return healthy_deployments
        kept = [
            d
            for d in healthy_deployments
            if (d.get("model_info") or {}).get("llm_admin_provider") not in blocked
        ]
        if not kept:
            names = ", ".join(sorted(blocked))
            raise litellm.BudgetExceededError(
                current_cost=0.0,
                max_budget=0.0,
                message=f"the budget of provider {names} is spent for this period, and {model} has no "
                "other provider; an admin can raise it (`llm-admin budget list`)",
            )
        return kept

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> HTTPException | None:
        """A local-only route that failed says why it went nowhere else, instead of a provider error."""
        group = str(request_data.get("model") or "")
        providers = self.local_only.get(group)
        if providers is None:
            return None
        cause = (str(original_exception).strip().splitlines() or [type(original_exception).__name__])[0]
        return HTTPException(
            status_code=503,
            detail={
                "error": f"{group} is local only: every provider it may use ({', '.join(providers)}) "
                f"failed or is cooling down, and it is never sent to any other provider. Try again "
                f"when one is back (`llm-admin health` shows them). Last error: {cause[:300]}"
            },
        )

    def _providers_of(self, group: str) -> list[str]:
        return sorted({d.provider for d in self.deployments.values() if d.group == group and d.provider})

    def _event(self, kwargs: dict[str, Any], status: str) -> None:
        payload = kwargs.get("standard_logging_object") or {}
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        deployment_id = payload.get("model_id") or (metadata.get("model_info") or {}).get("id")
        deployment = self.deployments.get(str(deployment_id)) if deployment_id else None
        group = payload.get("model_group") or metadata.get("model_group")
        original = metadata.get("original_model_group")
        route = next(
            (g for g in (original, group) if isinstance(g, str) and g.startswith(ROUTE_PREFIX)), None
        )
        error = payload.get("error_information") or {}
        application = caller_application(kwargs, metadata)
        if status == "failure" and refused_by_proxy(kwargs, error):
            status, deployment, deployment_id = "refused", None, None  # the caller's, not the provider's
        start, end = payload.get("startTime"), payload.get("endTime")
        fallback = bool(original and original != group) or bool(metadata.get("attempted_fallbacks"))
        prompt_tokens = int(payload.get("prompt_tokens") or 0)
        completion_tokens = int(payload.get("completion_tokens") or 0)
        # the configured price, whatever LiteLLM's own cost logic for the provider makes of it
        configured = deployment.cost(prompt_tokens, completion_tokens) if deployment else None
        self.writer.put(
            "usage",
            {
                "at": datetime.fromtimestamp(end or time.time(), UTC),
                "provider": deployment.provider if deployment else None,
                "model_group": group,
                "deployment": str(deployment_id) if deployment_id else None,
                "route": route,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": configured
                if configured is not None
                else float(payload.get("response_cost") or 0.0),
                "latency_ms": round((end - start) * 1000, 1) if start and end else None,
                "status": status,
                "error_class": error.get("error_class") if status != "success" else None,
                "fallback": fallback,
                "revision": deployment.revision if deployment else None,
                "application": application,
            },
        )
        if status == "success" and fallback and isinstance(original, str):
            down = ", ".join(self._providers_of(original)) or original
            serving = deployment.provider if deployment and deployment.provider else group
            served = (deployment.step if deployment else None) or group
            self.writer.put(
                "alert",
                {
                    "kind": "failover",
                    "severity": "warning",
                    "provider": down,
                    "dedup_key": f"failover:{original}:{down}",
                    "message": f"Provider {down} down, using fallback {serving} ({served} served {original})",
                },
            )

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        try:
            self._event(kwargs, "success")
        except Exception:  # never let bookkeeping break a caller's request
            log.exception("usage hook failed")

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        try:
            self._event(kwargs, "failure")
        except Exception:
            log.exception("usage hook failed")


hooks = LlmAdminHooks()
