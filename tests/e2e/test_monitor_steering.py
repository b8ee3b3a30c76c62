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
from generator import render
from generator.routes import MAX_COST_KEY
from tests.e2e.proxy import BIN, proxy_env, stop
from tests.e2e.supervised import Supervised, add_model, add_provider, llm_admin, supervised, wait_for
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e


def _posts(upstream: FakeUpstream) -> int:
    return sum(1 for s in upstream.seen if s.method == "POST")


def _statuses(data_dir: Path) -> list[tuple[int, str, str]]:
    """(number, who wrote it, status) of every revision: the CLI's own as 'admin', the monitor's by name."""
    engine = create_engine(f"sqlite:///{data_dir / 'llm-admin.db'}")
    try:
        with Session(engine) as session:
            rows = session.scalars(select(ConfigRevision).order_by(ConfigRevision.number))
            return [(r.number, "monitor" if r.author == "monitor" else "admin", r.status) for r in rows]
    finally:
        engine.dispose()


def _route_limits(config: Path) -> set[float | None]:
    """The cost limits on the route's deployments in the file the proxy serves."""
    deployments = render.load_yaml(config.read_text())["model_list"]
    return {
        (d.get("model_info") or {}).get(MAX_COST_KEY)
        for d in deployments
        if d["model_name"].startswith("agent/summarizer")
    }


def _providers_of(config: Path, group: str) -> set[str]:
    deployments = render.load_yaml(config.read_text())["model_list"]
    return {d["model_info"]["llm_admin_provider"] for d in deployments if d["model_name"] == group}


def _start_monitor(sup: Supervised) -> subprocess.Popen[bytes]:
    log = sup.data_dir / "logs" / "monitor.log"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / "llm-admin"), "monitor", "--interval", "1", "--recheck", "0.3", "--timeout", "1"],
            env=proxy_env({"LLM_ADMIN_DATA_DIR": str(sup.data_dir)}),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


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


def test_steering_publishes_only_what_an_admin_applied(
    stack: tuple[Supervised, FakeUpstream, FakeUpstream],
) -> None:
    sup, primary, _ = stack
    # an admin's edit, saved and not applied: the route gets a cost limit of 0.3
    sup.cli(
        "route",
        "add",
        "--agent",
        "summarizer",
        "--model",
        "fast",
        "--fallback",
        "steady",
        "--max-cost-usd",
        "0.3",
    )
    assert "changes: " in sup.cli("config", "diff").stdout
    monitor = _start_monitor(sup)
    try:
        primary.mode = "error500"
        [revision] = wait_for(lambda: _monitor_revisions(sup.data_dir), 30, "the monitor's apply")
        wait_for(
            lambda: (state := sup.state()) is not None and state.live_revision == revision,
            30,
            f"revision {revision} to go live",
        )
        assert _providers_of(sup.config, "agent/summarizer") == {"backup-co"}  # the down primary left out
        assert _route_limits(sup.config) == {None}  # and the pending cost limit is not live
        steered = [(1, "admin", "superseded"), (2, "monitor", "live")]
        # the supervisor reports in its state file, then records the states in the database
        wait_for(lambda: _statuses(sup.data_dir) == steered, 10, "the revision states")
        # the pending edit still shows as pending
        diff = sup.cli("config", "diff").stdout
        assert "no changes" not in diff and MAX_COST_KEY in diff

        applied = sup.cli("config", "apply", "--yes").stdout
        assert "revision 3 live in " in applied
        assert _route_limits(sup.config) == {0.3}  # now the edit is live, the primary still left out
        assert _providers_of(sup.config, "agent/summarizer") == {"backup-co"}
        applied_states = [(1, "admin", "superseded"), (2, "monitor", "superseded"), (3, "admin", "live")]
        wait_for(lambda: _statuses(sup.data_dir) == applied_states, 10, "the revision states")
    finally:
        stop(monitor)
