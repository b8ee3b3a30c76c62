"""Putting a written revision live: which revision the proxy serves, and what became of a new one.

Our supervisor picks a new file up, reloads the proxy and reports; a stock LiteLLM image (or a proxy
no supervisor of ours runs) loads it only when restarted, so the operator gets the command instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.crypto import load_master_key
from app.errors import LlmAdminError
from app.runtime import proxy_state
from app.runtime.proxy_state import ProxyState, ReloadResult
from app.services.access import Actor, authorize
from app.settings import Settings
from generator import files

STOCK_RESTART = "docker compose restart litellm"
# how long an apply waits for a supervisor that is still starting (`llm-admin proxy run` imports
# LiteLLM before its first heartbeat), and for the proxy's first start on the new file
STARTUP_WAIT = 2.0
FIRST_START_EXTRA_WAIT = 15.0  # beyond the supervisor's own start deadline
SUPERVISED_START = "llm-admin proxy run"


def restart_advice(settings: Settings) -> str:
    """The command that loads a new file when no supervisor of ours runs: a stock image's restart,
    or in supervised mode starting our supervisor (it takes over or ends a proxy left running)."""
    return STOCK_RESTART if settings.proxy_mode == "stock" else SUPERVISED_START


@dataclass(frozen=True)
class ProxyStatus:
    """The revision the proxy serves, as far as we can tell, and how we know."""

    supervised: bool  # our supervisor runs here and reloads on every new file
    live_revision: int | None
    detail: str


@dataclass(frozen=True)
class GoLive:
    """What became of a written revision: live, failed (and the last good one restored), or neither yet."""

    number: int
    outcome: str  # live | failed | waiting_restart | starting | no_report
    message: str
    ms: float | None = None
    command: str | None = None  # waiting_restart: the command that loads it

    @property
    def ok(self) -> bool:
        return self.outcome in ("live", "waiting_restart", "starting")


def _running_supervisors(settings: Settings) -> list[ProxyState]:
    return [] if settings.proxy_mode == "stock" else proxy_state.replica_states(settings)


def needs_restart(settings: Settings) -> bool:
    """True when no supervisor of ours will load a new file: the proxy must be restarted for it."""
    return not _running_supervisors(settings)


def restart_loads(settings: Settings, status: ProxyStatus) -> bool:
    """True when only a restart loads a new file: a stock image, or a proxy that answers unsupervised."""
    return settings.proxy_mode == "stock" or (not status.supervised and status.live_revision is not None)


def served_revision(settings: Settings) -> int | None:
    """The newest revision stamp the proxy answers with, or None when it does not answer."""
    served = proxy_state.served_revisions(
        settings.proxy_host, settings.proxy_port, load_master_key(settings) or ""
    )
    return max((r for r in served or () if isinstance(r, int)), default=None)


def proxy_status(settings: Settings) -> ProxyStatus:
    """From the supervisors' state files when they run here, else by asking the proxy itself.

    With several proxies (the `ha` profile) the live revision is the oldest one any of them serves.
    """
    states = _running_supervisors(settings)
    if states:
        booted = [s for s in states if s.master_pid is not None]
        if not booted:
            return ProxyStatus(True, None, "the supervisor waits for the first config apply")
        revisions = [s.live_revision for s in booted if s.live_revision is not None]
        details = []
        for state in states:
            last = state.last_reload
            line = f"last reload: {last.message}" if last else "no reload yet"
            details.append(
                line if len(states) == 1 else f"{state.label}: revision {state.live_revision}, {line}"
            )
        return ProxyStatus(True, min(revisions) if revisions else None, "; ".join(details))
    where = f"{settings.proxy_host}:{settings.proxy_port}"
    live = served_revision(settings)
    if live is None:
        return ProxyStatus(False, None, f"no llm-admin supervisor; the proxy at {where} did not answer")
    return ProxyStatus(False, live, f"no llm-admin supervisor; the proxy at {where} serves revision {live}")


def request_reload(settings: Settings, *, actor: Actor) -> ReloadResult:
    """Ask every supervisor here to reload the proxy on the current file, and wait for the report."""
    authorize(actor, "operate")
    states = proxy_state.replica_states(settings)
    if not states:
        advice = restart_advice(settings)
        raise LlmAdminError(f"no llm-admin supervisor runs here; start or restart the proxy: `{advice}`")
    if any(s.master_pid is None for s in states):
        raise LlmAdminError("a supervisor waits for the first config: run `llm-admin config apply`")
    asked = time.time()
    files.write_atomic(proxy_state.reload_request_path(settings), f"{asked}\n", mode=0o644)
    result = proxy_state.wait_for_report(settings, lambda r: r.at > asked)
    if result is None:
        raise LlmAdminError("the supervisor did not report a reload; see data/logs/proxy.log")
    return result


def _wait_for_supervisor(settings: Settings, seconds: float) -> list[ProxyState]:
    """The running supervisors, waiting up to `seconds` for one that is still starting to appear."""
    deadline = time.monotonic() + seconds
    states = _running_supervisors(settings)
    while not states and time.monotonic() < deadline:
        time.sleep(0.1)
        states = _running_supervisors(settings)
    return states


def _not_supervised(settings: Settings, number: int, waited: float) -> GoLive:
    """No supervisor of ours reported: a proxy that answers needs a restart; none answering is starting."""
    if settings.proxy_mode == "stock":
        why = "the proxy runs the stock LiteLLM image"
    else:
        where = f"{settings.proxy_host}:{settings.proxy_port}"
        served = served_revision(settings)
        if served is None:
            return GoLive(
                number,
                "starting",
                f"revision {number} written; the proxy is not serving yet (no llm-admin supervisor "
                f"reported within {waited:g} s and nothing answers at {where}). A starting "
                f"`llm-admin proxy run` serves it once up: `llm-admin proxy status` shows when "
                f"revision {number} is live",
            )
        return GoLive(
            number,
            "waiting_restart",
            f"revision {number} applied, waiting for the supervisor: the proxy at {where} (serving "
            f"revision {served}) is not run by an llm-admin supervisor, so start one to take it over "
            f"(`{SUPERVISED_START}`)",
            command=SUPERVISED_START,
        )
    return GoLive(
        number,
        "waiting_restart",
        f"revision {number} applied, waiting for restart: {why}, so restart the proxy to load it "
        f"(e.g. `{STOCK_RESTART}`)",
        command=STOCK_RESTART,
    )


def go_live(
    settings: Settings,
    number: int,
    *,
    startup_wait: float | None = None,
    notify: Callable[[str], None] = lambda _: None,
) -> GoLive:
    """Wait for the supervisor's verdict on revision `number` (`notify` hears each wait), or say what
    loads it: a restart, or the supervisor that is still starting."""
    startup_wait = STARTUP_WAIT if startup_wait is None else startup_wait
    states = [] if settings.proxy_mode == "stock" else _running_supervisors(settings)
    if not states and settings.proxy_mode != "stock" and startup_wait > 0:
        notify(f"Waiting up to {startup_wait:g} s for the llm-admin supervisor to start…")
        states = _wait_for_supervisor(settings, startup_wait)
    if not states:
        return _not_supervised(settings, number, startup_wait)
    first_start = any(s.live_revision is None for s in states)
    wait = proxy_state.START_DEADLINE + FIRST_START_EXTRA_WAIT if first_start else None
    if first_start:
        notify(f"The proxy is starting on revision {number}: waiting up to {wait:g} s…")
    result = proxy_state.wait_for_report(settings, lambda r: r.revision == number, seconds=wait)
    if result is None:
        return GoLive(
            number,
            "no_report",
            f"revision {number} written, but the supervisor did not report on it; "
            "see `llm-admin proxy status`",
        )
    return GoLive(number, "live" if result.ok else "failed", result.message, result.ms)
