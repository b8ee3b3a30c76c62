"""No secret reaches the config file, its backups, revisions, diffs, logs, audit rows or any output.

One story per backend: a provider with a stored key, every corpus config that carries inline keys
imported through the CLI, applies, a key replacement, a diff, an apply with warnings, a refused
apply, a refused file, a rollback and an export. Then every place a secret must never be is searched
for every secret.
The env file written by `config export-env` is the one documented exception: carrying the keys to
a stock LiteLLM image is its purpose, so it must be 0600 instead.
"""

from __future__ import annotations

import io
import json
import secrets
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import MetaData, create_engine, select, text

from app import db
from app.cli import main
from app.crypto import KeyRing
from app.models import AuditEntry, ConfigRevision
from app.services import config, models, providers
from app.services.access import Actor
from app.settings import load_settings
from generator import files
from generator.validate import secret_refs

CORPUS = Path(__file__).parent / "corpus"
ENV_REF = "os.environ/"
SECRET_FIELDS = (
    "api_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "vertex_credentials",
)
SECRET_NAMES = ("KEY", "SECRET", "TOKEN", "PASSWORD")


def _random_key(prefix: str = "sk-") -> str:
    return prefix + secrets.token_hex(16)


def _inline_secrets(original: dict[str, Any]) -> dict[str, str]:
    """Plain-text secrets of a hand-written config: deployment keys (kind 'key'), others ('other')."""
    found = {
        value: "key"
        for d in original["model_list"]
        for name, value in d["litellm_params"].items()
        if name in SECRET_FIELDS and isinstance(value, str) and not value.startswith(ENV_REF)
    }
    master = (original.get("general_settings") or {}).get("master_key")
    if isinstance(master, str) and not master.startswith(ENV_REF):
        found[master] = "other"
    for name, value in (original.get("environment_variables") or {}).items():
        secret_name = any(word in name for word in SECRET_NAMES) and not name.endswith("PUBLIC_KEY")
        if secret_name and not str(value).startswith(ENV_REF):
            found[str(value)] = "other"
    return found


INLINE_CORPUS = [p for p in sorted(CORPUS.glob("*.yaml")) if _inline_secrets(yaml.safe_load(p.read_text()))]


@dataclass
class Story:
    """Every secret the story used, and every byte of output and error text it produced."""

    secrets: dict[str, str] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)  # names of the secrets llm-admin holds at the end
    output: list[str] = field(default_factory=list)
    env_file: Path | None = None

    def found_in(self, blob: str | bytes) -> list[str]:
        data = blob.encode() if isinstance(blob, str) else blob
        return sorted(name for name, value in self.secrets.items() if value.encode() in data)


def _read_tree(root: Path, *, skip: Path | None = None) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p != skip)


def _table_dump(url: str) -> bytes:
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        dump = {
            name: [list(row) for row in conn.execute(select(table))] for name, table in meta.tables.items()
        }
    engine.dispose()
    return json.dumps(dump, default=str, ensure_ascii=False).encode()


@pytest.fixture
def story(
    cli_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Story]:
    story = Story()
    admin = Actor("alice", "admin")
    ring = KeyRing.from_strings([cli_env["LLM_ADMIN_SECRET_KEYS"]])

    def run(*argv: str) -> int:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        code = main(list(argv))
        out, err = capsys.readouterr()
        story.output += [out, err]
        return code

    # the proxy's own environment: the master key and every variable the corpus configs reference
    story.secrets["LITELLM_MASTER_KEY"] = _random_key("sk-master-")
    monkeypatch.setenv("LITELLM_MASTER_KEY", story.secrets["LITELLM_MASTER_KEY"])
    for path in INLINE_CORPUS:
        original = yaml.safe_load(path.read_text())
        for name in secret_refs(original):
            monkeypatch.setenv(name, f"set-by-the-operator-{name.lower()}")
        for index, (value, kind) in enumerate(_inline_secrets(original).items()):
            story.secrets[f"{path.stem}#{index}"] = value
            if kind == "key":
                story.stored.add(f"{path.stem}#{index}")

    story.secrets["stored"] = _random_key()
    story.stored.add("stored")
    with db.Session.begin() as session:
        provider = providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="Leak Check",
            type="openai",
            secrets={"api_key": story.secrets["stored"]},
        )
        models.create_model(session, actor=admin, provider_id=provider.id, identifier="gpt-4.1", enabled=True)
        pid = provider.id
    for path in INLINE_CORPUS:
        assert run("config", "import", str(path)) == 0, story.output[-1]
    assert run("config", "apply", "--yes") == 0, story.output[-1]

    # replace the stored key and an imported one, add a model so the diff has something to show
    vllm = "custom-vllm-internal-example-com"  # the provider import made for 09's inline token
    replaced = [
        ("Leak Check", "stored", "replacement"),
        (vllm, "09_custom_endpoints#0", "imported replacement"),
    ]
    with db.Session.begin() as session:
        for provider_name, old, new in replaced:
            target = providers.find_provider(session, name=provider_name)
            story.secrets[new] = _random_key()
            providers.update_provider(
                session,
                actor=admin,
                ring=ring,
                provider_id=target.id,
                expected_version=target.version,
                secrets={"api_key": story.secrets[new]},
            )
            story.stored.discard(old)
            story.stored.add(new)
        models.create_model(session, actor=admin, provider_id=pid, identifier="gpt-4.1-mini", enabled=True)
    assert run("config", "diff") == 0
    assert "+1 model" in story.output[-2]
    assert run("config", "apply", "--yes") == 0, story.output[-1]

    # variables missing where the apply runs are only warnings: the apply goes ahead
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with db.Session.begin() as session:
        models.create_model(session, actor=admin, provider_id=pid, identifier="o3-mini", enabled=True)
    assert run("config", "apply", "--yes") == 0, story.output[-1]
    assert "warning: secret ANTHROPIC_API_KEY: not set in this environment" in story.output[-1]

    # refusals: a negative price written behind the services' back, a hand-written file with inline
    # keys, a broken import
    with db.Session.begin() as session:
        session.execute(text("UPDATE models SET input_cost_per_1m = -1 WHERE identifier = 'o3-mini'"))
    assert run("config", "apply", "--yes") == 1
    assert "o3-mini (group 'o3-mini'): input_cost_per_token is -1e-06" in story.output[-1]
    settings = load_settings()
    with pytest.raises(config.ConfigInvalid) as refused:
        config.apply(actor=admin, settings=settings, ring=ring, environ={})
    story.output.append(str(refused.value))
    with db.Session.begin() as session:
        session.execute(text("UPDATE models SET input_cost_per_1m = NULL WHERE identifier = 'o3-mini'"))
    for path in INLINE_CORPUS:
        assert run("config", "validate", str(path)) == 1
    broken = tmp_path / "broken.yaml"
    story.secrets["broken import"] = _random_key()
    broken.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "x", "litellm_params": {"api_key": story.secrets["broken import"]}},
                    {
                        "model_name": "y",
                        "litellm_params": {
                            "model": "openai/y",
                            "client_secret": story.secrets["broken import"],
                        },
                    },
                ]
            }
        )
    )
    assert run("config", "import", str(broken)) == 1

    # rollback, the read-only commands, and the one file meant to hold the keys
    assert run("config", "rollback", "1", "--yes") == 0, story.output[-1]
    for argv in (("config", "render"), ("config", "history"), ("provider", "list"), ("config", "diff")):
        run(*argv)
    story.env_file = tmp_path / "proxy.env"
    assert run("config", "export-env", str(story.env_file)) == 0
    yield story


def _the_story_used_every_kind_of_secret(story: Story, cli_env: dict[str, str], db_url: str) -> None:
    assert {p.stem for p in INLINE_CORPUS} >= {
        "01_openai_inline_key",
        "09_custom_endpoints",
        "15_legacy_shapes",
    }
    names = set(story.secrets)
    assert {"stored", "replacement", "imported replacement", "LITELLM_MASTER_KEY", "broken import"} <= names
    assert len(story.secrets) >= 12
    assert len(set(story.secrets.values())) == len(story.secrets)


def _the_written_config_and_every_backup_hold_no_secret(
    story: Story, cli_env: dict[str, str], db_url: str
) -> None:
    settings = load_settings()
    backups = files.list_backups(settings.config_path)
    assert len(backups) == 3  # before the second and third applies and before the rollback
    shims = [settings.config_path.with_name(name) for name in ("llm_admin_secrets.py", "llm_admin_hooks.py")]
    for path in [settings.config_path, *backups, *shims]:
        assert story.found_in(path.read_bytes()) == [], path.name
    text = settings.config_path.read_text()
    assert "os.environ/LLM_ADMIN_P" in text and "os.environ/LITELLM_MASTER_KEY" in text


def _nothing_under_the_data_directory_holds_a_secret(
    story: Story, cli_env: dict[str, str], db_url: str
) -> None:
    """Config, backups, shim, logs and whatever else llm-admin keeps there."""
    data_dir = Path(cli_env["LLM_ADMIN_DATA_DIR"])
    assert story.env_file is not None and data_dir not in story.env_file.parents
    assert story.found_in(_read_tree(data_dir)) == []


def _the_logs_hold_no_secret(story: Story, cli_env: dict[str, str], db_url: str) -> None:
    logs = _read_tree(Path(cli_env["LLM_ADMIN_DATA_DIR"]) / "logs")
    assert b"command config apply" in logs and b"command failed" in logs
    assert story.found_in(logs) == []


def _the_revision_rows_hold_no_secret(story: Story, cli_env: dict[str, str], db_url: str) -> None:
    with db.Session.begin() as session:
        rows = session.scalars(select(ConfigRevision).order_by(ConfigRevision.number)).all()
        texts = [(r.number, r.yaml_text, r.summary, r.message or "") for r in rows]
    assert [number for number, *_ in texts] == [1, 2, 3, 4]
    for number, *parts in texts:
        assert story.found_in("\n".join(parts)) == [], f"revision {number}"


def _the_audit_rows_hold_no_secret(story: Story, cli_env: dict[str, str], db_url: str) -> None:
    with db.Session.begin() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        rows = [{c.name: getattr(e, c.key) for c in AuditEntry.__table__.columns} for e in entries]
    actions = [row["action"] for row in rows]
    assert {"config.import", "config.apply", "config.rollback", "provider.update"} <= set(actions)
    assert story.found_in(json.dumps(rows, default=str, ensure_ascii=False)) == []


def _no_table_holds_a_secret_in_plain_text(story: Story, cli_env: dict[str, str], db_url: str) -> None:
    assert story.found_in(_table_dump(db_url)) == []


def _outputs_diffs_and_error_messages_hold_no_secret(
    story: Story, cli_env: dict[str, str], db_url: str
) -> None:
    everything = "\n".join(story.output)
    assert "changes: +1 model" in everything  # the diff after the key replacement
    assert "nothing was written" in everything  # the refused apply
    assert "warning: secret OPENROUTER_API_KEY: not set in this environment" in everything
    assert "model_list:" in everything  # `config render` printed the whole config
    assert "holds a plain-text secret" in everything  # the refused hand-written files
    assert "is a plain-text secret llm-admin cannot store encrypted" in everything  # the refused import
    assert "Remove it from the old file" in everything  # the import warnings
    assert story.found_in(everything) == []


def _the_env_file_is_the_one_place_with_the_stored_keys_and_is_0600(
    story: Story, cli_env: dict[str, str], db_url: str
) -> None:
    assert story.env_file is not None
    assert stat.S_IMODE(story.env_file.stat().st_mode) == 0o600
    content = story.env_file.read_text()
    assert story.found_in(content) == sorted(story.stored)
    assert "stored" not in story.stored and "replacement" in story.stored  # a replaced key is gone
    for line in content.splitlines():
        assert line.startswith("LLM_ADMIN_P") and "_API_KEY=" in line


CHECKS = (
    _the_story_used_every_kind_of_secret,
    _the_written_config_and_every_backup_hold_no_secret,
    _nothing_under_the_data_directory_holds_a_secret,
    _the_logs_hold_no_secret,
    _the_revision_rows_hold_no_secret,
    _the_audit_rows_hold_no_secret,
    _no_table_holds_a_secret_in_plain_text,
    _outputs_diffs_and_error_messages_hold_no_secret,
    _the_env_file_is_the_one_place_with_the_stored_keys_and_is_0600,
)


def test_no_secret_is_anywhere_but_the_env_file(
    story: Story, cli_env: dict[str, str], db_url: str, subtests: pytest.Subtests
) -> None:
    """One story per backend (it takes a while), each place it could leak to checked on its own."""
    for check in CHECKS:
        with subtests.test(msg=check.__name__.lstrip("_").replace("_", " ")):
            check(story, cli_env, db_url)
