"""The proxy hooks: usage rows and failover alerts from LiteLLM's callback arguments, written by a
writer that never blocks a request and loses nothing while the database is away."""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import select as select_fd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app import db, migrate
from app.models import Alert, UsageEvent, UsageJournalMark
from app.proxy import hooks
from app.proxy.journal import Journal
from tests.pg import PostgresServer, bin_dir, start_postgres

START = 1_700_000_000.0


def usage_row(n: int) -> dict[str, Any]:
    """A row as the hook builds it; prompt_tokens carries n so lost or reordered rows show."""
    return {
        "at": datetime.fromtimestamp(START + n, UTC),
        "provider": "Backup Co",
        "model_group": "backup",
        "deployment": "llm-admin-m2",
        "route": None,
        "prompt_tokens": n,
        "completion_tokens": 7,
        "cost_usd": 0.0001,
        "latency_ms": 12.5,
        "status": "success",
        "error_class": None,
        "fallback": False,
        "revision": 3,
    }


def wait_for(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def read(url: str, query: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows
    finally:
        engine.dispose()


@pytest.fixture
def fast_writer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], hooks.EventWriter]]:
    """An EventWriter on the database at url, retrying every few milliseconds instead of seconds."""
    monkeypatch.setattr(hooks, "FLUSH_SECONDS", 0.01)
    monkeypatch.setattr(hooks, "MAX_BACKOFF_SECONDS", 0.05)
    writers: list[hooks.EventWriter] = []
    urls: list[str] = []

    def make(url: str) -> hooks.EventWriter:
        monkeypatch.setenv("LLM_ADMIN_DATABASE_URL", url)
        writers.append(hooks.EventWriter())
        urls.append(url)
        return writers[-1]

    yield make
    for url in urls:  # close the writers' pooled connections now, not whenever a later test evicts them
        db.make_engine(url).dispose()
    for writer in writers:  # nothing may be left for the atexit flush of the test process
        assert writer.queue.empty() and not writer.pending


# --- a database that goes away -----------------------------------------------------------------


def _pg_ctl(server: PostgresServer, *args: str) -> None:
    subprocess.run(
        [*server._as_postgres, str(bin_dir() / "pg_ctl"), "-D", str(server.root / "data"), *args],
        capture_output=True,
        check=True,
    )


def restart_postgres(server: PostgresServer) -> None:
    """Start a stopped throwaway server again on its data directory and port."""
    options = f"-p {server.port} -k {server.root} -c listen_addresses=127.0.0.1 -c fsync=off"
    _pg_ctl(server, "-o", options, "-l", str(server.root / "server.log"), "-w", "start")


@pytest.mark.postgres
def test_events_wait_out_a_postgres_outage_and_are_all_written_when_it_returns(
    fast_writer: Callable[[str], hooks.EventWriter],
) -> None:
    server = start_postgres()  # our own: this test stops it
    try:
        url = server.url()
        migrate.upgrade(url)
        writer = fast_writer(url)
        writer.put("usage", usage_row(0))
        wait_for(lambda: writer.written == 1, 10, "the first row")  # the pool now holds a connection

        _pg_ctl(server, "-m", "fast", "stop")  # a restart; "immediate" may lose unsynced commits
        started = time.perf_counter()
        for n in range(1, 501):
            writer.put("usage", usage_row(n))
        put_seconds = time.perf_counter() - started
        writer.put(
            "alert",
            {
                "kind": "failover",
                "severity": "warning",
                "provider": "Down Co",
                "dedup_key": "failover:primary:Down Co",
                "message": "Provider Down Co down, using fallback Backup Co (backup served primary)",
            },
        )
        wait_for(lambda: len(writer.pending) == 500, 10, "the events to be buffered")
        time.sleep(0.3)  # several failed write attempts

        print(f"500 put() calls with the database down: {put_seconds * 1000:.1f} ms")
        assert (writer.written, len(writer.pending), writer.dropped) == (1, 500, 0)

        restart_postgres(server)
        wait_for(lambda: writer.written == 501 and writer.queue.empty(), 20, "the buffered rows")

        rows = read(url, select(UsageEvent).order_by(UsageEvent.id))
        assert [r.prompt_tokens for r in rows] == list(range(501))
        [alert] = read(url, select(Alert))
        assert (alert.kind, alert.provider, alert.occurrences) == ("failover", "Down Co", 1)
        assert read(url, select(Alert).where(Alert.kind == "usage_dropped")) == []
    finally:
        server.stop()


def test_overflow_while_the_database_is_away_is_dropped_counted_and_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    monkeypatch.setattr(hooks, "MAX_BUFFER", 5)
    # an empty database file: every write fails (no tables) until it is migrated
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    writer = fast_writer(url)
    for n in range(8):
        writer.put("usage", usage_row(n))
    wait_for(lambda: writer.dropped == 3, 10, "the overflow to be dropped")
    assert [r["prompt_tokens"] for r in writer.pending] == [3, 4, 5, 6, 7]  # the oldest go first

    migrate.upgrade(url)
    wait_for(lambda: writer.written == 5, 10, "the kept rows")
    writer.put("usage", usage_row(8))  # a later, normal write raises nothing more
    wait_for(lambda: writer.written == 6, 10, "the next row")

    assert writer.dropped == 0
    assert [r.prompt_tokens for r in read(url, select(UsageEvent).order_by(UsageEvent.id))] == [
        3,
        4,
        5,
        6,
        7,
        8,
    ]
    [alert] = read(url, select(Alert))
    assert (alert.kind, alert.severity, alert.occurrences) == ("usage_dropped", "warning", 1)
    assert alert.message == "3 usage events were dropped while the database was unreachable"


def test_drops_reported_again_while_the_alert_is_open_add_up_in_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    """Two outages within the alert's dedup window: the open alert says how many were dropped in all."""
    monkeypatch.setattr(hooks, "MAX_BUFFER", 2)
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    down = [True]
    real_record = hooks.usage.record_events

    def record(session: Session, rows: list[dict[str, Any]]) -> None:
        if down[0]:
            raise OSError("the database is away")
        real_record(session, rows)

    monkeypatch.setattr(hooks.usage, "record_events", record)
    writer = fast_writer(url)
    for outage, count in enumerate((5, 4)):
        down[0] = True
        for n in range(count):
            writer.put("usage", usage_row(10 * outage + n))
        overflow = count - 2
        wait_for(lambda: writer.dropped == overflow, 10, "the overflow to be dropped")  # noqa: B023
        down[0] = False
        wait_for(lambda: writer.dropped == 0, 10, "the drop to be reported")

    assert writer.written == 4
    [alert] = read(url, select(Alert))
    assert alert.occurrences == 2
    assert alert.message == "5 usage events were dropped while the database was unreachable"


def test_a_write_that_fails_before_its_commit_keeps_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    """The rows are inserted, then the alert in the same transaction fails: nothing may be lost."""
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    real_raise = hooks.alerts.raise_alert
    failures = iter([True])

    def flaky_raise(session: Session, **alert: Any) -> Any:
        if next(failures, False):
            raise RuntimeError("connection lost")
        return real_raise(session, **alert)

    monkeypatch.setattr(hooks.alerts, "raise_alert", flaky_raise)
    writer = fast_writer(url)
    for n in range(3):
        writer.put("usage", usage_row(n))
    writer.put(
        "alert", {"kind": "failover", "severity": "warning", "message": "m", "dedup_key": "failover:x"}
    )
    wait_for(lambda: writer.written == 3 and writer.queue.empty(), 10, "the rows")

    assert [r.prompt_tokens for r in read(url, select(UsageEvent).order_by(UsageEvent.id))] == [0, 1, 2]
    assert [a.dedup_key for a in read(url, select(Alert))] == ["failover:x"]


def test_close_writes_what_is_still_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    """What a worker retired by a reload does at exit, before its writer thread had its turn."""
    monkeypatch.setattr(hooks, "FLUSH_SECONDS", 60)
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    writer = fast_writer(url)
    for n in range(4):
        writer.put("usage", usage_row(n))

    writer.close()

    assert writer.written == 4
    assert [r.prompt_tokens for r in read(url, select(UsageEvent).order_by(UsageEvent.id))] == [0, 1, 2, 3]


def dead_pid() -> int:
    """The pid of a process that has exited (a dead worker's)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# A worker in its own process: a writer journalling into argv[1], handed argv[2] rows, and told what to
# print once they are where the test wants them; the test then SIGKILLs it.
WORKER = """
import sys, time
from pathlib import Path
from app.proxy import hooks, journal
from tests.proxy.test_hooks import usage_row

spool, count, stage = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
hooks.FLUSH_SECONDS, hooks.MAX_BACKOFF_SECONDS, hooks.MAX_BUFFER = 0.01, 0.05, int(sys.argv[4])
if stage == "handed":  # the writer has not had its turn yet
    hooks.FLUSH_SECONDS = 3600
if stage == "committed":  # killed after the commit, before its journal files are removed
    def committed(self, paths):
        print("committed", flush=True)
        time.sleep(3600)
    journal.Journal.committed = committed
writer = hooks.EventWriter(spool)
for n in range(count):
    writer.put("usage", usage_row(n))
if stage == "adopted":  # an heir that holds what it adopted, the database still away
    writer.start()
    while len(writer.pending) < int(sys.argv[5]):
        time.sleep(0.01)
if stage == "dropping":
    writer.start()
    while writer.dropped < int(sys.argv[5]):
        time.sleep(0.01)
if stage != "committed":
    print(stage, flush=True)
time.sleep(3600)
"""


def kill_when(stage: str, spool: Path, url: str, *args: int, script: str = WORKER) -> None:
    """Run a worker process until it reports `stage`, then SIGKILL it."""
    env = {**os.environ, "LLM_ADMIN_DATABASE_URL": url}
    argv = [sys.executable, "-c", script, str(spool), *map(str, args[:1]), stage, *map(str, args[1:])]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).parents[2])
    try:
        assert child.stdout is not None
        ready, _, _ = select_fd.select([child.stdout], [], [], 60)
        assert ready, f"the worker did not reach {stage!r}"
        assert child.stdout.readline().strip() == stage
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()


def stored_tokens(url: str) -> list[int]:
    """The prompt_tokens of every stored usage row, in insert order (each test row's number)."""
    return [r.prompt_tokens for r in read(url, select(UsageEvent).order_by(UsageEvent.id))]


def heir(fast_writer: Callable[[str], hooks.EventWriter], url: str, spool: Path) -> hooks.EventWriter:
    """A worker started after the deaths, on the same spool directory."""
    writer = fast_writer(url)
    writer.journal = Journal(spool)
    writer.start()
    return writer


def test_a_sigkilled_worker_loses_none_of_the_events_it_was_handed(
    tmp_path: Path, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    """Killed before its writer's turn (within its 0.25 s): the heir writes every event, once."""
    spool, url = tmp_path / "usage-spool", f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    kill_when("handed", spool, url, 6, 50_000)
    assert [oct(p.stat().st_mode & 0o777) for p in spool.iterdir()] == ["0o600"]

    writer = heir(fast_writer, url, spool)
    wait_for(lambda: writer.written == 6, 20, "the dead worker's rows")

    assert stored_tokens(url) == list(range(6))
    assert read(url, select(Alert)) == []
    wait_for(lambda: list(spool.iterdir()) == [], 10, "the adopted journal to be removed")


def test_a_worker_killed_after_its_commit_is_not_written_twice(
    tmp_path: Path, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    spool, url = tmp_path / "usage-spool", f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    kill_when("committed", spool, url, 4, 50_000)
    assert len(read(url, select(UsageEvent))) == 4
    assert list(spool.iterdir()) != []  # its journal outlived the commit

    writer = heir(fast_writer, url, spool)
    wait_for(lambda: list(spool.iterdir()) == [], 20, "the adopted journal to be removed")

    assert writer.written == 0
    assert stored_tokens(url) == list(range(4))


def test_deaths_while_the_database_is_away_lose_nothing_and_count_every_drop_once(
    tmp_path: Path, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    """A worker overflows its buffer with the database down and is killed; the worker that adopts its
    journal is killed too; the third writes what was kept and reports what was dropped, once."""
    spool = tmp_path / "usage-spool"
    url = f"sqlite:///{tmp_path / 'usage.db'}"  # no tables yet: every write fails, as when it is down
    kill_when("dropping", spool, url, 8, 5, 3)
    kill_when("adopted", spool, url, 0, 50_000, 5)
    assert list(spool.glob("*.0.jsonl")) == []  # the first worker's journal now carries the second's name

    migrate.upgrade(url)
    writer = heir(fast_writer, url, spool)
    wait_for(lambda: writer.written == 5, 20, "the kept rows")

    assert stored_tokens(url) == [3, 4, 5, 6, 7]  # the oldest were dropped
    [alert] = read(url, select(Alert))
    assert alert.message == "3 usage events were dropped while the database was unreachable"
    wait_for(lambda: list(spool.iterdir()) == [], 10, "the adopted journals to be removed")


# A worker whose request "call-1" was answered (its response went out) while LiteLLM still held its
# success event; request 2's row is journalled beside it. Killed at `stage`.
ANSWERING_WORKER = """
import sys, time
from pathlib import Path
from app.proxy import hooks
from tests.proxy.test_hooks import usage_row

spool, stage = Path(sys.argv[1]), sys.argv[2]
hooks.FLUSH_SECONDS, hooks.MAX_BACKOFF_SECONDS = (3600 if stage != "committed" else 0.01), 0.05
writer = hooks.EventWriter(spool)
writer.answered("call-1")
writer.put("usage", usage_row(2))
if stage == "logged":  # the success event came in time
    writer.put("usage", usage_row(1), answers="call-1")
if stage == "committed":  # request 2's row is written and the segment with the answered line removed
    writer.start()
    while writer.written < 1 or writer.journal.closed:
        time.sleep(0.01)
print(stage, flush=True)
time.sleep(3600)
"""


@pytest.mark.parametrize("stage", ["answered", "committed"])
def test_a_request_answered_before_its_event_reached_the_hooks_is_counted_dropped_once(
    tmp_path: Path, fast_writer: Callable[[str], hooks.EventWriter], stage: str
) -> None:
    """LiteLLM logs a request after its response went out: a worker killed in between had journalled
    it as answered, also across the removal of the segment that first held that line."""
    spool, url = tmp_path / "usage-spool", f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    kill_when(stage, spool, url, script=ANSWERING_WORKER)

    writer = heir(fast_writer, url, spool)
    wait_for(lambda: list(spool.iterdir()) == [], 20, "the adopted journal to be written and removed")

    assert stored_tokens(url) == [2]
    [alert] = read(url, select(Alert))
    assert alert.message == "1 usage events were dropped while the database was unreachable"
    assert writer.written == (1 if stage == "answered" else 0)

    again = heir(fast_writer, url, spool)  # nothing is adopted twice
    assert again.journal is not None and again.journal.adopt().dropped == []


def test_a_request_whose_event_came_in_time_is_written_and_not_counted(
    tmp_path: Path, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    spool, url = tmp_path / "usage-spool", f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    kill_when("logged", spool, url, script=ANSWERING_WORKER)

    writer = heir(fast_writer, url, spool)
    wait_for(lambda: writer.written == 2, 20, "the dead worker's rows")

    assert stored_tokens(url) == [2, 1]
    assert read(url, select(Alert)) == []


def test_an_event_logged_before_its_answer_needs_no_answered_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    into: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
    journal.append(usage_row(1), into, answers="call-1")
    journal.answered("call-1")
    journal.close_segment()

    assert journal.waiting == {}
    assert ["answered" in line for line in journal.closed[0].read_text().splitlines()] == [False]


def test_an_earlier_versions_spool_is_adopted(
    tmp_path: Path, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    spool, url = tmp_path / "usage-spool", f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    spool.mkdir()
    rows = [usage_row(1), usage_row(2)]
    lines = [json.dumps({**r, "at": r["at"].isoformat()}) for r in rows] + [json.dumps({"_dropped": 2})]
    (spool / f"{socket.gethostname()}-{dead_pid()}.jsonl").write_text("\n".join(lines) + "\n")

    writer = heir(fast_writer, url, spool)
    wait_for(lambda: writer.written == 2, 20, "the spooled rows")

    assert stored_tokens(url) == [1, 2]
    [alert] = read(url, select(Alert))
    assert alert.message == "2 usage events were dropped while the database was unreachable"


def test_a_live_workers_journal_is_not_adopted(tmp_path: Path) -> None:
    spool = tmp_path / "usage-spool"
    spool.mkdir()
    live = spool / f"{socket.gethostname()}-{os.getppid()}-0123abcd.0.jsonl"
    live.write_text(json.dumps({"prompt_tokens": 1}) + "\n")

    assert Journal(spool).adopt().rows == []
    assert live.exists()


def test_two_heirs_never_split_a_dead_workers_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both workers beside a dead one adopt at once. Split between them, the heir that commits the later
    segment first would move the dead worker's mark past the other's rows (written never), and one would
    count an answered line dropped whose row the other writes. The second heir starts while the first is
    between its renames; it must find nothing."""
    spool = tmp_path / "usage-spool"
    into: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
    dead = Journal(spool)
    dead.worker = f"{socket.gethostname()}-{dead_pid()}-0123abcd"
    dead.answered("call-1")
    dead.append(usage_row(1), into)
    dead.close_segment()  # the answered line is carried into the next segment, where its row arrives
    dead.append(usage_row(2), into, answers="call-1")
    dead.close_segment()
    assert len(list(spool.glob("*.jsonl"))) == 2

    first, second = Journal(spool), Journal(spool)
    late: dict[str, Any] = {}
    rename = Path.rename

    def rename_then_let_the_other_in(path: Path, target: Any) -> Any:
        moved = rename(path, target)
        if "thread" not in late:  # the second heir runs while the first holds half of the files
            late["thread"] = threading.Thread(target=lambda: late.update(found=second.adopt()))
            late["thread"].start()
            late["thread"].join(1.0)
        return moved

    monkeypatch.setattr(Path, "rename", rename_then_let_the_other_in)
    found = first.adopt()
    late["thread"].join(10)

    assert sorted(r["prompt_tokens"] for r in found.rows) == [1, 2]
    assert found.dropped == []  # the answered line and its row were read by the same heir
    assert late["found"].rows == [] and late["found"].dropped == []


def test_a_clean_exit_leaves_no_journal_and_no_mark(
    tmp_path: Path, fast_writer: Callable[[str], hooks.EventWriter]
) -> None:
    spool, url = tmp_path / "usage-spool", f"sqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)
    writer = heir(fast_writer, url, spool)
    for n in range(3):
        writer.put("usage", usage_row(n))

    writer.close()

    assert writer.written == 3
    assert list(spool.iterdir()) == []
    assert read(url, select(UsageJournalMark)) == []


# --- what LiteLLM hands the callback -----------------------------------------------------------


class Recorder:
    """Stands in for the EventWriter: keeps what the hook puts."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.answers: list[str | None] = []  # the call id each put names as answered
        self.answered_calls: list[str] = []

    def put(self, kind: str, row: dict[str, Any], answers: str | None = None) -> None:
        self.events.append((kind, row))
        self.answers.append(answers)

    def answered(self, call_id: str) -> None:
        self.answered_calls.append(call_id)


@pytest.fixture
def hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> hooks.LlmAdminHooks:
    """The hooks as a worker loads them, reading the deployments of the config it serves."""
    config = {
        "model_list": [
            {
                "model_name": "primary",
                "litellm_params": {"model": "openai/fake-model", "api_base": "http://127.0.0.1:9/v1"},
                "model_info": {
                    "id": "llm-admin-m1",
                    "llm_admin_provider": "Down Co",
                    "llm_admin_revision": 7,
                },
            },
            {
                "model_name": "backup",
                "litellm_params": {"model": "openai/fake-model", "api_base": "http://127.0.0.1:10/v1"},
                "model_info": {
                    "id": "llm-admin-m2",
                    "llm_admin_provider": "Backup Co",
                    "llm_admin_revision": 7,
                    "input_cost_per_token": 3e-6,
                    "output_cost_per_token": 5e-6,
                },
            },
        ],
        "router_settings": {"fallbacks": [{"primary": ["backup"]}]},
    }
    path = tmp_path / "litellm-config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("CONFIG_FILE_PATH", str(path))
    instance = hooks.LlmAdminHooks()
    instance.writer = Recorder()  # type: ignore[assignment]
    return instance


def callback_kwargs(
    *,
    status: str,
    model_id: str,
    group: str,
    original_group: str | None = None,
    error_class: str | None = None,
) -> dict[str, Any]:
    """The parts of LiteLLM's callback kwargs the hook reads, shaped as the proxy's router passes them."""
    tokens = (11, 7) if status == "success" else (0, 0)
    metadata: dict[str, Any] = {
        "model_group": group,
        "deployment": "openai/fake-model",
        "model_info": {"id": model_id},
        "user_api_key_alias": None,
    }
    if original_group:
        metadata |= {"original_model_group": original_group, "attempted_fallbacks": 1}
    return {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "hi"}],
        "litellm_call_id": "0b6f1d52-4a7e-4d8e-9d0c-2f7e7f1a3c11",
        "litellm_params": {"api_base": "http://127.0.0.1:10/v1", "metadata": metadata},
        "standard_logging_object": {
            "id": "chatcmpl-fake",
            "call_type": "acompletion",
            "status": status,
            "model": "fake-model",
            "model_id": model_id,
            "model_group": group,
            "custom_llm_provider": "openai",
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
            "response_cost": tokens[0] * 3e-6 + tokens[1] * 5e-6,
            "startTime": START,
            "endTime": START + 0.25,
            "completionStartTime": START + 0.25,
            "error_information": {
                "error_code": "500" if error_class else "",
                "error_class": error_class or "",
                "llm_provider": "openai" if error_class else "",
                "error_message": "upstream exploded" if error_class else "",
            },
        },
    }


def test_a_request_a_fallback_served_gives_its_usage_row_and_a_failover_alert(
    hook: hooks.LlmAdminHooks,
) -> None:
    kwargs = callback_kwargs(
        status="success", model_id="llm-admin-m2", group="backup", original_group="primary"
    )

    asyncio.run(hook.async_log_success_event(kwargs, None, None, None))

    events = hook.writer.events  # type: ignore[attr-defined]
    assert [kind for kind, _ in events] == ["usage", "alert"]
    row, alert = events[0][1], events[1][1]
    assert math.isclose(row.pop("cost_usd"), 11 * 3e-6 + 7 * 5e-6)
    assert row == {
        "at": datetime.fromtimestamp(START + 0.25, UTC),
        "provider": "Backup Co",
        "model_group": "backup",
        "deployment": "llm-admin-m2",
        "route": None,
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "latency_ms": 250.0,
        "status": "success",
        "error_class": None,
        "fallback": True,
        "revision": 7,
        "application": None,
    }
    assert alert == {
        "kind": "failover",
        "severity": "warning",
        "provider": "Down Co",
        "dedup_key": "failover:primary:Down Co",
        "message": "Provider Down Co down, using fallback Backup Co (backup served primary)",
    }


def test_the_failed_attempt_on_the_primary_is_a_failure_row_without_alert(hook: hooks.LlmAdminHooks) -> None:
    kwargs = callback_kwargs(
        status="failure", model_id="llm-admin-m1", group="primary", error_class="InternalServerError"
    )

    asyncio.run(hook.async_log_failure_event(kwargs, None, None, None))

    [(kind, row)] = hook.writer.events  # type: ignore[attr-defined]
    assert kind == "usage"
    assert (row["provider"], row["model_group"], row["deployment"], row["revision"]) == (
        "Down Co",
        "primary",
        "llm-admin-m1",
        7,
    )
    assert (row["status"], row["error_class"], row["fallback"]) == ("failure", "InternalServerError", False)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (0, 0, 0.0)


def test_a_request_its_own_group_served_is_no_failover(hook: hooks.LlmAdminHooks) -> None:
    kwargs = callback_kwargs(status="success", model_id="llm-admin-m2", group="backup")

    asyncio.run(hook.async_log_success_event(kwargs, None, None, None))

    [(kind, row)] = hook.writer.events  # type: ignore[attr-defined]
    assert kind == "usage" and row["fallback"] is False and row["error_class"] is None


def test_a_hook_that_cannot_read_its_arguments_never_fails_the_request(hook: hooks.LlmAdminHooks) -> None:
    asyncio.run(
        hook.async_log_success_event({"standard_logging_object": {"startTime": "x", "endTime": 1}}, 0, 0, 0)
    )

    assert hook.writer.events == []  # type: ignore[attr-defined]


def test_a_request_is_answered_before_its_response_goes_out_and_its_success_row_names_it(
    hook: hooks.LlmAdminHooks,
) -> None:
    call_id = "0b6f1d52-4a7e-4d8e-9d0c-2f7e7f1a3c11"  # as in callback_kwargs
    data = {"model": "primary", "litellm_call_id": call_id}
    assert asyncio.run(hook.async_post_call_success_hook(data, None, object())) is None  # response kept
    failed = callback_kwargs(status="failure", model_id="llm-admin-m1", group="primary", error_class="X")
    served = callback_kwargs(
        status="success", model_id="llm-admin-m2", group="backup", original_group="primary"
    )
    asyncio.run(hook.async_log_failure_event(failed, None, None, None))
    asyncio.run(hook.async_log_success_event(served, None, None, None))

    recorder: Any = hook.writer
    assert recorder.answered_calls == [call_id]
    # the primary's failed attempt shares the call id: only the success row is the answered request's
    assert [
        (kind, answers) for (kind, _), answers in zip(recorder.events, recorder.answers, strict=True)
    ] == [
        ("usage", None),
        ("usage", call_id),
        ("alert", None),
    ]


def test_deployments_are_read_from_the_served_config(hook: hooks.LlmAdminHooks) -> None:
    assert hook.deployments == {
        "llm-admin-m1": hooks.Deployment("Down Co", "primary", 7),
        "llm-admin-m2": hooks.Deployment("Backup Co", "backup", 7, None, None, 3e-6, 5e-6),
    }


def test_cost_comes_from_the_configured_price_not_from_litellms_own_cost(hook: hooks.LlmAdminHooks) -> None:
    kwargs = callback_kwargs(status="success", model_id="llm-admin-m2", group="backup")
    kwargs["standard_logging_object"]["response_cost"] = 0.5  # e.g. LiteLLM's per-second Replicate price

    asyncio.run(hook.async_log_success_event(kwargs, None, None, None))

    [(_, row)] = hook.writer.events  # type: ignore[attr-defined]
    assert math.isclose(row["cost_usd"], 11 * 3e-6 + 7 * 5e-6)


def test_without_a_configured_price_litellms_cost_is_kept(hook: hooks.LlmAdminHooks) -> None:
    kwargs = callback_kwargs(status="success", model_id="llm-admin-m1", group="primary")
    kwargs["standard_logging_object"]["response_cost"] = 0.5

    asyncio.run(hook.async_log_success_event(kwargs, None, None, None))

    [(_, row)] = hook.writer.events  # type: ignore[attr-defined]
    assert row["cost_usd"] == 0.5
