"""llm-admin's argument parser: every command in one place, naming the handler that runs it.

Imports nothing heavy (no services, no database, no generator) so that `--help` and a parse error are
quick and `main` loads only the command module it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from app import catalog, defaults

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("give a number of seconds above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Every command and sub-command; each names its handler as "module:function", imported when run."""
    parser = argparse.ArgumentParser(prog="llm-admin", description="Control plane for a LiteLLM proxy.")
    sub = parser.add_subparsers(dest="command", required=True)
    _db(sub)
    _create_admin(sub)
    _users(sub)
    _key_ring(sub)
    _providers(sub)
    _models(sub)
    _templates(sub)
    _config(sub)
    _proxy(sub)
    _alerts(sub)
    _routes(sub)
    _budgets(sub)
    _recommend(sub)
    _monitor(sub)
    _health(sub)
    _caller_keys(sub)
    _api(sub)
    _api_tokens(sub)
    return parser


def _db(sub: Subparsers) -> None:
    """`db`: database migrations."""
    p = sub.add_parser("db", help="database migrations")
    p.add_argument("action", choices=["upgrade", "downgrade", "current", "check"])
    p.add_argument("revision", nargs="?")
    p.add_argument("--yes", action="store_true", help="do not ask before a downgrade")
    p.set_defaults(handler="app.cli.admin:cmd_db")


def _create_admin(sub: Subparsers) -> None:
    """`create-admin`: the first (or another) admin user."""
    p = sub.add_parser("create-admin", help="create an admin user")
    p.add_argument("--username", required=True)
    p.add_argument("--if-none", action="store_true", help="only when no user exists yet")
    p.add_argument("--generate", action="store_true", help="generate a one-time password")
    p.set_defaults(handler="app.cli.admin:cmd_create_admin")


def _users(sub: Subparsers) -> None:
    """`user …`: dashboard users."""
    p = sub.add_parser("user", help="dashboard users")
    usub = p.add_subparsers(dest="action", required=True)
    unlock = usub.add_parser("unlock", help="end the sign-in backoff on an account, from every source")
    unlock.add_argument("name")
    p.set_defaults(handler="app.cli.admin:cmd_user")


def _key_ring(sub: Subparsers) -> None:
    """`keys`: the secret key ring (not the caller keys of `key`)."""
    p = sub.add_parser("keys", help="secret key ring")
    p.add_argument("action", choices=["rotate", "status", "generate"])
    p.set_defaults(handler="app.cli.admin:cmd_keys")


def _providers(sub: Subparsers) -> None:
    """`provider …`: add, list, show, toggle, delete, restore and test providers."""
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
    p.set_defaults(handler="app.cli.providers:cmd_provider")


def _models(sub: Subparsers) -> None:
    """`model …`: add, list, enable and disable a provider's models."""
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
    p.set_defaults(handler="app.cli.providers:cmd_model")


def _templates(sub: Subparsers) -> None:
    """`template …`: list provider templates, save a provider as one."""
    p = sub.add_parser("template", help="provider templates")
    tsub = p.add_subparsers(dest="action", required=True)
    tsub.add_parser("list")
    save = tsub.add_parser("save")
    save.add_argument("--provider", required=True)
    save.add_argument("--name", required=True)
    p.set_defaults(handler="app.cli.providers:cmd_template")


def _config(sub: Subparsers) -> None:
    """`config …`: render, validate, diff, apply, history, rollback, import, export-env and export."""
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
    export = csub.add_parser(
        "export", help="Kubernetes: a ConfigMap, a Secret and Helm values for LiteLLM's chart"
    )
    export.add_argument("--k8s", required=True, metavar="DIR", help="directory to write the manifests to")
    export.add_argument("--namespace", default="llm-admin")
    export.add_argument("--name", default="llm-admin-litellm", help="prefix of the ConfigMap and Secret")
    export.add_argument(
        "--external-secret",
        metavar="STORE",
        help="write an ExternalSecret reading from this ClusterSecretStore instead of a Secret with values",
    )
    export.set_defaults(handler="app.cli.deploy:cmd_export")
    p.set_defaults(handler="app.cli.config:cmd_config")


def _proxy(sub: Subparsers) -> None:
    """`proxy …`: run, reload and check the supervised LiteLLM proxy."""
    p = sub.add_parser("proxy", help="the supervised LiteLLM proxy")
    psub = p.add_subparsers(dest="action", required=True)
    run_p = psub.add_parser("run", help="start the proxy under gunicorn and reload it on every apply")
    run_p.add_argument("--host", help="bind address (default 127.0.0.1, LLM_ADMIN_PROXY_HOST)")
    run_p.add_argument("--port", type=int)
    run_p.add_argument("--workers", type=int, default=2)
    psub.add_parser("reload", help="reload the proxy on the current file and verify it")
    psub.add_parser("status")
    p.set_defaults(handler="app.cli.proxy:cmd_proxy")


def _alerts(sub: Subparsers) -> None:
    """`alerts …`: list, acknowledge and deliver alerts."""
    p = sub.add_parser("alerts", help="list and acknowledge alerts")
    asub = p.add_subparsers(dest="action", required=True)
    list_p = asub.add_parser("list")
    list_p.add_argument("--all", action="store_true", help="include acknowledged alerts")
    list_p.set_defaults(handler="app.cli.admin:cmd_alerts")
    ack_p = asub.add_parser("ack")
    ack_p.add_argument("id", type=int)
    ack_p.set_defaults(handler="app.cli.admin:cmd_alerts")
    deliver = asub.add_parser("deliver", help="send undelivered alerts to LLM_ADMIN_ALERT_WEBHOOK_URL now")
    deliver.add_argument("--timeout", type=float, default=5.0)
    deliver.set_defaults(handler="app.cli.admin:cmd_alerts_deliver")


def _routes(sub: Subparsers) -> None:
    """`route …`: agent routes and the default fallbacks."""
    p = sub.add_parser("route", help="agent routes: preferred model, fallbacks, cost limit, local only")
    rsub = p.add_subparsers(dest="action", required=True)
    add = rsub.add_parser("add", help="add or replace the route callers reach as model agent/TYPE")
    add.add_argument("--agent", required=True, metavar="TYPE", help="agent type, e.g. summarizer")
    add.add_argument("--model", required=True, metavar="ALIAS", help="the preferred model")
    add.add_argument("--fallback", action="append", metavar="ALIAS", help="next model on failure (repeat)")
    add.add_argument("--max-cost-usd", type=float, help="the most one request may cost")
    add.add_argument("--local-only", action="store_true", help="only local providers may serve it")
    add.add_argument(
        "--weight", action="append", metavar="ALIAS@PROVIDER=W", help="share of a step's traffic"
    )
    rsub.add_parser("list")
    remove = rsub.add_parser("remove")
    remove.add_argument("agent", metavar="TYPE")
    fallbacks = rsub.add_parser("defaults", help="fallbacks for every model without its own")
    fallbacks.add_argument("--fallback", action="append", metavar="ALIAS", help="in order; none clears")
    p.set_defaults(handler="app.cli.routing:cmd_route")


def _budgets(sub: Subparsers) -> None:
    """`budget …`: spend limits per provider, route or application."""
    p = sub.add_parser("budget", help="daily or monthly spend limits per provider or route")
    bsub = p.add_subparsers(dest="action", required=True)
    add = bsub.add_parser("add", help="alerts at 50/80/100%%; --enforce refuses requests at 100%%")
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--provider", metavar="NAME")
    target.add_argument("--route", metavar="TYPE", help="an agent type, e.g. summarizer")
    target.add_argument("--application", metavar="NAME", help="a caller key's application")
    add.add_argument("--period", choices=defaults.PERIODS, required=True)
    add.add_argument("--limit-usd", required=True)
    add.add_argument("--enforce", action="store_true")
    bsub.add_parser("list", help="budgets with this period's spend")
    change = bsub.add_parser("set", help="change a budget's limit or enforcement")
    change.add_argument("id", type=int)
    change.add_argument("--limit-usd")
    change.add_argument("--enforce", action=argparse.BooleanOptionalAction, default=None)
    bsub.add_parser("remove").add_argument("id", type=int)
    bsub.add_parser("check", help="check spend now and raise the alerts due (the monitor does this)")
    p.set_defaults(handler="app.cli.budgets:cmd_budget")


def _recommend(sub: Subparsers) -> None:
    """`recommend`: cheaper models each route could use."""
    p = sub.add_parser("recommend", help="cheaper models each route could use, with the estimated saving")
    p.add_argument("--days", type=int, default=30, help="usage window (default 30 days)")
    p.set_defaults(handler="app.cli.budgets:cmd_recommend")


def _monitor(sub: Subparsers) -> None:
    """`monitor`: the health monitor's sweep interval, probe timeout, recheck delay and slow threshold."""
    p = sub.add_parser("monitor", help="probe every enabled provider, mark it healthy/degraded/down, alert")
    p.add_argument(
        "--interval", type=_positive, default=defaults.DEFAULT_INTERVAL, help="seconds between sweeps"
    )
    p.add_argument("--once", action="store_true", help="one sweep, one line per provider, then exit")
    p.add_argument(
        "--timeout", type=_positive, default=defaults.DEFAULT_TIMEOUT, help="seconds a probe may take"
    )
    p.add_argument(
        "--recheck",
        type=_positive,
        default=defaults.DEFAULT_RECHECK,
        help="seconds before a failing provider is probed again (two failures in a row: down)",
    )
    p.add_argument(
        "--slow-ms",
        type=_positive,
        default=defaults.DEGRADED_LATENCY_MS,
        help="a provider answering slower than this is degraded (still serving)",
    )
    p.set_defaults(handler="app.cli.monitor:cmd_monitor")


def _health(sub: Subparsers) -> None:
    """`health`: providers' current health, or their last probe results."""
    p = sub.add_parser("health", help="providers' current health as the monitor judged it")
    p.add_argument("--provider", help="with --history: this provider only")
    p.add_argument("--history", type=int, metavar="N", help="the last N probe results instead")
    p.add_argument("--all", action="store_true", help="include disabled providers")
    p.set_defaults(handler="app.cli.monitor:cmd_health")


def _caller_keys(sub: Subparsers) -> None:
    """`key …`: caller keys, one scoped key per application (not the secret key ring of `keys`)."""
    p = sub.add_parser("key", help="caller keys: one scoped key per application for the proxy's /v1 routes")
    ksub = p.add_subparsers(dest="action", required=True)
    create = ksub.add_parser("create", help="a new application's key, printed once")
    create.add_argument("--application", required=True, metavar="NAME")
    create.add_argument("--owner")
    create.add_argument("--description")
    create.add_argument("--models", help="model aliases and agent/<type> routes it may call (default: all)")
    create.add_argument("--rpm", help="requests per minute")
    create.add_argument("--tpm", help="tokens per minute")
    create.add_argument("--expires", help="UTC date or date and time, e.g. 2027-01-31")
    ksub.add_parser("list", help="every application's key (never the key itself)")
    ksub.add_parser("show").add_argument("key", help="id, application or key prefix")
    change = ksub.add_parser("set", help="change a key's scope, limits, expiry or state")
    change.add_argument("key", help="id, application or key prefix")
    change.add_argument("--models", help="aliases and routes, comma-separated; '' for all")
    change.add_argument("--rpm", help="requests per minute; 0 for no limit")
    change.add_argument("--tpm", help="tokens per minute; 0 for no limit")
    change.add_argument("--expires", help="UTC date or date and time, or 'never'")
    change.add_argument("--enabled", action=argparse.BooleanOptionalAction, default=None)
    rotate = ksub.add_parser("rotate", help="a new key; the old one keeps working for the overlap")
    rotate.add_argument("key", help="id, application or key prefix")
    rotate.add_argument(
        "--overlap-seconds",
        default=defaults.DEFAULT_OVERLAP_SECONDS,
        help=f"default {defaults.DEFAULT_OVERLAP_SECONDS}",
    )
    ksub.add_parser("revoke", help="stop the key for good").add_argument(
        "key", help="id, application or key prefix"
    )
    p.set_defaults(handler="app.cli.keys:cmd_key")


def _api(sub: Subparsers) -> None:
    """`api`: the management HTTP API."""
    p = sub.add_parser("api", help="serve the management HTTP API (docs at /api/docs)")
    p.add_argument("--host", default=defaults.API_HOST)
    p.add_argument("--port", type=int, default=defaults.API_PORT)
    p.set_defaults(handler="app.cli.api:cmd_api")


def _api_tokens(sub: Subparsers) -> None:
    """`token …`: a dashboard user's tokens for the HTTP API."""
    p = sub.add_parser("token", help="API tokens: each acts as its dashboard user, with that user's role")
    tsub = p.add_subparsers(dest="action", required=True)
    create = tsub.add_parser("create", help="a new token for a user, printed once")
    create.add_argument("--user", required=True, help="the dashboard user it acts as")
    create.add_argument("--name", required=True, help="what it is for, e.g. ci-pipeline")
    create.add_argument("--days", type=int, default=defaults.API_TOKEN_DAYS, help="days until it expires")
    lst = tsub.add_parser("list", help="tokens (never the token itself)")
    lst.add_argument("--user", help="only this user's")
    tsub.add_parser("revoke", help="end a token at once").add_argument("id", type=int)
    p.set_defaults(handler="app.cli.api:cmd_token")
