"""The `ha` topology for real: two supervised proxies on one data volume, a real Redis for the router's
shared state, a real PostgreSQL. An apply goes live on both (verified on each) with zero failed
requests, and a deployment one proxy puts in cooldown is skipped by the other."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.crypto import generate_key
from app.runtime.proxy_state import ProxyState, state_path
from app.settings import load_settings
from tests.e2e.proxy import running
from tests.e2e.supervised import BIN, Load, add_model, add_provider, llm_admin, wait_for
from tests.pg import PostgresServer, free_port
from tests.redis_server import redis_server
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e
REDIS_PASSWORD = "redis-pass-for-the-ha-test"
MASTER_KEY = "sk-ha-test-master-key-0123456789"
NAMES = ("proxy-a", "proxy-b")
LIVE_ON_BOTH = re.compile(
    r"^revision (\d+) live on 2 proxies \(proxy-a in \d+ ms, proxy-b in \d+ ms\)$", re.M
)


@dataclass
class Cluster:
    data: Path
    env: dict[str, str]
    urls: dict[str, str]
    key: str
    primary: FakeUpstream
    backup: FakeUpstream

    def cli(self, *args: str) -> str:
        return llm_admin(self.data, *args, **self.env).stdout

    def state(self, name: str) -> ProxyState | None:
        settings = load_settings({"LLM_ADMIN_DATA_DIR": str(self.data), "LLM_ADMIN_PROXY_NAME": name})
        return ProxyState.load(state_path(settings))

    def chat(self, name: str, model: str = "agent/chat") -> httpx.Response:
        with httpx.Client(headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as client:
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            return client.post(f"{self.urls[name]}/v1/chat/completions", json=body)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("ha")
    data = root / "data"
    primary = FakeUpstream(reply="from primary").start()
    backup = FakeUpstream(reply="from backup").start()
    with ExitStack() as stack:
        redis_port = stack.enter_context(redis_server(root / "redis", REDIS_PASSWORD))
        from tests.conftest import _create_pg_database

        env = {
            "LLM_ADMIN_DATABASE_URL": _create_pg_database(postgres, "llm_admin_ha"),
            "LLM_ADMIN_REDIS_HOST": "127.0.0.1",
            "LLM_ADMIN_REDIS_PORT": str(redis_port),
            "LLM_ADMIN_REDIS_PASSWORD_ENV": "REDIS_PASSWORD",
            "REDIS_PASSWORD": REDIS_PASSWORD,
            # production-like: keys from the environment, not files on the shared volume
            "LLM_ADMIN_SECRET_KEYS": generate_key(),
            "LITELLM_MASTER_KEY": MASTER_KEY,
        }
        llm_admin(data, "db", "upgrade", **env)
        add_provider(data, "primary-co", f"{primary.base_url}/v1", **env)
        add_provider(data, "backup-co", f"{backup.base_url}/v1", **env)
        add_model(data, "primary-co", "primary", **env)
        add_model(data, "backup-co", "backup", **env)
        llm_admin(
            data, "route", "add", "--agent", "chat", "--model", "primary", "--fallback", "backup", **env
        )
        llm_admin(data, "config", "apply", "--yes", **env)
        urls = {}
        for name in NAMES:
            port = free_port()
            proxy = stack.enter_context(
                running(
                    [str(BIN / "llm-admin"), "proxy", "run", "--port", str(port), "--workers", "1"],
                    port=port,
                    env={"LLM_ADMIN_DATA_DIR": str(data), "LLM_ADMIN_PROXY_NAME": name, **env},
                    log_path=data / "logs" / f"supervisor-{name}.log",
                )
            )
            urls[name] = proxy.url
        c = Cluster(data, env, urls, MASTER_KEY, primary, backup)
        for name in NAMES:
            wait_for(lambda n=name: (s := c.state(n)) and s.live_revision, 60, f"{name} to go live")
        yield c
    primary.stop()
    backup.stop()


def chats(upstream: FakeUpstream) -> int:
    """Chat requests the upstream received (LiteLLM may also list its models now and then)."""
    return sum(1 for s in upstream.seen if s.method == "POST")


def test_an_apply_goes_live_on_both_proxies_under_load_with_no_failed_request(cluster: Cluster) -> None:
    revisions = []
    with Load(list(cluster.urls.values()), cluster.key, clients=4, model="backup") as load:
        for i in range(3):
            add_model(cluster.data, "backup-co", f"extra-{i}", model=f"fake-model-{i}", **cluster.env)
            out = cluster.cli("config", "apply", "--yes")
            match = LIVE_ON_BOTH.search(out)
            assert match, out
            revisions.append(int(match.group(1)))

    print(
        f"{load.ok} requests through the two proxies during 3 applies, {sum(load.failures.values())} failed"
    )
    assert load.ok > 100 and not load.failures, load.failures
    for name in NAMES:
        state = cluster.state(name)
        assert state is not None and state.live_revision == revisions[-1]
    status = cluster.cli("proxy", "status")
    assert "[proxy-a]" in status and "[proxy-b]" in status
    assert status.count(f"revision live: {revisions[-1]}") == 2


def test_a_cooldown_set_by_one_proxy_is_honoured_by_the_other(cluster: Cluster) -> None:
    cluster.primary.mode = "error500"
    try:
        first = cluster.chat("proxy-a")  # proxy-a tries the primary, fails over, cools the primary down
        tried = chats(cluster.primary)
        # a replica re-reads cooldowns from Redis at most once a second (LiteLLM's
        # DEFAULT_COOLDOWN_REDIS_READ_INTERVAL_SECONDS): after that proxy-b knows
        time.sleep(1.5)
        second = [cluster.chat("proxy-b") for _ in range(3)]
    finally:
        cluster.primary.mode = "ok"

    assert first.status_code == 200 and first.json()["choices"][0]["message"]["content"] == "from backup"
    assert [r.json()["choices"][0]["message"]["content"] for r in second] == ["from backup"] * 3
    # proxy-b never tried the primary itself: it read proxy-a's cooldown from Redis
    assert chats(cluster.primary) == tried
