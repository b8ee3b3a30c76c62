"""docs/runbook.md, run for real: every tagged ```bash block is executed by bash exactly as written, in a
sandbox (a temporary LLM_ADMIN_DATA_DIR, FakeUpstream providers), against the real supervised LiteLLM
proxy (started by the runbook's own `proxy run` block) and a real PostgreSQL, and its effect is checked.
A block the runbook gains without a test here, or a command it names that no block runs, fails the
first test. The provider guides' and the Kubernetes export's examples run here too."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from app import db, migrate
from app.crypto import KeyRing, generate_key, load_key_ring
from app.services import providers
from app.services.access import Actor
from app.settings import load_settings
from tests.e2e.proxy import running
from tests.e2e.supervised import Supervised, wait_for
from tests.pg import PostgresServer, free_port
from tests.test_docs import block_commands, fenced_blocks, inline_commands, llm_admin_invocations
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text()
TAGGED = re.compile(r"^<!-- runbook: ([a-z0-9-]+) -->\n```bash\n(.*?)\n```", re.M | re.S)
BLOCKS: dict[str, str] = dict(TAGGED.findall(RUNBOOK))
BIN = Path(sys.executable).parent
LIVE = re.compile(r"^revision (\d+) live in \d+ ms$", re.M)
ALPHA_KEY, BETA_KEY, STEADY_KEY = "sk-alpha-key-0001", "sk-beta-key-0002", "sk-steady-key-0003"


def _pg_bins() -> list[str]:
    return [str(p.parent) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))[-1:]]


@dataclass
class Ran:
    """What a block printed, how it exited, and the shell variables asked for after it ran."""

    stdout: str
    stderr: str
    code: int
    captured: dict[str, str] = field(default_factory=dict)


@dataclass
class Sandbox:
    """A data directory and the environment every runbook command of one scenario runs with."""

    root: Path
    env: dict[str, str]

    @property
    def data(self) -> Path:
        return Path(self.env["LLM_ADMIN_DATA_DIR"])

    def run(
        self,
        name: str,
        *,
        check: bool = True,
        capture: tuple[str, ...] = (),
        cwd: Path | None = None,
        **env: str,
    ) -> Ran:
        """Run runbook block `name` with bash -euo pipefail, as an operator would paste it."""
        out = self.root / f".capture-{name}"
        trailer = "".join(f'\nprintf "%s=%s\\0" {v} "${{{v}-}}" >> "$RUNBOOK_CAPTURE"' for v in capture)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", BLOCKS[name] + trailer],
            env={**self.env, **env, "RUNBOOK_CAPTURE": str(out)},
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"runbook block {name!r} failed:\n{done.stdout}\n{done.stderr}"
        captured = {}
        if out.exists():
            captured = dict(p.split("=", 1) for p in out.read_text().split("\0") if p)
        return Ran(done.stdout, done.stderr, done.returncode, captured)

    def cli(self, *args: str, stdin: str | None = None, check: bool = True, **env: str) -> Ran:
        """Set-up and read-back commands (not part of the runbook)."""
        done = subprocess.run(
            [str(BIN / "llm-admin"), *args],
            env={**self.env, **env},
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"llm-admin {' '.join(args)}: {done.stdout}{done.stderr}"
        return Ran(done.stdout, done.stderr, done.returncode)

    def add_provider(self, name: str, upstream: FakeUpstream | str, key: str | None) -> None:
        """A custom (OpenAI-compatible) provider; its key stored encrypted."""
        url = upstream if isinstance(upstream, str) else f"{upstream.base_url}/v1"
        args = ["provider", "add", "--name", name, "--type", "custom", "--base-url", url]
        if key is None:
            self.cli(*args)
        else:
            self.cli(*args, "--api-key-stdin", stdin=key + "\n")

    def add_model(self, provider: str, alias: str, model: str = "fake-model") -> None:
        self.cli(
            *("model", "add", "--provider", provider, "--model", model, "--alias", alias),
            *(
                "--input-cost-per-1m",
                "1",
                "--output-cost-per-1m",
                "2",
                "--context-window",
                "8192",
                "--enable",
            ),
        )

    def providers(self) -> set[str]:
        out = self.cli("provider", "list").stdout.splitlines()[1:]
        return {line.split()[0] for line in out if line.strip()}


def make_sandbox(root: Path, **env: str) -> Sandbox:
    root.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([str(BIN), *_pg_bins(), os.environ.get("PATH", "/usr/bin:/bin")])
    base = {k: os.environ[k] for k in ("HOME", "LANG", "TMPDIR") if k in os.environ}
    base.update(PATH=path, LITELLM_LOCAL_MODEL_COST_MAP="True", LLM_ADMIN_DATA_DIR=str(root / "data"))
    return Sandbox(root, {**base, **env})


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    started = {
        "alpha": FakeUpstream(reply="from alpha", api_key=ALPHA_KEY).start(),
        "beta": FakeUpstream(reply="from beta", api_key=BETA_KEY).start(),
        "steady": FakeUpstream(reply="from steady", api_key=STEADY_KEY).start(),
    }
    yield started
    for upstream in started.values():
        upstream.stop()


def test_every_runbook_block_is_run_here_and_covers_every_command_the_runbook_names() -> None:
    assert RUNBOOK.count("```bash") == len(BLOCKS), "tag every bash block of docs/runbook.md"
    source = Path(__file__).read_text()
    run_here = set(re.findall(r"""(?:\b(?:run|start_block)\(\s*|BLOCKS\[)"([a-z0-9-]+)\"""", source))
    assert set(BLOCKS) - run_here == set(), "a runbook block no test runs"
    assert run_here - set(BLOCKS) == set(), "a test runs a block the runbook no longer has"

    def path(args: list[str]) -> tuple[str, ...]:
        from tests.test_docs import command_path, names_a_command

        return tuple(args) if names_a_command(args) else command_path(args)

    ran = {path(args) for _, args in block_commands(RUNBOOK)}
    named = {path(args) for _, args in inline_commands(RUNBOOK)}
    assert named - ran == set(), "the runbook names commands that none of its blocks runs"
    assert len(ran) >= 30


# --- the supervised proxy: apply, reload, roll back, restore, providers, keys ------------------


@dataclass
class Proxied:
    box: Sandbox
    sup: Supervised
    upstreams: dict[str, FakeUpstream]
    notes: dict[str, Any] = field(default_factory=dict)


def start_block(name: str, box: Sandbox, port: int) -> Any:
    """A long-running block (the proxy) in a session of its own, live on `port`, stopped afterwards."""
    log_path = box.data / "logs" / f"{name}.out"
    return running(["bash", "-c", BLOCKS[name]], port=port, env=box.env, log_path=log_path)


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, upstreams: dict[str, FakeUpstream]
) -> Iterator[Proxied]:
    port = free_port()
    box = make_sandbox(tmp_path_factory.mktemp("runbook-proxy"), LLM_ADMIN_PROXY_PORT=str(port))
    box.cli("db", "upgrade")
    box.add_provider("alpha-co", upstreams["alpha"], ALPHA_KEY)
    box.add_provider("beta-co", upstreams["beta"], BETA_KEY)
    box.add_model("alpha-co", "chat")
    box.add_model("beta-co", "chat")
    assert "revision 1 written" in box.cli("config", "apply", "--yes").stdout
    with start_block("proxy-run", box, port) as proxy:
        sup = Supervised(
            box.data, proxy.url, proxy.process, proxy.log_path, (box.data / "master.key").read_text().strip()
        )

        def live() -> int | None:
            state = sup.state()
            return state.live_revision if state else None

        assert wait_for(live, 90, "the runbook's proxy to serve revision 1") == 1
        yield Proxied(box, sup, upstreams)


def _live(ran: Ran) -> int:
    match = LIVE.search(ran.stdout)
    assert match, f"not live:\n{ran.stdout}\n{ran.stderr}"
    return int(match.group(1))


def test_the_proxy_run_block_serves_callers(proxied: Proxied) -> None:
    assert proxied.sup.served_revisions() == {1}
    response = proxied.sup.chat("chat")
    assert response.status_code == 200, response.text
    # the liveliness check docs/deployment.md gives answers without a key
    assert (
        "curl -fsS http://127.0.0.1:4000/health/liveliness" in (ROOT / "docs" / "deployment.md").read_text()
    )
    assert httpx.get(f"{proxied.sup.url}/health/liveliness", timeout=10).status_code == 200


def test_daily_checks(proxied: Proxied) -> None:
    out = proxied.box.run("status").stdout
    assert "revision live: 1" in out and "workers: 2 serving, 2 running (of 2)" in out
    assert re.search(r"^1\s+\S+ \S+\s+cli:\S+\s+live", out, re.M), out
    assert "alpha-co" in out and "unreadable secrets: 0" in out and "(head)" in out


def test_apply_puts_a_new_model_live(proxied: Proxied) -> None:
    before = proxied.sup.served_revisions()
    proxied.box.add_model("beta-co", "extra", model="fake-model-2")
    ran = proxied.box.run("apply")
    assert "config valid: 3 deployment(s)" in ran.stdout
    assert "changes: +1 model" in ran.stdout and "+- model_name: extra" in ran.stdout
    revision = _live(ran)
    assert {revision} != before and proxied.sup.served_revisions() == {revision}
    assert proxied.sup.chat("extra").status_code == 200
    assert BETA_KEY not in ran.stdout + ran.stderr
    proxied.notes["good"], proxied.notes["bad"] = min(before), revision  # type: ignore[type-var]


def test_reload_reloads_and_verifies(proxied: Proxied) -> None:
    before = proxied.sup.state().last_reload.at  # type: ignore[union-attr]
    ran = proxied.box.run("reload")
    assert _live(ran) == proxied.notes["bad"]
    assert f"revision live: {proxied.notes['bad']}" in ran.stdout
    assert proxied.sup.state().last_reload.at > before  # type: ignore[union-attr]


def test_rollback_writes_the_good_revision_again(proxied: Proxied) -> None:
    good = proxied.notes["good"]
    ran = proxied.box.run("rollback", REV=str(good))
    match = re.search(rf"^revision (\d+) written \(the config of revision {good}\)$", ran.stdout, re.M)
    assert match, ran.stdout
    assert _live(ran) == int(match.group(1))
    assert proxied.sup.served_revisions() == {int(match.group(1))}
    assert proxied.sup.chat("extra").status_code != 200  # the bad change is gone from the proxy
    assert "+- model_name: extra" in ran.stdout  # ...and diff shows the rows would bring it back
    proxied.notes["rolled_back"] = int(match.group(1))


def test_restore_a_config_backup_file(proxied: Proxied) -> None:
    bad = proxied.notes["bad"]
    ran = proxied.box.run("restore-config-backup")
    assert f"# revision: {bad}" in ran.stdout  # the newest backup: the file the rollback replaced
    assert "valid (3 deployment(s))" in ran.stdout
    assert _live(ran) == bad
    assert proxied.sup.served_revisions() == {bad}
    assert proxied.sup.chat("extra").status_code == 200
    config = proxied.box.data / "litellm-config.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert not list(proxied.box.data.glob("*.restoring"))


def test_after_a_rollback_fix_the_rows(proxied: Proxied) -> None:
    ran = proxied.box.run("rollback-rows", PROVIDER="beta-co", MODEL="fake-model-2")
    assert "1 model disabled on beta-co" in ran.stdout
    assert "-- model_name: extra" in ran.stdout  # the next apply would take it out


def test_take_a_provider_out_of_service(proxied: Proxied) -> None:
    beta = proxied.upstreams["beta"]
    ran = proxied.box.run("provider-disable", PROVIDER="beta-co")
    assert "provider 'beta-co' disabled" in ran.stdout
    _live(ran)
    seen = len(beta.seen)
    for _ in range(6):
        assert proxied.sup.chat("chat").status_code == 200
    assert len(beta.seen) == seen  # only alpha serves now


def test_rotate_a_providers_stored_key(proxied: Proxied) -> None:
    alpha, new_key = proxied.upstreams["alpha"], "sk-alpha-key-0004"
    alpha.api_key = new_key  # the provider issued a new key and revoked the old one
    settings = load_settings({"LLM_ADMIN_DATA_DIR": str(proxied.box.data)})
    db.init(settings.database_url)
    with db.Session.begin() as session:  # what the dashboard's edit form does
        provider = providers.find_provider(session, name="alpha-co")
        providers.update_provider(
            session,
            actor=Actor("alice", "admin"),
            ring=load_key_ring(settings),
            provider_id=provider.id,
            expected_version=provider.version,
            secrets={"api_key": new_key},
        )
    db.make_engine(settings.database_url).dispose()
    ran = proxied.box.run("provider-key", PROVIDER="alpha-co")
    assert "alpha-co: ok" in ran.stdout
    _live(ran)
    seen = len(alpha.seen)
    for _ in range(4):
        assert proxied.sup.chat("chat").status_code == 200
    assert {s.headers.get("authorization") for s in alpha.seen[seen:]} == {f"Bearer {new_key}"}


def test_bring_a_provider_back(proxied: Proxied) -> None:
    ran = proxied.box.run("provider-enable", PROVIDER="beta-co")
    assert "provider 'beta-co' enabled" in ran.stdout and "beta-co: ok" in ran.stdout
    revision = _live(ran)
    assert proxied.sup.served_revisions() == {revision}
    for _ in range(3):
        assert proxied.sup.chat("chat").status_code == 200


# --- monitor, alerts, budgets, users (no proxy) ----------------------------------------------


class _Webhook:
    """A Slack-compatible endpoint on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret-token"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory, upstreams: dict[str, FakeUpstream]) -> Sandbox:
    """One steady provider and one whose server is gone; the config applied (no proxy runs)."""
    box = make_sandbox(tmp_path_factory.mktemp("runbook-ops"))
    box.cli("db", "upgrade")
    box.add_provider("steady", upstreams["steady"], STEADY_KEY)
    box.add_provider("gone", f"http://127.0.0.1:{free_port()}/v1", None)
    box.add_model("steady", "steady-chat")
    box.add_model("gone", "gone-chat")
    box.cli("route", "add", "--agent", "summarizer", "--model", "gone-chat", "--fallback", "steady-chat")
    box.cli("config", "apply", "--yes")
    return box


def test_monitor_once_marks_a_dead_provider_down(ops: Sandbox) -> None:
    first = ops.run("monitor-once", PROVIDER="gone").stdout
    assert re.search(r"^gone\s+degraded", first, re.M) and re.search(r"^steady\s+healthy", first, re.M)
    second = ops.run("monitor-once", PROVIDER="gone").stdout
    assert re.search(r"^gone\s+down", second, re.M), second
    assert "gone: degraded → down" in second
    assert len(re.findall(r"^\S+ \S+\s+gone\s+FAILED", second, re.M)) == 2  # health --history


def test_the_monitor_service_runs_until_sigterm(ops: Sandbox) -> None:
    out = ops.root / "monitor-run.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", "-c", BLOCKS["monitor-run"]],
            env=ops.env,
            cwd=ops.root,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "sweep of 2 provider(s)" in out.read_text(), 60, "the monitor's first sweep")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, out.read_text()
    assert "monitor: probing every 30 s (timeout 1.5 s, failing providers again after 5 s)" in out.read_text()


def test_alerts_list(ops: Sandbox) -> None:
    out = ops.run("alerts").stdout
    assert re.search(r"^\d+\s+\S+ \S+\s+critical\s+provider_down\s+\d+\s+Provider gone down", out, re.M), out


def test_alerts_deliver_posts_to_the_webhook(ops: Sandbox) -> None:
    hook = _Webhook()
    try:
        ran = ops.run("alerts-deliver", LLM_ADMIN_ALERT_WEBHOOK_URL=hook.url)
    finally:
        hook.stop()
    assert re.search(r"^delivered [1-9]\d* alerts?; 0 still pending, 0 given up$", ran.stdout, re.M), (
        ran.stdout
    )
    assert any(a["kind"] == "provider_down" and "Provider gone down" in a["text"] for a in hook.received)
    assert "secret-token" not in ran.stdout + ran.stderr


def test_alerts_ack(ops: Sandbox) -> None:
    listed = ops.cli("alerts", "list").stdout
    alert_id = re.search(r"^(\d+)\s+.*provider_down", listed, re.M).group(1)  # type: ignore[union-attr]
    ran = ops.run("alerts-ack", ALERT_ID=alert_id)
    assert f"alert {alert_id} acknowledged" in ran.stdout
    assert re.search(rf"^{alert_id}\s+.*provider_down.*cli:\S+$", ran.stdout, re.M), ran.stdout
    assert not re.search(rf"^{alert_id}\s", ops.cli("alerts", "list").stdout, re.M)


def test_budgets(ops: Sandbox) -> None:
    ran = ops.run("budgets", PROVIDER="steady")
    assert "budget 1 added: " in ran.stdout and re.search(r"^budget 2 added: .*, enforced$", ran.stdout, re.M)
    assert re.search(r"^1\s+route\s+summarizer\s+daily\s+\$10\.00\s+\$0\.00\s+0%\s+no", ran.stdout, re.M)
    assert re.search(r"^2\s+provider\s+steady\s+monthly\s+\$500\.00\s+\$0\.00\s+0%\s+yes", ran.stdout, re.M)
    assert "0 new budget alerts" in ran.stdout
    changed = ops.run("budgets-change", BUDGET_ID="2")
    assert "budget 2 now: " in changed.stdout and ", enforced" not in changed.stdout
    assert "budget 2 removed" in changed.stdout
    assert not re.search(r"^2\s", ops.cli("budget", "list").stdout, re.M)


def test_provider_delete_and_restore(ops: Sandbox) -> None:
    ran = ops.run("provider-delete", PROVIDER="gone")
    assert "provider 'gone' deleted" in ran.stdout and "provider 'gone' restored" in ran.stdout
    assert re.search(r"^gone\s+custom\s+\S+\s+deleted", ran.stdout, re.M), ran.stdout
    assert "gone" in ops.providers()


def test_create_a_rescue_admin(ops: Sandbox) -> None:
    ran = ops.run("create-admin")
    assert "admin 'rescue-admin' created" in ran.stdout
    password = re.search(r"one-time password: (\S+)", ran.stdout).group(1)  # type: ignore[union-attr]
    engine = create_engine(f"sqlite:///{ops.data / 'llm-admin.db'}")
    with engine.connect() as conn:
        role = conn.execute(text("SELECT role FROM users WHERE username = 'rescue-admin'")).scalar_one()
    engine.dispose()
    assert role == "admin" and len(password) >= 10


def test_unlock_a_throttled_account(ops: Sandbox) -> None:
    ops.cli("create-admin", "--username", "locked-admin", "--generate")
    ran = ops.run("user-unlock", NAME="locked-admin")
    assert ran.stdout == "locked-admin: unlocked (0 source(s) were waiting after failed sign-ins)\n", (
        ran.stderr
    )


# --- key rotation ------------------------------------------------------------------------------


def test_rotate_the_key_ring_in_the_environment(tmp_path: Path, upstreams: dict[str, FakeUpstream]) -> None:
    old = generate_key()
    box = make_sandbox(tmp_path, LLM_ADMIN_SECRET_KEYS=old)
    box.cli("db", "upgrade")
    box.add_provider("steady", upstreams["steady"], STEADY_KEY)
    ran = box.run("rotate-key-ring", capture=("LLM_ADMIN_SECRET_KEYS",))
    new = ran.captured["LLM_ADMIN_SECRET_KEYS"]
    assert new != old and "," not in new
    new_id = KeyRing.from_strings([new]).current_id
    assert f"re-encrypted 1 secret under key {new_id}" in ran.stdout
    assert ran.stdout.count("unreadable secrets: 0") == 2
    assert not (box.data / "secret.key").exists()  # the ring lives in the environment only
    # the new key alone reads the stored key (the upstream accepts it); the old one alone no longer does
    assert "steady: ok" in box.cli("provider", "test", "steady", LLM_ADMIN_SECRET_KEYS=new).stdout
    stale = box.cli("keys", "status", check=False, LLM_ADMIN_SECRET_KEYS=old)
    assert stale.code == 1 and "unreadable secrets: 1" in stale.stdout


def test_rotate_the_embedded_key_file(tmp_path: Path, upstreams: dict[str, FakeUpstream]) -> None:
    box = make_sandbox(tmp_path)
    box.cli("db", "upgrade")
    box.add_provider("steady", upstreams["steady"], STEADY_KEY)
    key_file = box.data / "secret.key"
    old = key_file.read_text().split()
    ran = box.run("rotate-key-file")
    new = key_file.read_text().split()
    assert len(old) == len(new) == 1 and new != old
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"under key {KeyRing.from_strings(new).current_id}" in ran.stdout
    assert "unreadable secrets: 0" in ran.stdout
    assert not (box.data / "secret.key.new").exists()
    assert "steady: ok" in box.cli("provider", "test", "steady").stdout


# --- database backups --------------------------------------------------------------------------


def test_back_up_and_restore_sqlite(tmp_path: Path, upstreams: dict[str, FakeUpstream]) -> None:
    box = make_sandbox(tmp_path / "sandbox", BACKUP_DIR=str(tmp_path / "backups"))
    box.cli("db", "upgrade")
    box.add_provider("keep-me", upstreams["steady"], STEADY_KEY)
    box.add_model("keep-me", "kept")
    box.cli("config", "apply", "--yes")
    ran = box.run("backup-sqlite")
    backup = Path(ran.stdout.strip().splitlines()[-1])
    assert backup.parent == tmp_path / "backups" and stat.S_IMODE(backup.stat().st_mode) == 0o600
    keys = tmp_path / "keys"
    box.run("backup-keys", KEYS_BACKUP_DIR=str(keys))
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for name in ("secret.key", "master.key"):
        assert (keys / name).read_text() == (box.data / name).read_text()
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600

    box.add_provider("added-later", upstreams["beta"], BETA_KEY)  # a change after the backup
    assert box.providers() == {"keep-me", "added-later"}
    restored = box.run("restore-sqlite", BACKUP=str(backup))
    assert "unreadable secrets: 0" in restored.stdout and "changes: no changes" in restored.stdout
    assert box.providers() == {"keep-me"}
    assert "keep-me: ok" in box.cli("provider", "test", "keep-me").stdout  # the stored key decrypts


def test_back_up_sqlite_with_the_sqlite3_shell(tmp_path: Path, upstreams: dict[str, FakeUpstream]) -> None:
    box = make_sandbox(tmp_path / "sandbox", BACKUP_DIR=str(tmp_path / "backups"))
    box.cli("db", "upgrade")
    box.add_provider("keep-me", upstreams["steady"], STEADY_KEY)
    (tmp_path / "backups").mkdir()
    box.run("backup-sqlite-cli")
    (backup,) = (tmp_path / "backups").glob("llm-admin-*.db")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    restored = make_sandbox(tmp_path / "elsewhere")
    restored.data.mkdir(parents=True)
    shutil.copy(backup, restored.data / "llm-admin.db")
    shutil.copy(box.data / "secret.key", restored.data / "secret.key")
    assert restored.providers() == {"keep-me"}


@pytest.mark.postgres
def test_back_up_and_restore_postgresql(
    tmp_path: Path, postgres: PostgresServer, upstreams: dict[str, FakeUpstream]
) -> None:
    name = f"runbook_{os.getpid()}"
    engine = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    box = make_sandbox(
        tmp_path / "sandbox",
        LLM_ADMIN_DATABASE_URL=postgres.url(name),
        LLM_ADMIN_SECRET_KEYS=generate_key(),
        BACKUP_DIR=str(tmp_path / "backups"),
    )
    box.cli("db", "upgrade")
    box.add_provider("keep-me", upstreams["steady"], STEADY_KEY)
    box.add_model("keep-me", "kept")
    box.run("backup-postgres")
    assert (tmp_path / "backups" / "llm-admin.dump").stat().st_size > 0
    box.add_provider("added-later", upstreams["beta"], BETA_KEY)
    box.cli("model", "disable", "--provider", "keep-me", "fake-model")
    restored = box.run("restore-postgres")
    assert "unreadable secrets: 0" in restored.stdout
    assert box.providers() == {"keep-me"}
    assert re.search(r"^keep-me\s+fake-model\s+kept\s+yes", box.cli("model", "list").stdout, re.M)
    assert "keep-me: ok" in box.cli("provider", "test", "keep-me").stdout


# --- upgrade -------------------------------------------------------------------------------------


def _at_first_revision(box: Sandbox) -> str:
    url = f"sqlite:///{box.data / 'llm-admin.db'}"
    box.data.mkdir(parents=True)
    first = ScriptDirectory.from_config(migrate.alembic_config(url)).get_base()
    migrate.upgrade(url, str(first))
    db.make_engine(url).dispose()
    return str(first)


def test_upgrade_with_llm_admin(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    first = _at_first_revision(box)
    ran = box.run("upgrade")
    lines = ran.stdout.splitlines()
    assert lines[0].startswith(first) and "(head)" not in lines[0]
    assert re.fullmatch(r"database at revision \S+ \(head\)", lines[1])
    assert "models and migrations agree" in ran.stdout
    assert "OpenAI" in box.cli("template", "list").stdout  # built-in templates refreshed


def test_upgrade_with_alembic(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    _at_first_revision(box)
    box.run("upgrade-alembic", cwd=ROOT)  # from the directory holding alembic.ini
    assert "(head)" in box.cli("db", "current").stdout


# --- the other guides' examples ------------------------------------------------------------------


def test_every_provider_guide_example_runs(tmp_path: Path) -> None:
    guide = (ROOT / "docs" / "providers.md").read_text()
    box = make_sandbox(tmp_path)
    box.cli("db", "upgrade")
    for key_file in set(re.findall(r"<\s*([\w.-]+\.key)\b", guide)):
        prefix = "AIza" if key_file.startswith("gemini") else "sk-"
        (tmp_path / key_file).write_text(f"{prefix}example-{key_file}-0123456789\n")
    blocks = fenced_blocks(guide)
    for block in blocks:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env=box.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"docs/providers.md:\n{block}\n{done.stdout}{done.stderr}"
    adds = [a for _, a in block_commands(guide) if a[:2] == ["model", "add"]]
    listed = box.cli("config", "validate").stdout
    assert f"config valid: {len(adds)} deployment(s)" in listed
    types = {line.split()[1] for line in box.cli("provider", "list").stdout.splitlines()[1:] if line.strip()}
    from app.catalog import type_ids

    assert types == set(type_ids())


def test_the_deployment_guides_llm_admin_commands_run(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    box = make_sandbox(tmp_path, LITELLM_MASTER_KEY="sk-deployment-guide-master-0123456789")
    box.cli("db", "upgrade")
    box.add_provider("openai-prod", upstreams["steady"], STEADY_KEY)
    box.add_model("openai-prod", "gpt-4o-mini")
    runnable = [
        b
        for b in fenced_blocks(guide)
        if all(ln.startswith("llm-admin ") for ln in b.splitlines() if ln.strip())
    ]
    assert len(runnable) == 2  # the Kubernetes export, with a Secret and with an ExternalSecret
    for block in runnable:
        shutil.rmtree(tmp_path / "k8s", ignore_errors=True)
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env=box.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        secret = yaml.safe_load((tmp_path / "k8s" / "litellm-secret.yaml").read_text())
        assert stat.S_IMODE((tmp_path / "k8s" / "litellm-secret.yaml").stat().st_mode) == 0o600
        values = yaml.safe_load((tmp_path / "k8s" / "values-llm-admin.yaml").read_text())
        assert values["proxyConfigMap"] == {
            "create": False,
            "name": "llm-admin-litellm-config",
            "key": "config.yaml",
        }
        assert values["environmentSecrets"] == ["llm-admin-litellm-env"]
        if "--external-secret" in block:
            assert secret["kind"] == "ExternalSecret"
            assert secret["spec"]["secretStoreRef"] == {"name": "vault-backend", "kind": "ClusterSecretStore"}
        else:
            assert secret["kind"] == "Secret" and STEADY_KEY in secret["stringData"].values()
            assert secret["metadata"]["namespace"] == "llm-admin"
    # the stock image's env file: the command the guide runs inside `docker compose run ... dashboard`
    line = next(ln for b in fenced_blocks(guide) for ln in b.splitlines() if "export-env" in ln)
    (args,) = llm_admin_invocations(line)
    env_file = tmp_path / "secrets" / "litellm.env"
    env_file.parent.mkdir()
    box.cli(*[a.replace("/out/", f"{env_file.parent}/") for a in args])
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert re.fullmatch(rf"LLM_ADMIN_P1_API_KEY={STEADY_KEY}\n", env_file.read_text())
