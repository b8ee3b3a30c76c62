"""llm-admin: the ops command line. Exit 0 ok, 1 failed, 2 usage; errors are one line on stderr."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import OperationalError

from app import catalog, db, migrate
from app.crypto import KeyRing, generate_key, load_key_ring, random_password
from app.errors import LlmAdminError
from app.services import (
    alerts,
    config,
    config_import,
    golive,
    keys,
    models,
    providers,
    templates,
    users,
)
from app.services import secrets as secrets_service
from app.services.access import Actor
from app.settings import Settings, load_settings
from generator import bounded_yaml, files, render, validate

log = logging.getLogger("llm_admin")
STOCK_RESTART = golive.STOCK_RESTART


@dataclass
class Context:
    """What every command needs: settings, the database, the key ring and who is acting."""

    settings: Settings
    actor: Actor

    def ring(self) -> KeyRing:
        return load_key_ring(self.settings)

    def session(self) -> Any:
        db.init(self.settings.database_url)
        return db.Session.begin()


_log_handler: RotatingFileHandler | None = None


def _setup_logging(settings: Settings) -> None:
    global _log_handler
    settings.log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    # main() may run many times in one process (tests, embedding): one file handler, not one per call
    if _log_handler is not None:
        root.removeHandler(_log_handler)
        _log_handler.close()
    _log_handler = RotatingFileHandler(settings.log_file, maxBytes=5_000_000, backupCount=3)
    _log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(_log_handler)
    root.setLevel(logging.INFO)


def out(text: str = "") -> None:
    print(text)


def table(rows: list[list[Any]], header: list[str]) -> None:
    cells = [header] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        out("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _parse_params(pairs: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LlmAdminError(f"--param {pair!r}: use KEY=VALUE, e.g. --param api_version=2024-10-21")
        params[key.strip()] = value
    return params


def _read_secret_stdin() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("API key: ")
    return sys.stdin.readline().rstrip("\r\n")


# --- db -------------------------------------------------------------------------------------


def cmd_db(ctx: Context, args: argparse.Namespace) -> int:
    url = ctx.settings.database_url
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
        with ctx.session() as session:
            templates.sync_system_templates(session)
        out(f"database at revision {migrate.current(url)}")
    elif args.action == "downgrade":
        if not args.yes and not confirm(
            f"Downgrade the database to {args.revision or '-1'}? Data may be lost."
        ):
            return 1
        migrate.downgrade(url, args.revision or "-1")
        out(f"database at revision {migrate.current(url)}")
    elif args.action == "check":
        migrate.check(url)
        out("models and migrations agree")
    else:
        out(migrate.current(url))
    return 0


def subcommands_of(parser: argparse.ArgumentParser) -> Any:
    """The sub-command group of a command (`llm-admin config ...`), for modules that add to it."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{question} Refusing without --yes (no terminal to ask on).", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


# --- users ----------------------------------------------------------------------------------


def cmd_create_admin(ctx: Context, args: argparse.Namespace) -> int:
    password = ctx.settings.admin_password
    generated = False
    if not password:
        if sys.stdin.isatty() and not args.generate:
            password = getpass.getpass("Password for the new admin: ")
        else:
            password, generated = random_password(), True
    with ctx.session() as session:
        if args.if_none and users.count_users(session):
            out("users exist already; nothing to do")
            return 0
        user = users.create_user(
            session, actor=ctx.actor, username=args.username, password=password, role="admin"
        )
        name = user.username
    out(f"admin '{name}' created")
    if generated:
        out(f"one-time password: {password}  (change it after you log in)")
    return 0


def cmd_user(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        waiting = users.unlock(session, actor=ctx.actor, username=args.name)
    out(f"{args.name}: unlocked ({waiting} source(s) were waiting after failed sign-ins)")
    return 0


# --- keys -----------------------------------------------------------------------------------


def cmd_keys(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "generate":
        out(generate_key())
        return 0
    ring = ctx.ring()
    with ctx.session() as session:
        if args.action == "status":
            missing = keys.unreadable_secrets(session, ring=ring)
            out(f"newest key: {ring.current_id}; keys in ring: {', '.join(ring.ids)}")
            out(f"unreadable secrets: {sum(missing.values())}")
            return 1 if missing else 0
        count = keys.rotate_keys(session, actor=ctx.actor, ring=ring)
    out(f"re-encrypted {count} secret{'s' * (count != 1)} under key {ring.current_id}")
    return 0


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
    key_field = "api_key"
    if args.api_key_stdin:
        secrets[key_field] = _read_secret_stdin()
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
            params=_parse_params(args.param),
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
    if ptype and secrets.get(key_field):
        warning = catalog.key_format_warning(ptype, secrets[key_field])
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


# --- config -------------------------------------------------------------------------------


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
        if result.summary == "no changes" and settings.config_path.exists() and not args.force:
            out("nothing to apply: the file already matches the database")
            return 0
        if not args.yes and not confirm(f"Apply revision {result.number} to {settings.config_path}?"):
            return 1
    applied = config.apply(actor=ctx.actor, settings=settings, ring=ring, environ=environ)
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


# --- proxy and alerts -----------------------------------------------------------------------


def cmd_proxy(ctx: Context, args: argparse.Namespace) -> int:
    from app.proxy import supervisor  # httpx and the proxy's checks: paid by proxy commands only

    settings = ctx.settings
    path = supervisor.state_path(settings)
    state = supervisor.ProxyState.load(path)
    if args.action == "run":
        if state is not None and state.running:
            raise LlmAdminError(f"a supervisor already runs (pid {state.supervisor_pid}); stop it first")
        runner = supervisor.Supervisor(
            settings,
            host=args.host or settings.proxy_host,
            port=args.port or settings.proxy_port,
            workers=args.workers,
        )
        try:
            return runner.run()
        except RuntimeError as exc:
            raise LlmAdminError(str(exc)) from None
    states = supervisor.replica_states(settings)
    if not states:
        if args.action == "reload":
            advice = golive.restart_advice(settings)
            raise LlmAdminError(f"no llm-admin supervisor runs here; start or restart the proxy: `{advice}`")
        return _stock_status(ctx)
    if args.action == "reload":
        if any(s.master_pid is None for s in states):
            raise LlmAdminError("a supervisor waits for the first config: run `llm-admin config apply`")
        asked = time.time()
        files.write_atomic(supervisor.reload_request_path(settings), f"{asked}\n", mode=0o644)
        result = supervisor.wait_for_report(settings, lambda r: r.at > asked)
        if result is None:
            raise LlmAdminError("the supervisor did not report a reload; see data/logs/proxy.log")
        out(result.message)
        return 0 if result.ok else 1
    for state in states:
        if len(states) > 1:
            out(f"[{state.label}]")
        if state.master_pid is None:
            out(f"supervisor pid {state.supervisor_pid}: waiting for the first `llm-admin config apply`")
            continue
        workers = supervisor.child_pids(state.master_pid)
        ready = supervisor.ready_workers(settings, workers)
        out(f"supervisor pid {state.supervisor_pid}, proxy on {state.host}:{state.port}")
        out(f"revision live: {state.live_revision}")
        # a worker counts as serving only once it reported ready (with its keys resolved)
        out(f"workers: {len(ready)} serving, {len(workers)} running (of {state.workers})")
        out(f"uptime: {time.time() - state.started_at:.0f} s")
        last = state.last_reload
        out(f"last reload: {last.message if last else 'none'}")
    return 0


def _stock_status(ctx: Context) -> int:
    """Without our supervisor: ask the proxy itself which revision it serves."""
    with ctx.session() as session:
        latest = next(iter(config.history(session, limit=1)), None)
        applied = latest.number if latest else None
    host, port = ctx.settings.proxy_host, ctx.settings.proxy_port
    live = golive.served_revision(ctx.settings)
    out(f"no llm-admin supervisor; the proxy at {host}:{port} serves revision {live}")
    if applied is not None and applied != live:
        out(f"revision {applied}: applied, waiting for restart (`{golive.restart_advice(ctx.settings)}`)")
    return 0


def cmd_alerts(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "ack":
            alert = alerts.acknowledge(session, actor=ctx.actor, alert_id=args.id)
            out(f"alert {alert.id} acknowledged")
            return 0
        rows = alerts.list_alerts(session, include_acknowledged=args.all)
        table(
            [
                [
                    a.id,
                    f"{a.at:%Y-%m-%d %H:%M}",
                    a.severity,
                    a.kind,
                    a.occurrences,
                    a.message,
                    a.acknowledged_by or "",
                ]
                for a in rows
            ],
            ["ID", "TIME (UTC)", "SEVERITY", "KIND", "SEEN", "MESSAGE", "ACK BY"],
        )
    return 0


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-admin", description="Control plane for a LiteLLM proxy.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("db", help="database migrations")
    p.add_argument("action", choices=["upgrade", "downgrade", "current", "check"])
    p.add_argument("revision", nargs="?")
    p.add_argument("--yes", action="store_true", help="do not ask before a downgrade")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("create-admin", help="create an admin user")
    p.add_argument("--username", required=True)
    p.add_argument("--if-none", action="store_true", help="only when no user exists yet")
    p.add_argument("--generate", action="store_true", help="generate a one-time password")
    p.set_defaults(func=cmd_create_admin)

    p = sub.add_parser("user", help="dashboard users")
    usub = p.add_subparsers(dest="action", required=True)
    unlock = usub.add_parser("unlock", help="end the sign-in backoff on an account, from every source")
    unlock.add_argument("name")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("keys", help="secret key ring")
    p.add_argument("action", choices=["rotate", "status", "generate"])
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("provider", help="manage providers")
    psub = p.add_subparsers(dest="action", required=True)
    add = psub.add_parser("add")
    add.add_argument("--name", required=True)
    add.add_argument("--type", choices=catalog.type_ids(), required=False)
    add.add_argument("--template", help="start from a template (see `llm-admin template list`)")
    add.add_argument("--base-url")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--api-key-stdin", action="store_true", help="read the API key from stdin")
    key.add_argument("--api-key-env", metavar="VAR", help="read the API key from $VAR at run time")
    add.add_argument(
        "--secret-env",
        action="append",
        metavar="FIELD=VAR",
        help="another secret field from an env variable, e.g. aws_secret_access_key=AWS_SECRET",
    )
    add.add_argument("--param", action="append", metavar="KEY=VALUE")
    add.add_argument("--default-model")
    add.add_argument("--rpm")
    add.add_argument("--tpm")
    add.add_argument("--timeout")
    add.add_argument("--local", action=argparse.BooleanOptionalAction, default=None)
    lst = psub.add_parser("list")
    lst.add_argument("--all", action="store_true", help="include deleted providers")
    lst.add_argument("--type")
    lst.add_argument("--search")
    psub.add_parser("types", help="the provider types llm-admin knows")
    for action in ("show", "disable", "enable", "delete", "restore"):
        psub.add_parser(action).add_argument("name")
    test = psub.add_parser("test")
    test.add_argument("name")
    test.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=cmd_provider)

    p = sub.add_parser("model", help="manage models")
    msub = p.add_subparsers(dest="action", required=True)
    add = msub.add_parser("add")
    add.add_argument("--provider", required=True)
    add.add_argument("--model", required=True)
    add.add_argument("--alias")
    add.add_argument("--input-cost-per-1m")
    add.add_argument("--output-cost-per-1m")
    add.add_argument("--context-window")
    add.add_argument("--mode", help="chat, embedding, … (default: LiteLLM's cost map, else chat)")
    add.add_argument("--enable", action="store_true")
    lst = msub.add_parser("list")
    lst.add_argument("--provider")
    lst.add_argument("--search")
    lst.add_argument("--enabled", action="store_true")
    for action in ("enable", "disable"):
        toggle = msub.add_parser(action)
        toggle.add_argument("--provider", required=True)
        toggle.add_argument("models", nargs="+", metavar="MODEL")
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("template", help="provider templates")
    tsub = p.add_subparsers(dest="action", required=True)
    tsub.add_parser("list")
    save = tsub.add_parser("save")
    save.add_argument("--provider", required=True)
    save.add_argument("--name", required=True)
    p.set_defaults(func=cmd_template)
    p = sub.add_parser("config", help="render, validate, diff, apply, roll back, import")
    csub = p.add_subparsers(dest="action", required=True)
    render_p = csub.add_parser("render", help="print (or --out) the next revision")
    render_p.add_argument("--out")
    validate_p = csub.add_parser("validate", help="check the rows, or a config FILE, as LiteLLM would")
    validate_p.add_argument("file", nargs="?")
    csub.add_parser("diff", help="what apply would change")
    apply_p = csub.add_parser("apply", help="validate, back up, write, record a revision")
    apply_p.add_argument("--yes", action="store_true")
    apply_p.add_argument("--force", action="store_true", help="write even when nothing changed")
    csub.add_parser("history")
    rollback_p = csub.add_parser("rollback")
    rollback_p.add_argument("revision", type=int)
    rollback_p.add_argument("--yes", action="store_true")
    import_p = csub.add_parser("import", help="adopt a hand-written LiteLLM config")
    import_p.add_argument("file")
    import_p.add_argument(
        "--keep-behaviour",
        action="store_true",
        help="where the file sets no retries, cooldowns, router timeout or drop_params, keep LiteLLM's "
        "defaults instead of llm-admin's failover defaults",
    )
    export_p = csub.add_parser("export-env", help="0600 env file of stored secrets (stock LiteLLM image)")
    export_p.add_argument("file")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("proxy", help="the supervised LiteLLM proxy")
    psub = p.add_subparsers(dest="action", required=True)
    run_p = psub.add_parser("run", help="start the proxy under gunicorn and reload it on every apply")
    run_p.add_argument("--host", help="bind address (default 127.0.0.1, LLM_ADMIN_PROXY_HOST)")
    run_p.add_argument("--port", type=int)
    run_p.add_argument("--workers", type=int, default=2)
    psub.add_parser("reload", help="reload the proxy on the current file and verify it")
    psub.add_parser("status")
    p.set_defaults(func=cmd_proxy)

    p = sub.add_parser("alerts", help="list and acknowledge alerts")
    asub = p.add_subparsers(dest="action", required=True)
    list_p = asub.add_parser("list")
    list_p.add_argument("--all", action="store_true", help="include acknowledged alerts")
    ack_p = asub.add_parser("ack")
    ack_p.add_argument("id", type=int)
    p.set_defaults(func=cmd_alerts)

    # command groups kept in their own modules; imported here because they import this one
    from app import cli_budgets, cli_deploy, cli_keys, cli_monitor, cli_routing

    for module in (cli_routing, cli_budgets, cli_monitor, cli_deploy, cli_keys):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "provider" and args.action == "add" and not (args.type or args.template):
        parser.error("provider add: give --type (see `llm-admin provider types`) or --template")
    try:
        settings = load_settings()
        _setup_logging(settings)
        actor = Actor(name=f"cli:{getpass.getuser()}", role="admin")
        log.info("command %s %s", args.command, getattr(args, "action", ""))
        code: int = args.func(Context(settings, actor), args)
        return code
    except (LlmAdminError, files.WriteError) as exc:
        if _log_handler is not None:  # before logging is set up (bad settings) stderr says it once
            log.warning("command failed: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        print(
            f"error: cannot use the database ({type(exc.orig).__name__}); check LLM_ADMIN_DATABASE_URL "
            "and that the server is up",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
