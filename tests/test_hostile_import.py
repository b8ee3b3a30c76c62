"""Hostile config files: `config import` refuses each in one line naming the limit and the fix, and
stores nothing (issue 14). Their time and memory are measured by benchmarks/hostile_import.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import db
from app.cli import main
from app.errors import SettingsError
from app.models import AuditEntry, Model, Provider
from app.settings import load_settings
from tests.hostile_files import HOSTILE, _deployments


def _rows() -> tuple[int, int, int]:
    with db.Session.begin() as session:
        return (
            session.scalar(select(func.count(Provider.id))) or 0,
            session.scalar(select(func.count(Model.id))) or 0,
            session.scalar(select(func.count(AuditEntry.id))) or 0,
        )


def _import(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["config", "import", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_refused_in_one_line_and_nothing_is_stored(
    name: str, cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build, named = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(build())
    before = _rows()
    code, err = _import(path, capsys)
    assert code == 1
    assert err.startswith("error: ") and "import refused: " in err and err.count("\n") == 1, err[:300]
    assert named in err, err[:300]
    assert "fix the file" in err or "remove or rename" in err
    assert _rows() == before


def test_the_limits_are_settings(
    cli_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "four.yaml"
    path.write_text(_deployments(4))
    monkeypatch.setenv("LLM_ADMIN_IMPORT_MAX_DEPLOYMENTS", "3")
    code, err = _import(path, capsys)
    assert (code, err) == (
        1,
        "error: import refused: too many deployments, over the import limit "
        "LLM_ADMIN_IMPORT_MAX_DEPLOYMENTS=3; fix the file, or raise the limit if the file is genuine\n",
    )
    monkeypatch.setenv("LLM_ADMIN_IMPORT_MAX_DEPLOYMENTS", "4")
    assert _import(path, capsys)[0] == 0
    assert _rows()[1] == 4


def test_a_file_within_the_limits_with_anchors_and_merge_keys_imports(
    cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "x-params: &params {model: openai/gpt-4o-mini, rpm: 10}\n"
        "model_list:\n"
        "  - model_name: a\n    litellm_params: {<<: *params}\n"
        "  - model_name: b\n    litellm_params: *params\n"
    )
    assert _import(path, capsys)[0] == 0
    assert _rows()[1] == 2


def test_a_limit_setting_must_be_a_positive_number() -> None:
    with pytest.raises(SettingsError, match="LLM_ADMIN_IMPORT_MAX_DEPTH must be a whole number above 0"):
        load_settings({"LLM_ADMIN_IMPORT_MAX_DEPTH": "deep"})
    assert load_settings({"LLM_ADMIN_IMPORT_MAX_DEPTH": "80"}).import_limits.max_depth == 80
