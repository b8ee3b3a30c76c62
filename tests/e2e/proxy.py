"""Start and stop the real LiteLLM proxy on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.pg import free_port

BIN = Path(sys.executable).parent
START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


class ProxyFailed(RuntimeError):
    """The proxy exited or did not become live in time; the message ends with its log."""


@dataclass
class Proxy:
    """A running proxy: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, key: str, timeout: float = 30.0) -> httpx.Client:
        """An httpx client on the proxy, authenticated with key."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)


def proxy_env(env: Mapping[str, str]) -> dict[str, str]:
    """A clean environment for the proxy: nothing of the test process leaks in except the basics."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**base, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **env}


def litellm_command(config: Path, port: int, *args: str) -> list[str]:
    return [str(BIN / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), *args]


def wait_live(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    """Poll /health/liveliness until it answers 200; raise with the log if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProxyFailed(f"proxy exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ProxyFailed(f"proxy not live after {timeout:.0f} s:\n{_tail(log_path)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the proxy's process group, then SIGKILL it if it lingers."""
    with suppress(ProcessLookupError):  # it may exit between the check and the signal
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def running(
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    timeout: float = START_TIMEOUT,
) -> Iterator[Proxy]:
    """Run command (a proxy listening on 127.0.0.1:port) until the block ends; its output goes to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # A session of its own, so stop() reaches any workers (gunicorn) as well.
        process = subprocess.Popen(
            list(command),
            env=proxy_env(env),
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_live(url, process, log_path, timeout)
        yield Proxy(url, process, log_path)
    finally:
        stop(process)


@contextmanager
def litellm_proxy(
    config: Path,
    *,
    env: Mapping[str, str],
    log_path: Path,
    args: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
) -> Iterator[Proxy]:
    """`litellm --config config` on a free loopback port, live for the duration of the block."""
    port = free_port()
    with running(
        litellm_command(config, port, *args), port=port, env=env, log_path=log_path, timeout=timeout
    ) as p:
        yield p


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
