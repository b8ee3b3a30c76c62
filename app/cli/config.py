"""`llm-admin config ...`: render, validate, diff, apply, history, rollback, import, export-env."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from app import db
from app.cli.common import Context, confirm, out, table
from app.errors import LlmAdminError
from app.runtime import secrets as secrets_service
from app.services import config, config_import, golive
from app.settings import Settings
from generator import bounded_yaml, files, render, validate


def cmd_config(ctx: Context, args: argparse.Namespace) -> int:
    settings = ctx.settings
    environ = dict(os.environ)
    if args.action == "validate" and args.file:
        return _validate_file(ctx, Path(args.file))
    if args.action == "export-env":
        with ctx.session() as session:
            values = secrets_service.export_env(session, ring=ctx.ring())
        files.write_env_file(Path(args.file), values)
        out(f"wrote {len(values)} secret(s) to {args.file} (mode 0600); pass it to the proxy with --env-file")
        return 0
    if args.action == "history":
        with ctx.session() as session:
            rows = config.history(session)
            table(
                [
                    [r.number, f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.author, r.status, r.summary]
                    for r in rows
                ],
                ["REV", "TIME (UTC)", "AUTHOR", "STATUS", "SUMMARY"],
            )
        return 0
    if args.action == "import":
        return _import(ctx, Path(args.file), keep_behaviour=args.keep_behaviour)
    if args.action == "rollback":
        if not args.yes and not confirm(f"Write revision {args.revision}'s config as the live file?"):
            return 1
        db.init(settings.database_url)
        applied = config.rollback(actor=ctx.actor, settings=settings, number=args.revision)
        out(f"revision {applied.number} written (the config of revision {args.revision})")
        return _report_go_live(settings, applied.number)
    ring = ctx.ring()
    if args.action == "apply" and args.yes:  # nothing to confirm: one plan, the apply's own
        db.init(settings.database_url)
        done = config.apply(
            actor=ctx.actor, settings=settings, ring=ring, environ=environ, if_changed=not args.force
        )
        if done is None:
            out("nothing to apply: the file already matches the database")
            return 0
        for warning in done.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        out(f"changes: {done.summary}")
        return _written(settings, done)
    with ctx.session() as session:
        result = config.plan(
            session,
            settings=settings,
            ring=ring,
            environ=environ,
            author=ctx.actor.name,
            deep=args.action in ("validate", "apply"),
        )
        if args.action == "render":
            if result.problems:
                raise config.ConfigInvalid(result.problems)
            if args.out:
                config.write_rendered(Path(args.out), result.text)
                out(f"revision {result.number} rendered to {args.out}")
            else:
                sys.stdout.write(result.text)
            return 0
        if result.problems:
            raise config.ConfigInvalid(result.problems)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if args.action == "validate":
            out(f"config valid: {len(result.config['model_list'])} deployment(s)")
            return 0
        out(f"changes: {result.summary}")
        if args.action == "diff":
            if result.diff:
                out(result.diff)
            return 0
        if config.unchanged(result, settings) and not args.force:
            out("nothing to apply: the file already matches the database")
            return 0
        if not args.yes and not confirm(f"Apply revision {result.number} to {settings.config_path}?"):
            return 1
    confirmed = config.apply(actor=ctx.actor, settings=settings, ring=ring, environ=environ)
    assert confirmed is not None  # written whatever the file holds
    return _written(settings, confirmed)


def _written(settings: Settings, applied: config.Applied) -> int:
    out(f"revision {applied.number} written to {settings.config_path}")
    return _report_go_live(settings, applied.number)


def _report_go_live(settings: Settings, number: int) -> int:
    """Wait for our supervisor to make the revision live, or tell a stock-image operator what to run."""
    result = golive.go_live(settings, number, notify=out)
    out(result.message)
    return 0 if result.ok else 1


def _validate_file(ctx: Context, path: Path) -> int:
    text = files.read_text(path)
    if text is None:
        raise LlmAdminError(f"{path}: no such file")
    try:
        parsed = render.load_yaml(text)
    except yaml.YAMLError as exc:
        raise LlmAdminError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(parsed, dict):
        raise LlmAdminError(f"{path}: a LiteLLM config must be a mapping with model_list")
    problems = validate.structural_problems(parsed) or validate.litellm_problems(parsed)
    if not problems:
        problems = validate.proxy_problems(path, env=dict(os.environ))
    if problems:
        raise config.ConfigInvalid(problems)
    out(f"{path}: valid ({len(parsed.get('model_list') or [])} deployment(s))")
    return 0


def _import(ctx: Context, path: Path, *, keep_behaviour: bool = False) -> int:
    limits = ctx.settings.import_limits
    try:  # a file over the size limit is refused before it is read
        bounded_yaml.check_size(path.stat().st_size if path.is_file() else 0, limits)
    except bounded_yaml.LimitExceeded as exc:
        raise LlmAdminError(f"import refused: {exc}") from None
    text = files.read_text(path)
    if text is None:
        raise LlmAdminError(f"{path}: no such file")
    with ctx.session() as session:
        report = config_import.import_config(
            session,
            actor=ctx.actor,
            ring=ctx.ring(),
            text=text,
            keep_behaviour=keep_behaviour,
            limits=limits,
        )
    out(
        f"imported {report.providers} provider(s), {report.models} model(s) "
        f"and {report.settings} setting section(s) from {path}"
    )
    for line in report.defaults:
        out(f"default: {line}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
