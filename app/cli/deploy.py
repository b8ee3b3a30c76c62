"""`llm-admin config export --k8s DIR`: manifests and Helm values for LiteLLM's chart."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.cli.common import Context, out
from app.services import k8s


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        exported = k8s.export_k8s(
            session,
            settings=ctx.settings,
            ring=ctx.ring(),
            directory=Path(args.k8s),
            environ=dict(os.environ),
            namespace=args.namespace,
            name=args.name,
            external_store=args.external_secret,
        )
    for path in exported.paths:
        out(f"wrote {path}")
    out(
        "install: kubectl apply -f litellm-configmap.yaml -f litellm-secret.yaml, then "
        "helm install litellm oci://ghcr.io/berriai/litellm-helm -f values-llm-admin.yaml"
    )
    for warning in exported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
