"""Kubernetes export for LiteLLM's Helm chart: a ConfigMap with the config, a Secret (or an
ExternalSecret) with its environment, and the chart values that wire them together.

The chart runs the stock LiteLLM image, so the config is rendered as for stock mode (no llm-admin
secret manager or hooks inside the proxy); stored keys travel in the Secret under the same
`os.environ/` names the config uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from app.crypto import KeyRing, load_master_key
from app.runtime.secrets import export_env
from app.services import config
from app.settings import Settings
from generator import files, validate
from generator.build import MASTER_KEY_ENV

CONFIG_KEY = "config.yaml"


@dataclass(frozen=True)
class Exported:
    paths: list[Path]
    warnings: list[str]


class _Literal(str):
    """A multi-line string written as a YAML block (`|`), so the config in the ConfigMap stays readable."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def _manifest(kind: str, name: str, namespace: str, **body: Any) -> dict[str, Any]:
    api = "external-secrets.io/v1beta1" if kind == "ExternalSecret" else "v1"
    metadata = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "llm-admin"}}
    return {"apiVersion": api, "kind": kind, "metadata": metadata, **body}


def export_k8s(
    session: Session,
    *,
    settings: Settings,
    ring: KeyRing,
    directory: Path,
    environ: Mapping[str, str],
    namespace: str = "llm-admin",
    name: str = "llm-admin-litellm",
    external_store: str | None = None,
) -> Exported:
    """Write the manifests and values into `directory`; the Secret only ever with mode 0600."""
    stock = dataclasses.replace(settings, proxy_mode="stock")
    plan = config.plan(session, settings=stock, ring=ring, environ=environ, author="k8s-export")
    if plan.problems:
        raise config.ConfigInvalid(plan.problems)
    stored = export_env(session, ring=ring)
    refs = validate.secret_refs(plan.config)
    env_names = sorted((refs | {MASTER_KEY_ENV}) - set(stored))
    secret_name, config_name = f"{name}-env", f"{name}-config"

    configmap = _manifest("ConfigMap", config_name, namespace, data={CONFIG_KEY: _Literal(plan.text)})
    if external_store:
        keys = sorted(set(stored) | refs | {MASTER_KEY_ENV})
        secret = _manifest(
            "ExternalSecret",
            secret_name,
            namespace,
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"name": external_store, "kind": "ClusterSecretStore"},
                "target": {"name": secret_name},
                "data": [{"secretKey": k, "remoteRef": {"key": f"llm-admin/{k}"}} for k in keys],
            },
        )
        warnings = [f"store each of {', '.join(keys)} under llm-admin/<NAME> in {external_store}"]
    else:
        master_key = load_master_key(settings)
        values = {**stored, **({MASTER_KEY_ENV: master_key} if master_key else {})}
        present = {k: environ[k] for k in env_names if environ.get(k)}
        missing = [k for k in env_names if not values.get(k) and k not in present]
        secret = _manifest("Secret", secret_name, namespace, type="Opaque", stringData={**values, **present})
        warnings = [
            f"{k} is not set here: add it to the Secret {secret_name} before installing" for k in missing
        ]
    helm_values = {
        "proxyConfigMap": {"create": False, "name": config_name, "key": CONFIG_KEY},
        "environmentSecrets": [secret_name],
        "masterkeySecretName": secret_name,
        "masterkeySecretKey": MASTER_KEY_ENV,
    }
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, document, mode in (
        ("litellm-configmap.yaml", configmap, 0o644),
        ("litellm-secret.yaml", secret, 0o600),
        ("values-llm-admin.yaml", helm_values, 0o644),
    ):
        path = directory / filename
        files.write_atomic(path, yaml.safe_dump(document, sort_keys=False, width=1000), mode=mode)
        written.append(path)
    return Exported(written, warnings)
