"""Process lifetime: a SIGKILLed gunicorn master leaves no worker behind and the supervisor serves again
within seconds; a SIGKILLed supervisor takes its gunicorn with it, and a new `llm-admin proxy run` on the
same port serves within seconds. Each case prints its figures."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime.processes import child_pids, pid_alive
from tests.e2e.proxy import running
from tests.e2e.supervised import (
    BIN,
    Load,
    Supervised,
    add_model,
    add_provider,
    llm_admin,
    supervised,
    wait_for,
)
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    upstream = FakeUpstream(reply="from upstream").start()
    data = tmp_path_factory.mktemp("lifetime") / "data"
    llm_admin(data, "db", "upgrade")
    add_provider(data, "up-co", f"{upstream.base_url}/v1")
    add_model(data, "up-co", "alpha")
    llm_admin(data, "config", "apply", "--yes")
    yield data
    upstream.stop()


def test_a_sigkilled_gunicorn_master_takes_its_workers_and_the_supervisor_serves_again(data: Path) -> None:
    with supervised(data, workers=2) as sup:
        state = sup.state()
        assert state is not None and state.master_pid is not None
        master, workers = state.master_pid, child_pids(state.master_pid)
        with Load([sup.url], sup.master_key, clients=2, model="alpha") as load:
            wait_for(lambda: load.ok >= 10, 60, "the load to be served")
            killed_at = time.monotonic()
            os.kill(master, signal.SIGKILL)
            wait_for(lambda: not any(pid_alive(p) for p in workers), 30, "the old workers to exit")
            ok_at = load.ok  # every worker that could answer is gone: the next answer is the new master's
            wait_for(lambda: load.ok > ok_at, 120, "a request served by the restarted proxy")
            back_after = time.monotonic() - killed_at

            def serving_again() -> bool:
                s = sup.state()
                return bool(s and s.master_pid != master and s.last_reload and s.last_reload.ok)

            wait_for(serving_again, 120, "the supervisor to report the restarted proxy")
            wait_for(lambda: load.ok > ok_at + 10, 60, "requests served after the restart")
        print(
            f"\nmaster SIGKILL: {load.total} tried, {sum(load.failures.values())} failed "
            f"(in flight on the killed workers), serving again after {back_after:.1f} s"
        )
        assert sup.process.poll() is None
        assert sup.chat("alpha").status_code == 200


def test_a_sigkilled_supervisor_takes_gunicorn_with_it_and_a_new_one_serves_on_its_port(data: Path) -> None:
    with supervised(data, workers=2) as sup:
        state = sup.state()
        assert state is not None and state.master_pid is not None
        master, workers = state.master_pid, child_pids(state.master_pid)
        port = int(sup.url.rsplit(":", 1)[1])
        os.kill(sup.process.pid, signal.SIGKILL)
        wait_for(lambda: not any(pid_alive(p) for p in {master, *workers}), 60, "gunicorn to exit")

        killed_at = time.monotonic()
        command = [str(BIN / "llm-admin"), "proxy", "run", "--port", str(port), "--workers", "2"]
        log_path = data / "logs" / "supervisor-2.log"
        with running(command, port=port, env={"LLM_ADMIN_DATA_DIR": str(data)}, log_path=log_path) as proxy:
            again = Supervised(data, proxy.url, proxy.process, log_path, sup.master_key)
            wait_for(lambda: (s := again.state()) and s.live_revision is not None, 120, "a live revision")
            back_after = time.monotonic() - killed_at
            assert again.chat("alpha").status_code == 200
        print(f"\nsupervisor SIGKILL: a new `llm-admin proxy run` served after {back_after:.1f} s")
