"""PostgreSQL goes down while the supervised proxy is under load: during a reload, a restart of gunicorn,
a worker's start and a worker's SIGKILL. Callers see no failure (but those in flight on a killed worker),
workers never serve without their keys, and every usage event reaches the database once it is back
(or is counted in the usage_dropped alert).

Each case prints its figures (requests tried / failed, usage events lost uncounted, how long the usage
took to settle once the database was back)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from app.crypto import generate_key
from app.models import Alert, UsageEvent
from app.runtime.processes import child_pids
from tests.e2e.supervised import Load, Supervised, add_model, add_provider, llm_admin, supervised, wait_for
from tests.pg import PostgresServer, start_postgres
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
KEY = "sk-outage-upstream-key"
OUTAGE_SECONDS = 8.0
SETTLE_SECONDS = 180.0  # the writers retry every 5 s at most: this is for a slow, busy machine
MASTER_KEY = "sk-outage-test-master-key-0123456789"


@dataclass
class Outage:
    sup: Supervised
    pg: PostgresServer
    url: str
    upstream: FakeUpstream

    def usage_count(self) -> int:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return int(conn.scalar(select(func.count()).select_from(UsageEvent)) or 0)
        finally:
            engine.dispose()

    def dropped(self) -> int:
        """Events counted in the usage_dropped alerts (their messages start with the number)."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                messages = conn.scalars(select(Alert.message).where(Alert.kind == "usage_dropped")).all()
        finally:
            engine.dispose()
        return sum(int(m.split()[0]) for m in messages)

    def workers(self) -> set[int]:
        state = self.sup.state()
        assert state is not None and state.master_pid is not None
        return child_pids(state.master_pid)


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    pg = start_postgres()  # our own: these tests stop it
    upstream = FakeUpstream(reply="from upstream", api_key=KEY).start()
    try:
        from tests.conftest import _create_pg_database

        url = _create_pg_database(pg, "llm_admin_outage")
        data = tmp_path_factory.mktemp("outage") / "data"
        env = {
            "LLM_ADMIN_DATABASE_URL": url,
            "LLM_ADMIN_SECRET_KEYS": generate_key(),
            "LITELLM_MASTER_KEY": MASTER_KEY,
        }
        data.mkdir(parents=True)
        (data / "master.key").write_text(MASTER_KEY + "\n")  # where `supervised` reads it back
        llm_admin(data, "db", "upgrade", **env)
        add_provider(data, "up-co", f"{upstream.base_url}/v1", key=KEY, **env)
        add_model(data, "up-co", "alpha", **env)
        llm_admin(data, "config", "apply", "--yes", **env)
        with supervised(data, workers=2, env=env) as sup:
            yield Outage(sup, pg, url, upstream)
    finally:
        upstream.stop()
        pg.stop()


def run_case(outage: Outage, name: str, during: object, *, may_fail: int = 0) -> None:
    """Load on, database down, `during()`, database back; then every figure is checked. `may_fail`:
    requests in flight on a worker `during()` kills (one per client at most) fail with it."""
    before = outage.usage_count()
    dropped_before = outage.dropped()
    with Load([outage.sup.url], outage.sup.master_key, clients=4, model="alpha") as load:
        wait_for(lambda: load.ok >= 20, 60, "the load to be served")
        outage.pg.halt()
        try:
            assert callable(during)
            during()
            deadline = time.monotonic() + OUTAGE_SECONDS
            served_at_halt = load.total
            wait_for(lambda: time.monotonic() > deadline and load.total > served_at_halt + 20, 120, "load")
        finally:
            outage.pg.resume()
        served_at_resume = load.total
        wait_for(lambda: load.total > served_at_resume + 20, 60, "load after the database is back")
    tried, failed, answered = load.total, sum(load.failures.values()), load.ok

    def settled() -> bool:
        return outage.usage_count() - before + outage.dropped() - dropped_before >= answered

    started = time.monotonic()
    try:
        wait_for(settled, SETTLE_SECONDS, "every usage event to be written or counted", interval=0.5)
    finally:
        took = time.monotonic() - started
        stored = outage.usage_count() - before
        counted = outage.dropped() - dropped_before
        lost = max(answered - stored - counted, 0)
        print(
            f"\n{name}: {tried} tried, {failed} failed, {lost} usage events lost ({stored} stored, "
            f"{counted} counted dropped; settled in {took:.1f} s)"
        )
    assert failed <= may_fail, load.failures
    assert lost == 0
    # a request the killed worker served but could not answer in full is still a usage event; no more
    assert stored + counted <= tried
    # no request reached the upstream without its key
    assert all(s.headers.get("authorization") == f"Bearer {KEY}" for s in outage.upstream.seen)


def test_a_reload_while_postgres_is_down_keeps_serving_and_a_new_file_goes_live_when_it_is_back(
    outage: Outage,
) -> None:
    sup = outage.sup
    state = sup.state()
    assert state is not None
    live = state.live_revision
    edited = sup.config.read_text().replace(
        "model_list:", "# edited while the database was down\nmodel_list:", 1
    )

    def during() -> None:
        done = sup.cli("proxy", "reload", check=False)  # the live file: new workers on the held keys
        assert done.returncode == 0, done.stdout + done.stderr
        tmp = sup.config.with_name("edit.tmp")
        tmp.write_text(edited)
        os.replace(tmp, sup.config)  # a new file: it waits for the database
        wait_for(
            lambda: (s := sup.state()) and s.last_reload and s.last_reload.pending, 30, "a pending report"
        )
        current = sup.state()
        assert current is not None and current.last_reload is not None
        assert "waits: the database is unreachable" in current.last_reload.message

    run_case(outage, "reload while PostgreSQL is down", during)
    wait_for(lambda: (s := sup.state()) and s.last_reload and s.last_reload.ok, 60, "the edited file live")
    after = sup.state()
    assert after is not None and after.live_revision == live
    assert sup.config.read_text() == edited


def test_a_gunicorn_restart_while_postgres_is_down_serves_on_the_held_state(outage: Outage) -> None:
    sup = outage.sup
    state = sup.state()
    assert state is not None and state.master_pid is not None
    old_master = state.master_pid

    def during() -> None:
        os.kill(old_master, signal.SIGTERM)  # gunicorn goes away: the supervisor starts it again

        def restarted() -> bool:
            s = sup.state()
            return bool(s and s.master_pid != old_master and s.last_reload and s.last_reload.ok)

        wait_for(restarted, 120, "the restarted proxy to be verified live")

    run_case(outage, "gunicorn restart while PostgreSQL is down", during)


def test_a_worker_that_starts_while_postgres_is_down_serves_with_its_keys(outage: Outage) -> None:
    old = outage.workers()

    def during() -> None:
        victim = min(old)
        os.kill(victim, signal.SIGTERM)  # gunicorn forks a replacement while the database is down
        wait_for(lambda: len(outage.workers() - old) == 1 and len(outage.workers()) == 2, 60, "a new worker")
        new = (outage.workers() - old).pop()
        reports = Path(outage.sup.data_dir) / "proxy-workers"
        wait_for(lambda: (reports / f"{new}.json").exists(), 60, "the new worker's readiness report")

    run_case(outage, "worker start while PostgreSQL is down", during)


def test_a_worker_sigkilled_while_postgres_is_down_loses_no_usage_event(outage: Outage) -> None:
    """The killed worker's buffered events are in its journal, and so are the requests it answered whose
    events LiteLLM had not handed over yet; the worker beside it (or its replacement) adopts them."""
    old = outage.workers()

    def during() -> None:
        time.sleep(2)  # the worker holds a few seconds of events it could not write
        os.kill(min(old), signal.SIGKILL)
        wait_for(lambda: len(outage.workers() - old) == 1 and len(outage.workers()) == 2, 60, "a new worker")

    run_case(outage, "worker SIGKILL while PostgreSQL is down", during, may_fail=4)
