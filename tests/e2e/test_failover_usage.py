"""Failover through the supervised proxy: a refusing, erroring, rate-limited or hanging primary is left
for its backup quickly, and our hooks record usage rows and one failover alert per outage."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.models import UsageEvent
from tests.e2e.supervised import (
    Supervised,
    add_model,
    add_provider,
    llm_admin,
    set_router_settings,
    supervised,
    wait_for,
)
from tests.pg import free_port
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

# the backup's own token counts and prices, so a row can only match if it is the backup's
PROMPT_TOKENS, COMPLETION_TOKENS = 13, 29
COST_IN_PER_1M, COST_OUT_PER_1M = 3, 5
EXPECTED_COST = PROMPT_TOKENS * COST_IN_PER_1M / 1e6 + COMPLETION_TOKENS * COST_OUT_PER_1M / 1e6
TIMEOUT = 4  # the generator's default router timeout
MODES = ("refused", "error500", "error429", "hang")


@dataclass
class Stack:
    sup: Supervised
    backup: FakeUpstream
    primaries: dict[str, FakeUpstream]  # by mode; "refused" has none: its port is closed


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One primary group per failure mode, each falling back to the group "backup"; one supervisor."""
    backup = FakeUpstream(
        reply="from backup", prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS
    ).start()
    primaries = {
        mode: FakeUpstream(mode=mode, reply="from primary", hang_seconds=TIMEOUT + 2).start()
        for mode in MODES
        if mode != "refused"
    }
    data = tmp_path_factory.mktemp("failover") / "data"
    llm_admin(data, "db", "upgrade")
    add_provider(data, "backup-co", f"{backup.base_url}/v1")
    add_model(data, "backup-co", "backup", cost_in=str(COST_IN_PER_1M), cost_out=str(COST_OUT_PER_1M))
    for mode in MODES:
        base = f"{primaries[mode].base_url}/v1" if mode in primaries else f"http://127.0.0.1:{free_port()}/v1"
        add_provider(data, f"down-{mode}", base)
        add_model(data, f"down-{mode}", f"primary-{mode}")
    set_router_settings(data, {"fallbacks": [{f"primary-{mode}": ["backup"]} for mode in MODES]})
    llm_admin(data, "config", "apply", "--yes")
    try:
        with supervised(data, workers=2) as sup:
            yield Stack(sup, backup, primaries)
    finally:
        backup.stop()
        for upstream in primaries.values():
            upstream.stop()


def last_usage_id(sup: Supervised) -> int:
    return max((row.id for row in sup.usage()), default=0)


def backup_rows(sup: Supervised, after: int, *, fallback: bool, count: int) -> list[UsageEvent]:
    """The backup's success rows written after row `after`, once there are `count` of them."""

    def rows() -> list[UsageEvent] | None:
        found = [
            r
            for r in sup.usage()
            if r.id > after and r.status == "success" and r.model_group == "backup" and r.fallback is fallback
        ]
        return found if len(found) >= count else None

    return wait_for(rows, 10, f"{count} usage row(s) of the backup")


def test_a_direct_call_to_the_backup_is_recorded_without_fallback(stack: Stack) -> None:
    sup = stack.sup
    after = last_usage_id(sup)
    latencies = []
    for _ in range(2):  # the first request on a fresh worker pays for its warm-up
        started = time.monotonic()
        response = sup.chat("backup")
        latencies.append(time.monotonic() - started)
        assert response.status_code == 200, response.text

    print(f"direct calls to the backup: {', '.join(f'{s * 1000:.0f}' for s in latencies)} ms")
    rows = backup_rows(sup, after, fallback=False, count=2)
    for row in rows:
        assert (row.provider, row.prompt_tokens, row.completion_tokens) == (
            "backup-co",
            PROMPT_TOKENS,
            COMPLETION_TOKENS,
        )
        assert math.isclose(row.cost_usd, EXPECTED_COST, rel_tol=1e-9)
        assert row.error_class is None and row.revision == 1 and row.latency_ms is not None
    assert sup.alerts("failover") == []


@pytest.mark.parametrize(
    ("mode", "requests", "limit"),
    [("refused", 3, 2.0), ("error500", 3, 2.0), ("error429", 3, 2.0), ("hang", 2, TIMEOUT + 2.0)],
)
def test_a_failing_primary_is_served_by_its_fallback(
    stack: Stack, mode: str, requests: int, limit: float
) -> None:
    sup, primary_provider = stack.sup, f"down-{mode}"
    after = last_usage_id(sup)
    tried_before = len(stack.primaries[mode].seen) if mode in stack.primaries else 0

    latencies = []
    for _ in range(requests):
        started = time.monotonic()
        response = sup.chat(f"primary-{mode}")
        latencies.append(time.monotonic() - started)
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{sup.logs()}"
        assert response.json()["choices"][0]["message"]["content"] == "from backup"
        assert response.headers["x-litellm-model-group"] == "backup"

    print(f"{mode}: {', '.join(f'{s * 1000:.0f}' for s in latencies)} ms")
    assert max(latencies) < limit
    if mode in stack.primaries:
        assert len(stack.primaries[mode].seen) > tried_before  # the proxy did try the primary first

    rows = backup_rows(sup, after, fallback=True, count=requests)
    assert len(rows) == requests
    for row in rows:
        assert (row.provider, row.model_group, row.prompt_tokens, row.completion_tokens) == (
            "backup-co",
            "backup",
            PROMPT_TOKENS,
            COMPLETION_TOKENS,
        )
        assert math.isclose(row.cost_usd, EXPECTED_COST, rel_tol=1e-9)
        assert row.status == "success" and row.revision == 1 and row.deployment

    failed = [r for r in sup.usage() if r.id > after and r.provider == primary_provider]
    assert failed, "the primary's failed attempt has a usage row"
    assert all(r.status == "failure" and r.error_class and not r.fallback for r in failed)
    assert all(r.prompt_tokens == r.completion_tokens == 0 and r.cost_usd == 0 for r in failed)
    if mode == "hang":
        assert {r.error_class for r in failed} == {"Timeout"}
    if mode == "error429":
        assert {r.error_class for r in failed} == {"RateLimitError"}

    def outage_alerts() -> list | None:
        found = [a for a in sup.alerts("failover") if a.provider == primary_provider]
        return found if found and sum(a.occurrences for a in found) >= requests else None

    alerts = wait_for(outage_alerts, 10, f"the failover alert for {primary_provider}")
    assert len(alerts) == 1, [(a.message, a.occurrences) for a in alerts]
    [alert] = alerts
    assert alert.occurrences == requests
    assert alert.severity == "warning" and alert.acknowledged_at is None
    assert alert.message == (
        f"Provider {primary_provider} down, using fallback backup-co (backup served primary-{mode})"
    )
