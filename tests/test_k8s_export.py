"""`llm-admin config export --k8s DIR`: ConfigMap, Secret (or ExternalSecret) and Helm values."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from tests.test_cli import KEY, Run, _add_provider, llm_admin  # noqa: F401 - llm_admin is a fixture


def _rows(llm_admin: Run) -> None:  # noqa: F811
    assert _add_provider(llm_admin, "OpenAI Prod").code == 0
    assert (
        llm_admin("model", "add", "--provider", "OpenAI Prod", "--model", "gpt-4o-mini", "--enable").code == 0
    )
    assert (
        llm_admin(
            "provider", "add", "--name", "Anthropic", "--type", "anthropic", "--api-key-env", "ANTHROPIC_KEY"
        ).code
        == 0
    )
    assert (
        llm_admin("model", "add", "--provider", "Anthropic", "--model", "claude-haiku-4-5", "--enable").code
        == 0
    )


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_export_wires_configmap_secret_and_chart_values(
    llm_admin: Run,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-k8s-test-master-0123456789")
    _rows(llm_admin)
    out_dir = tmp_path / "k8s"

    result = llm_admin("config", "export", "--k8s", str(out_dir), "--namespace", "ai")

    assert result.code == 0, result.err
    configmap, secret, values = (
        _load(out_dir / n) for n in ("litellm-configmap.yaml", "litellm-secret.yaml", "values-llm-admin.yaml")
    )
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    assert configmap["metadata"] == {
        "name": "llm-admin-litellm-config",
        "namespace": "ai",
        "labels": {"app.kubernetes.io/managed-by": "llm-admin"},
    }
    # the stock image runs it: no llm-admin secret manager or hooks, keys as os.environ references
    assert "key_management_system" not in config["general_settings"]
    assert "callbacks" not in config["litellm_settings"]
    assert {d["litellm_params"]["api_key"] for d in config["model_list"]} == {
        "os.environ/LLM_ADMIN_P1_API_KEY",
        "os.environ/ANTHROPIC_KEY",
    }
    assert KEY not in (out_dir / "litellm-configmap.yaml").read_text()
    assert secret["kind"] == "Secret" and secret["stringData"]["LLM_ADMIN_P1_API_KEY"] == KEY
    assert secret["stringData"]["LITELLM_MASTER_KEY"] == "sk-k8s-test-master-0123456789"
    assert stat.S_IMODE((out_dir / "litellm-secret.yaml").stat().st_mode) == 0o600
    assert values == {
        "proxyConfigMap": {"create": False, "name": "llm-admin-litellm-config", "key": "config.yaml"},
        "environmentSecrets": ["llm-admin-litellm-env"],
        "masterkeySecretName": "llm-admin-litellm-env",
        "masterkeySecretKey": "LITELLM_MASTER_KEY",
    }
    assert "warning: ANTHROPIC_KEY is not set here: add it to the Secret llm-admin-litellm-env" in result.err


def test_an_external_secret_names_the_keys_and_carries_no_value(llm_admin: Run, tmp_path: Path) -> None:  # noqa: F811
    _rows(llm_admin)

    result = llm_admin("config", "export", "--k8s", str(tmp_path), "--external-secret", "vault")

    assert result.code == 0, result.err
    text = (tmp_path / "litellm-secret.yaml").read_text()
    secret = yaml.safe_load(text)
    assert secret["kind"] == "ExternalSecret" and KEY not in text
    assert secret["spec"]["secretStoreRef"] == {"name": "vault", "kind": "ClusterSecretStore"}
    assert [d["secretKey"] for d in secret["spec"]["data"]] == [
        "ANTHROPIC_KEY",
        "LITELLM_MASTER_KEY",
        "LLM_ADMIN_P1_API_KEY",
    ]
