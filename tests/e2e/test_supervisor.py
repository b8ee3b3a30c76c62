"""`llm-admin proxy run`: the supervised proxy serves, applies go live without dropping a request, and a
config it cannot serve is rolled back while the old revision keeps answering."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.models import ConfigRevision, Model, Provider, UsageEvent
from app.runtime.processes import child_pids, pid_alive
from app.runtime.proxy_state import ReloadResult
from tests.e2e.supervised import (
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

LIVE = re.compile(r"^revision (\d+) live in (\d+) ms$", re.M)
ENV_VAR = "SUPERVISOR_E2E_KEY"  # set where the CLI runs, never where the supervisor runs


@pytest.fixture(scope="module")
def alpha() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(reply="from alpha").start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def beta() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(reply="from beta").start()
    yield upstream
    upstream.stop()


BASELINE = {("alpha-co", "alpha"), ("beta-co", "beta")}  # the enabled models, as (provider, alias)
WORKERS = 2
LONG_STREAM_SECONDS = 30.0  # longer than two reloads take on a busy machine


@dataclass
class Catalog:
    """What the database holds: the providers not deleted, the enabled models as (provider, alias,
    identifier), and the newest revision (number, sha256, the aliases its file serves)."""

    providers: set[str]
    models: set[tuple[str, str, str]]
    newest: tuple[int, str, set[str]] | None


def catalog(data_dir: Path) -> Catalog:
    engine = create_engine(f"sqlite:///{data_dir / 'llm-admin.db'}")
    try:
        with Session(engine) as session:
            providers = set(session.scalars(select(Provider.name).where(Provider.deleted_at.is_(None))))
            enabled = select(Provider.name, Model.alias, Model.identifier).join(Model.provider)
            models = {(p, a, i) for p, a, i in session.execute(enabled.where(Model.enabled))}
            row = session.scalars(select(ConfigRevision).order_by(ConfigRevision.number.desc())).first()
            newest = None
            if row is not None:
                served = {m["model_name"] for m in yaml.safe_load(row.yaml_text)["model_list"]}
                newest = (row.number, row.sha256, served)
    finally:
        engine.dispose()
    return Catalog(providers, models, newest)


def settled(sup: Supervised) -> bool:
    """The gunicorn master's children are its workers, every one reported ready: none of an earlier
    revision is still draining."""
    state = sup.state()
    if state is None or state.master_pid is None:
        return False
    workers = child_pids(state.master_pid)
    reports = sup.data_dir / "proxy-workers"
    return len(workers) == WORKERS and all((reports / f"{pid}.json").exists() for pid in workers)


class SharedSupervisor:
    """The module's one supervisor (a cold start costs 10-15 s), started again if a test stopped it,
    and the known state each test starts from (see `problem`)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._stack = ExitStack()
        self._sup: Supervised | None = None

    def close(self) -> None:
        self._stack.close()

    def running(self) -> Supervised:
        if self._sup is None or self._sup.process.poll() is not None:
            self._stack.close()  # a stopped one: nothing left to end
            self._stack = ExitStack()
            self._sup = self._stack.enter_context(supervised(self.data_dir, workers=WORKERS))
        return self._sup

    def problem(self, sup: Supervised) -> str | None:
        """Why sup is not at the baseline, None when it is: the catalog is alpha and beta alone, the
        newest revision (rendered from it) is the one live, in the config file and served."""
        now = catalog(self.data_dir)
        if now.providers != {p for p, _ in BASELINE} or {(p, a) for p, a, _ in now.models} != BASELINE:
            return f"the catalog is providers {sorted(now.providers)}, models {sorted(now.models)}"
        if now.newest is None or now.newest[2] != {a for _, a in BASELINE}:
            return f"the newest revision is {now.newest}"
        state = sup.state()
        if state is None or (state.live_revision, state.live_sha256) != now.newest[:2]:
            return f"revision {state and state.live_revision} is live, not the newest {now.newest[0]}"
        if hashlib.sha256(sup.config.read_bytes()).hexdigest() != state.live_sha256:
            return "the config file is not the live revision's"
        return None

    def at_baseline(self) -> Supervised:
        sup = self.running()
        if self.problem(sup) is not None:
            now = catalog(self.data_dir)
            providers = {p for p, _ in BASELINE}
            for name in sorted(now.providers - providers):
                sup.cli("provider", "delete", name)
            for provider, alias, identifier in sorted(now.models):
                if provider in providers and (provider, alias) not in BASELINE:
                    sup.cli("model", "disable", "--provider", provider, identifier)
            out = sup.cli("config", "apply", "--yes", "--force").stdout
            assert LIVE.search(out), out
        problem = self.problem(sup)
        assert problem is None, problem
        wait_for(lambda: settled(sup), 60, f"the proxy's {WORKERS} workers to serve, no old one left")
        assert sup.served_revisions() == {live_revision(sup)}
        return sup

    def reported_live(self, sup: Supervised) -> Supervised:
        """sup with its last reload reporting the live revision live (not, say, a rejected edit)."""
        state = sup.state()
        assert state is not None and state.last_reload is not None
        if not state.last_reload.ok or state.last_reload.revision != state.live_revision:
            out = sup.cli("proxy", "reload").stdout  # the live file again: reported live
            assert LIVE.search(out), out
            wait_for(lambda: settled(sup), 60, f"the proxy's {WORKERS} workers to serve, no old one left")
        return sup


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, alpha: FakeUpstream, beta: FakeUpstream
) -> Iterator[SharedSupervisor]:
    """One supervisor with two workers for the module, on a SQLite data dir with revision 1 applied."""
    data = tmp_path_factory.mktemp("supervisor") / "data"
    llm_admin(data, "db", "upgrade")
    add_provider(data, "alpha-co", f"{alpha.base_url}/v1")
    add_provider(data, "beta-co", f"{beta.base_url}/v1")
    add_model(data, "alpha-co", "alpha")
    add_model(data, "beta-co", "beta")
    assert "revision 1 written" in llm_admin(data, "config", "apply", "--yes").stdout
    shared = SharedSupervisor(data)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def sup(shared: SharedSupervisor) -> Supervised:
    """The module's supervisor at the baseline, whatever the test before it applied, edited or stopped."""
    return shared.at_baseline()


@pytest.fixture
def reported(shared: SharedSupervisor, sup: Supervised) -> Supervised:
    """sup, its last reload the report of the live revision going live."""
    return shared.reported_live(sup)


def live_revision(sup: Supervised) -> int:
    state = sup.state()
    assert state is not None and state.live_revision is not None
    return state.live_revision


def write_atomic(path: Path, text: str) -> None:
    """What an editor's save looks like to the supervisor: the whole new file at once."""
    tmp = path.with_name(path.name + ".edit")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_status_shows_the_live_revision_and_both_workers(reported: Supervised) -> None:
    sup = reported
    live = live_revision(sup)  # 1 when this test runs first

    out = sup.cli("proxy", "status").stdout

    assert f"revision live: {live}\n" in out
    assert "workers: 2 serving, 2 running (of 2)\n" in out
    assert f"last reload: revision {live} live in" in out
    assert sup.served_revisions() == {live}


def test_each_alias_reaches_its_own_upstream(
    sup: Supervised, alpha: FakeUpstream, beta: FakeUpstream
) -> None:
    before = len(alpha.seen), len(beta.seen)

    replies = {
        model: sup.chat(model).json()["choices"][0]["message"]["content"] for model in ("alpha", "beta")
    }

    assert replies == {"alpha": "from alpha", "beta": "from beta"}
    assert [s.path for s in alpha.seen[before[0] :]] == ["/v1/chat/completions"]
    assert [s.path for s in beta.seen[before[1] :]] == ["/v1/chat/completions"]


def test_apply_reports_the_new_revision_live_and_serves_its_model(
    sup: Supervised, alpha: FakeUpstream
) -> None:
    previous = live_revision(sup)
    add_model(sup.data_dir, "alpha-co", "gamma", model="fake-model-2")

    started = time.monotonic()
    out = sup.cli("config", "apply", "--yes").stdout
    elapsed = time.monotonic() - started

    match = LIVE.search(out)
    assert match, out
    print(
        f"apply → live: {match.group(2)} ms reported by the supervisor, {elapsed:.1f} s for the whole CLI run"
    )
    assert int(match.group(1)) == previous + 1
    assert sup.served_revisions() == {previous + 1}
    # each of the two new workers said, once started, that its router serves the new revision
    reports = [json.loads(p.read_text()) for p in (sup.data_dir / "proxy-workers").glob("*.json")]
    assert reports == [{"revisions": [previous + 1]}] * 2
    before = len(alpha.seen)
    response = sup.chat("gamma")
    assert response.status_code == 200, response.text
    assert [s.body["model"] for s in alpha.seen[before:]] == ["fake-model-2"]


def test_proxy_reload_reloads_the_current_file_and_reports_it_live(sup: Supervised) -> None:
    revision = live_revision(sup)

    out = sup.cli("proxy", "reload").stdout

    assert re.fullmatch(rf"revision {revision} live in \d+ ms\n", out), out
    assert sup.served_revisions() == {revision}


def test_the_old_workers_accept_until_the_new_ones_have_loaded_the_file(sup: Supervised) -> None:
    """A reload brings up the new generation beside the old one: at no moment do fewer workers accept
    than the proxy runs (at 10,000 deployments a new worker needs a minute to load, and callers would
    wait in the backlog meanwhile), and both generations accept for a while."""
    reports = sup.data_dir / "proxy-workers"
    samples: list[set[str]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            samples.append({p.name for p in reports.glob("*.json")})  # a worker's report: it accepts
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out = sup.cli("proxy", "reload").stdout
    finally:
        done.set()
        watcher.join()

    assert LIVE.search(out), out
    assert min(len(s) for s in samples) >= WORKERS, [sorted(s) for s in samples if len(s) < WORKERS][:3]
    assert max(len(s) for s in samples) == 2 * WORKERS
    wait_for(lambda: settled(sup), 60, f"the proxy's {WORKERS} workers to serve, no old one left")


def test_a_reload_while_a_retired_worker_still_streams_forks_the_new_workers_at_once(
    sup: Supervised, alpha: FakeUpstream
) -> None:
    """Two reloads in a row while a caller reads a long stream: the worker streaming it is retired by
    the first and still streaming at the second. The second brings up its new workers and retires
    every old one that accepts without waiting for that stream, and the stream ends whole."""
    state = sup.state()
    assert state is not None and state.master_pid is not None
    first_generation = child_pids(state.master_pid)
    reached = len(alpha.seen)
    body = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    def stream() -> str:
        with (
            sup.client(timeout=60) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as answer,
        ):
            assert answer.status_code == 200, answer.read()
            lines = [line.removeprefix("data: ") for line in answer.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "[DONE]", lines
        return "".join(json.loads(line)["choices"][0]["delta"].get("content") or "" for line in lines[:-1])

    alpha.stream_seconds = LONG_STREAM_SECONDS
    try:
        with ThreadPoolExecutor(1) as pool:
            streamed = pool.submit(stream)
            wait_for(lambda: len(alpha.seen) > reached or None, 30, "the stream's request to reach alpha")
            for _ in range(2):
                out = sup.cli("proxy", "reload").stdout
                assert LIVE.search(out), out
                # what makes this test: a worker of the first generation still streams
                assert not streamed.done(), "the reload waited for a retired worker's stream to end"
                assert child_pids(state.master_pid) & first_generation
            text = streamed.result()
    finally:
        alpha.stream_seconds = 0.0
    assert text == alpha.reply
    assert sup.served_revisions() == {live_revision(sup)}
    wait_for(lambda: settled(sup), 60, f"the proxy's {WORKERS} workers to serve, no old one left")


def test_applies_under_continuous_load_drop_no_request(sup: Supervised) -> None:
    applied: list[tuple[int, int]] = []
    windows: list[tuple[float, float]] = []
    after = max((row.id for row in sup.usage()), default=0)

    with Load([sup.url], sup.master_key, clients=4, model="alpha") as load:
        time.sleep(0.5)
        for _ in range(5):
            start = time.monotonic()
            out = sup.cli("config", "apply", "--yes", "--force").stdout
            windows.append((start, time.monotonic()))
            match = LIVE.search(out)
            assert match, out
            applied.append((int(match.group(1)), int(match.group(2))))
        time.sleep(0.5)

    print(f"applies (revision, ms to live): {applied}")
    print(
        f"requests during 5 applies: {load.total} total, "
        f"{sum(load.failures.values())} failed {dict(load.failures)}"
    )
    assert [n for n, _ in applied] == list(range(applied[0][0], applied[0][0] + 5))
    assert dict(load.failures) == {}
    # the proxy kept answering while each apply was under way (how many is the machine's business)
    assert all(load.answered_between(*window) for window in windows), windows
    assert sup.served_revisions() == {applied[-1][0]}

    # every answered request left its usage row, including those old workers answered while draining
    def recorded() -> list[UsageEvent]:
        return [r for r in sup.usage() if r.id > after and r.model_group == "alpha" and r.status == "success"]

    try:
        # workers retired by the last apply write their rows at exit, after draining
        wait_for(lambda: len(recorded()) >= load.ok or None, 60, "a usage row per request")
    finally:
        rows = recorded()
        print(f"usage rows: {len(rows)} for {load.ok} answered requests")
    assert len(rows) == load.ok
    assert {r.revision for r in rows} <= set(range(applied[0][0] - 1, applied[-1][0] + 1))


def ack_reload_alerts(sup: Supervised) -> int:
    """Acknowledge the open reload_failed alerts (a repeat of an open one only bumps its count); count all."""
    found = sup.alerts("reload_failed")
    for alert in found:
        if alert.acknowledged_at is None:
            assert sup.cli("alerts", "ack", str(alert.id)).stdout == f"alert {alert.id} acknowledged\n"
    return len(found)


def edit_and_await_report(sup: Supervised, text: str, timeout: float) -> tuple[ReloadResult, float]:
    """Save text over the config; the supervisor's report on it and the seconds it took."""
    state = sup.state()
    assert state is not None and state.last_reload is not None
    before = state.last_reload.at
    started = time.monotonic()
    write_atomic(sup.config, text)

    def reported() -> ReloadResult | None:
        s = sup.state()
        return s.last_reload if s and s.last_reload and s.last_reload.at > before else None

    return wait_for(
        reported, timeout, "the supervisor to report on the edited file"
    ), time.monotonic() - started


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: text + "\nmodel_list: [unclosed\n", "not valid YAML"),
        (
            lambda text: text.replace("model: openai/fake-model\n", "model: notaprovider/x\n", 1),
            "notaprovider",
        ),
    ],
    ids=["invalid-yaml", "unknown-provider"],
)
def test_a_hand_edited_config_the_proxy_rejects_is_rolled_back_while_it_serves(
    sup: Supervised, edit: Callable[[str], str], reason: str
) -> None:
    good = sup.config.read_text()
    live = live_revision(sup)
    alerts_before = ack_reload_alerts(sup)
    bad = edit(good)
    assert bad != good

    with Load([sup.url], sup.master_key, clients=2, model="alpha") as load:
        time.sleep(0.3)
        # a model no provider prefix routes makes the supervisor ask LiteLLM itself: its first import
        # takes seconds on a busy machine
        result, took = edit_and_await_report(sup, bad, 60)
        time.sleep(0.3)

    print(
        f"{reason}: restored after {took * 1000:.0f} ms; "
        f"{load.total} requests, failures {dict(load.failures)}"
    )
    assert sup.config.read_text() == good
    assert result.ok is False
    assert reason in result.message and result.message.endswith(f"; revision {live} restored")
    alerts = sup.alerts("reload_failed")
    assert len(alerts) == alerts_before + 1
    assert alerts[-1].severity == "critical" and reason in alerts[-1].message
    assert dict(load.failures) == {} and load.ok > 0
    assert sup.served_revisions() == {live}
    assert live_revision(sup) == live
    # the edit carried the live revision's header: that revision is still live, not failed
    history = sup.cli("config", "history").stdout
    assert re.search(rf"^{live}\s.*\blive\b", history, re.M), history


def test_a_callback_module_workers_could_not_import_is_refused_before_any_reload(sup: Supervised) -> None:
    """A new worker could not import the callback and gunicorn would halt: pre-flight refuses it."""
    good = sup.config.read_text()
    live = live_revision(sup)
    old = sup.state()
    assert old is not None
    alerts_before = ack_reload_alerts(sup)
    bad = good.replace(
        "  - llm_admin_hooks.hooks\n", "  - llm_admin_hooks.hooks\n  - no_such_module_e2e.hooks\n"
    )
    assert bad != good

    result, took = edit_and_await_report(sup, bad, 60)

    print(f"missing callback module: refused, revision {live} kept, after {took:.1f} s")
    assert result.ok is False, result.message
    assert "'no_such_module_e2e.hooks' cannot be loaded" in result.message, result.message
    assert result.message.endswith(f"; revision {live} restored")
    assert sup.config.read_text() == good
    assert sup.process.poll() is None, sup.logs()
    state = sup.state()
    assert state is not None and state.master_pid == old.master_pid and state.live_revision == live
    assert sup.served_revisions() == {live}
    assert sup.chat("alpha").status_code == 200
    assert len(sup.alerts("reload_failed")) == alerts_before + 1


def test_a_revision_whose_env_key_the_proxy_lacks_fails_and_the_old_one_keeps_serving(
    sup: Supervised,
) -> None:
    live = live_revision(sup)
    add_provider(sup.data_dir, "env-co", "http://127.0.0.1:9/v1", "--api-key-env", ENV_VAR)
    add_model(sup.data_dir, "env-co", "from-env")

    # the CLI's own environment has the variable, so its checks pass; the supervisor's has not
    done = sup.cli("config", "apply", "--yes", check=False, **{ENV_VAR: "sk-only-where-the-cli-runs"})

    assert done.returncode == 1, done.stdout + done.stderr
    match = re.search(r"^revision (\d+) failed: (.+); revision (\d+) restored$", done.stdout, re.M)
    assert match, done.stdout
    assert int(match.group(1)) == live + 1 and int(match.group(3)) == live
    assert ENV_VAR in match.group(2)
    assert sup.served_revisions() == {live}
    assert sup.chat("alpha").status_code == 200
    status = sup.cli("proxy", "status").stdout
    assert f"revision live: {live}\n" in status and f"last reload: revision {live + 1} failed:" in status
    history = sup.cli("config", "history").stdout
    assert re.search(rf"^{live + 1}\s.*\bfailed\b", history, re.M), history


def test_sigterm_stops_the_proxy_and_removes_the_state_file(sup: Supervised) -> None:
    state = sup.state()
    assert state is not None and pid_alive(state.master_pid)
    port = int(sup.url.rsplit(":", 1)[1])

    started = time.monotonic()
    assert sup.stop() == 0
    print(f"supervisor stopped in {time.monotonic() - started:.1f} s")

    assert not sup.state_file.exists()
    wait_for(lambda: not pid_alive(state.master_pid), 10, "the gunicorn master to exit")
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
