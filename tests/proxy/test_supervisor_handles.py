"""The supervisor's own handles on what it gives each proxy it starts (the log file, the held-secrets
pipe): the child keeps its copies, the supervisor keeps none, however often the proxy is restarted
and whether it started or not."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.proxy import supervisor
from app.settings import Settings
from tests.pg import free_port

STARTS = 5
REAL_POPEN = subprocess.Popen


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what each refers to."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the one listdir itself used, closed since
            continue
    return fds


def handles_on(path: Path) -> list[int]:
    return [fd for fd, target in open_fds().items() if target == str(path.resolve())]


def a_proxy_that_exits(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Instead of gunicorn: a child that writes one line to the stdout it was given, and exits."""
    assert args[1:3] == ["-m", "app.proxy.server"], args
    return REAL_POPEN([sys.executable, "-c", "print('proxy started')"], **kwargs)


def no_proxy(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")


@pytest.fixture
def runner(db_url: str, tmp_path: Path) -> Iterator[supervisor.Supervisor]:
    settings = Settings(data_dir=tmp_path, database_url=db_url, master_key="sk-supervisor-handles-master")
    runner = supervisor.Supervisor(settings, host="127.0.0.1", port=free_port(), workers=1)
    yield runner
    runner.stop_proxy()
    if runner.listener is not None:
        runner.listener.close()
    if runner._held_write is not None:
        os.close(runner._held_write)


@pytest.mark.parametrize("backend", ["sqlite"])  # no database is read: one backend is enough
def test_restarts_leave_no_handle_on_the_log_in_the_supervisor(
    runner: supervisor.Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "Popen", a_proxy_that_exits)
    log = runner.settings.data_dir / "logs" / runner.log_name

    for _ in range(STARTS):  # what run() does each time the proxy exits
        runner.start_proxy()
        assert runner.process is not None and runner.process.wait(30) == 0

    assert handles_on(log) == []
    assert log.read_text() == "proxy started\n" * STARTS  # each child wrote through its own copy


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_start_that_fails_leaves_nothing_open(
    runner: supervisor.Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "Popen", no_proxy)
    log = runner.settings.data_dir / "logs" / runner.log_name
    before = open_fds()
    failures = []

    for _ in range(STARTS):
        with pytest.raises(OSError) as failure:
            runner.start_proxy()
        failures.append(failure)  # their tracebacks kept, as by a caller that reports them later

    assert handles_on(log) == []
    # the supervisor's own for its life: the listening socket, the write end of the newest pipe
    assert runner.listener is not None and runner._held_write is not None
    kept = {runner.listener.fileno(), runner._held_write}
    assert {fd: target for fd, target in open_fds().items() if fd not in kept} == before
    assert len(failures) == STARTS
