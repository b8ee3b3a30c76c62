"""A throwaway real PostgreSQL server from the Debian binaries, for tests and benchmarks."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; "
            "run `bash scripts/system-deps.sh` (apt-get install postgresql)"
        )
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    """A running server: `url(db)` gives a SQLAlchemy URL for one of its databases."""

    root: Path
    port: int
    _as_postgres: list[str]
    options: str = ""

    def halt(self) -> None:
        """Stop the server but keep its data: an outage, ended by `resume()`."""
        self._pg_ctl("-m", "fast", "stop")

    def resume(self) -> None:
        """Start a halted server again on the same data, port and options."""
        self._pg_ctl("-o", self.options, "-l", str(self.root / "server.log"), "-w", "start")

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres, str(bin_dir() / "pg_ctl"), "-D", str(self.root / "data"), *args],
            capture_output=True,
            check=True,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        subprocess.run(
            [
                *self._as_postgres,
                str(bin_dir() / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb + start on a free loopback port, as the postgres user when we are root."""
    root = Path(tempfile.mkdtemp(prefix="llm-admin-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    bins = bin_dir()
    data = root / "data"

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_postgres, *cmd], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            raise RuntimeError(f"{cmd[0]} failed: {done.stderr or done.stdout}\n{log}")

    run(str(bins / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
    port = free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    run(str(bins / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    return PostgresServer(root, port, as_postgres, options)
