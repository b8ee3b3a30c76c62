"""The monitor steers traffic off a dead provider through the real supervised proxy: the primary of a
route dies, the monitor marks it down, alerts naming the fallback, re-renders, and once that revision
is live no caller request reaches the dead primary; when it answers again, traffic returns."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.models import ConfigRevision
from tests.e2e.proxy import BIN, proxy_env, stop
from tests.e2e.supervised import Supervised, add_model, add_provider, llm_admin, supervised, wait_for
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e


def _posts(upstream: FakeUpstream) -> int:
    return sum(1 for s in upstream.seen if s.method == "POST")


def _monitor_revisions(data_dir: Path) -> list[int]:
    engine = create_engine(f"sqlite:///{data_dir / 'llm-admin.db'}")
    try:
        with Session(engine) as session:
            query = select(ConfigRevision.number).where(ConfigRevision.author == "monitor")
            return list(session.scalars(query.order_by(ConfigRevision.number)))
    finally:
        engine.dispose()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Supervised, FakeUpstream, FakeUpstream]]:
    primary = FakeUpstream(reply="from primary").start()
    backup = FakeUpstream(reply="from backup").start()
    data = tmp_path / "data"
    llm_admin(data, "db", "upgrade")
    add_provider(data, "primary-co", f"{primary.base_url}/v1")
    add_model(data, "primary-co", "fast")
    add_provider(data, "backup-co", f"{backup.base_url}/v1")
    add_model(data, "backup-co", "steady")
    llm_admin(data, "route", "add", "--agent", "summarizer", "--model", "fast", "--fallback", "steady")
    llm_admin(data, "config", "apply", "--yes")
    try:
        with supervised(data, workers=2) as sup:
            yield sup, primary, backup
    finally:
        primary.stop()
        backup.stop()


def test_monitor_moves_traffic_off_a_dead_primary_and_back(
    stack: tuple[Supervised, FakeUpstream, FakeUpstream],
) -> None:
    sup, primary, backup = stack
    with sup.client() as client:
        answer = sup.chat("agent/summarizer", client)
        assert (
            answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "from primary"
        )
    log = sup.data_dir / "logs" / "monitor.log"
    with log.open("wb") as out:
        monitor = subprocess.Popen(
            [str(BIN / "llm-admin"), "monitor", "--interval", "1", "--recheck", "0.3", "--timeout", "1"],
            env=proxy_env({"LLM_ADMIN_DATA_DIR": str(sup.data_dir)}),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        primary.mode = "error500"
        [alert] = wait_for(lambda: sup.alerts("provider_down"), 30, "the provider_down alert")
        assert alert.provider == "primary-co" and alert.severity == "critical"
        assert alert.message.startswith(
            "Provider primary-co down, using fallback steady for agent/summarizer"
        )
        [revision] = wait_for(lambda: _monitor_revisions(sup.data_dir), 30, "the monitor's apply")
        wait_for(
            lambda: (state := sup.state()) is not None and state.live_revision == revision,
            30,
            f"revision {revision} to go live",
        )
        hits = _posts(primary)
        with sup.client() as client:
            replies = [sup.chat("agent/summarizer", client) for _ in range(20)]
        assert [r.status_code for r in replies] == [200] * 20
        assert {r.json()["choices"][0]["message"]["content"] for r in replies} == {"from backup"}
        assert _posts(primary) == hits  # not one caller request reached the dead primary

        primary.mode = "ok"
        [recovered] = wait_for(lambda: sup.alerts("provider_recovered"), 30, "the provider_recovered alert")
        assert recovered.provider == "primary-co" and recovered.severity == "info"
        back = wait_for(
            lambda: [n for n in _monitor_revisions(sup.data_dir) if n > revision],
            30,
            "the monitor's next apply",
        )[0]
        wait_for(
            lambda: (state := sup.state()) is not None and state.live_revision == back,
            30,
            f"revision {back} to go live",
        )
        with sup.client() as client:
            answer = sup.chat("agent/summarizer", client)
        assert answer.json()["choices"][0]["message"]["content"] == "from primary"
    finally:
        stop(monitor)
    assert monitor.returncode == 0, log.read_text()
    assert backup.seen
