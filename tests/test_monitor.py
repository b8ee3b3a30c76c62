"""The health monitor against fake upstreams: concurrent sweeps bounded by the timeout, verdicts,
alerts, re-rendering the config off a down provider, the recheck loop and the CLI."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app import db, monitor
from app.cli import main
from app.crypto import KeyRing, generate_key, load_key_ring
from app.models import Alert, ConfigRevision, HealthCheck, ProviderCredential, ProviderHealth
from app.services import config, models, providers
from app.services.access import Actor
from app.settings import Settings, load_settings
from tests.pg import free_port
from tests.standins import bedrock
from tests.standins.bedrock import BedrockStandIn
from tests.upstream import FakeUpstream

TIMEOUT = 1.0
CONSOLE_SCRIPT = Path(sys.executable).with_name("llm-admin")


@pytest.fixture
def settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    env = {
        "LLM_ADMIN_DATABASE_URL": db_url,
        "LLM_ADMIN_DATA_DIR": str(tmp_path / "data"),
        "LLM_ADMIN_SECRET_KEYS": generate_key(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(env)


@pytest.fixture
def keyring(settings: Settings) -> KeyRing:
    return load_key_ring(settings)


@pytest.fixture
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    started = {
        "fast": FakeUpstream(api_key="sk-fast-0123456789").start(),
        "slow": FakeUpstream(delay_seconds=0.3).start(),
        "hang": FakeUpstream(mode="hang", hang_seconds=TIMEOUT + 3).start(),
        "broken": FakeUpstream(mode="error500").start(),
    }
    yield started
    for upstream in started.values():
        upstream.stop()


def add(keyring: KeyRing, name: str, base_url: str, alias: str, key: str | None = None) -> int:
    actor = Actor("alice", "admin")
    with db.Session.begin() as session:
        p = providers.create_provider(
            session,
            actor=actor,
            ring=keyring,
            name=name,
            type="custom",
            base_url=f"{base_url}/v1",
            secrets={"api_key": key or f"sk-{name}-0123456789"},
        )
        models.create_model(
            session,
            actor=actor,
            provider_id=p.id,
            identifier="fake-model",
            alias=alias,
            enabled=True,
            input_cost_per_1m=1.0,
            output_cost_per_1m=2.0,
        )
        return p.id


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def statuses(summary: monitor.SweepSummary) -> dict[str, str]:
    return {p.name: p.status for p in summary.probed}


def stack(keyring: KeyRing, upstreams: dict[str, FakeUpstream]) -> None:
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    add(keyring, "slow", upstreams["slow"].base_url, "chat")
    add(keyring, "hang", upstreams["hang"].base_url, "chat")
    add(keyring, "dead", dead_url(), "chat")
    add(keyring, "broken", upstreams["broken"].base_url, "chat")


def test_sweep_probes_concurrently_within_the_timeout(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    stack(keyring, upstreams)
    summary = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    # sequential probes would take > 1.3 s (hang) + 0.3 s (slow); concurrent ones end with the hang
    assert summary.wall_ms < TIMEOUT * 1000 + 600
    by_name = {p.name: p for p in summary.probed}
    assert statuses(summary) == {
        "fast": "healthy",
        "slow": "healthy",
        "hang": "degraded",
        "dead": "degraded",
        "broken": "degraded",
    }
    assert by_name["slow"].latency_ms is not None and by_name["slow"].latency_ms >= 300
    assert by_name["hang"].latency_ms is not None and by_name["hang"].latency_ms <= TIMEOUT * 1000 + 100
    assert "within 1 s" in by_name["hang"].message
    assert "ConnectError" in by_name["dead"].message
    assert by_name["broken"].message.startswith("HTTP 500")
    # the fast provider checks its key: the monitor sent the stored one
    assert [s.headers["authorization"] for s in upstreams["fast"].seen] == ["Bearer sk-fast-0123456789"]
    assert upstreams["fast"].seen[0].path == "/v1/models"
    with db.Session.begin() as session:
        assert len(list(session.scalars(select(HealthCheck)))) == 5
    assert summary.suspects and sorted(summary.suspects) == sorted(
        by_name[n].provider_id for n in ("hang", "dead", "broken")
    )


def test_second_failure_marks_down_and_alerts_once(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    stack(keyring, upstreams)
    add(keyring, "backupco", upstreams["fast"].base_url, "backup", key="sk-fast-0123456789")
    with db.Session.begin() as session:
        config.get_settings_row(session).router_settings = {"fallbacks": [{"chat": ["backup"]}]}
    monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    second = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert second.down == ["broken", "dead", "hang"]
    assert sorted((t.provider, t.old, t.new) for t in second.transitions) == [
        ("broken", "degraded", "down"),
        ("dead", "degraded", "down"),
        ("hang", "degraded", "down"),
    ]
    with db.Session.begin() as session:
        down = list(
            session.scalars(select(Alert).where(Alert.kind == "provider_down").order_by(Alert.provider))
        )
    assert [a.provider for a in down] == ["broken", "dead", "hang"]
    # chat still has healthy deployments (fast, slow): traffic stays in the group
    assert all(
        a.message.startswith(
            f"Provider {a.provider} down, using fallback chat (its other deployments) for chat"
        )
        for a in down
    )
    assert all(a.occurrences == 1 for a in down)


def test_recovery_is_seen_on_the_next_sweep(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    pid = add(keyring, "broken", upstreams["broken"].base_url, "chat")
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    for _ in range(2):
        monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    upstreams["broken"].mode = "ok"
    summary = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert [(t.provider, t.old, t.new) for t in summary.transitions] == [("broken", "down", "healthy")]
    with db.Session.begin() as session:
        recovered = session.scalars(select(Alert).where(Alert.kind == "provider_recovered")).one()
        state = session.get(ProviderHealth, pid)
    assert recovered.provider == "broken" and recovered.severity == "info"
    assert state is not None and (state.status, state.consecutive_failures, state.error) == (
        "healthy",
        0,
        None,
    )


def test_disabled_deleted_and_unreadable_providers_are_not_probed(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    actor = Actor("alice", "admin")
    off = add(keyring, "off", upstreams["slow"].base_url, "chat")
    gone = add(keyring, "gone", upstreams["slow"].base_url, "chat")
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    with db.Session.begin() as session:
        providers.set_provider_enabled(session, actor=actor, provider_id=off, enabled=False)
        providers.delete_provider(session, actor=actor, provider_id=gone)
        p = providers.create_provider(
            session,
            actor=actor,
            ring=keyring,
            name="envkey",
            type="custom",
            base_url=f"{upstreams['broken'].base_url}/v1",
            secret_envs={"api_key": "LLM_ADMIN_TEST_UNSET_KEY"},
        )
        envkey = p.id
    os.environ.pop("LLM_ADMIN_TEST_UNSET_KEY", None)
    summary = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert statuses(summary) == {"fast": "healthy", "envkey": "skipped"}
    skipped = next(p for p in summary.probed if p.name == "envkey")
    assert "LLM_ADMIN_TEST_UNSET_KEY" in skipped.message
    assert upstreams["slow"].seen == [] and upstreams["broken"].seen == []
    with db.Session.begin() as session:
        assert session.get(ProviderHealth, envkey) is None


def _apply_first(settings: Settings, keyring: KeyRing) -> int:
    return config.apply(
        actor=Actor("alice", "admin"), settings=settings, ring=keyring, environ=dict(os.environ), deep=False
    ).number


def _served_by(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text())
    return sorted((d["model_name"], d["model_info"]["llm_admin_provider"]) for d in data["model_list"])


def test_a_provider_going_down_re_renders_the_config_without_it(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    add(keyring, "broken", upstreams["broken"].base_url, "chat")
    first = _apply_first(settings, keyring)
    assert _served_by(settings.config_path) == [("chat", "broken"), ("chat", "fast")]
    assert monitor.sweep(settings, timeout=TIMEOUT, ring=keyring).applied_revision is None
    down = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert down.down == ["broken"]
    assert down.applied_revision == first + 1
    assert _served_by(settings.config_path) == [("chat", "fast")]
    # still down: nothing changes, nothing is applied again
    assert monitor.sweep(settings, timeout=TIMEOUT, ring=keyring).applied_revision is None
    upstreams["broken"].mode = "ok"
    back = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert back.applied_revision == first + 2
    assert _served_by(settings.config_path) == [("chat", "broken"), ("chat", "fast")]
    with db.Session.begin() as session:
        authors = [r.author for r in session.scalars(select(ConfigRevision).order_by(ConfigRevision.number))]
    assert authors == ["alice", "monitor", "monitor"]


def test_no_config_yet_means_nothing_to_re_render(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    add(keyring, "broken", upstreams["broken"].base_url, "chat")
    monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    summary = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert summary.down == ["broken"] and summary.applied_revision is None and summary.apply_error is None
    assert summary.notes == ["no config applied yet: nothing to re-render (run `llm-admin config apply`)"]
    assert not settings.config_path.exists()


def test_an_admin_s_unapplied_edit_is_not_published_by_steering(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    add(keyring, "broken", upstreams["broken"].base_url, "chat")
    _apply_first(settings, keyring)
    with db.Session.begin() as session:  # an admin's half-finished edit: a fallback to no group
        config.get_settings_row(session).router_settings = {"fallbacks": [{"chat": ["nowhere"]}]}
    monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    summary = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert summary.down == ["broken"] and summary.apply_error is None
    assert summary.applied_revision == 2
    assert _served_by(settings.config_path) == [("chat", "fast")]
    assert "nowhere" not in settings.config_path.read_text()


def test_an_apply_the_config_refuses_is_alerted_not_raised(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    add(keyring, "broken", upstreams["broken"].base_url, "chat")
    _apply_first(settings, keyring)
    before = settings.config_path.read_text()
    with db.Session.begin() as session:  # fast's stored key can no longer be read with this key ring
        credential = session.scalars(
            select(ProviderCredential).where(ProviderCredential.provider_id == 1)
        ).one()
        good, credential.ciphertext = credential.ciphertext, "v1:unknown-key:garbage"
    monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    summary = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert summary.down == ["broken"]
    assert summary.applied_revision is None
    assert summary.apply_error is not None and "LLM_ADMIN_P1_API_KEY" in summary.apply_error
    assert settings.config_path.read_text() == before
    with db.Session.begin() as session:
        alert = session.scalars(select(Alert).where(Alert.kind == "monitor_apply_failed")).one()
    assert alert.severity == "warning"
    assert "LLM_ADMIN_P1_API_KEY" in alert.message and "steer traffic off down providers" in alert.message
    # the admin restores the key: the next sweep after a failed apply tries again
    with db.Session.begin() as session:
        session.get(ProviderCredential, credential.id).ciphertext = good
    unchanged = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring)
    assert (unchanged.apply_attempted, unchanged.applied_revision) == (False, None)
    retried = monitor.sweep(settings, timeout=TIMEOUT, ring=keyring, retry_apply=True)
    assert retried.apply_attempted and retried.apply_error is None and retried.applied_revision is not None
    assert _served_by(settings.config_path) == [("chat", "fast")]


def test_run_rechecks_a_failing_provider_before_the_next_interval(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    add(keyring, "dead", dead_url(), "chat")
    seen: list[monitor.SweepSummary] = []
    stop = threading.Event()

    def report(summary: monitor.SweepSummary) -> None:
        seen.append(summary)
        if summary.down:
            stop.set()

    worker = threading.Thread(
        target=monitor.run,
        args=(settings,),
        kwargs={"interval": 60, "timeout": TIMEOUT, "recheck": 0.2, "report": report, "stop": stop},
    )
    started = time.monotonic()
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert time.monotonic() - started < 10  # an interval is 60 s: the recheck confirmed the outage
    assert [sorted(p.name for p in s.probed) for s in seen] == [["dead", "fast"], ["dead"]]
    assert seen[-1].down == ["dead"]


def test_monitor_once_prints_a_line_per_provider(
    settings: Settings,
    keyring: KeyRing,
    upstreams: dict[str, FakeUpstream],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    add(keyring, "dead", dead_url(), "chat")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    # what is printed, not how fast: a busy machine may take seconds to answer even the fast upstream
    patient = ["--timeout", "30", "--slow-ms", "600000"]
    assert main(["monitor", "--once", *patient]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PROVIDER", "STATUS", "LATENCY", "ERROR"]
    dead = next(line for line in lines if line.startswith("dead "))
    fast = next(line for line in lines if line.startswith("fast "))
    assert dead.split()[1] == "degraded" and "cannot reach" in dead
    assert fast.split()[1] == "healthy" and fast.rstrip().endswith("ms")
    assert lines[-1].startswith("2 provider(s) in ") and lines[-1].endswith(": 1 degraded, 1 healthy")

    assert main(["monitor", "--once", *patient]) == 0
    out = capsys.readouterr().out
    assert "dead: degraded → down" in out

    assert main(["health"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:3] == ["PROVIDER", "STATUS", "LATENCY"]
    assert [r.split()[:2] for r in rows[1:]] == [["dead", "down"], ["fast", "healthy"]]

    assert main(["health", "--history", "10", "--provider", "dead"]) == 0
    history = capsys.readouterr().out.splitlines()[1:]
    assert len(history) == 2 and all("dead" in h and "FAILED" in h for h in history)


def test_monitor_stops_cleanly_on_sigterm(settings: Settings, keyring: KeyRing, tmp_path: Path) -> None:
    add(keyring, "dead", dead_url(), "chat")
    env = {**os.environ, "LLM_ADMIN_DATA_DIR": str(settings.data_dir)}
    process = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "monitor", "--interval", "0.2", "--timeout", "0.5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.Session.begin() as session:
                if len(list(session.scalars(select(HealthCheck)))) >= 2:
                    break
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "monitor: probing every 0.2 s" in output
    assert "dead: degraded → down" in output


def test_a_provider_without_a_model_list_is_probed_with_a_one_token_completion(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    """Bedrock has no model listing: its probe is a 1-token completion through LiteLLM (imported before
    the probes start, so that its seconds of import do not run inside any probe's timeout). The
    timeout is generous: the test judges what was sent and recorded, not how fast a busy machine is."""
    aws = BedrockStandIn().start()
    try:
        with db.Session.begin() as session:
            providers.create_provider(
                session,
                actor=Actor("alice", "admin"),
                ring=keyring,
                name="bedrock",
                type="bedrock",
                secrets={
                    "aws_access_key_id": bedrock.TEST_ACCESS_KEY_ID,
                    "aws_secret_access_key": bedrock.TEST_SECRET_ACCESS_KEY,
                },
                params={"aws_region_name": bedrock.TEST_REGION, "aws_bedrock_runtime_endpoint": aws.url},
                default_model=bedrock.CHAT_MODEL,
            )
        add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
        env = {**os.environ, "LLM_ADMIN_DATA_DIR": str(settings.data_dir)}
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), "monitor", "--once", "--timeout", "60", "--slow-ms", "600000"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        aws.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()[1:3]}
    assert rows == {"bedrock": "healthy", "fast": "healthy"}, done.stdout
    [completion] = [r for r in aws.seen if r.kind == "chat"]
    assert completion.authorized and completion.json["inferenceConfig"]["maxTokens"] == 1
    assert "LiteLLM completion()" not in done.stdout + done.stderr


def test_each_sweep_checks_budgets_and_sends_new_alerts_to_the_webhook(
    settings: Settings, keyring: KeyRing, upstreams: dict[str, FakeUpstream]
) -> None:
    from app.runtime import usage as usage_sink
    from app.services import budgets
    from tests.services.test_webhooks import Hook

    add(keyring, "fast", upstreams["fast"].base_url, "chat", key="sk-fast-0123456789")
    hook = Hook()
    try:
        with db.Session.begin() as session:
            budgets.add_budget(
                session,
                actor=Actor("alice", "admin"),
                scope="provider",
                target="fast",
                period="daily",
                limit_usd=1.0,
            )
            usage_sink.record_events(
                session, [{"provider": "fast", "model_group": "chat", "cost_usd": 0.85, "status": "success"}]
            )
        webhook = dataclasses.replace(settings, alert_webhook_url=hook.url)

        monitor.sweep(webhook, timeout=TIMEOUT, ring=keyring)

        with db.Session.begin() as session:
            [alert] = session.scalars(select(Alert).where(Alert.kind == "budget")).all()
            assert alert.delivered_at is not None
        assert alert.message == "Budget for provider fast (daily $1.00): $0.85 spent, 85%"
        assert [post["text"] for post in hook.posts] == [
            f":warning: [WARNING] budget (fast): {alert.message}"
        ]
    finally:
        hook.stop()
