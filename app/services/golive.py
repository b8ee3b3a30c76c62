"""Putting a written revision live: which revision the proxy serves, and what became of a new one.

Our supervisor picks a new file up, reloads the proxy and reports; a stock LiteLLM image (or a proxy
no supervisor of ours runs) loads it only when restarted, so the operator gets the command instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.crypto import load_master_key
from app.proxy import supervisor
from app.settings import Settings

STOCK_RESTART = "docker compose restart litellm"
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
    outcome: str  # live | failed | waiting_restart | no_report
    message: str
    ms: float | None = None
    command: str | None = None  # waiting_restart: the command that loads it

    @property
    def ok(self) -> bool:
        return self.outcome in ("live", "waiting_restart")


def _running_supervisors(settings: Settings) -> list[supervisor.ProxyState]:
    return [] if settings.proxy_mode == "stock" else supervisor.replica_states(settings)


def needs_restart(settings: Settings) -> bool:
    """True when no supervisor of ours will load a new file: the proxy must be restarted for it."""
    return not _running_supervisors(settings)


def served_revision(settings: Settings) -> int | None:
    """The newest revision stamp the proxy answers with, or None when it does not answer."""
    served = supervisor.served_revisions(
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


def go_live(settings: Settings, number: int) -> GoLive:
    """Wait for the supervisor's verdict on revision `number`, or say which restart loads it."""
    if needs_restart(settings):
        if settings.proxy_mode == "stock":
            message = (
                f"revision {number} applied, waiting for restart: the proxy runs the stock LiteLLM "
                f"image, so restart the proxy to load it (e.g. `{STOCK_RESTART}`)"
            )
        else:
            message = (
                f"revision {number} applied, waiting for the supervisor: no llm-admin supervisor runs "
                f"here, so start it to load it (`{SUPERVISED_START}`)"
            )
        return GoLive(number, "waiting_restart", message, command=restart_advice(settings))
    result = supervisor.wait_for_report(settings, lambda r: r.revision == number)
    if result is None:
        return GoLive(
            number,
            "no_report",
            f"revision {number} written, but the supervisor did not report on it; "
            "see `llm-admin proxy status`",
        )
    return GoLive(number, "live" if result.ok else "failed", result.message, result.ms)
