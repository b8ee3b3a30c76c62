"""Caller-key auth overhead, measured side by side in one run through one supervised proxy.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/caller_keys.py [--requests 1000]

The same proxy (1 worker, our hooks and custom_auth loaded) answers chat requests from two keep-alive
clients, one with a caller key (judged by app/proxy/auth.py: snapshot lookup, scope, limits) and one
with the master key, interleaved one for one against a loopback upstream. Prints p50 and p99 of
each and their ratio (target: p50 ratio ≤ 1.05).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402

from tests.e2e.supervised import add_model, add_provider, llm_admin, supervised  # noqa: E402
from tests.upstream import FakeUpstream  # noqa: E402

BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def timed(client: httpx.Client) -> float:
    start = time.perf_counter()
    response = client.post("/v1/chat/completions", json=BODY)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise SystemExit(f"request failed: {response.status_code} {response.text[:300]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per key (default 1000)")
    args = parser.parse_args()
    upstream = FakeUpstream(reply="hello").start()
    with tempfile.TemporaryDirectory(prefix="bench-keys-") as tmp:
        data = Path(tmp) / "data"
        llm_admin(data, "db", "upgrade")
        add_provider(data, "up", f"{upstream.base_url}/v1")
        add_model(data, "up", "chat")
        created = llm_admin(
            data, "key", "create", "--application", "bench-app", "--models", "chat", "--rpm", "1000000"
        )
        caller_key = created.stdout.splitlines()[0].strip()
        llm_admin(data, "config", "apply", "--yes")
        try:
            with supervised(data, workers=1) as sup:
                clients = {
                    "caller": httpx.Client(
                        base_url=sup.url, headers={"Authorization": f"Bearer {caller_key}"}, timeout=30
                    ),
                    "master": httpx.Client(
                        base_url=sup.url, headers={"Authorization": f"Bearer {sup.master_key}"}, timeout=30
                    ),
                }
                for client in clients.values():  # warm up: connections, caches, LiteLLM's first-call paths
                    for _ in range(50):
                        timed(client)
                times: dict[str, list[float]] = {name: [] for name in clients}
                for i in range(args.requests):
                    order = list(clients) if i % 2 == 0 else list(reversed(clients))
                    for name in order:
                        times[name].append(timed(clients[name]))
                for client in clients.values():
                    client.close()
        finally:
            upstream.stop()
    print(f"caller-key auth vs master key: {args.requests} requests each, interleaved, 1 worker, same proxy")
    q = {name: statistics.quantiles(values, n=100) for name, values in times.items()}
    p50 = {name: statistics.median(values) for name, values in times.items()}
    for name in times:
        print(f"   {name:6s} p50 {p50[name]:6.2f} ms  p99 {q[name][98]:6.2f} ms")
    print(
        f"   ratio caller/master: p50 {p50['caller'] / p50['master']:.3f}  "
        f"p99 {q['caller'][98] / q['master'][98]:.3f}  [target p50 ≤ 1.05]"
    )


if __name__ == "__main__":
    main()
