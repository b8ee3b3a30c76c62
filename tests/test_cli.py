"""llm-admin: commands run in-process against a real database; one run of the installed console script."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select

from app import db, migrate
from app.cli import main
from app.crypto import KeyRing, generate_key
from app.models import Model, Provider, ProviderCredential
from app.services import providers, users

KEY = "sk-cli-test-4f9a2c7e1b8d6053XYZ"
CONSOLE_SCRIPT = Path(sys.executable).with_name("llm-admin")


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def llm_admin(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    """Run `llm-admin ARGS` in this process; stdin= feeds what the command reads."""

    def run(*argv: str, stdin: str = "") -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def _add_provider(llm_admin: Run, name: str = "OpenAI Prod", key: str = KEY, *extra: str) -> Result:
    return llm_admin(
        "provider", "add", "--name", name, "--type", "openai", "--api-key-stdin", *extra, stdin=key + "\n"
    )


def _head() -> str:
    return str(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head())


def _provider(name: str) -> Provider:
    with db.Session.begin() as session:
        return providers.find_provider(session, name=name)


# --- exit codes -----------------------------------------------------------------------------


def test_missing_subcommand_is_a_usage_error_with_exit_2(
    llm_admin: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        llm_admin("provider")
    assert exc.value.code == 2
    assert "usage: llm-admin provider" in capsys.readouterr().err


def test_provider_add_without_type_or_template_is_a_usage_error(
    llm_admin: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        llm_admin("provider", "add", "--name", "x")
    assert exc.value.code == 2
    assert "give --type" in capsys.readouterr().err


def test_a_failed_command_exits_1_with_one_error_line_on_stderr(llm_admin: Run) -> None:
    result = llm_admin("provider", "disable", "nosuch")
    assert result.code == 1
    assert result.out == ""
    assert result.err == "error: no provider named 'nosuch'; `llm-admin provider list` shows them\n"


def test_invalid_input_names_the_field_and_stores_nothing(llm_admin: Run) -> None:
    result = _add_provider(llm_admin, "Bad URL", KEY, "--base-url", "javascript:alert(1)")
    assert result.code == 1
    assert result.err.startswith("error: base_url: must start with http:// or https://")
    assert result.err.count("\n") == 1
    with db.Session.begin() as session:
        assert session.scalars(select(Provider)).all() == []


# --- db and users ---------------------------------------------------------------------------


def test_db_current_prints_the_head_revision(llm_admin: Run) -> None:
    result = llm_admin("db", "current")
    assert (result.code, result.out.strip(), result.err) == (0, f"{_head()} (head)", "")


def test_create_admin_takes_the_password_from_the_environment(
    llm_admin: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_ADMIN_PASSWORD", "correct-horse-battery")
    result = llm_admin("create-admin", "--username", "root")
    assert (result.code, result.out) == (0, "admin 'root' created\n")
    assert "correct-horse-battery" not in result.out + result.err
    with db.Session.begin() as session:
        user = users.authenticate(session, username="root", password="correct-horse-battery")
        assert user is not None and user.role == "admin"


# --- providers ------------------------------------------------------------------------------


def test_provider_add_reads_the_key_from_stdin_and_stores_it_encrypted(
    llm_admin: Run, cli_env: dict[str, str]
) -> None:
    result = _add_provider(llm_admin)
    assert result.code == 0
    assert result.out.startswith("provider 'OpenAI Prod' added (id ")
    assert KEY not in result.out + result.err
    ring = KeyRing.from_strings(cli_env["LLM_ADMIN_SECRET_KEYS"].split(","))
    with db.Session.begin() as session:
        token = session.scalars(select(ProviderCredential.ciphertext)).one()
    assert token is not None and ring.decrypt(token) == KEY


def test_provider_list_shows_the_key_masked(llm_admin: Run) -> None:
    _add_provider(llm_admin)
    result = llm_admin("provider", "list")
    assert result.code == 0
    header, row = result.out.splitlines()
    assert header.split() == ["NAME", "TYPE", "BASE", "URL", "STATE", "MODELS", "SECRETS", "LAST", "TEST"]
    assert "api_key=sk-…XYZ" in row
    assert "https://api.openai.com/v1" in row
    assert "enabled" in row and row.endswith("never")
    assert KEY not in result.out


def test_provider_disable_turns_it_off(llm_admin: Run) -> None:
    _add_provider(llm_admin)
    result = llm_admin("provider", "disable", "openai prod")
    assert (result.code, result.out) == (0, "provider 'OpenAI Prod' disabled\n")
    assert _provider("OpenAI Prod").enabled is False
    assert " disabled " in llm_admin("provider", "list").out


# --- models ---------------------------------------------------------------------------------


def test_model_add_takes_prices_and_context_from_litellms_cost_map(llm_admin: Run) -> None:
    _add_provider(llm_admin)
    result = llm_admin("model", "add", "--provider", "OpenAI Prod", "--model", "gpt-4o-mini", "--enable")
    assert result.code == 0
    assert result.out == (
        "model 'gpt-4o-mini' added to OpenAI Prod as 'gpt-4o-mini' "
        "(enabled; $0.15/$0.6 per 1M, context 128000)\n"
    )
    with db.Session.begin() as session:
        model = session.scalars(select(Model)).one()
        assert (model.enabled, model.input_cost_per_1m, model.output_cost_per_1m, model.context_window) == (
            True,
            0.15,
            0.6,
            128000,
        )


def test_model_add_uses_given_prices_over_the_cost_map(llm_admin: Run) -> None:
    _add_provider(llm_admin)
    result = llm_admin(
        "model",
        "add",
        "--provider",
        "OpenAI Prod",
        "--model",
        "gpt-4o-mini",
        "--input-cost-per-1m",
        "1.5",
        "--output-cost-per-1m",
        "2",
        "--context-window",
        "4096",
    )
    assert result.code == 0
    assert "(disabled; $1.5/$2.0 per 1M, context 4096)" in result.out


def test_model_list_shows_provider_prices_and_state(llm_admin: Run) -> None:
    _add_provider(llm_admin)
    llm_admin("model", "add", "--provider", "OpenAI Prod", "--model", "gpt-4o-mini", "--enable")
    result = llm_admin("model", "list")
    assert result.code == 0
    header, row = result.out.splitlines()
    assert header.split()[:3] == ["PROVIDER", "MODEL", "ALIAS"]
    assert row.split() == [
        "OpenAI",
        "Prod",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "yes",
        "0.15",
        "0.6",
        "128000",
        "active",
    ]


def test_model_disable_turns_the_model_off(llm_admin: Run) -> None:
    _add_provider(llm_admin)
    llm_admin("model", "add", "--provider", "OpenAI Prod", "--model", "gpt-4o-mini", "--enable")
    result = llm_admin("model", "disable", "--provider", "OpenAI Prod", "gpt-4o-mini")
    assert (result.code, result.out) == (0, "1 model disabled on OpenAI Prod\n")
    with db.Session.begin() as session:
        assert session.scalars(select(Model.enabled)).one() is False
    assert llm_admin("model", "list", "--enabled").out.splitlines()[1:] == []


# --- keys -----------------------------------------------------------------------------------


def test_keys_rotate_moves_secrets_to_the_newest_key(
    llm_admin: Run, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_provider(llm_admin)
    key_a, key_b = cli_env["LLM_ADMIN_SECRET_KEYS"], generate_key()
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", f"{key_b},{key_a}")
    ring_b = KeyRing.from_strings([key_b])
    result = llm_admin("keys", "rotate")
    assert (result.code, result.out) == (0, f"re-encrypted 1 secret under key {ring_b.current_id}\n")
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", key_b)
    assert "api_key=sk-…XYZ" in llm_admin("provider", "list").out


def test_keys_rotate_without_the_old_key_fails_and_names_the_setting(
    llm_admin: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_provider(llm_admin)
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", generate_key())
    result = llm_admin("keys", "rotate")
    assert result.code == 1
    assert result.err.startswith("error: LLM_ADMIN_SECRET_KEYS cannot read 1 stored secret ")
    assert result.err.count("\n") == 1


# --- provider test against a local OpenAI-compatible upstream ---------------------------------


class _OpenAIModels(BaseHTTPRequestHandler):
    """GET /v1/models with the right bearer key lists two models; anything else is refused."""

    expected_key = KEY

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/v1/models":
            self._reply(404, {"error": {"message": "not found"}})
        elif self.headers.get("Authorization") != f"Bearer {self.expected_key}":
            self._reply(401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}})
        else:
            self._reply(200, {"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]})

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    """Base URL (ending in /v1) of an OpenAI-compatible server on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIModels)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join()


def test_provider_test_lists_the_upstream_models(llm_admin: Run, upstream: str) -> None:
    _add_provider(llm_admin, "Local", KEY, "--base-url", upstream)
    result = llm_admin("provider", "test", "Local")
    assert result.code == 0
    first, *models = result.out.splitlines()
    assert first.startswith("Local: ok in ")
    assert first.endswith("connected; 2 models listed")
    assert models == ["  m1", "  m2"]
    provider = _provider("Local")
    assert (provider.last_test_ok, provider.last_test_message) == (True, "connected; 2 models listed")
    assert provider.last_test_at is not None


def test_provider_test_with_a_wrong_key_fails_with_an_actionable_message(
    llm_admin: Run, upstream: str
) -> None:
    wrong = "sk-wrong-0000000000000000000000"
    _add_provider(llm_admin, "Local", wrong, "--base-url", upstream)
    result = llm_admin("provider", "test", "Local")
    assert result.code == 1
    assert result.out.startswith("Local: FAILED in ")
    assert "HTTP 401: the key was refused; check the API key" in result.out
    assert wrong not in result.out + result.err
    provider = _provider("Local")
    assert provider.last_test_ok is False
    assert (provider.last_test_message or "").startswith("HTTP 401: the key was refused")
    assert "FAILED" in llm_admin("provider", "list").out


def test_provider_test_of_an_unreachable_upstream_says_to_check_the_url(llm_admin: Run) -> None:
    _add_provider(llm_admin, "Nowhere", KEY, "--base-url", "http://127.0.0.1:9/v1")
    result = llm_admin("provider", "test", "Nowhere", "--timeout", "2")
    assert result.code == 1
    assert "cannot reach http://127.0.0.1:9/v1/models" in result.out
    assert "check the base URL" in result.out


# --- logging --------------------------------------------------------------------------------


def test_commands_log_to_the_data_dir_once_per_command(llm_admin: Run, cli_env: dict[str, str]) -> None:
    llm_admin("db", "current")
    llm_admin("provider", "list")
    log_file = Path(cli_env["LLM_ADMIN_DATA_DIR"]) / "logs" / "llm-admin.log"
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = [line for line in log_file.read_text().splitlines() if " command " in line]
    assert [line.split(" command ", 1)[1] for line in lines] == ["db current", "provider list"]


# --- the installed console script -----------------------------------------------------------


def test_the_console_script_runs_as_a_separate_process(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "db", "current"],
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, f"{_head()} (head)", "")
