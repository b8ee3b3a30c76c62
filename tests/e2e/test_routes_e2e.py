"""Agent routes through the supervised proxy: preferred model, fallback with an alert naming both,
a local-only route that never leaves the local providers, and per-request cost limits that hold on
every step of the route."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.supervised import Supervised, add_model, add_provider, llm_admin, supervised, wait_for
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

LIMIT = 0.002  # USD per request on agent/limited
CHEAP, DEAR = (1.0, 2.0), (10.0, 40.0)  # $ per 1M input, output tokens


def provider_count(body: dict[str, Any]) -> int:
    """What a real OpenAI-style provider would report: its own tokenizer's count (o200k here)."""
    import litellm

    return int(litellm.token_counter(model="gpt-4o", messages=body.get("messages") or []))


@dataclass
class Stack:
    sup: Supervised
    up: dict[str, FakeUpstream]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    names = ("prim", "back", "home-a", "home-b", "cloud", "lim-prim", "lim-dear")
    # count once here: the first count imports LiteLLM in this process, seconds that must not fall
    # inside the proxy's 4 s wait for the upstream's first answer
    provider_count({"messages": [{"role": "user", "content": "warm up"}]})
    # every upstream answers with as many tokens as it is allowed: the worst case for a cost limit
    up = {
        n: FakeUpstream(reply=f"from {n}", completion_tokens=100_000, count_prompt=provider_count).start()
        for n in names
    }
    data = tmp_path_factory.mktemp("routes") / "data"
    llm_admin(data, "db", "upgrade")
    for name in names:
        local = ("--local",) if name.startswith("home") else ()
        add_provider(data, name, f"{up[name].base_url}/v1", *local)
    add_model(data, "prim", "primary")
    add_model(data, "back", "backup")
    add_model(data, "home-a", "local-a")
    add_model(data, "home-b", "local-b")
    add_model(data, "cloud", "cloud")
    add_model(data, "lim-prim", "cheap", cost_in=str(CHEAP[0]), cost_out=str(CHEAP[1]))
    add_model(data, "lim-dear", "dear", cost_in=str(DEAR[0]), cost_out=str(DEAR[1]))
    llm_admin(data, "route", "add", "--agent", "summarizer", "--model", "primary", "--fallback", "backup")
    llm_admin(
        data,
        "route",
        "add",
        "--agent",
        "private",
        "--model",
        "local-a",
        "--fallback",
        "local-b",
        "--local-only",
    )
    llm_admin(
        data,
        *("route", "add", "--agent", "limited", "--model", "cheap", "--fallback", "dear"),
        *("--max-cost-usd", str(LIMIT)),
    )
    # any group without its own fallbacks would go to the cloud: routes must not
    llm_admin(data, "route", "defaults", "--fallback", "cloud")
    llm_admin(data, "config", "apply", "--yes")
    try:
        with supervised(data, workers=1) as sup:
            yield Stack(sup, up)
    finally:
        for upstream in up.values():
            upstream.stop()


def ask(sup: Supervised, model: str, text: str = "hi", **extra: Any) -> Any:
    with sup.client() as client:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        return client.post("/v1/chat/completions", json=body)


def test_a_route_is_served_by_its_preferred_model(stack: Stack) -> None:
    before = len(stack.up["prim"].seen), len(stack.up["back"].seen)

    response = ask(stack.sup, "agent/summarizer")

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "from prim"
    assert (len(stack.up["prim"].seen), len(stack.up["back"].seen)) == (before[0] + 1, before[1])
    row = wait_for(
        lambda: next((r for r in stack.sup.usage() if r.route == "agent/summarizer"), None), 10, "a usage row"
    )
    assert (row.provider, row.model_group, row.fallback, row.status) == (
        "prim",
        "agent/summarizer",
        False,
        "success",
    )


def test_a_failing_preferred_model_falls_back_and_the_alert_names_both(stack: Stack) -> None:
    stack.up["prim"].mode = "error500"
    try:
        response = ask(stack.sup, "agent/summarizer")
    finally:
        stack.up["prim"].mode = "ok"

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "from back"
    alert = wait_for(lambda: next(iter(stack.sup.alerts("failover")), None), 10, "the failover alert")
    assert alert.message == "Provider prim down, using fallback back (backup served agent/summarizer)"


def test_a_local_only_route_never_reaches_the_cloud_even_with_every_local_provider_down(
    stack: Stack,
) -> None:
    cloud_before = len(stack.up["cloud"].seen)
    for name in ("home-a", "home-b"):
        stack.up[name].mode = "error500"
    try:
        failed = [ask(stack.sup, "agent/private") for _ in range(3)]
    finally:
        for name in ("home-a", "home-b"):
            stack.up[name].mode = "ok"

    assert len(stack.up["cloud"].seen) == cloud_before
    # the first attempt fails (503); then both cool down, which LiteLLM answers with 429 ("try again")
    assert [r.status_code for r in failed] == [503, 429, 429], [r.text for r in failed]
    for response in failed:
        message = response.json()["error"]["message"]
        assert "local only" in message and "home-a, home-b" in message, message
    assert len(stack.up["home-a"].seen) >= 1 and len(stack.up["home-b"].seen) >= 1


def _limited_rows(stack: Stack, after: int, count: int) -> list[Any]:
    def rows() -> list[Any] | None:
        found = [r for r in stack.sup.usage() if r.id > after and r.route == "agent/limited"]
        return found if len([r for r in found if r.status == "success"]) >= count else None

    return wait_for(rows, 10, f"{count} successful usage rows of agent/limited")


def _last_id(stack: Stack) -> int:
    return max((r.id for r in stack.sup.usage()), default=0)


def test_the_cost_limit_clamps_max_tokens_to_fit_the_dearest_step(stack: Stack) -> None:
    after = _last_id(stack)

    response = ask(stack.sup, "agent/limited", "Summarize the minutes of the meeting, please.")

    assert response.status_code == 200, response.text
    sent = stack.up["lim-prim"].seen[-1].body
    # priced at the dearest step (dear: $10/$40 per 1M), though the cheap one serves it
    assert 0 < sent["max_tokens"] <= LIMIT / (DEAR[1] / 1e6)
    [row] = [r for r in _limited_rows(stack, after, 1) if r.status == "success"]
    assert row.completion_tokens == sent["max_tokens"] and row.cost_usd <= LIMIT


def test_no_request_through_a_limited_route_costs_more_than_its_limit_fallbacks_included(
    stack: Stack,
) -> None:
    after = _last_id(stack)
    words = "the quick brown fox jumps over the lazy dog "
    cases = [
        (primary_mode, repeat, extra)
        for primary_mode in ("ok", "error500")
        for repeat in (1, 5, 15)
        for extra in ({}, {"max_tokens": 10}, {"max_tokens": 100_000}, {"n": 2})
    ]
    served = 0
    for primary_mode, repeat, extra in cases:
        stack.up["lim-prim"].mode = primary_mode
        response = ask(stack.sup, "agent/limited", words * repeat, **extra)
        assert response.status_code == 200, (primary_mode, repeat, extra, response.text)
        served += 1
        if extra.get("max_tokens") == 10:
            assert response.json()["usage"]["completion_tokens"] <= 10  # a smaller request is kept
    stack.up["lim-prim"].mode = "ok"

    rows = [r for r in _limited_rows(stack, after, served) if r.status == "success"]
    assert {r.provider for r in rows} == {"lim-prim", "lim-dear"}  # both steps served some
    assert max(r.cost_usd for r in rows) <= LIMIT
    worst = max(rows, key=lambda r: r.cost_usd)
    print(f"dearest request: ${worst.cost_usd:.6f} of ${LIMIT} on {worst.provider}")
    assert worst.cost_usd > LIMIT * 0.8  # the clamp lets the answer use what the limit allows


def test_a_prompt_that_alone_exceeds_the_limit_is_refused_with_the_limit_and_the_fix(stack: Stack) -> None:
    seen = len(stack.up["lim-prim"].seen), len(stack.up["lim-dear"].seen)

    response = ask(stack.sup, "agent/limited", "word " * 400)  # ≈ 400 tokens × $10/1M > $0.002

    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "at most $0.002 per request" in message and "Shorten the prompt" in message, message
    assert "--max-cost-usd" in message
    estimate = float(message.split("tokens, $")[1].split(" ")[0])
    assert estimate > LIMIT  # the prompt's own estimated cost, the reason for the refusal
    assert (len(stack.up["lim-prim"].seen), len(stack.up["lim-dear"].seen)) == seen


# Budgets last: once spent, they stay spent for the day.


def test_a_spent_enforced_provider_budget_sends_its_route_to_the_fallback_untried(stack: Stack) -> None:
    assert ask(stack.sup, "agent/summarizer").status_code == 200  # prim has spent something today
    stack.sup.cli(
        "budget", "add", "--provider", "prim", "--period", "daily", "--limit-usd", "0.0000001", "--enforce"
    )
    stack.sup.cli("budget", "check")
    tried = len(stack.up["prim"].seen)

    def served_by_backup() -> Any:
        response = ask(stack.sup, "agent/summarizer")
        return response if response.json()["choices"][0]["message"]["content"] == "from back" else None

    response = wait_for(served_by_backup, 10, "the backup to serve while prim's budget is spent", 0.5)
    assert response.status_code == 200
    later = [ask(stack.sup, "agent/summarizer").json()["choices"][0]["message"]["content"] for _ in range(3)]
    assert later == ["from back"] * 3
    assert len(stack.up["prim"].seen) == tried  # never tried again: not a failure, a refusal


def test_a_spent_enforced_route_budget_refuses_the_route_with_the_reason(stack: Stack) -> None:
    stack.sup.cli(
        "budget", "add", "--route", "limited", "--period", "monthly", "--limit-usd", "0.0000001", "--enforce"
    )
    stack.sup.cli("budget", "check")
    seen = len(stack.up["lim-prim"].seen)

    response = wait_for(
        lambda: (r := ask(stack.sup, "agent/limited")).status_code == 429 and r or None,
        10,
        "agent/limited to be refused",
        0.5,
    )

    message = response.json()["error"]["message"]
    assert "the budget of route limited is spent for this period" in message, message
    assert "llm-admin budget list" in message
    assert len(stack.up["lim-prim"].seen) == seen
