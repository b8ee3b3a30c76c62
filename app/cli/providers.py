"""`llm-admin provider`, `model` and `template`: providers, their models, and provider templates."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from app import catalog
from app.cli.common import Context, out, parse_params, read_secret_stdin, table
from app.services import models, providers, templates

# --- providers ------------------------------------------------------------------------------


def cmd_provider(ctx: Context, args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[Context, argparse.Namespace], int]] = {
        "add": _provider_add,
        "list": _provider_list,
        "show": _provider_show,
        "test": _provider_test,
        "types": _provider_types,
    }
    if args.action in handlers:
        return handlers[args.action](ctx, args)
    with ctx.session() as session:
        provider = providers.find_provider(session, name=args.name)
        if args.action in ("enable", "disable"):
            providers.set_provider_enabled(
                session, actor=ctx.actor, provider_id=provider.id, enabled=args.action == "enable"
            )
        elif args.action == "delete":
            providers.delete_provider(session, actor=ctx.actor, provider_id=provider.id)
        else:
            providers.restore_provider(session, actor=ctx.actor, provider_id=provider.id)
        name = provider.name
    out(f"provider '{name}' {args.action}d")
    return 0


def _provider_add(ctx: Context, args: argparse.Namespace) -> int:
    ptype = catalog.get_type(args.type)
    secrets: dict[str, str] = {}
    secret_envs: dict[str, str] = {}
    key_field = catalog.API_KEY.name
    if args.api_key_stdin:
        secrets[key_field] = read_secret_stdin()
    if args.api_key_env:
        secret_envs[key_field] = args.api_key_env
    for pair in args.secret_env or []:
        field, _, var = pair.partition("=")
        secret_envs[field.strip()] = var.strip()
    ring = ctx.ring()
    with ctx.session() as session:
        kwargs: dict[str, Any] = dict(
            session=session,
            actor=ctx.actor,
            ring=ring,
            name=args.name,
            base_url=args.base_url,
            secrets=secrets,
            secret_envs=secret_envs,
            params=parse_params(args.param),
            rpm=args.rpm,
            tpm=args.tpm,
            timeout_seconds=args.timeout,
            default_model=args.default_model,
        )
        if args.local is not None:
            kwargs["is_local"] = args.local
        if args.template:
            provider = templates.create_provider_from_template(template_name=args.template, **kwargs)
        else:
            provider = providers.create_provider(type=args.type, **kwargs)
        name, pid = provider.name, provider.id
    out(f"provider '{name}' added (id {pid})")
    if ptype:
        warning = catalog.key_format_warning(ptype, secrets)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def _provider_list(ctx: Context, args: argparse.Namespace) -> int:
    ring = ctx.ring()
    with ctx.session() as session:
        rows = providers.list_providers(
            session, ring=ring, include_deleted=args.all, type=args.type, search=args.search
        )
    table(
        [
            [
                p.name,
                p.type,
                p.base_url,
                "deleted" if p.deleted else ("enabled" if p.enabled else "disabled"),
                f"{p.enabled_model_count}/{p.model_count}",
                ", ".join(f"{c.field}={c.masked or '$' + (c.env_var or '')}" for c in p.credentials),
                _test_summary(p),
            ]
            for p in rows
        ],
        ["NAME", "TYPE", "BASE URL", "STATE", "MODELS", "SECRETS", "LAST TEST"],
    )
    return 0


def _test_summary(p: providers.ProviderView) -> str:
    if p.last_test_at is None:
        return "never"
    return f"{'ok' if p.last_test_ok else 'FAILED'} {p.last_test_latency_ms or 0:.0f} ms"


def _provider_show(ctx: Context, args: argparse.Namespace) -> int:
    ring = ctx.ring()
    with ctx.session() as session:
        provider = providers.find_provider(session, name=args.name)
        view = providers.view(provider, ring)
    for key, value in vars(view).items():
        if key != "credentials":
            out(f"{key}: {value}")
    for cred in view.credentials:
        out(f"{cred.field}: {cred.masked or '(from $' + str(cred.env_var) + ')'}")
    return 0


def _provider_types(ctx: Context, args: argparse.Namespace) -> int:
    table(
        [
            [
                t.id,
                t.label,
                t.litellm_provider,
                t.default_base_url or "(required)",
                ", ".join(f.name + ("*" if f.required else "") for f in t.fields),
                "yes" if t.local else "",
            ]
            for t in catalog.PROVIDER_TYPES.values()
        ],
        ["TYPE", "NAME", "LITELLM", "DEFAULT BASE URL", "FIELDS (* required)", "LOCAL"],
    )
    return 0


def _provider_test(ctx: Context, args: argparse.Namespace) -> int:
    from app.services import discovery  # httpx: only for the command that probes

    ring = ctx.ring()
    with ctx.session() as session:
        provider = providers.find_provider(session, name=args.name, include_deleted=False)
        pid, name = provider.id, provider.name
        target = discovery.target_for(
            session, actor=ctx.actor, ring=ring, provider_id=pid, environ=os.environ
        )
    result = discovery.probe(target, timeout=args.timeout)
    with ctx.session() as session:
        discovery.record_test(session, actor=ctx.actor, provider_id=pid, result=result)
    status = "ok" if result.ok else "FAILED"
    out(f"{name}: {status} in {result.latency_ms:.0f} ms — {result.message}")
    for model_id in result.models[:50]:
        out(f"  {model_id}")
    if len(result.models) > 50:
        out(f"  … and {len(result.models) - 50} more")
    return 0 if result.ok else 1


# --- models ---------------------------------------------------------------------------------


def cmd_model(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "list":
            provider_id = providers.find_provider(session, name=args.provider).id if args.provider else None
            rows = models.search_models(
                session,
                provider_id=provider_id,
                query=args.search,
                enabled=True if args.enabled else None,
            )
            table(
                [
                    [
                        m.provider.name,
                        m.identifier,
                        m.alias,
                        "yes" if m.enabled else "no",
                        m.input_cost_per_1m,
                        m.output_cost_per_1m,
                        m.context_window,
                        m.status,
                    ]
                    for m in rows
                ],
                ["PROVIDER", "MODEL", "ALIAS", "ENABLED", "IN $/1M", "OUT $/1M", "CONTEXT", "STATUS"],
            )
            return 0
        provider = providers.find_provider(session, name=args.provider, include_deleted=False)
        if args.action == "add":
            model = models.create_model(
                session,
                actor=ctx.actor,
                provider_id=provider.id,
                identifier=args.model,
                alias=args.alias or args.model,
                enabled=args.enable,
                input_cost_per_1m=args.input_cost_per_1m,
                output_cost_per_1m=args.output_cost_per_1m,
                context_window=args.context_window,
                **({"mode": args.mode} if args.mode else {}),
            )
            out(
                f"model '{model.identifier}' added to {provider.name} as '{model.alias}' "
                f"({'enabled' if model.enabled else 'disabled'}; "
                f"${model.input_cost_per_1m}/${model.output_cost_per_1m} per 1M, "
                f"context {model.context_window})"
            )
            return 0
        ids = [models.find_model(session, provider_id=provider.id, identifier=m).id for m in args.models]
        models.set_models_enabled(session, actor=ctx.actor, model_ids=ids, enabled=args.action == "enable")
    out(f"{len(ids)} model{'s' * (len(ids) != 1)} {args.action}d on {args.provider}")
    return 0


# --- templates ------------------------------------------------------------------------------


def cmd_template(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "save":
            provider = providers.find_provider(session, name=args.provider)
            templates.save_template_from_provider(
                session, actor=ctx.actor, provider_id=provider.id, name=args.name
            )
            out(f"template '{args.name}' saved from {provider.name}")
            return 0
        rows = templates.list_templates(session)
        table(
            [
                [t.name, t.kind, t.type, t.base_url, ", ".join((t.settings or {}).get("models") or [])]
                for t in rows
            ],
            ["NAME", "KIND", "TYPE", "BASE URL", "MODELS"],
        )
    return 0
