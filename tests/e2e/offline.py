"""The supervised proxy on a machine cut off from the internet, as an air-gapped site runs it.

`inside_namespace(argv, dns)` runs a command in a network namespace of its own that has only loopback,
with /etc/resolv.conf pointing at a DNS server on 127.0.0.2 that this module runs there: in "fail" mode
it refuses every lookup at once (outside DNS failing fast), in "hang" mode it never answers (a resolver
that times out). Either way it records every name it was asked, so a run shows whether anything on the
request path tried to reach outside. Nothing leaves the namespace: it has no route but loopback.

`python -m tests.e2e.offline --dns fail|hang --requests N` (run inside the namespace) sets up one
OpenAI-compatible stand-in serving an OpenAI model and a Llama model, a cost-limited route on each,
the supervised proxy, and sends N chat requests per route, alternating; it prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DNS_ADDRESS = "127.0.0.2"
MODELS = {"gpt": "gpt-4o-mini", "llama": "meta-llama/Llama-3.1-8B-Instruct"}
LIMIT_USD = "0.01"


def inside_namespace(argv: list[str], *, workdir: Path) -> list[str]:
    """argv, run in a new network + mount namespace with loopback only and our DNS server's address."""
    resolv = workdir / "resolv.conf"
    resolv.write_text(f"nameserver {DNS_ADDRESS}\noptions timeout:5 attempts:2\n")
    script = f'mount --bind {resolv} /etc/resolv.conf && ip link set lo up && exec "$@"'
    return ["unshare", "--net", "--mount", "--", "sh", "-c", script, "sh", *argv]


def can_isolate() -> bool:
    """Network namespaces need root (CAP_SYS_ADMIN) and util-linux's unshare."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("ip") is not None


class DnsServer:
    """Answers every query REFUSED at once ("fail") or never ("hang"); records the names asked."""

    def __init__(self, mode: str):
        self.mode = mode
        self.names: list[str] = []
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((DNS_ADDRESS, 53))

    def start(self) -> DnsServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def _serve(self) -> None:
        while True:
            packet, peer = self._socket.recvfrom(4096)
            with self._lock:
                self.names.append(_question(packet))
            if self.mode == "fail":  # the header with QR=1 and RCODE=5 (REFUSED), the question echoed
                flags = struct.unpack("!H", packet[2:4])[0]
                self._socket.sendto(
                    packet[:2] + struct.pack("!H", 0x8000 | (flags & 0x0100) | 5) + packet[4:], peer
                )

    def asked(self) -> list[str]:
        with self._lock:
            return list(self.names)


def _question(packet: bytes) -> str:
    labels, at = [], 12
    while at < len(packet) and packet[at]:
        length = packet[at]
        labels.append(packet[at + 1 : at + 1 + length].decode(errors="replace"))
        at += 1 + length
    return ".".join(labels)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(dns_mode: str, requests: int) -> dict[str, Any]:
    from tests.e2e.supervised import add_provider, llm_admin, supervised
    from tests.standins.custom import CustomStandIn

    dns = DnsServer(dns_mode).start()
    upstream = CustomStandIn(api_key="sk-offline-upstream", models=tuple(MODELS.values())).start()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        llm_admin(data, "db", "upgrade")
        add_provider(data, "local-gpu", f"{upstream.url}/v1", key="sk-offline-upstream")
        for alias, identifier in MODELS.items():
            llm_admin(
                data,
                *("model", "add", "--provider", "local-gpu", "--model", identifier, "--alias", alias),
                *("--input-cost-per-1m", "1", "--output-cost-per-1m", "2", "--enable"),
            )
            llm_admin(data, "route", "add", "--agent", alias, "--model", alias, "--max-cost-usd", LIMIT_USD)
        llm_admin(data, "config", "apply", "--yes")
        with supervised(data, workers=1) as sup, sup.client() as client:
            latencies: dict[str, list[float]] = {alias: [] for alias in MODELS}
            failed: list[str] = []

            def send(alias: str) -> None:
                body = {"model": f"agent/{alias}", "messages": [{"role": "user", "content": "Summarize: hi"}]}
                started = time.perf_counter()
                response = client.post("/v1/chat/completions", json=body)
                latencies[alias].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    failed.append(f"{alias}: HTTP {response.status_code} {response.text[:200]}")

            for alias in MODELS:  # a first request per route: connections and caches warm up
                send(alias)
            at_boot = dns.asked()
            for alias in MODELS:
                latencies[alias].clear()
            for _ in range(requests):
                for alias in MODELS:
                    send(alias)
            during = dns.asked()[len(at_boot) :]
    upstream.stop()
    return {
        "dns": dns_mode,
        "requests_per_route": requests,
        "failed": failed,
        "p50_ms": {a: round(statistics.median(v), 2) for a, v in latencies.items()},
        "p99_ms": {a: round(_percentile(v, 0.99), 2) for a, v in latencies.items()},
        "lookups_at_boot": sorted(set(at_boot)),
        "lookups_during_requests": sorted(set(during)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dns", choices=["fail", "hang"], required=True)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(args.dns, args.requests)))


if __name__ == "__main__":
    sys.exit(main())
