"""No stored, replaced or rejected API key appears in plain text in the database, audit, logs or output."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import MetaData, create_engine, select, text

from app import db
from app.cli import main
from app.crypto import KeyRing
from app.errors import ValidationError
from app.models import AuditEntry
from app.services import providers
from app.services.access import Actor

CONSOLE_SCRIPT = Path(sys.executable).with_name("llm-admin")


def _random_key() -> str:
    return "sk-" + secrets.token_hex(16)  # 32 random hex characters after the prefix


@dataclass
class Story:
    """What happened to one provider's keys, and every byte of output it produced."""

    stored: str
    replacement: str
    rejected: str
    output: list[str] = field(default_factory=list)

    @property
    def keys(self) -> dict[str, str]:
        return {"K": self.stored, "K2": self.replacement, "K3": self.rejected}


def _llm_admin(story: Story, *argv: str, stdin: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), *argv],
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    story.output += [done.stdout, done.stderr]
    return done


@pytest.fixture
def story(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Iterator[Story]:
    """Add a provider with K through the console script, replace K with K2, then get K3 rejected."""
    story = Story(_random_key(), _random_key(), _random_key())
    added = _llm_admin(
        story,
        "provider",
        "add",
        "--name",
        "Leak Check",
        "--type",
        "openai",
        "--api-key-stdin",
        stdin=story.stored + "\n",
    )
    assert added.returncode == 0, added.stderr

    ring = KeyRing.from_strings([cli_env["LLM_ADMIN_SECRET_KEYS"]])
    admin = Actor("alice", "admin")
    with db.Session.begin() as session:
        provider = providers.find_provider(session, name="Leak Check")
        pid = provider.id
        providers.update_provider(
            session,
            actor=admin,
            ring=ring,
            provider_id=pid,
            expected_version=provider.version,
            secrets={"api_key": story.replacement},
        )

    rejected = _llm_admin(
        story,
        "provider",
        "add",
        "--name",
        "Leak Check 2",
        "--type",
        "openai",
        "--base-url",
        "file:///etc/passwd",
        "--api-key-stdin",
        stdin=story.rejected + "\n",
    )
    assert rejected.returncode == 1
    assert rejected.stderr.startswith("error: base_url: must start with http:// or https://")
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        version = providers.get_provider(session, provider_id=pid).version
        providers.update_provider(
            session,
            actor=admin,
            ring=ring,
            provider_id=pid,
            expected_version=version,
            secrets={"api_key": story.rejected},
            rpm=-5,
        )
    story.output.append(str(err.value))
    with db.Session.begin() as session:
        assert providers.reveal_secret(session, actor=admin, ring=ring, provider_id=pid) == story.replacement
    captured = capsys.readouterr()
    story.output += [captured.out, captured.err]
    yield story


def _found_in(blob: bytes, story: Story) -> list[str]:
    return [name for name, key in story.keys.items() if key.encode() in blob]


def _table_dump(url: str) -> bytes:
    """Every row of every table, as JSON text."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        dump = {
            name: [list(row) for row in conn.execute(select(table))] for name, table in meta.tables.items()
        }
    engine.dispose()
    return json.dumps(dump, default=str, ensure_ascii=False).encode()


def _sqlite_files(url: str) -> bytes:
    path = Path(url.split("///", 1)[1])
    return b"".join(
        Path(f"{path}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{path}{suffix}").exists()
    )


def _read_tree(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _found_in_tree(root: Path, story: Story) -> list[str]:
    """_found_in over every file under root, one file at a time: a server's data directory late in
    the suite holds every test's database, too much to join in memory."""
    pattern = re.compile(b"|".join(re.escape(key.encode()) for key in story.keys.values()))
    by_key = {key.encode(): name for name, key in story.keys.items()}
    found: set[str] = set()
    for path in root.rglob("*"):
        try:
            content = path.read_bytes() if path.is_file() else b""
        except FileNotFoundError:  # a temporary file the server removed meanwhile
            continue
        found.update(by_key[m.group()] for m in pattern.finditer(content))
    return sorted(found)


def test_the_keys_are_nowhere_in_any_table(story: Story, db_url: str) -> None:
    assert _found_in(_table_dump(db_url), story) == []


def test_the_audit_entries_hold_no_key(story: Story, db_url: str) -> None:
    with db.Session.begin() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        rows = [{c.name: getattr(entry, c.key) for c in AuditEntry.__table__.columns} for entry in entries]
    assert [row["action"] for row in rows] == ["provider.create", "provider.update", "provider.reveal_key"]
    assert _found_in(json.dumps(rows, default=str, ensure_ascii=False).encode(), story) == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_sqlite_file_and_its_wal_hold_no_key(story: Story, db_url: str) -> None:
    assert Path(db_url.split("///", 1)[1]).stat().st_size > 0
    assert _found_in(_sqlite_files(db_url), story) == []
    db.make_engine(db_url).dispose()
    assert _found_in(_sqlite_files(db_url), story) == []


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_postgresql_data_directory_and_server_log_hold_no_key(
    story: Story, db_url: str, request: pytest.FixtureRequest
) -> None:
    server = request.getfixturevalue("postgres")
    db.make_engine(db_url).dispose()
    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
    engine.dispose()
    assert _found_in_tree(server.root, story) == []


def test_the_log_files_hold_no_key(story: Story, cli_env: dict[str, str]) -> None:
    logs = Path(cli_env["LLM_ADMIN_DATA_DIR"]) / "logs"
    content = _read_tree(logs)
    assert b"command provider add" in content
    assert _found_in(content, story) == []


def test_stdout_and_stderr_hold_no_key(story: Story) -> None:
    everything = "\n".join(story.output)
    assert "provider 'Leak Check' added" in everything
    assert _found_in(everything.encode(), story) == []


# --- keys in the wrong place, and keys sent to an upstream ------------------------------------


def test_a_key_pasted_into_the_base_url_is_not_echoed_in_the_error(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    key = _random_key()
    code = main(
        [
            "provider",
            "add",
            "--name",
            "Pasted",
            "--type",
            "openai",
            "--base-url",
            f"https://user:{key}@api.example.com:99999/v1",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("error: base_url: ")
    logs = _read_tree(Path(cli_env["LLM_ADMIN_DATA_DIR"]) / "logs")
    assert key.encode() not in (out + err).encode() + logs


class _GeminiServer(ThreadingHTTPServer):
    expected_key = ""


class _GeminiModels(BaseHTTPRequestHandler):
    """Gemini's model listing; the key may come as ?key= or as the x-goog-api-key header."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        given = self.headers.get("x-goog-api-key") or dict(parse_qsl(url.query)).get("key")
        assert isinstance(self.server, _GeminiServer)
        ok = url.path == "/v1beta/models" and given == self.server.expected_key
        body = json.dumps({"models": [{"name": "models/gemini-1.5-flash"}]} if ok else {"error": {}}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gemini_upstream() -> Iterator[tuple[str, str]]:
    """(base URL, the key it accepts) of a Gemini-compatible server on 127.0.0.1."""
    server = _GeminiServer(("127.0.0.1", 0), _GeminiModels)
    server.expected_key = "AIza" + secrets.token_hex(16)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.expected_key
    server.shutdown()
    server.server_close()
    thread.join()


def test_testing_a_connection_does_not_log_the_key(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    gemini_upstream: tuple[str, str],
) -> None:
    base_url, key = gemini_upstream
    monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
    assert (
        main(
            [
                "provider",
                "add",
                "--name",
                "Gem",
                "--type",
                "gemini",
                "--base-url",
                base_url,
                "--api-key-stdin",
            ]
        )
        == 0
    )
    assert main(["provider", "test", "Gem"]) == 0
    out, err = capsys.readouterr()
    assert "  gemini-1.5-flash" in out
    logs = _read_tree(Path(cli_env["LLM_ADMIN_DATA_DIR"]) / "logs")
    assert b"command provider test" in logs
    assert key.encode() not in (out + err).encode() + logs
