"""app.services.config and `llm-admin config`: apply, backups, revisions, history, rollback, permissions."""

from __future__ import annotations

import hashlib
import io
import re
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from app import db
from app.cli import main
from app.crypto import KeyRing, generate_key
from app.errors import ConflictError, NotFoundError, PermissionDenied
from app.models import AuditEntry, ConfigRevision
from app.services import config, models, providers
from app.services.access import Actor
from app.settings import Settings, load_settings
from generator import build, files

KEY = generate_key()
OPENAI_KEY = "sk-service-test-9c1d7e3a5b2f4068QRS"
MASTER_KEY = "sk-master-service-test-" + "m" * 16
ENVIRON = {"ANTHROPIC_API_KEY": "set in the proxy's environment"}
CORPUS = Path(__file__).parent / "corpus"
BACKUP_NAME = re.compile(r"^litellm-config\.yaml\.backup\.\d{8}T\d{6}\.\d{6}Z$")


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.from_strings([KEY])


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        {
            "LLM_ADMIN_DATA_DIR": str(tmp_path / "data"),
            "LLM_ADMIN_DATABASE_URL": db_url,
            "LLM_ADMIN_SECRET_KEYS": KEY,
            "LITELLM_MASTER_KEY": MASTER_KEY,
        }
    )


def _add_rows(admin: Actor, ring: KeyRing) -> dict[str, int]:
    """OpenAI with a stored key and one model; Anthropic keyed from the environment with one model."""
    with db.Session.begin() as session:
        openai = providers.create_provider(
            session, actor=admin, ring=ring, name="OpenAI", type="openai", secrets={"api_key": OPENAI_KEY}
        )
        anthropic = providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="Anthropic",
            type="anthropic",
            secret_envs={"api_key": "ANTHROPIC_API_KEY"},
        )
        models.create_model(
            session, actor=admin, provider_id=openai.id, identifier="gpt-4o-mini", enabled=True
        )
        models.create_model(
            session, actor=admin, provider_id=anthropic.id, identifier="claude-haiku-4-5", enabled=True
        )
        return {"openai": openai.id, "anthropic": anthropic.id}


@pytest.fixture
def rows(db_url: str, admin: Actor, ring: KeyRing) -> dict[str, int]:
    return _add_rows(admin, ring)


def _add_model(admin: Actor, provider_id: int, identifier: str) -> None:
    with db.Session.begin() as session:
        models.create_model(
            session, actor=admin, provider_id=provider_id, identifier=identifier, enabled=True
        )


def _apply(
    settings: Settings, ring: KeyRing, actor: Actor, environ: dict[str, str] = ENVIRON
) -> ConfigRevision:
    """Apply (the service frames its own transactions) and return the stored revision row."""
    applied = config.apply(actor=actor, settings=settings, ring=ring, environ=environ)
    with db.Session.begin() as session:
        return config.get_revision(session, number=applied.number)


def _revisions() -> list[ConfigRevision]:
    with db.Session.begin() as session:
        return list(session.scalars(select(ConfigRevision).order_by(ConfigRevision.number)))


def _audit_actions() -> list[str]:
    with db.Session.begin() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _without_stamps(text: str) -> dict[str, Any]:
    """A rendered config with the per-deployment revision stamps taken out."""
    parsed = yaml.safe_load(text)
    for deployment in parsed["model_list"]:
        deployment["model_info"].pop("llm_admin_revision")
    return parsed


# --- apply ------------------------------------------------------------------------------------


def test_apply_writes_the_file_0600_the_shims_and_revision_1(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    revision = _apply(settings, ring, admin)
    path = settings.config_path
    text = path.read_text()
    assert _mode(path) == 0o600
    shim = path.with_name("llm_admin_secrets.py")
    assert shim.read_text() == files.SHIM
    assert "from app.proxy.secrets import LlmAdminSecretManager" in shim.read_text()
    assert path.with_name("llm_admin_hooks.py").read_text() == files.HOOKS_SHIM
    [row] = _revisions()
    assert (row.number, row.status, row.author, row.backup_path, row.rollback_of) == (
        1,
        "applied",
        "alice",
        None,
        None,
    )
    assert row.sha256 == hashlib.sha256(text.encode()).hexdigest() == revision.sha256
    assert row.yaml_text == text
    assert row.summary == "new file: +2 models, +2 providers"
    assert text.startswith("# litellm-config.yaml: generated by llm-admin.")
    assert "# revision: 1\n" in text
    parsed = yaml.safe_load(text)
    assert sorted(d["model_name"] for d in parsed["model_list"]) == ["claude-haiku-4-5", "gpt-4o-mini"]
    assert {d["model_info"]["llm_admin_revision"] for d in parsed["model_list"]} == {1}
    assert parsed["litellm_settings"]["callbacks"] == ["llm_admin_hooks.hooks"]
    assert parsed["general_settings"]["key_management_system"] == "custom"
    assert _audit_actions()[-1] == "config.apply"


def test_a_stock_proxy_gets_no_shims_hooks_or_secret_manager(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    stock = load_settings(
        {
            "LLM_ADMIN_DATA_DIR": str(settings.data_dir),
            "LLM_ADMIN_DATABASE_URL": settings.database_url,
            "LLM_ADMIN_SECRET_KEYS": KEY,
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LLM_ADMIN_PROXY_MODE": "stock",
        }
    )
    assert stock.proxy_mode == "stock"
    _apply(stock, ring, admin)
    path = stock.config_path
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    parsed = yaml.safe_load(path.read_text())
    assert "callbacks" not in parsed["litellm_settings"]
    assert parsed["general_settings"] == {
        "master_key": "os.environ/LITELLM_MASTER_KEY",
        "store_model_in_db": False,
    }
    openai = next(d for d in parsed["model_list"] if d["model_name"] == "gpt-4o-mini")
    # the stock image reads the stored key from the env file `config export-env` writes, by this name
    assert (
        openai["litellm_params"]["api_key"]
        == f"os.environ/{build.stored_secret_env(rows['openai'], 'api_key')}"
    )


def test_a_second_apply_backs_up_the_first_file(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    first = _apply(settings, ring, admin)
    _add_model(admin, rows["openai"], "gpt-4o")
    second = _apply(settings, ring, admin)
    path = settings.config_path
    [backup] = files.list_backups(path)
    assert BACKUP_NAME.match(backup.name), backup.name
    assert backup.parent == path.parent
    assert backup.read_text() == first.yaml_text
    assert _mode(backup) == 0o600
    assert path.read_text() == second.yaml_text
    assert (second.number, second.backup_path, second.summary) == (
        2,
        str(backup),
        "+1 model, router_settings: context_window_fallbacks changed",
    )


def test_invalid_rows_list_every_problem_and_write_nothing(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    with db.Session.begin() as session:
        config.get_settings_row(session).router_settings = {"fallbacks": [{"gpt-4o-mini": ["gpt-5-ultra"]}]}
        # a negative price the services would refuse, written behind their back
        session.execute(text("UPDATE models SET input_cost_per_1m = -2.5 WHERE alias = 'gpt-4o-mini'"))
    with pytest.raises(config.ConfigInvalid) as err:
        _apply(settings, ring, admin)
    assert err.value.problems == [
        "model OpenAI/gpt-4o-mini (group 'gpt-4o-mini'): input_cost_per_token is -2.5e-06; "
        "set a price ≥ 0 per 1M tokens",
        "router_settings.fallbacks: 'gpt-5-ultra' is not an enabled model group; "
        "enable it or remove it from the fallbacks",
    ]
    assert str(err.value).startswith("the config has 2 problem(s); nothing was written:\n  - model OpenAI")
    assert not settings.config_path.exists()
    assert not settings.config_path.with_name("llm_admin_secrets.py").exists()
    assert not settings.config_path.with_name("llm_admin_hooks.py").exists()
    assert _revisions() == []
    assert "config.apply" not in _audit_actions()


def test_a_stored_key_the_key_ring_cannot_decrypt_refuses_the_apply(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    """A key stored with a key that has left the ring: the proxy could never read it."""
    stranger = KeyRing.from_strings([generate_key()])
    with db.Session.begin() as session:
        providers.create_provider(
            session,
            actor=admin,
            ring=stranger,
            name="Groq",
            type="groq",
            secrets={"api_key": "gsk-foreign-1"},
        )
        groq = providers.find_provider(session, name="Groq").id
    _add_model(admin, groq, "llama-3.1-8b-instant")
    name = build.stored_secret_env(groq, "api_key")
    with pytest.raises(config.ConfigInvalid) as err:
        _apply(settings, ring, admin)
    assert err.value.problems == [
        f"secret {name}: stored in llm-admin, but LLM_ADMIN_SECRET_KEYS cannot decrypt it; "
        "add the key that encrypted it (after the newest) or enter the provider's key again"
    ]
    assert not settings.config_path.exists() and _revisions() == []


def test_a_variable_missing_from_this_environment_is_a_warning_and_the_apply_goes_ahead(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    """Only the proxy needs ANTHROPIC_API_KEY; the supervisor checks it again in the proxy's environment."""
    with db.Session.begin() as session:
        plan = config.plan(session, settings=settings, ring=ring, environ={}, author="alice")
    assert plan.problems == []
    assert plan.warnings == [
        "secret ANTHROPIC_API_KEY: not set in this environment; make sure the proxy's environment has "
        "ANTHROPIC_API_KEY"
    ]
    with db.Session.begin() as session:
        assert config.plan(session, settings=settings, ring=ring, environ=ENVIRON, author="a").warnings == []
    revision = _apply(settings, ring, admin, environ={})
    assert (revision.number, revision.status) == (1, "applied")
    assert "api_key: os.environ/ANTHROPIC_API_KEY" in settings.config_path.read_text()


def test_rows_that_cannot_form_a_config_list_every_problem(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    with db.Session.begin() as session:
        models.create_model(
            session,
            actor=admin,
            provider_id=rows["openai"],
            identifier="gpt-4o",
            alias="gpt-4o-mini",
            enabled=True,
        )
        models.create_model(
            session,
            actor=admin,
            provider_id=rows["anthropic"],
            identifier="claude-sonnet-4-5",
            alias="agent/x",
            enabled=True,
        )
        config.get_settings_row(session).router_settings = {"fallbacks": [{"claude-haiku-4-5": ["gone"]}]}
        session.execute(text("UPDATE models SET context_window = 0 WHERE identifier = 'claude-haiku-4-5'"))
    with pytest.raises(config.ConfigInvalid) as err:
        _apply(settings, ring, admin)
    # the rows that cannot be built, then what is wrong with the config built from the others
    assert err.value.problems == [
        "model Anthropic/claude-sonnet-4-5: alias 'agent/x' starts with 'agent/', which names routes; "
        "pick another alias",
        "model OpenAI/gpt-4o-mini: alias 'gpt-4o-mini' is already used by OpenAI/gpt-4o; an alias may repeat "
        "only across providers (a load-balanced group), so rename one of them",
        "model Anthropic/claude-haiku-4-5 (group 'claude-haiku-4-5'): max_input_tokens is 0; "
        "set a whole number of tokens ≥ 1",
        "router_settings.fallbacks: 'gone' is not an enabled model group; enable it or remove it from the "
        "fallbacks",
    ]
    assert not settings.config_path.exists()
    assert _revisions() == []


# --- history and rollback -----------------------------------------------------------------------


def test_history_lists_the_newest_revision_first(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    for identifier in (None, "gpt-4o", "gpt-4.1"):
        if identifier:
            _add_model(admin, rows["openai"], identifier)
        _apply(settings, ring, admin)
    with db.Session.begin() as session:
        listed = [(r.number, r.summary) for r in config.history(session)]
        assert [r.number for r in config.history(session, limit=2)] == [3, 2]
    # each added model has a context window: the window fallbacks change too
    window = ", router_settings: context_window_fallbacks changed"
    assert listed == [
        (3, "+1 model" + window),
        (2, "+1 model" + window),
        (1, "new file: +2 models, +2 providers"),
    ]


def test_rollback_writes_revision_1s_config_as_revision_3(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    first = _apply(settings, ring, admin)
    _add_model(admin, rows["openai"], "gpt-4o")
    _apply(settings, ring, admin)
    applied = config.rollback(actor=admin, settings=settings, number=1)
    with db.Session.begin() as session:
        third = config.get_revision(session, number=applied.number)
    path = settings.config_path
    assert (third.number, third.rollback_of, third.status) == (3, 1, "applied")
    assert (
        third.summary == "rollback to revision 1: −1 model, router_settings: context_window_fallbacks changed"
    )
    assert path.read_text() == third.yaml_text
    assert _without_stamps(third.yaml_text) == _without_stamps(first.yaml_text)
    assert {d["model_info"]["llm_admin_revision"] for d in yaml.safe_load(third.yaml_text)["model_list"]} == {
        3
    }
    assert "# revision: 3\n" in third.yaml_text
    assert len(files.list_backups(path)) == 2
    assert _audit_actions()[-1] == "config.rollback"


def test_rollback_to_a_missing_revision_says_how_to_list_them(
    rows: dict[str, int], settings: Settings, admin: Actor
) -> None:
    with pytest.raises(NotFoundError, match=r"^no config revision 7; `llm-admin config history` lists them$"):
        config.rollback(actor=admin, settings=settings, number=7)
    assert not settings.config_path.exists()


# --- who may apply --------------------------------------------------------------------------------


def test_a_viewer_cannot_apply_or_roll_back(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    viewer = Actor("victor", "viewer")
    with pytest.raises(PermissionDenied, match="victor has role 'viewer', which may not operate"):
        _apply(settings, ring, viewer)
    assert not settings.config_path.exists() and _revisions() == []
    _apply(settings, ring, admin)
    with pytest.raises(PermissionDenied):
        config.rollback(actor=viewer, settings=settings, number=1)
    assert [r.number for r in _revisions()] == [1]


def test_an_operator_may_apply(rows: dict[str, int], settings: Settings, ring: KeyRing) -> None:
    assert _apply(settings, ring, Actor("olga", "operator")).author == "olga"


# --- two applies at once ------------------------------------------------------------------------


def test_two_concurrent_applies_cannot_take_the_same_revision_number(
    rows: dict[str, int], settings: Settings, ring: KeyRing, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read 'next is 1' before either writes; the unique number lets only one of them through."""
    barrier = threading.Barrier(2, timeout=30)
    real_next = config.next_revision_number

    def next_number_then_wait(session: Any) -> int:
        number = real_next(session)
        barrier.wait()
        return number

    monkeypatch.setattr(config, "next_revision_number", next_number_then_wait)
    outcomes: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = _apply(settings, ring, Actor(name, "admin"))
        except Exception as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [n for n, o in outcomes.items() if isinstance(o, ConfigRevision)]
    losers = [n for n, o in outcomes.items() if isinstance(o, Exception)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    lost = outcomes[losers[0]]
    assert isinstance(lost, ConflictError), outcomes
    assert str(lost) == "revision 1 was just taken by another apply; nothing was written, run the apply again"
    [row] = _revisions()
    assert (row.number, row.author) == (1, winners[0])
    assert settings.config_path.read_text() == row.yaml_text
    assert files.list_backups(settings.config_path) == []  # the loser never reached the file


# --- the command line ---------------------------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def cli(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Run, Settings, KeyRing]:
    """`llm-admin ARGS` in this process, against rows added with the CLI's own key ring."""
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "set in the proxy's environment")
    ring = KeyRing.from_strings([cli_env["LLM_ADMIN_SECRET_KEYS"]])
    _add_rows(Actor("alice", "admin"), ring)

    def run(*argv: str, stdin: str = "") -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run, load_settings(), ring


def test_cli_render_prints_the_next_revision_and_writes_nothing(cli: tuple[Run, Settings, KeyRing]) -> None:
    run, settings, _ = cli
    result = run("config", "render")
    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("# litellm-config.yaml: generated by llm-admin.")
    parsed = yaml.safe_load(result.out)
    assert sorted(d["model_name"] for d in parsed["model_list"]) == ["claude-haiku-4-5", "gpt-4o-mini"]
    assert OPENAI_KEY not in result.out
    assert not settings.config_path.exists()


def test_cli_render_out_writes_a_0600_file(cli: tuple[Run, Settings, KeyRing], tmp_path: Path) -> None:
    run, _, _ = cli
    out = tmp_path / "rendered.yaml"
    result = run("config", "render", "--out", str(out))
    assert (result.code, result.out) == (0, f"revision 1 rendered to {out}\n")
    assert _mode(out) == 0o600 and yaml.safe_load(out.read_text())["model_list"]


def test_cli_diff_shows_the_summary_and_the_unified_diff(cli: tuple[Run, Settings, KeyRing]) -> None:
    run, settings, _ = cli
    result = run("config", "diff")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "changes: new file: +2 models, +2 providers"
    assert lines[1:3] == ["--- current", "+++ new"]
    assert "+model_list:" in lines
    assert not settings.config_path.exists()


def test_cli_apply_yes_writes_revision_1_and_history_shows_it(cli: tuple[Run, Settings, KeyRing]) -> None:
    run, settings, _ = cli
    result = run("config", "apply", "--yes")
    assert result.code == 0, result.err
    assert result.out.splitlines()[:2] == [
        "changes: new file: +2 models, +2 providers",
        f"revision 1 written to {settings.config_path}",
    ]
    assert _mode(settings.config_path) == 0o600
    again = run("config", "apply", "--yes")
    assert (again.code, again.out.splitlines()[-1]) == (
        0,
        "nothing to apply: the file already matches the database",
    )
    history = run("config", "history")
    header, row = history.out.splitlines()
    assert header.split() == ["REV", "TIME", "(UTC)", "AUTHOR", "STATUS", "SUMMARY"]
    assert row.split()[0] == "1" and "applied  new file: +2 models, +2 providers" in row


def test_cli_rollback_writes_a_new_revision(cli: tuple[Run, Settings, KeyRing]) -> None:
    run, settings, _ = cli
    assert run("config", "apply", "--yes").code == 0
    with db.Session.begin() as session:
        config.get_settings_row(session).litellm_settings = {"request_timeout": 120}
    assert run("config", "apply", "--yes").code == 0
    result = run("config", "rollback", "1", "--yes")
    assert (result.code, result.out.splitlines()[0]) == (0, "revision 3 written (the config of revision 1)")
    assert "request_timeout" not in settings.config_path.read_text()
    numbers = [line.split()[0] for line in run("config", "history").out.splitlines()[1:]]
    assert numbers == ["3", "2", "1"]


def test_cli_apply_without_yes_and_without_a_terminal_writes_nothing(
    cli: tuple[Run, Settings, KeyRing],
) -> None:
    run, settings, _ = cli
    result = run("config", "apply")
    assert result.code == 1
    assert "Refusing without --yes (no terminal to ask on)." in result.err
    assert not settings.config_path.exists()
    assert _revisions() == []
    assert run("config", "rollback", "1").code == 1


def test_cli_validate_checks_the_rows(
    cli: tuple[Run, Settings, KeyRing], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, settings, _ = cli
    assert run("config", "validate").out == "config valid: 2 deployment(s)\n"
    with db.Session.begin() as session:
        session.execute(text("UPDATE models SET output_cost_per_1m = -1"))
    result = run("config", "validate")
    assert result.code == 1
    assert result.err == (
        "error: the config has 2 problem(s); nothing was written:\n"
        "  - model Anthropic/claude-haiku-4-5 (group 'claude-haiku-4-5'): output_cost_per_token is -1e-06; "
        "set a price ≥ 0 per 1M tokens\n"
        "  - model OpenAI/gpt-4o-mini (group 'gpt-4o-mini'): output_cost_per_token is -1e-06; "
        "set a price ≥ 0 per 1M tokens\n"
    )
    assert not settings.config_path.exists()


MISSING_ENV_WARNING = (
    "warning: secret ANTHROPIC_API_KEY: not set in this environment; make sure the proxy's environment has "
    "ANTHROPIC_API_KEY\n"
)


def test_cli_warns_about_a_variable_missing_here_and_still_applies(
    cli: tuple[Run, Settings, KeyRing], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, settings, _ = cli
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    validated = run("config", "validate")
    assert (validated.code, validated.out, validated.err) == (
        0,
        "config valid: 2 deployment(s)\n",
        MISSING_ENV_WARNING,
    )
    applied = run("config", "apply", "--yes")
    assert applied.code == 0, applied.err
    assert applied.err == MISSING_ENV_WARNING
    assert f"revision 1 written to {settings.config_path}" in applied.out.splitlines()
    assert [r.number for r in _revisions()] == [1]


def test_cli_validate_file_runs_litellms_own_validation_on_a_hand_written_config(
    cli: tuple[Run, Settings, KeyRing],
) -> None:
    """The one slow test here: `litellm --config FILE --validate_config` in a subprocess (~10 s)."""
    run, _, _ = cli
    path = CORPUS / "08_hosted_open_models.yaml"
    result = run("config", "validate", str(path))
    assert (result.code, result.out, result.err) == (0, f"{path}: valid (7 deployment(s))\n", "")


def test_cli_validate_file_refuses_inline_keys_without_echoing_them(
    cli: tuple[Run, Settings, KeyRing],
) -> None:
    run, _, _ = cli
    path = CORPUS / "01_openai_inline_key.yaml"
    result = run("config", "validate", str(path))
    assert result.code == 1
    assert result.err.startswith("error: the config has 4 problem(s); nothing was written:\n")
    assert (
        "model_list[0] ('gpt-4o', openai/gpt-4o): litellm_params.api_key holds a plain-text secret"
        in result.err
    )
    assert "general_settings.master_key: holds a plain-text key" in result.err
    assert "corpus01" not in result.out + result.err


def test_cli_export_env_writes_the_stored_keys_to_a_0600_file(
    cli: tuple[Run, Settings, KeyRing], tmp_path: Path
) -> None:
    run, _, _ = cli
    out = tmp_path / "proxy.env"
    result = run("config", "export-env", str(out))
    assert result.code == 0
    assert result.out == f"wrote 1 secret(s) to {out} (mode 0600); pass it to the proxy with --env-file\n"
    assert OPENAI_KEY not in result.out + result.err
    assert _mode(out) == 0o600
    with db.Session.begin() as session:
        openai_id = providers.find_provider(session, name="OpenAI").id
    assert out.read_text() == f"LLM_ADMIN_P{openai_id}_API_KEY={OPENAI_KEY}\n"
