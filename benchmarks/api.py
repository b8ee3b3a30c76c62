"""Management HTTP API, measured: p50/p99 of its list and usage endpoints on PostgreSQL at production size.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/api.py [--requests 200] [--quick]

One throwaway PostgreSQL (tests/pg.py) holds two databases, each migrated and loaded the same way:
- large: 1,000 providers, 10,000 models, 1,000,000 usage events (the issue's sizes);
- small: 10 providers, 100 models, 10,000 usage events (side by side: does a page cost more when the
  table behind it is 100× larger?).
Providers are added with `providers.create_provider` (validated, key encrypted with the ring, audited,
as the dashboard and `POST /api/providers` add them); models and events in bulk SQL (INSERT ... SELECT
over generate_series): 10 models per provider (1,000 aliases each served by 10 providers), events over
the last 30 days skewed towards a few deployments, 40% through 20 agent routes, 2% failures. The usage
rollups the Usage page and `GET /api/usage` read are then built from the events with
`usage.rebuild_rollups` (the backfill an upgrade runs).

Each database is served by its own `llm-admin api` process (what users run), polled until it answers.
After a warm-up, every endpoint below is requested --requests times from one keep-alive httpx client
per server, interleaved round-robin over endpoints and servers, each request timed on the client; the
server's own time per request is read from its request log (X-Request-ID). Printed: p50/p99 per
endpoint and server, PASS/MISS against the target (p50 ≤ 100 ms for the providers and usage
endpoints), and the listing's growth: limit=500 vs 100 vs 10 (no faster than the page size), offset=900
vs offset=0, and the same page (limit=10) at 1,000 vs 10 providers. Exits 1 only if a request fails.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402
from sqlalchemy import Connection, Engine, create_engine, text  # noqa: E402

from app import db, migrate  # noqa: E402
from app.crypto import KeyRing, generate_key  # noqa: E402
from tests.pg import PostgresServer, free_port, start_postgres  # noqa: E402

TARGET_MS = 100.0
MODELS_PER_PROVIDER = 10
ROUTES = 20
DAYS = 30
TYPES = ("openai", "anthropic", "groq", "mistral", "together_ai", "gemini", "cohere", "replicate")
PASSWORD = "benchmark password 1"


@dataclass(frozen=True)
class Size:
    name: str
    providers: int
    events: int

    @property
    def models(self) -> int:
        return self.providers * MODELS_PER_PROVIDER

    @property
    def aliases(self) -> int:
        return max(1, self.models // 10)


def timed(label: str, action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.1f} s", flush=True)
    return seconds


# --- data -----------------------------------------------------------------------------------


def load_providers(size: Size, ring: KeyRing) -> None:
    """Providers as the product adds them: each validated, its API key encrypted, the change audited."""
    from app.services import providers
    from app.services.access import Actor

    actor = Actor("bench", "admin")
    with db.Session.begin() as session:
        for n in range(1, size.providers + 1):
            providers.create_provider(
                session,
                actor=actor,
                ring=ring,
                name=f"provider-{n:04d}",
                type=TYPES[n % len(TYPES)],
                secrets={"api_key": f"sk-bench-{n:04d}-0123456789abcdefghijklmnopqrstuvwxyz"},
                default_model=f"alias-{(n - 1) * MODELS_PER_PROVIDER % size.aliases:04d}",
                enabled=n % 50 != 0,
            )


def load_models(conn: Connection, size: Size) -> None:
    """10 models per provider, priced, 6 of them enabled; alias k is served by 10 providers."""
    conn.execute(
        text(
            f"""
            INSERT INTO models (provider_id, identifier, alias, enabled, input_cost_per_1m,
                output_cost_per_1m, context_window, max_output_tokens, mode, supports_streaming,
                supports_tools, supports_vision, supports_audio, supports_system_messages, status,
                is_default, extra_params, extra_model_info, version, created_at, created_by,
                updated_at, updated_by)
            SELECT p.id, 'model-' || k,
                   'alias-' || lpad((((p.rank - 1) * {MODELS_PER_PROVIDER} + k - 1) % {size.aliases})::text,
                                    4, '0'),
                   k <= 6, 0.05 + (p.id * k % 97) * 0.1, 0.2 + (p.id * k % 89) * 0.4,
                   8192 * (1 + (p.id + k) % 16), 4096, 'chat', true, k % 3 = 0, k % 5 = 0, false, true,
                   'active', k = 1, '{{}}', '{{}}', 1, now() - interval '60 days', 'bench',
                   now() - interval '1 day', 'bench'
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM providers) p,
                 generate_series(1, {MODELS_PER_PROVIDER}) k
            """
        )
    )


def load_usage(conn: Connection, size: Size) -> None:
    """Events over the last 30 days: a few deployments take most traffic (model rank ~ models·u³), 40%
    through routes (10% of those served by a fallback), 2% failures, log-normal latency around 800 ms,
    cost from the model's prices, 70% from 100 caller applications."""
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
                       1 + floor({size.models} * power(random(), 3))::int AS model_rank,
                       CASE WHEN random() < 0.4
                            THEN 'agent/type-' || lpad((1 + floor({ROUTES} * power(random(), 2)))::int::text,
                                                       2, '0') END AS route,
                       50 + floor(random() * 4000)::int AS prompt,
                       10 + floor(random() * 1000)::int AS completion,
                       random() < 0.02 AS failed,
                       CASE WHEN random() < 0.7
                            THEN 'app-' || lpad((1 + floor(100 * power(random(), 2)))::int::text, 3, '0')
                       END AS application
                FROM generate_series(1, {size.events}) g
            ) s
            JOIN (SELECT *, row_number() OVER (ORDER BY id) AS rank FROM models) m ON m.rank = s.model_rank
            JOIN providers p ON p.id = m.provider_id
            """
        )
    )


USAGE_TABLES = ("usage_events", "usage_rollups", "usage_latency_rollups", "usage_application_rollups")


@contextmanager
def indexes_built_after(engine: Engine, tables: tuple[str, ...]) -> Iterator[None]:
    """A bulk load into `tables` without their secondary indexes (primary keys and unique indexes
    stay), which are then created again from their own definitions: the same indexes, each built in
    one sort instead of row by row."""
    with engine.begin() as conn:
        found = conn.execute(
            text(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                JOIN pg_class c ON c.relname = i.indexname AND c.relnamespace = 'public'::regnamespace
                JOIN pg_index x ON x.indexrelid = c.oid
                WHERE i.schemaname = 'public' AND i.tablename = ANY(:tables) AND NOT x.indisunique
                """
            ),
            {"tables": list(tables)},
        ).all()
        for name, _ in found:
            conn.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield
    finally:

        def build() -> None:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
                for _, definition in found:
                    conn.execute(text(definition))

        timed(f"{len(found)} secondary indexes of the usage tables built", build)


def load(url: str, size: Size, ring: KeyRing) -> str:
    """Migrate and fill one database; returns an admin's API token for it."""
    from app.services import api_tokens, usage, users
    from app.services.access import Actor

    print(
        f"{size.name}: {size.providers:,} providers, {size.models:,} models, {size.events:,} usage events",
        flush=True,
    )
    timed("migrate (app.migrate.upgrade)", lambda: migrate.upgrade(url))
    db.init(url)
    took = timed(
        f"{size.providers:,} providers (providers.create_provider)", lambda: load_providers(size, ring)
    )
    print(f"    {took / size.providers * 1000:.1f} ms per provider")
    engine = create_engine(url)
    with engine.begin() as conn:
        timed(f"{size.models:,} models", lambda: load_models(conn, size))

    def rollups() -> None:
        with db.Session.begin() as session:
            usage.rebuild_rollups(session)

    with indexes_built_after(engine, USAGE_TABLES):
        with engine.begin() as conn:
            timed(f"{size.events:,} usage events", lambda: load_usage(conn, size))
        timed("usage rollups from the events (usage.rebuild_rollups)", rollups)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        timed("VACUUM ANALYZE", lambda: conn.execute(text("VACUUM ANALYZE")))
        for table in ("providers", "models", "usage_events", "usage_rollups", "usage_latency_rollups"):
            rows = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            print(f"    {table}: {rows:,} rows")
    engine.dispose()
    with db.Session.begin() as session:
        root = Actor("bench", "admin")
        users.create_user(session, actor=root, username="admin", password=PASSWORD, role="admin")
        _, token = api_tokens.create_token(session, actor=root, name="bench", username="admin")
    return token


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    """One `llm-admin api` process and a keep-alive client with an admin's token."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client


def _command() -> list[str]:
    script = Path(sys.executable).parent / "llm-admin"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


@contextmanager
def api_server(name: str, url: str, keys: str, token: str, work: Path) -> Iterator[Server]:
    data = work / name
    data.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "LLM_ADMIN_DATABASE_URL": url,
        "LLM_ADMIN_SECRET_KEYS": keys,
        "LLM_ADMIN_DATA_DIR": str(data),
    }
    log = data / "api.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*_command(), "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # ready when it answers, not after a fixed sleep
            if process.poll() is not None:
                raise SystemExit(f"llm-admin api ({name}) exited {process.returncode}:\n{log.read_text()}")
            try:
                if client.get("/api/providers?limit=1").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"llm-admin api ({name}) did not answer in 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield Server(name, process, log, client)
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    slug: str  # request-ID prefix: the server's log line is found by it
    label: str
    path: str
    target: bool  # judged against TARGET_MS
    small: bool = True  # also asked of the small table


@dataclass
class Timings:
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    items: int | None = None
    size: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.client_ms)

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.client_ms, n=100)[98]


def endpoints(top_provider: str, providers: int) -> list[Endpoint]:
    last = max(0, providers - 100)
    return [
        Endpoint("p100", "GET /api/providers (limit=100, the default)", "/api/providers", True),
        Endpoint("p10", "GET /api/providers?limit=10", "/api/providers?limit=10", True),
        Endpoint("p500", "GET /api/providers?limit=500", "/api/providers?limit=500", True),
        Endpoint(
            "poff",
            f"GET /api/providers?offset={last}&limit=100",
            f"/api/providers?offset={last}&limit=100",
            True,
            small=False,
        ),
        Endpoint("u30", "GET /api/usage (last 30 days, the default)", "/api/usage", True),
        Endpoint(
            "u1", f"GET /api/usage?provider={top_provider}", f"/api/usage?provider={top_provider}", True
        ),
        Endpoint("m100", "GET /api/models?limit=100", "/api/models?limit=100", False),
    ]


def request(server: Server, endpoint: Endpoint, request_id: str, timings: Timings | None) -> None:
    started = time.perf_counter()
    response = server.client.get(endpoint.path, headers={"X-Request-ID": request_id})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{server.name} {endpoint.path}: {response.status_code} {response.text[:300]}")
    if timings is not None:
        timings.client_ms.append(elapsed)
        timings.size = len(response.content)
        body = response.json()
        timings.items = len(body["items"]) if "items" in body else None


LOG_LINE = re.compile(r"request_id=(\S+) GET \S+ 200 ([0-9.]+)ms")


def server_times(log: Path) -> dict[str, list[float]]:
    """The server's own time per request, from its request log, by request-ID prefix."""
    found: dict[str, list[float]] = {}
    for match in LOG_LINE.finditer(log.read_text()):
        slug, _, number = match.group(1).rpartition("-")
        if number.isdigit():
            found.setdefault(slug, []).append(float(match.group(2)))
    return found


def measure(
    servers: list[Server], points: list[Endpoint], runs: int, warmup: int
) -> dict[tuple[str, str], Timings]:
    results = {(s.name, e.slug): Timings() for s in servers for e in points if e.small or s.name == "large"}
    for i in range(warmup + runs):
        for endpoint in points:
            for server in servers:
                key = (server.name, endpoint.slug)
                if key in results:
                    warm = i < warmup
                    request_id = f"warm-{i}" if warm else f"{endpoint.slug}-{i}"
                    request(server, endpoint, request_id, None if warm else results[key])
    time.sleep(0.2)  # the last log lines
    for server in servers:
        for slug, values in server_times(server.log).items():
            if (server.name, slug) in results:
                results[(server.name, slug)].server_ms = values
    return results


# --- report -----------------------------------------------------------------------------------


def report(results: dict[tuple[str, str], Timings], points: list[Endpoint], sizes: dict[str, Size]) -> None:
    large, small = sizes["large"], sizes["small"]
    print(
        f"\nms per request, client-side (server-side median in brackets); large = {large.providers:,} "
        f"providers / {large.models:,} models / {large.events:,} events, small = {small.providers:,} / "
        f"{small.models:,} / {small.events:,}; target p50 ≤ {TARGET_MS:.0f} ms"
    )
    header = (
        f"{'endpoint':<46} {'items':>5} {'KiB':>6} {'p50':>6} {'p99':>6} {'(server)':>9}  "
        f"{'small p50':>9} {'p99':>6}  verdict"
    )
    print(header)
    print("-" * len(header))
    for e in points:
        t = results[("large", e.slug)]
        server = f"({statistics.median(t.server_ms):.1f})" if t.server_ms else ""
        line = (
            f"{e.label:<46} {t.items if t.items is not None else '-':>5} {t.size / 1024:>6.0f} "
            f"{t.p50:>6.1f} {t.p99:>6.1f} {server:>9}  "
        )
        s = results.get(("small", e.slug))
        line += f"{s.p50:>9.1f} {s.p99:>6.1f}  " if s else f"{'-':>9} {'-':>6}  "
        line += ("PASS" if t.p50 <= TARGET_MS else "MISS") if e.target else "(no target)"
        print(line)

    def p50(name: str, slug: str) -> float:
        return results[(name, slug)].p50

    poff = next(e for e in points if e.slug == "poff")
    checks = [
        ("limit=500 / limit=100 (page 5× larger)", p50("large", "p500") / p50("large", "p100"), 5.0),
        ("limit=100 / limit=10 (page 10× larger)", p50("large", "p100") / p50("large", "p10"), 10.0),
        (f"{poff.path.split('?')[1]} / offset=0", p50("large", "poff") / p50("large", "p100"), 1.5),
        (
            f"limit=10 at {large.providers:,} / at {small.providers:,} providers",
            p50("large", "p10") / p50("small", "p10"),
            1.5,
        ),
    ]
    print("\nListing growth (ratios of p50, large table unless said):")
    for label, ratio, bound in checks:
        print(f"  {label:<48} {ratio:>5.2f}  [≤ {bound:g}] {'PASS' if ratio <= bound else 'MISS'}")
    if large.providers < 1_000:
        print(
            f"  (--quick: with {large.providers} providers the pages of 500 and at offset 900 are not full)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds first (default 20)")
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the sizes and 50 requests: a smoke run"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    runs = min(args.requests, 50) if args.quick else args.requests
    sizes = {
        "large": Size("large", 1_000 // scale, 1_000_000 // scale),
        "small": Size("small", 10, 10_000 // scale),
    }
    keys = generate_key()
    ring = KeyRing.from_strings((keys,))
    pg: PostgresServer = start_postgres()
    try:
        admin = create_engine(pg.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in sizes:
                conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        tokens = {name: load(pg.url(name), size, ring) for name, size in sizes.items()}
        points = endpoints("provider-0001", sizes["large"].providers)
        with tempfile.TemporaryDirectory(prefix="bench-api-") as work:
            with (
                api_server("large", pg.url("large"), keys, tokens["large"], Path(work)) as large,
                api_server("small", pg.url("small"), keys, tokens["small"], Path(work)) as small,
            ):
                print(
                    f"\n{runs} requests per endpoint and server after {args.warmup} warm-up rounds, "
                    "interleaved, one keep-alive client per `llm-admin api` process",
                    flush=True,
                )
                before = os.getloadavg()[0]
                results = measure([large, small], points, runs, args.warmup)
                after = os.getloadavg()[0]
        report(results, points, sizes)
        print(
            f"\nLoad average (1 min) {before:.1f} before measuring, {after:.1f} after, on {os.cpu_count()} "
            "CPUs: above the CPU count, other processes shared the machine and every figure is slower."
        )
        return 0
    finally:
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
