"""The health monitor: probe every enabled provider concurrently, judge it, and steer traffic off the down.

A sweep probes each provider with the cheapest real request (app.probes.test_connection), records the
results in one transaction (app.services.health), and when the set of down providers changed, renders
the last applied revision's input again (`config.steer`, so edits not yet applied stay pending): the
generator leaves a down provider's deployments out wherever another can serve, and the supervisor
reloads the proxy on the new file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import catalog, db
from app.crypto import KeyRing, load_key_ring
from app.defaults import DEFAULT_INTERVAL, DEFAULT_RECHECK, DEFAULT_TIMEOUT
from app.errors import LlmAdminError
from app.models import Provider, ProviderHealth, utcnow
from app.probes import ProbeResult, ProbeTarget, test_connection
from app.services import alerts, budgets, config, discovery, health, webhooks
from app.services.access import Actor, authorize
from app.settings import Settings

log = logging.getLogger("llm_admin.monitor")

MONITOR = Actor(name="monitor", role="operator")
PRUNE_EVERY = 3600.0


@dataclass(frozen=True)
class Probed:
    """One provider's probe in a sweep; `status` is the verdict after it ('skipped' when not probed)."""

    provider_id: int
    name: str
    ok: bool
    latency_ms: float | None
    message: str
    status: str


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep found and did."""

    at: datetime
    wall_ms: float
    probed: list[Probed]
    transitions: list[health.Transition]
    down: list[str]  # provider names, after the sweep
    applied_revision: int | None = None
    apply_error: str | None = None
    notes: list[str] = field(default_factory=list)
    apply_attempted: bool = False

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for p in self.probed:
            tally[p.status] = tally.get(p.status, 0) + 1
        return tally

    @property
    def suspects(self) -> list[int]:
        """Providers failing but not yet down: worth probing again soon."""
        return [p.provider_id for p in self.probed if not p.ok and p.status not in ("down", "skipped")]


@dataclass(frozen=True)
class _Target:
    provider_id: int
    name: str
    target: ProbeTarget | None
    skip_reason: str | None = None


def _targets(
    session: Session, *, ring: KeyRing, environ: Mapping[str, str], only: Collection[int] | None
) -> list[_Target]:
    """Every enabled, non-deleted provider with its secrets resolved as Test Connection resolves them."""
    query = (
        select(Provider)
        .options(selectinload(Provider.credentials))
        .where(Provider.enabled.is_(True), Provider.deleted_at.is_(None))
        .order_by(Provider.id)
    )
    if only is not None:
        query = query.where(Provider.id.in_(list(only)))
    found = []
    for provider in session.scalars(query):
        try:
            target = discovery.probe_target(provider, ring=ring, environ=environ)
        except LlmAdminError as exc:
            # the monitor cannot read the key (e.g. an env variable only the proxy has): no verdict,
            # rather than marking a provider down that may serve fine
            found.append(_Target(provider.id, provider.name, None, f"not probed: {exc}"))
            continue
        found.append(_Target(provider.id, provider.name, target))
    return found


async def _probe_one(target: ProbeTarget, *, timeout: float, client: httpx.AsyncClient) -> ProbeResult:
    """One probe, bounded in total by `timeout` (httpx's timeout bounds each read, not the whole)."""
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(test_connection(target, timeout=timeout, client=client), timeout)
    except TimeoutError:
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return ProbeResult(False, elapsed, f"no complete answer within {timeout:g} s; is it up?")
    except Exception as exc:  # a probe must never take the sweep down with it
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return ProbeResult(False, elapsed, f"probe failed: {type(exc).__name__}: {str(exc)[:300]}")


async def _probe_all(targets: list[ProbeTarget], *, timeout: float) -> list[ProbeResult]:
    # one client for the sweep: a client per probe would build an SSL context per provider
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        return list(await asyncio.gather(*(_probe_one(t, timeout=timeout, client=client) for t in targets)))


def sweep(
    settings: Settings,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ring: KeyRing | None = None,
    environ: Mapping[str, str] | None = None,
    only: Collection[int] | None = None,
    apply_config: bool = True,
    retry_apply: bool = False,
    slow_ms: float = health.DEGRADED_LATENCY_MS,
    actor: Actor | None = None,
) -> SweepSummary:
    """Probe every enabled provider (or `only` these) at once, record the verdicts, steer off the down.

    The config is applied again when the set of down providers changed, or with `retry_apply` (the
    last attempt failed) whenever the file does not match the steered render. A sweep a user asks
    for (`actor`: the API's "sweep now") needs the operate permission; the monitor's own need none.
    """
    if actor is not None:
        authorize(actor, "operate")
    started = time.perf_counter()
    at = utcnow()
    db.init(settings.database_url)
    ring = ring or load_key_ring(settings)
    env = os.environ if environ is None else environ
    with db.Session.begin() as session:
        targets = _targets(session, ring=ring, environ=env, only=only)
    probed = [t for t in targets if t.target is not None]
    if any(catalog.PROVIDER_TYPES[t.target.type].listing is None for t in probed if t.target):
        # a completion probe imports LiteLLM (seconds, once per process): done here, not inside the
        # event loop, where it would stall every other probe past its timeout
        import litellm  # noqa: F401

        logging.getLogger("LiteLLM").setLevel(logging.WARNING)  # not a line per probe in the log
    results = asyncio.run(_probe_all([t.target for t in probed if t.target], timeout=timeout))
    outcome: dict[int, ProbeResult] = {t.provider_id: r for t, r in zip(probed, results, strict=True)}

    transitions: list[health.Transition] = []
    rows: list[Probed] = []
    with db.Session.begin() as session:
        down_before = health.down_provider_ids(session)
        ids = [t.provider_id for t in targets]
        # load them in two queries, so recording 100 results does not cost 200 round trips
        list(session.scalars(select(Provider).where(Provider.id.in_(ids))))
        list(session.scalars(select(ProviderHealth).where(ProviderHealth.provider_id.in_(ids))))
        for t in targets:
            result = outcome.get(t.provider_id)
            if result is None:
                rows.append(Probed(t.provider_id, t.name, False, None, t.skip_reason or "", "skipped"))
                log.warning("provider %s %s", t.name, t.skip_reason)
                continue
            change = health.record_probe(
                session,
                provider_id=t.provider_id,
                ok=result.ok,
                latency_ms=result.latency_ms,
                error=None if result.ok else result.message,
                at=at,
                slow_ms=slow_ms,
            )
            if change is not None:
                transitions.append(change)
                log.info("provider %s: %s → %s", change.provider, change.old, change.new)
            state = session.get(ProviderHealth, t.provider_id)
            status = state.status if state else "unknown"
            rows.append(Probed(t.provider_id, t.name, result.ok, result.latency_ms, result.message, status))
        session.flush()
        down_after = health.down_provider_ids(session)
        down_names = sorted(
            session.scalars(select(Provider.name).where(Provider.id.in_(down_after))), key=str.casefold
        )

    applied, apply_error, notes = None, None, []
    attempted = apply_config and (down_after != down_before or retry_apply)
    if attempted:
        applied, apply_error, note = reapply(settings, ring=ring, environ=env)
        if note:
            notes.append(note)
    try:
        after_sweep(settings)
    except Exception:  # what hooks in there must not stop the monitor
        log.exception("after_sweep failed")
    wall = round((time.perf_counter() - started) * 1000, 1)
    return SweepSummary(at, wall, rows, transitions, down_names, applied, apply_error, notes, attempted)


def reapply(
    settings: Settings, *, ring: KeyRing, environ: Mapping[str, str]
) -> tuple[int | None, str | None, str | None]:
    """(revision written, error, note): re-render the last applied revision around the down providers."""
    if not settings.config_path.exists():
        return None, None, "no config applied yet: nothing to re-render (run `llm-admin config apply`)"
    try:
        applied = config.steer(actor=MONITOR, settings=settings, ring=ring, environ=environ)
        if applied is None:
            return None, None, "the config already matches the providers' health"
    except Exception as exc:  # never crash the monitor: an admin reads the alert and fixes the config
        message = str(exc) or type(exc).__name__
        log.error("monitor could not apply the config: %s", message)
        try:
            with db.Session.begin() as session:
                alerts.raise_alert(
                    session,
                    kind="monitor_apply_failed",
                    severity="warning",
                    message=(
                        "The health monitor could not apply the config to steer traffic off down "
                        f"providers; callers may still reach them. {message[:1500]}"
                    ),
                    dedup_key="monitor_apply_failed",
                )
        except Exception:
            log.exception("could not record the monitor_apply_failed alert")
        return None, message, None
    log.info("revision %d applied by the monitor: %s", applied.number, applied.summary)
    return applied.number, None, None


def after_sweep(settings: Settings) -> None:
    """After every sweep: budgets checked (alerts at 50/80/100 %, what enforcement blocks), then new
    alerts sent to the webhook, each in its own transaction (delivery waits on the network)."""
    with db.Session.begin() as session:
        budgets.evaluate(session)
    if settings.alert_webhook_url:
        with db.Session.begin() as session:
            webhooks.deliver_pending(session, url=settings.alert_webhook_url)


class _StopOnSignal:
    """SIGTERM/SIGINT set `event`: the loop finishes its sweep and exits (main thread only)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.info("monitor stopping on signal %d", signum)
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run(
    settings: Settings,
    *,
    interval: float = DEFAULT_INTERVAL,
    once: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    recheck: float = DEFAULT_RECHECK,
    report: Callable[[SweepSummary], None] | None = None,
    stop: threading.Event | None = None,
    slow_ms: float = health.DEGRADED_LATENCY_MS,
) -> int:
    """Sweep every `interval` seconds (failing providers again after `recheck`) until SIGTERM/SIGINT
    or `stop` is set; 1 when a --once sweep could not run."""
    db.init(settings.database_url)
    ring = load_key_ring(settings)
    stopping = stop or threading.Event()
    last_prune = 0.0
    next_full = time.monotonic()
    suspects: list[int] = []
    retry_apply = False  # the last apply failed: try again on every sweep until one succeeds
    with _StopOnSignal(stopping):
        while not stopping.is_set():
            now = time.monotonic()
            full = now >= next_full or not suspects
            if full:
                next_full = now + interval
            try:
                summary = sweep(
                    settings,
                    timeout=timeout,
                    ring=ring,
                    only=None if full else suspects,
                    retry_apply=retry_apply,
                    slow_ms=slow_ms,
                )
            except Exception:
                log.exception("sweep failed; trying again at the next interval")
                if once:
                    return 1
                suspects = []
            else:
                suspects = summary.suspects
                if summary.apply_attempted:
                    retry_apply = summary.apply_error is not None
                if report is not None:
                    report(summary)
            if once:
                return 0
            if time.monotonic() - last_prune > PRUNE_EVERY:
                last_prune = time.monotonic()
                _prune()
            wake = min(next_full, time.monotonic() + recheck) if suspects else next_full
            stopping.wait(max(wake - time.monotonic(), 0.0))
    return 0


def _prune() -> None:
    try:
        with db.Session.begin() as session:
            removed = health.prune_history(session, before=utcnow() - health.KEEP_HISTORY)
        if removed:
            log.info("pruned %d health checks older than %s", removed, health.KEEP_HISTORY)
    except Exception:
        log.exception("could not prune the health history")
