"""llm-admin starts light: a command imports its own module and services, not every other command's."""

from __future__ import annotations

import argparse
import ast
import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "app" / "cli"
KEY = "sk-startup-test-7c1e93b05a2d4f68QRS"

# what `provider list` has no use for: the proxy's and the generator's weight, HTTP, migrations, the UI
NOT_FOR_PROVIDER_LIST = (
    "httpx",
    "litellm",
    "alembic",
    "streamlit",
    "generator.build",
    "generator.adopt",
    "generator.validate",
    "app.services.config",
    "app.services.alerts",
    "app.services.discovery",
    "app.proxy",
    "app.monitor",
)


def _imported(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `llm-admin ARGV` from this checkout under -X importtime: the result and the modules it imported.

    importtime does not report a module imported with importlib.import_module (main imports the
    command's module so), only what that module imports in turn: sys.modules at exit adds it.
    (importtime also lists what was tried and not found: the header, sitecustomize, Windows modules.)
    """
    script = (
        "import atexit, sys; atexit.register(lambda: print('modules:', *sys.modules, file=sys.stderr)); "
        f"from app.cli import main; sys.exit(main({argv!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.splitlines()
    modules = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    assert "app.cli.common" in modules, f"not this checkout's app.cli:\n{done.stderr[-2000:]}"
    (at_exit,) = [line.split()[1:] for line in lines if line.startswith("modules: ")]
    return done, modules | set(at_exit)


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_provider_list_imports_only_what_listing_providers_needs(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(KEY + "\n"))
    assert main(["provider", "add", "--name", "Startup Co", "--type", "openai", "--api-key-stdin"]) == 0
    capsys.readouterr()

    done, modules = _imported(["provider", "list"], dict(os.environ))

    assert done.returncode == 0, done.stderr[-2000:]
    header, row = done.stdout.splitlines()
    assert header.split() == ["NAME", "TYPE", "BASE", "URL", "STATE", "MODELS", "SECRETS", "LAST", "TEST"]
    assert row.startswith("Startup Co  openai  https://api.openai.com/v1")
    assert "enabled" in row and "0/0" in row and row.endswith("never")
    assert KEY not in done.stdout and f"api_key={KEY[:3]}" in row  # masked, as before
    assert {"app.cli.parser", "app.cli.providers", "app.services.providers"} <= modules
    assert _loaded(modules, NOT_FOR_PROVIDER_LIST) == []
    others = ("admin", "budgets", "config", "deploy", "keys", "monitor", "proxy", "routing")
    assert _loaded(modules, tuple(f"app.cli.{m}" for m in others)) == []


def test_help_imports_no_database_no_yaml_and_no_crypto(tmp_path: Path) -> None:
    env = {**os.environ, "LLM_ADMIN_DATA_DIR": str(tmp_path)}
    done, modules = _imported(["--help"], env)
    assert done.returncode == 0 and "usage: llm-admin" in done.stdout
    assert _loaded(modules, ("sqlalchemy", "yaml", "cryptography", "app.services.providers")) == []


def _handlers(parser: argparse.ArgumentParser, inherited: str | None = None) -> dict[str, str]:
    """Each leaf command (`provider list`) and the handler it names."""
    handler = parser.get_default("handler") or inherited
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        assert handler, f"{parser.prog}: no handler"
        return {parser.prog: handler}
    found: dict[str, str] = {}
    for child in groups[0].choices.values():
        found.update(_handlers(child, handler))
    return found


def test_every_command_names_a_handler_that_exists_in_its_own_module() -> None:
    handlers = _handlers(build_parser())
    assert handlers["llm-admin alerts deliver"] == "app.cli.admin:cmd_alerts_deliver"
    assert handlers["llm-admin config export"] == "app.cli.deploy:cmd_export"
    assert handlers["llm-admin config render"] == "app.cli.config:cmd_config"
    for command, handler in handlers.items():
        module, _, function = handler.partition(":")
        assert module.startswith("app.cli.") and module.count(".") == 2, command
        assert callable(getattr(importlib.import_module(module), function)), command


def test_no_command_module_imports_the_cli_package_back() -> None:
    """A command module imports app.cli.common, never app.cli or its parser (no import cycle)."""
    for path in sorted(CLI.glob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported |= {f"{node.module}.{a.name}" for a in node.names if node.module == "app"}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        reach = {m for m in imported if m == "app.cli" or m.startswith("app.cli.")}
        assert reach <= {"app.cli.common"}, f"{path.name} imports {sorted(reach)}"
