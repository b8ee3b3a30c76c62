"""A real Redis server (Debian's redis-server) on a free loopback port, for the several-proxies test."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.pg import free_port


@contextmanager
def redis_server(workdir: Path, password: str) -> Iterator[int]:
    """Yield the port of a password-protected, memory-only Redis running until the block ends."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "redis.log").open("wb") as log:  # the server keeps its own copy of the handle
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(workdir), "--requirepass", password],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, password=password)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError as exc:
                if time.monotonic() > deadline or process.poll() is not None:
                    log_text = (workdir / "redis.log").read_text()
                    raise RuntimeError(f"redis-server did not start: {log_text}") from exc
                time.sleep(0.05)
        client.close()
        yield port
    finally:
        process.terminate()
        process.wait(10)
