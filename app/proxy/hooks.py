"""Our LiteLLM callbacks: a usage row per request and a failover alert, written off the request path.

Loaded by the proxy through `litellm_settings.callbacks: ["llm_admin_hooks.hooks"]` (a shim file
next to the config). The request path only puts an event on a queue; a writer thread inserts them in
batches. While the database is down events wait in a bounded buffer; overflow is dropped, counted,
and reported as an alert once the database is back. A caller's request never fails because of us.

Every usage event is journalled to `data/usage-spool/` before it is queued, and a worker adopts the
journal of a worker that died: a worker's death, SIGKILL included, loses no event it was handed and no
dropped count (app.proxy.journal). A request is journalled as answered before its response goes out, as
LiteLLM hands over its success event only later: one whose event died with the worker is counted dropped.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
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
from sqlalchemy.orm import Session

from app import db
from app.proxy import cost_limit, journal, litellm_fixes
from app.proxy.auth import APPLICATION_KEY
from app.proxy.budget_gate import BudgetGate
from app.proxy.journal import Entry, Journal
from app.runtime import alerts, usage
from app.settings import load_settings
from generator import render
from generator.build import REVISION_KEY
from generator.names import PROVIDER_KEY
from generator.routes import LOCAL_ONLY_KEY, ROUTE_KEY, ROUTE_PREFIX, STEP_KEY

log = logging.getLogger("llm_admin.hooks")
litellm_fixes.apply()
MAX_BUFFER = 50_000
FLUSH_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 5.0
ADOPT_SECONDS = 1.0  # how often the journals of dead workers are looked for


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
            providers.setdefault(str(info.get(ROUTE_KEY)), set()).add(str(info.get(PROVIDER_KEY)))
    return {group: sorted(providers[route]) for group, route in groups.items()}


def deployments_of(config: dict[str, Any]) -> dict[str, Deployment]:
    """Deployment id → provider, group, revision, step."""
    out = {}
    for d in config.get("model_list") or []:
        info = d.get("model_info") or {}
        if info.get("id"):
            out[str(info["id"])] = Deployment(
                info.get(PROVIDER_KEY),
                d.get("model_name"),
                info.get(REVISION_KEY),
                info.get(STEP_KEY),
                info.get(ROUTE_KEY),
                info.get("input_cost_per_token"),
                info.get("output_cost_per_token"),
            )
    return out


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


def _dropped_message(count: int) -> str:
    return f"{count} usage events were dropped while the database was unreachable"


def report_dropped(session: Session, count: int) -> None:
    """The usage_dropped alert; repeated while it is open, its number is the total dropped since."""
    alert, created = alerts.raise_alert(
        session,
        kind="usage_dropped",
        severity="warning",
        dedup_key="usage_dropped",
        message=_dropped_message(count),
    )
    if not created:
        before = alert.message.split(" ", 1)[0]
        alert.message = _dropped_message(count + (int(before) if before.isdigit() else 0))


class EventWriter:
    """A daemon thread that batches rows into the database; put() never blocks and never raises.

    With a journal directory every usage row is journalled before it is queued (see app.proxy.journal).
    """

    def __init__(self, journal_dir: Path | None = None) -> None:
        self.journal = Journal(journal_dir) if journal_dir is not None else None
        self._adopt_at = 0.0
        self.queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self.pending: deque[dict[str, Any]] = deque()
        self.lost: list[Entry] = []  # journalled rows dropped from memory (this worker's or adopted)
        self.lost_unjournalled = 0  # dropped rows no journal names, and lines no one could read
        self.written = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # the writer thread and close() at exit take turns
        self._db_ready = False

    @property
    def dropped(self) -> int:
        """Events dropped and not reported yet (an adopted one may turn out reported by its worker)."""
        return len(self.lost) + self.lost_unjournalled

    def put(self, kind: str, row: dict[str, Any], answers: str | None = None) -> None:
        """`answers`: the call id of the answered request a success row is for."""
        if kind == "usage" and self.journal is not None:
            self.journal.append(row, self.queue, answers)
        else:
            self.queue.put((kind, row))
        self.start()

    def answered(self, call_id: str) -> None:
        """The request's response is about to go out; its usage row will follow."""
        if self.journal is not None:
            self.journal.answered(call_id)

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
            covered = self._adopt_and_close_segment()
            failovers = self._drain()
            if not (self.pending or failovers or self.dropped):
                if covered and self.journal is not None:  # adopted files that held nothing
                    self.journal.committed(covered)
                return True  # nothing to write: an idle writer leaves the database (and its binding) alone
            try:
                if not self._db_ready:
                    db.init(load_settings().database_url)
                    self._db_ready = True
                self._flush(failovers)
            except Exception as exc:  # the database is down or refusing: keep the events, try later
                log.warning(
                    "usage events not written yet (%s); %d buffered", type(exc).__name__, len(self.pending)
                )
                for alert in failovers:
                    self.queue.put(("alert", alert))
                return False
            if self.journal is not None:
                self.journal.committed(covered)
            return True
        finally:
            self._write_lock.release()

    def _adopt_and_close_segment(self) -> list[Path]:
        """The journal files whose rows are all pending (or dropped) once the queue is drained."""
        if self.journal is None:
            return []
        if time.monotonic() >= self._adopt_at:
            # again and again: a worker retired beside this one leaves its journal when it exits
            self._adopt_at = time.monotonic() + ADOPT_SECONDS
            found = self.journal.adopt()
            self.pending.extend(found.rows)
            self.lost.extend(found.dropped)
            self.lost_unjournalled += found.unreadable
        self.journal.close_segment()
        return list(self.journal.closed)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is still queued, retrying for up to timeout seconds (called at exit)."""
        deadline = time.monotonic() + timeout
        while not self._write(timeout=max(deadline - time.monotonic(), 0)):
            if time.monotonic() >= deadline:
                return  # the journal keeps the rest for the worker that adopts it
            time.sleep(0.1)
        if self.journal is not None and self._db_ready and not self.journal.closed:
            try:
                with db.Session.begin() as session:
                    journal.forget(session, self.journal.worker)
            except Exception as exc:  # a mark left behind is swept later
                log.warning("usage journal mark not removed (%s)", type(exc).__name__)

    def _drain(self) -> list[dict[str, Any]]:
        failovers: list[dict[str, Any]] = []
        dropped: list[Entry] = []
        while True:
            try:
                kind, row = self.queue.get_nowait()
            except queue.Empty:
                break
            if kind == "alert":
                failovers.append(row)
                continue
            self.pending.append(row)
            if len(self.pending) > MAX_BUFFER:
                entry = journal.entry_of(self.pending.popleft())
                if entry is None:
                    self.lost_unjournalled += 1
                else:
                    dropped.append(entry)
        if dropped and self.journal is not None:
            self.journal.note_dropped(dropped)  # an adopter counts them instead of writing them
        self.lost.extend(dropped)
        return failovers

    def _flush(self, failovers: list[dict[str, Any]]) -> None:
        rows, lost, unjournalled = list(self.pending), list(self.lost), self.lost_unjournalled
        with db.Session.begin() as session:
            # rows a dead worker had written already are past their journal's mark: skipped
            fresh, lost_fresh = journal.unwritten(session, rows, lost)
            # with the usage page's daily sums, in the same transaction
            usage.record_events(session, [journal.columns_of(r) for r in fresh])
            for alert in failovers:
                alerts.raise_alert(session, **alert)
            dropped = lost_fresh + unjournalled
            if dropped:
                report_dropped(session, dropped)
        # only now that the transaction committed: a failed commit keeps every row for the next try
        for _ in rows:
            self.pending.popleft()
        self.written += len(fresh)
        del self.lost[: len(lost)]
        self.lost_unjournalled -= unjournalled


class LlmAdminHooks(CustomLogger):  # type: ignore[misc]
    """Usage rows for every request; an alert when a fallback had to serve."""

    def __init__(self) -> None:
        super().__init__()
        self.writer = EventWriter(load_settings().data_dir / "usage-spool")
        self.writer.start()  # adopts the journal of a worker that died, even before any request
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

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> None:
        """Before the response goes out: its request is journalled as answered (LiteLLM logs it later)."""
        try:
            # the id LiteLLM's logging object gives the success event (as the proxy reads it)
            logging_obj = data.get("litellm_logging_obj")
            call_id = getattr(logging_obj, "litellm_call_id", None) or data.get("litellm_call_id")
            if isinstance(call_id, str) and data.get("model"):
                self.writer.answered(call_id)
        except Exception:  # never let bookkeeping break a caller's request
            log.exception("usage hook failed")

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
            d for d in healthy_deployments if (d.get("model_info") or {}).get(PROVIDER_KEY) not in blocked
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
        call_id = kwargs.get("litellm_call_id")
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
            answers=call_id if status == "success" and isinstance(call_id, str) else None,
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
