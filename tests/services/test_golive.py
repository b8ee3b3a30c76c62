"""Go-live: the revision the proxy serves and what became of a written one, supervised or stock."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app import db
from app.cli import main
from app.crypto import KeyRing
from app.proxy import supervisor
from app.services import golive, models, providers
from app.services.access import Actor
from app.settings import Settings

MASTER = "sk-golive-test-master-key"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(tmp_path: Path, *, mode: str = "supervised", port: int = 9, name: str = "") -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        master_key=MASTER,
        proxy_port=port,
        proxy_mode=mode,
        proxy_name=name,
    )


def _state(
    settings: Settings,
    *,
    live: int | None,
    report: supervisor.ReloadResult | None = None,
    booted: bool = True,
    name: str = "",
    heartbeat: float | None = None,
) -> None:
    supervisor.ProxyState(
        supervisor_pid=os.getpid(),
        master_pid=os.getpid() if booted else None,
        host="127.0.0.1",
        port=4000,
        workers=1,
        started_at=0.0,
        live_revision=live,
        last_reload=report,
        name=name,
        heartbeat_at=time.time() if heartbeat is None else heartbeat,
    ).save(supervisor.state_path(settings, name))


class _ModelInfo(BaseHTTPRequestHandler):
    revisions: list[int] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        if self.path != "/v1/model/info" or self.headers.get("Authorization") != f"Bearer {MASTER}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps(
            {"data": [{"model_info": {"llm_admin_revision": r}} for r in self.revisions]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[int]:
    """A stand-in proxy answering /v1/model/info with revisions 3 and 4 (a reload half done)."""
    _ModelInfo.revisions = [3, 4]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelInfo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_stock_image_waits_for_a_restart_and_names_the_command(tmp_path: Path) -> None:
    settings = _settings(tmp_path, mode="stock")
    _state(settings, live=1)  # a supervisor's state file does not matter to a stock deployment
    result = golive.go_live(settings, 2)
    assert golive.needs_restart(settings)
    assert (result.outcome, result.ok) == ("waiting_restart", True)
    assert result.message == (
        "revision 2 applied, waiting for restart: the proxy runs the stock LiteLLM image, so restart "
        "the proxy to load it (e.g. `docker compose restart litellm`)"
    )


def test_a_stopped_supervisor_and_no_proxy_say_how_to_see_it_start(tmp_path: Path) -> None:
    settings = _settings(tmp_path, port=_closed_port())
    _state(settings, live=1, heartbeat=time.time() - 60)  # a supervisor that stopped a minute ago
    heard: list[str] = []
    result = golive.go_live(settings, 2, startup_wait=0.3, notify=heard.append)
    assert heard == ["Waiting up to 0.3 s for the llm-admin supervisor to start…"]
    assert (result.outcome, result.ok) == ("starting", True)
    assert result.message == (
        "revision 2 written; the proxy is not serving yet (no llm-admin supervisor reported within "
        f"0.3 s and nothing answers at 127.0.0.1:{settings.proxy_port}). A starting `llm-admin proxy "
        "run` serves it once up: `llm-admin proxy status` shows when revision 2 is live"
    )
    assert "restart" not in result.message


def test_a_proxy_no_supervisor_runs_is_taken_over_by_starting_one(tmp_path: Path, proxy: int) -> None:
    settings = _settings(tmp_path, port=proxy)
    result = golive.go_live(settings, 5, startup_wait=0)
    assert (result.outcome, result.command) == ("waiting_restart", "llm-admin proxy run")
    assert result.message == (
        f"revision 5 applied, waiting for the supervisor: the proxy at 127.0.0.1:{proxy} (serving "
        "revision 4) is not run by an llm-admin supervisor, so start one to take it over "
        "(`llm-admin proxy run`)"
    )


def test_apply_while_the_supervisor_starts_waits_for_it_and_its_first_start(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    def start_later() -> None:
        time.sleep(0.4)
        _state(settings, live=None, booted=False)  # the supervisor's first heartbeat
        time.sleep(0.4)
        _state(settings, live=3, report=supervisor.ReloadResult(3, True, 700.0, "revision 3 live in 700 ms"))

    starter = threading.Thread(target=start_later)
    starter.start()
    heard: list[str] = []
    result = golive.go_live(settings, 3, startup_wait=10, notify=heard.append)
    starter.join()
    assert (result.outcome, result.message) == ("live", "revision 3 live in 700 ms")
    first_start_wait = supervisor.START_DEADLINE + golive.FIRST_START_EXTRA_WAIT
    assert heard == [
        "Waiting up to 10 s for the llm-admin supervisor to start…",
        f"The proxy is starting on revision 3: waiting up to {first_start_wait:g} s…",
    ]


@pytest.mark.parametrize(
    ("report", "outcome", "ok"),
    [
        (supervisor.ReloadResult(2, True, 512.0, "revision 2 live in 512 ms"), "live", True),
        (
            supervisor.ReloadResult(2, False, 840.0, "revision 2 failed: bad params; revision 1 restored"),
            "failed",
            False,
        ),
    ],
)
def test_the_supervisor_s_report_is_the_verdict(
    tmp_path: Path, report: supervisor.ReloadResult, outcome: str, ok: bool
) -> None:
    settings = _settings(tmp_path)
    _state(settings, live=1, report=report)
    result = golive.go_live(settings, 2)
    assert not golive.needs_restart(settings)
    assert (result.number, result.outcome, result.ok, result.ms) == (2, outcome, ok, report.ms)
    assert result.message == report.message


def test_status_comes_from_the_supervisor_s_state_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _state(settings, live=7, report=supervisor.ReloadResult(7, True, 300.0, "revision 7 live in 300 ms"))
    assert golive.proxy_status(settings) == golive.ProxyStatus(
        True, 7, "last reload: revision 7 live in 300 ms"
    )


def test_a_supervisor_waiting_for_its_first_config_says_so(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _state(settings, live=None, booted=False)
    assert golive.proxy_status(settings) == golive.ProxyStatus(
        True, None, "the supervisor waits for the first config apply"
    )


def test_several_proxies_report_the_oldest_live_revision_and_each_one(tmp_path: Path) -> None:
    settings = _settings(tmp_path, name="a")
    _state(settings, live=5, name="a")
    _state(settings, live=4, name="b", report=supervisor.ReloadResult(5, False, 1.0, "revision 5 failed: x"))
    status = golive.proxy_status(settings)
    assert (status.supervised, status.live_revision) == (True, 4)
    assert status.detail == "a: revision 5, no reload yet; b: revision 4, last reload: revision 5 failed: x"


def test_without_a_supervisor_the_proxy_itself_is_asked(tmp_path: Path, proxy: int) -> None:
    settings = _settings(tmp_path, mode="stock", port=proxy)
    assert golive.served_revision(settings) == 4
    assert golive.proxy_status(settings) == golive.ProxyStatus(
        False, 4, f"no llm-admin supervisor; the proxy at 127.0.0.1:{proxy} serves revision 4"
    )


def test_a_proxy_that_does_not_answer_leaves_the_revision_unknown(tmp_path: Path, proxy: int) -> None:
    settings = _settings(tmp_path, mode="stock", port=proxy)
    wrong_key = Settings(**{**settings.__dict__, "master_key": "sk-not-the-master-key"})
    assert golive.served_revision(wrong_key) is None
    status = golive.proxy_status(_settings(tmp_path, mode="stock", port=_closed_port()))
    assert status.live_revision is None
    assert status.detail.endswith("did not answer")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_cli_reports_the_same_verdict(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(golive, "STARTUP_WAIT", 0.2)
    monkeypatch.setenv("LLM_ADMIN_PROXY_PORT", str(_closed_port()))
    ring = KeyRing.from_strings([cli_env["LLM_ADMIN_SECRET_KEYS"]])
    with db.Session.begin() as session:
        home = providers.create_provider(
            session, actor=admin, ring=ring, name="home", type="ollama", base_url="http://127.0.0.1:11434"
        )
        models.create_model(session, actor=admin, provider_id=home.id, identifier="llama3.1", enabled=True)
    assert main(["config", "apply", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "revision 1 written to" in out
    assert "Waiting up to 0.2 s for the llm-admin supervisor to start…" in out
    assert "revision 1 written; the proxy is not serving yet" in out
    assert "`llm-admin proxy status` shows when revision 1 is live" in out
    assert "docker compose" not in out
