"""Dashboard pages, measured: server-side time of every page on PostgreSQL with production-sized data.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/pages.py [--runs 7] [--events 1000000]

A throwaway PostgreSQL (tests/pg.py), migrated, is loaded with bulk SQL (INSERT ... SELECT over
generate_series): 1,000 providers, 10,000 models (10 per provider, 1,000 aliases each served by 10
providers), 1,000,000 usage events over the last 30 days (traffic skewed towards a few deployments
as real traffic is, 40% through 20 agent routes, 2% failures, 70% from 100 caller keys' applications),
20 routes, 100 caller keys, 30 budgets, 53 users, 500 alerts, 10,000 audit entries, a day of health
checks every 15 minutes per provider. The usage rollups (by application too) are then built from the
events with `usage.rebuild_rollups` (the backfill an upgrade would run).

Then every page in streamlit_app.py's navigation (read from the file, so pages added later are
measured too) is run with Streamlit's AppTest as a signed-in admin. A first pass over all pages pays
what a dashboard process pays once (imports); then, with Streamlit's data cache cleared, each page is
opened in a new session and run --runs times, each run timed. Printed per page: the first run (the
click in the sidebar), median and max ms against the target (≤ 300 ms), the median time spent in SQL
and, for a page whose median misses the target, its slowest statement. The usage page is measured a
second time as after its "Find cheaper models" click, with that 5-minute cache cleared every run.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sqlalchemy import Connection, create_engine, event, text  # noqa: E402

from app import db, migrate  # noqa: E402

TARGET_MS = 300.0
PROVIDERS = 1_000
MODELS_PER_PROVIDER = 10
ALIASES = 1_000
ROUTES = 20
APPLICATIONS = 100  # caller keys; 70% of the usage events carry one
DAYS = 30
PASSWORD = "benchmark password 1"
TYPES = ("openai", "anthropic", "azure_openai", "groq", "mistral", "together_ai", "gemini", "ollama")


def timed(label: str, action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.1f} s", flush=True)
    return seconds


# --- data -----------------------------------------------------------------------------------


def load_catalog(conn: Connection) -> None:
    """Providers with an env-sourced key each, and their models, priced and partly enabled."""
    types = "ARRAY[" + ", ".join(f"'{t}'" for t in TYPES) + "]"
    conn.execute(
        text(
            f"""
            INSERT INTO providers (id, name, name_key, type, base_url, is_local, params, default_model,
                priority, enabled, version, created_at, created_by, updated_at, updated_by,
                last_test_at, last_test_ok, last_test_latency_ms, last_test_message)
            SELECT g, 'provider-' || lpad(g::text, 4, '0'), 'provider-' || lpad(g::text, 4, '0'),
                   ({types})[1 + g % {len(TYPES)}], NULL, g % {len(TYPES)} = {len(TYPES) - 1}, '{{}}',
                   'alias-' || lpad(((g - 1) * {MODELS_PER_PROVIDER} % {ALIASES})::text, 4, '0'),
                   0, g % 50 <> 0, 1, now() - interval '60 days', 'bench', now() - interval '1 day',
                   'bench', now() - (g % 120) * interval '1 minute', g % 17 <> 0, 100 + g % 400,
                   CASE WHEN g % 17 = 0 THEN 'connection refused' ELSE 'ok' END
            FROM generate_series(1, {PROVIDERS}) g
            """
        )
    )
    conn.execute(
        text(
            f"""
            INSERT INTO provider_credentials (provider_id, field, ciphertext, env_var, updated_at)
            SELECT g, 'api_key', NULL, 'BENCH_KEY_' || g, now() FROM generate_series(1, {PROVIDERS}) g
            """
        )
    )
    conn.execute(
        text(
            f"""
            INSERT INTO models (id, provider_id, identifier, alias, enabled, input_cost_per_1m,
                output_cost_per_1m, context_window, max_output_tokens, mode, supports_streaming,
                supports_tools, supports_vision, supports_audio, supports_system_messages, status,
                is_default, extra_params, extra_model_info, version, created_at, created_by,
                updated_at, updated_by)
            SELECT m, p, 'model-' || k, 'alias-' || lpad(((m - 1) % {ALIASES})::text, 4, '0'),
                   k <= 6, 0.05 + (m % 97) * 0.1, 0.2 + (m % 89) * 0.4, 8192 * (1 + m % 16), 4096,
                   'chat', true, m % 3 = 0, m % 5 = 0, false, true, 'active', k = 1, '{{}}', '{{}}', 1,
                   now() - interval '60 days', 'bench', now() - interval '1 day', 'bench'
            FROM (SELECT (p - 1) * {MODELS_PER_PROVIDER} + k AS m, p, k
                  FROM generate_series(1, {PROVIDERS}) p, generate_series(1, {MODELS_PER_PROVIDER}) k) s
            """
        )
    )
    for table in ("providers", "models"):
        conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))


def load_usage(conn: Connection, events: int) -> None:
    """Usage events over the last 30 days: a few deployments take most traffic (deployment index ~
    10,000·u³), 40% through routes (10% of those served by a route's fallback), 2% failures,
    log-normal latency around 800 ms, cost from the model's prices."""
    models = PROVIDERS * MODELS_PER_PROVIDER
    conn.execute(text("SELECT setseed(0.42)"))
    conn.execute(
        text(
            f"""
            INSERT INTO usage_events (at, provider, model_group, deployment, route, prompt_tokens,
                completion_tokens, cost_usd, latency_ms, status, error_class, fallback, revision,
                application)
            SELECT now() - s.r_at * interval '{DAYS} days',
                   p.name,
                   CASE WHEN s.route IS NULL THEN m.alias
                        WHEN s.r_fb < 0.1 THEN s.route || '/fallback-1' ELSE s.route END,
                   'llm-admin-m' || m.id,
                   s.route,
                   s.prompt, s.completion,
                   CASE WHEN s.failed THEN 0
                        ELSE (s.prompt * m.input_cost_per_1m + s.completion * m.output_cost_per_1m)
                             / 1000000 END,
                   round((800 * exp(0.6 * sqrt(-2 * ln(1 - s.r_l1)) * cos(2 * pi() * s.r_l2)))::numeric, 1),
                   CASE WHEN s.failed THEN 'failure' ELSE 'success' END,
                   CASE WHEN s.failed THEN 'APIConnectionError' END,
                   s.route IS NOT NULL AND s.r_fb < 0.1,
                   1 + (s.g % 5),
                   s.application
            FROM (
                SELECT g, random() AS r_at, random() AS r_l1, random() AS r_l2, random() AS r_fb,
                       1 + floor({models} * power(random(), 3))::int AS model_id,
                       CASE WHEN random() < 0.4
                            THEN 'agent/type-' || lpad((1 + floor({ROUTES} * power(random(), 2)))::int::text,
                                                       2, '0') END AS route,
                       50 + floor(random() * 4000)::int AS prompt,
                       10 + floor(random() * 1000)::int AS completion,
                       random() < 0.02 AS failed,
                       CASE WHEN random() < 0.7
                            THEN 'app-' || lpad((1 + floor({APPLICATIONS} * power(random(), 2)))::int::text,
                                                3, '0') END AS application
                FROM generate_series(1, {events}) g
            ) s
            JOIN models m ON m.id = s.model_id
            JOIN providers p ON p.id = m.provider_id
            """
        )
    )


def load_operations(conn: Connection) -> None:
    """Routes, caller keys, budgets, alerts, audit entries, health checks and provider health."""
    conn.execute(
        text(
            f"""
            INSERT INTO caller_keys (application, name_key, owner, description, prefix, key_hash, models,
                rpm, tpm, enabled, version, created_at, created_by, updated_at, updated_by)
            SELECT 'app-' || lpad(g::text, 3, '0'), 'app-' || lpad(g::text, 3, '0'), 'team-' || g % 7, '',
                   'llmk_' || substr(md5(g::text), 1, 8), encode(sha256(('bench-key-' || g)::bytea), 'hex'),
                   CASE WHEN g % 3 = 0 THEN json_build_array('alias-' || lpad(g::text, 4, '0'))
                        ELSE '[]'::json END,
                   CASE WHEN g % 2 = 0 THEN 60 * g END, NULL, true, 1, now(), 'bench', now(), 'bench'
            FROM generate_series(1, {APPLICATIONS}) g
            """
        )
    )
    conn.execute(
        text(
            f"""
            INSERT INTO routes (agent_type, model, fallbacks, max_cost_usd, local_only, weights, enabled,
                version, created_at, created_by, updated_at, updated_by)
            SELECT 'type-' || lpad(g::text, 2, '0'), 'alias-' || lpad((g * 37 % {ALIASES})::text, 4, '0'),
                   json_build_array('alias-' || lpad((g * 53 % {ALIASES})::text, 4, '0')),
                   CASE WHEN g % 4 = 0 THEN 0.5 END, false, '{{}}', true, 1, now(), 'bench', now(), 'bench'
            FROM generate_series(1, {ROUTES}) g
            """
        )
    )
    conn.execute(
        text(
            """
            INSERT INTO budgets (scope, target, period, limit_usd, enforce, alerted_threshold,
                alerted_period_start, exhausted, version, created_at, created_by, updated_at, updated_by)
            SELECT 'provider', 'provider-' || lpad(g::text, 4, '0'), 'monthly', 50 * g, g % 2 = 0, 0,
                   NULL::timestamptz, false, 1, now(), 'bench', now(), 'bench' FROM generate_series(1, 20) g
            UNION ALL
            SELECT 'route', 'type-' || lpad(g::text, 2, '0'), 'daily', 20 * g, false, 0,
                   NULL::timestamptz, false, 1, now(), 'bench', now(), 'bench' FROM generate_series(1, 10) g
            """
        )
    )
    conn.execute(
        text(
            f"""
            INSERT INTO alerts (at, last_seen_at, severity, kind, provider, message, dedup_key, occurrences,
                acknowledged_by, acknowledged_at, delivered_at, delivery_attempts, delivery_error)
            SELECT now() - g * interval '85 minutes', now() - g * interval '80 minutes',
                   (ARRAY['info', 'warning', 'critical'])[1 + g % 3],
                   (ARRAY['failover', 'provider_down', 'budget'])[1 + g % 3],
                   'provider-' || lpad((1 + g % {PROVIDERS})::text, 4, '0'),
                   'Provider provider-' || lpad((1 + g % {PROVIDERS})::text, 4, '0')
                       || ' down, using fallback',
                   'bench:' || g, 1 + g % 7,
                   CASE WHEN g % 3 = 0 THEN 'admin' END, CASE WHEN g % 3 = 0 THEN now() END, NULL, 0, NULL
            FROM generate_series(1, 500) g
            """
        )
    )
    conn.execute(
        text(
            f"""
            INSERT INTO audit_entries (at, actor, action, target_type, target_id, target_name, details)
            SELECT now() - g * interval '4 minutes', (ARRAY['admin', 'ops-1', 'ops-2'])[1 + g % 3],
                   (ARRAY['provider.update', 'model.update', 'config.apply', 'route.update'])[1 + g % 4],
                   'provider', 1 + g % {PROVIDERS}, 'provider-' || lpad((1 + g % {PROVIDERS})::text, 4, '0'),
                   json_build_object('before', json_build_object('rpm', g),
                                     'after', json_build_object('rpm', g + 1))
            FROM generate_series(1, 10000) g
            """
        )
    )
    conn.execute(
        text(
            f"""
            INSERT INTO health_checks (provider_id, at, ok, latency_ms, error)
            SELECT p, now() - t * interval '15 minutes', (p + t) % 29 <> 0, 80 + (p * 7 + t * 13) % 900,
                   CASE WHEN (p + t) % 29 = 0 THEN 'timed out after 5 s' END
            FROM generate_series(1, {PROVIDERS}) p, generate_series(0, 95) t
            """
        )
    )
    conn.execute(
        text(
            f"""
            INSERT INTO provider_health (provider_id, status, consecutive_failures, latency_ms, error,
                checked_at, changed_at)
            SELECT p, CASE WHEN p % 29 = 0 THEN 'down' WHEN p % 13 = 0 THEN 'degraded' ELSE 'healthy' END,
                   CASE WHEN p % 29 = 0 THEN 3 ELSE 0 END, 80 + p % 900, NULL, now(),
                   now() - interval '2 hours'
            FROM generate_series(1, {PROVIDERS}) p
            """
        )
    )


def load_users(url: str) -> None:
    """An admin to sign in as, and 52 more users."""
    from app.services import users
    from app.services.access import Actor

    root = Actor("bench", "admin")
    with db.Session.begin() as session:
        users.create_user(session, actor=root, username="admin", password=PASSWORD, role="admin")
        for n in range(52):
            role = ("operator", "viewer")[n % 2]
            users.create_user(session, actor=root, username=f"user-{n:02d}", password=PASSWORD, role=role)


def load(url: str, events: int) -> None:
    """Every table the pages read, in bulk; then the usage rollups from the events."""
    from app.services import usage

    engine = create_engine(url)
    models = PROVIDERS * MODELS_PER_PROVIDER
    print(f"Loading {PROVIDERS:,} providers, {models:,} models, {events:,} usage events:")
    with engine.begin() as conn:
        timed("providers and models", lambda: load_catalog(conn))
    with engine.begin() as conn:
        timed(f"{events:,} usage events", lambda: load_usage(conn, events))
    with engine.begin() as conn:
        timed("routes, budgets, alerts, audit, health", lambda: load_operations(conn))
    timed("53 users", lambda: load_users(url))

    def rollups() -> None:
        with db.Session.begin() as session:
            usage.rebuild_rollups(session)

    timed("usage rollups from the events (usage.rebuild_rollups)", rollups)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        timed("VACUUM ANALYZE", lambda: conn.execute(text("VACUUM ANALYZE")))
        tables = ("usage_events", "usage_rollups", "usage_latency_rollups", "usage_application_rollups")
        for table in tables:
            rows, size = conn.execute(
                text(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
            ).one()
            print(f"  {table}: {rows:,} rows, {size / 2**20:,.0f} MiB with indexes")
    engine.dispose()


# --- pages ------------------------------------------------------------------------------------


def navigation(app_file: Path) -> list[tuple[str, str]]:
    """(path, title) of every st.Page of a file in the entry point's navigation, in order (a path may
    be a module-level constant, as the account page's is)."""
    tree = ast.parse(app_file.read_text())
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Page"
        ):
            continue
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Constant):
            path = str(first.value)
        elif isinstance(first, ast.Name) and isinstance(constants.get(first.id), str):
            path = str(constants[first.id])
        else:
            continue
        title = next((k.value.value for k in node.keywords if k.arg == "title"), path)
        if path.startswith("pages/") and path not in {p for p, _ in found}:
            found.append((path, str(title)))
    return found


class SqlTimer:
    """Time spent in the database per statement, from SQLAlchemy's cursor events."""

    def __init__(self, engine: Any) -> None:
        self.statements: list[tuple[float, str]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("llm_admin_started", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = conn.info["llm_admin_started"].pop()
        self.statements.append(((time.perf_counter() - started) * 1000, " ".join(statement.split())))

    def take(self) -> list[tuple[float, str]]:
        taken, self.statements = self.statements, []
        return taken


@dataclass
class PageTiming:
    path: str
    title: str
    runs_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    statements: int = 0
    slowest: tuple[float, str] = (0.0, "")
    error: str = ""


def measure(
    app_file: Path, path: str, title: str, runs: int, sql: SqlTimer, clear_cache: bool = False
) -> PageTiming:
    """Sign in as admin, switch to the page, then time `runs` runs of it (the first is the switch)."""
    import streamlit
    from streamlit.testing.v1 import AppTest

    from tests.pages.conftest import sign_in

    timing = PageTiming(path, title)
    at = AppTest.from_file(str(app_file), default_timeout=300)
    sign_in(at, "admin", PASSWORD)
    at.switch_page(path)
    if clear_cache:  # the usage page's cheaper models, computed on demand: as after the click
        at.session_state["usage_cheaper_shown"] = True
    for _ in range(runs):
        if clear_cache:
            streamlit.cache_data.clear()
        sql.take()
        started = time.perf_counter()
        at.run()
        timing.runs_ms.append((time.perf_counter() - started) * 1000)
        statements = sql.take()
        timing.sql_ms.append(sum(ms for ms, _ in statements))
        timing.statements = len(statements)
        timing.slowest = max([timing.slowest, *statements])
        if at.exception:
            timing.error = str(at.exception[0].value).splitlines()[0][:100]
            break
    return timing


def report(timings: list[PageTiming], runs: int) -> None:
    print(
        f"\nServer-side time per page (AppTest run as admin, {runs} runs each; target ≤ {TARGET_MS:.0f} ms):"
    )
    header = f"{'page':<44} {'first':>7} {'median':>7} {'max':>7} {'SQL med':>8} {'stmts':>5}  verdict"
    print(header)
    print("-" * len(header))
    for t in timings:
        name = f"{t.title} ({t.path})"
        if t.error:
            print(f"{name:<44} error: {t.error}")
            continue
        median, worst = statistics.median(t.runs_ms), max(t.runs_ms)
        verdict = "ok" if worst <= TARGET_MS else "ok (median)" if median <= TARGET_MS else "MISSED"
        print(
            f"{name:<44} {t.runs_ms[0]:>7.0f} {median:>7.0f} {worst:>7.0f} "
            f"{statistics.median(t.sql_ms):>8.0f} {t.statements:>5}  {verdict}"
        )
    slow = [t for t in timings if not t.error and statistics.median(t.runs_ms) > TARGET_MS]
    for t in slow:
        median, sql = statistics.median(t.runs_ms), statistics.median(t.sql_ms)
        print(f"\n{t.title}: median {median:.0f} ms, of which SQL {sql:.0f} ms")
        print(f"  slowest statement ({t.slowest[0]:.0f} ms): {t.slowest[1][:300]}")


def usage_services(runs: int) -> None:
    """The service calls behind the usage page, each timed on its own (median of `runs`)."""
    from datetime import UTC, datetime, timedelta

    from app.services import budgets, recommendations, usage

    end = datetime.now(UTC).date()
    start = end - timedelta(days=29)
    calls: list[tuple[str, Callable[[Any], object]]] = [
        ("usage.filter_options (30 days)", lambda s: usage.filter_options(s, start=start, end=end)),
        ("usage.usage_report (30 days)", lambda s: usage.usage_report(s, start=start, end=end)),
        (
            "usage.usage_report (30 days, provider + route)",
            lambda s: usage.usage_report(
                s, start=start, end=end, provider="provider-0001", route="agent/type-01"
            ),
        ),
        ("budgets.list_budgets (from the rollups)", lambda s: budgets.list_budgets(s)),
        ("recommendations.recommend (from the rollups)", lambda s: recommendations.recommend(s, days=30)),
        ("usage.export_csv (30 days; on click only)", lambda s: usage.export_csv(s, start=start, end=end)),
        (
            "usage.usage_by_application (30 days)",
            lambda s: usage.usage_by_application(s, start=start, end=end),
        ),
        (
            "usage.export_application_csv (on click only)",
            lambda s: usage.export_application_csv(s, start=start, end=end),
        ),
    ]
    print("\nServices behind the usage page (median ms):")
    for label, call in calls:
        times = []
        for _ in range(runs):
            with db.Session.begin() as session:
                started = time.perf_counter()
                call(session)
                times.append((time.perf_counter() - started) * 1000)
        print(f"  {label:<48} {statistics.median(times):>7.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per page (default 7)")
    parser.add_argument("--events", type=int, default=1_000_000, help="usage events (default 1,000,000)")
    parser.add_argument("--only", action="append", help="measure only these pages (e.g. pages/usage.py)")
    args = parser.parse_args()

    import streamlit

    from app import ui
    from app.crypto import generate_key
    from tests.pg import start_postgres

    app_file = ROOT / "streamlit_app.py"
    pages = [(p, t) for p, t in navigation(app_file) if not args.only or p in args.only]
    server = start_postgres()
    try:
        admin_url = server.url()
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE llm_admin"))
        engine.dispose()
        url = server.url("llm_admin")
        migrate.upgrade(url)
        db.init(url)
        load(url, args.events)

        with tempfile.TemporaryDirectory() as data_dir:
            os.environ.update(
                LLM_ADMIN_DATABASE_URL=url, LLM_ADMIN_DATA_DIR=data_dir, LLM_ADMIN_SECRET_KEYS=generate_key()
            )
            ui.settings.cache_clear()
            sql = SqlTimer(db.make_engine(url))
            print(f"\nPages in streamlit_app.py: {', '.join(p for p, _ in pages)}")
            # once per process, not per view: the imports pages make (pandas, altair, ...)
            for path, title in pages:
                measure(app_file, path, title, 1, sql)
            streamlit.cache_data.clear()
            timings = [measure(app_file, path, title, args.runs, sql) for path, title in pages]
            if any(p == "pages/usage.py" for p, _ in pages):
                timings.append(
                    measure(
                        app_file,
                        "pages/usage.py",
                        "Usage + cheaper models (on click, uncached)",
                        args.runs,
                        sql,
                        True,
                    )
                )
        report(timings, args.runs)
        usage_services(3)
        return 1 if any(t.error for t in timings) else 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
