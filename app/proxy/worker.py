"""A gunicorn worker that drains keep-alive connections instead of cutting them on a reload.

Why: on HUP gunicorn stops the old workers, and uvicorn's graceful shutdown closes every *idle*
keep-alive connection at once. A client that sends its next request on such a connection at that
instant gets "server disconnected" — the few requests a bare HUP loses under load. Here an old
worker first stops accepting, then for DRAIN_SECONDS still answers requests that arrive on its open
connections, each with `Connection: close`, so clients move to the new workers cleanly; only then
does uvicorn's normal shutdown run.

A worker that has started (LiteLLM's startup has loaded the config) says so in
`$LLM_ADMIN_WORKERS_DIR/<pid>.json` with the revisions its router serves: the supervisor knows each
new worker is up instead of guessing from which worker happens to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from typing import Any, cast

from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

DRAIN_SECONDS = 3.0


def _exit_normally(*_: object) -> None:
    sys.exit(0)


def close_after_response(cycle: Any) -> None:
    """Make this response the connection's last, and say so (`Connection: close`) so the client
    does not send its next request down a connection about to close. A response already under
    way cannot get the header: its connection stays open, and the next request on it is marked."""
    if cycle is None or cycle.response_started:
        return
    cycle.keep_alive = False
    headers = cast(list[tuple[bytes, bytes]], cycle.scope["headers"])
    if CLOSE_HEADER not in headers:
        headers.append(CLOSE_HEADER)  # uvicorn answers with it when the request carries it


class DrainingH11Protocol(H11Protocol):
    """While the worker drains, every request gets a `Connection: close` answer."""

    def handle_events(self) -> None:
        super().handle_events()
        if getattr(self.server_state, "draining", False):
            close_after_response(self.cycle)


def report_path() -> str | None:
    directory = os.environ.get("LLM_ADMIN_WORKERS_DIR")
    return os.path.join(directory, f"{os.getpid()}.json") if directory else None


def report_ready() -> None:
    path = report_path()
    if not path:
        return
    from litellm.proxy import proxy_server

    from generator.build import REVISION_KEY

    router = proxy_server.llm_router
    deployments = router.model_list if router else []
    revisions = {(d.get("model_info") or {}).get(REVISION_KEY) for d in deployments}
    with open(f"{path}.tmp", "w") as fh:
        json.dump({"revisions": sorted(revisions, key=str)}, fh)
    os.replace(f"{path}.tmp", path)


def keys_unresolved() -> set[str]:
    """Our stored-secret names this worker could not resolve while LiteLLM loaded its config."""
    from app.proxy import secrets

    return set(secrets.UNRESOLVED)


class KeysUnresolved(SystemExit):
    """A worker without its keys leaves before accepting a request; gunicorn forks a new one."""


class DrainingServer(Server):
    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """uvicorn's loop of 0.1 s ticks, woken at once by the signal to stop: a retired worker stops
        accepting now rather than at its next tick, and the reload that retired it is live sooner."""
        self._stop, self._loop = asyncio.Event(), asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        lifespan_startup = self.lifespan.startup

        async def checked_startup() -> None:
            await lifespan_startup()
            missing = keys_unresolved()
            if missing:
                print(
                    f"llm-admin: worker {os.getpid()} exits before serving: cannot resolve "
                    f"{', '.join(sorted(missing))} (database unreachable); gunicorn starts another",
                    file=sys.stderr,
                    flush=True,
                )
                raise KeysUnresolved(0)  # exit code 0: gunicorn replaces it (3 would halt gunicorn)

        self.lifespan.startup = checked_startup  # type: ignore[method-assign]
        await super().startup(sockets=sockets)
        if self.started:
            report_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        path = report_path()
        if path:  # no longer accepting: no longer one of the proxy's serving workers
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        self.server_state.draining = True  # type: ignore[attr-defined]
        for connection in list(self.server_state.connections):
            close_after_response(getattr(connection, "cycle", None))
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.server_state.connections and time.monotonic() < deadline and not self.force_exit:
            await asyncio.sleep(0.05)
        await super().shutdown()


class DrainingUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "asyncio", "http": DrainingH11Protocol}

    def init_signals(self) -> None:
        super().init_signals()
        # After its graceful shutdown uvicorn re-raises the SIGTERM it caught; with the default action
        # that kills the worker before atexit handlers run, and the hooks' last usage events are lost.
        signal.signal(signal.SIGTERM, _exit_normally)

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
