"""Caller keys through the supervised proxy: LiteLLM calls our custom_auth for every request.

Each refusal with its status and message, scope, rate limits with Retry-After, a spent budget,
revocation within the stated bound, serving while the database is down, the management routes a
caller key cannot reach, and usage rows attributed to the application.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from app.crypto import generate_key
from app.models import CallerKey, UsageEvent
from app.proxy.auth import REFRESH_SECONDS
from tests.e2e.supervised import Supervised, add_model, add_provider, llm_admin, supervised, wait_for
from tests.pg import start_postgres
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

# LiteLLM's management routes a caller key must not reach (each exists in LiteLLM 1.106): keys,
# users, teams, models, credentials, config, settings, callbacks, debugging, guardrails, spend, UI
MANAGEMENT_ROUTES = [
    ("GET", "/key/list"),
    ("POST", "/key/generate"),
    ("GET", "/key/info"),
    ("POST", "/key/delete"),
    ("GET", "/user/list"),
    ("POST", "/user/new"),
    ("GET", "/team/list"),
    ("POST", "/team/new"),
    ("GET", "/model/info"),
    ("GET", "/v1/model/info"),
    ("POST", "/model/new"),
    ("POST", "/model/delete"),
    ("GET", "/credentials"),
    ("GET", "/credentials/by_model/some-id"),
    ("GET", "/settings"),
    ("GET", "/router/settings"),
    ("GET", "/get/config/callbacks"),
    ("POST", "/config/update"),
    ("GET", "/config/yaml"),
    ("GET", "/debug/asyncio-tasks"),
    ("POST", "/guardrails/test_custom_code"),
    ("GET", "/global/spend/logs"),
    ("GET", "/spend/logs"),
    ("GET", "/health"),
    ("GET", "/routes"),
    ("GET", "/health/readiness"),
    ("GET", "/openapi.json"),
    ("GET", "/ui"),
]


@dataclass
class Stack:
    sup: Supervised
    upstream: FakeUpstream
    keys: dict[str, str]  # application → plain key


def create_key(data: Path, application: str, *extra: str, **env: str) -> str:
    done = llm_admin(data, "key", "create", "--application", application, *extra, **env)
    return done.stdout.splitlines()[0].strip()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    upstream = FakeUpstream(reply="hello", prompt_tokens=11, completion_tokens=7).start()
    data = tmp_path_factory.mktemp("keys") / "data"
    llm_admin(data, "db", "upgrade")
    add_provider(data, "up", f"{upstream.base_url}/v1")
    add_model(data, "up", "chat-a")
    add_model(data, "up", "chat-b", model="fake-model-b")
    llm_admin(data, "route", "add", "--agent", "summarizer", "--model", "chat-a")
    keys = {
        "all-app": create_key(data, "all-app"),
        "scoped-app": create_key(data, "scoped-app", "--models", "chat-a,agent/summarizer"),
        "limited-app": create_key(data, "limited-app", "--rpm", "2"),
        "budget-app": create_key(data, "budget-app"),
        "revoke-app": create_key(data, "revoke-app"),
        "expired-app": create_key(data, "expired-app"),
        "rotate-app": create_key(data, "rotate-app"),
    }
    llm_admin(data, "config", "apply", "--yes")
    try:
        # one worker: the rpm test's two requests meet the same limiter (with N workers each allows 1/N)
        with supervised(data, workers=1) as sup:
            yield Stack(sup, upstream, keys)
    finally:
        upstream.stop()


def call(
    sup: Supervised,
    key: str | None,
    path: str = "/v1/chat/completions",
    *,
    model: str = "chat-a",
    method: str = "POST",
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if path.endswith("embeddings"):
        body = {"model": model, "input": ["hi"]}
    with httpx.Client(base_url=sup.url, timeout=30) as client:
        if method == "GET":
            return client.get(path, headers=headers)
        return client.post(path, headers=headers, json=body)


def message(response: httpx.Response) -> str:
    error = response.json().get("error") or {}
    return str(error.get("message") if isinstance(error, dict) else error)


def db_engine(sup: Supervised):  # type: ignore[no-untyped-def]
    return create_engine(f"sqlite:///{sup.data_dir / 'llm-admin.db'}")


def test_a_caller_key_calls_models(stack: Stack) -> None:
    response = call(stack.sup, stack.keys["all-app"])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "hello"


def test_no_key_is_refused_with_401_saying_what_to_send(stack: Stack) -> None:
    response = call(stack.sup, None)
    assert response.status_code == 401, response.text
    assert "no caller key" in message(response) and "Authorization: Bearer" in message(response)


def test_an_unknown_key_is_refused_with_401(stack: Stack) -> None:
    response = call(stack.sup, "llmk_" + "x" * 43)
    assert response.status_code == 401, response.text
    assert "unknown caller key llmk_xxxxxxxx" in message(response)
    assert "x" * 20 not in response.text  # never the whole key back


def test_an_expired_key_is_refused_with_401(stack: Stack) -> None:
    engine = db_engine(stack.sup)
    with Session(engine) as session, session.begin():
        session.execute(
            update(CallerKey)
            .where(CallerKey.application == "expired-app")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    engine.dispose()
    response = wait_for(
        lambda: (r := call(stack.sup, stack.keys["expired-app"])).status_code == 401 and r,
        REFRESH_SECONDS * 10,
        "the expired key to be refused",
    )
    assert "the caller key of expired-app expired at" in message(response)


def test_a_scoped_key_reaches_only_its_models(stack: Stack) -> None:
    key = stack.keys["scoped-app"]
    assert call(stack.sup, key, model="chat-a").status_code == 200
    assert call(stack.sup, key, model="agent/summarizer").status_code == 200
    refused = call(stack.sup, key, model="chat-b")
    assert refused.status_code == 403, refused.text
    assert message(refused).startswith(
        "the caller key of scoped-app may call agent/summarizer, chat-a; not chat-b"
    )
    listed = call(stack.sup, key, "/v1/models", method="GET")
    assert listed.status_code == 200, listed.text
    assert {m["id"] for m in listed.json()["data"]} == {"chat-a", "agent/summarizer"}


def test_over_its_rpm_a_key_gets_429_with_retry_after(stack: Stack) -> None:
    key = stack.keys["limited-app"]
    statuses = [call(stack.sup, key).status_code for _ in range(2)]
    assert statuses == [200, 200]
    refused = call(stack.sup, key)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert "Rate limit exceeded" in message(refused)


def test_caller_keys_are_refused_on_management_routes(stack: Stack) -> None:
    key = stack.keys["all-app"]
    answers = {}
    for method, path in MANAGEMENT_ROUTES:
        response = call(stack.sup, key, path, method=method)
        answers[path] = response.status_code
        assert response.status_code in (401, 403), (
            f"{method} {path}: {response.status_code} {response.text[:300]}"
        )
        assert "api_base" not in response.text and "sk-" not in response.text
    # and the master key still reaches them (ops)
    with stack.sup.client() as client:
        assert client.get("/v1/model/info").status_code == 200
        assert client.get("/health/readiness").status_code == 200


def test_without_a_key_only_liveness_answers(stack: Stack) -> None:
    assert call(stack.sup, None, "/health/liveliness", method="GET").status_code == 200
    for method, path in MANAGEMENT_ROUTES:
        response = call(stack.sup, None, path, method=method)
        assert response.status_code in (401, 403, 404), f"{method} {path}: {response.status_code}"
        assert response.status_code != 500


def test_a_revoked_key_is_refused_within_the_bound(stack: Stack) -> None:
    key = stack.keys["revoke-app"]
    assert call(stack.sup, key).status_code == 200
    llm_admin(stack.sup.data_dir, "key", "revoke", "revoke-app")
    revoked_at = time.monotonic()
    response = wait_for(
        lambda: (r := call(stack.sup, key)).status_code == 401 and r, 30, "the revoked key to be refused"
    )
    took = time.monotonic() - revoked_at
    assert "the caller key of revoke-app was revoked" in message(response)
    # the stated bound: one refresh interval, plus a request's time on this busy machine
    assert took < REFRESH_SECONDS + 3.0, took


def test_a_rotated_key_keeps_working_through_the_overlap(stack: Stack) -> None:
    old = stack.keys["rotate-app"]
    done = llm_admin(stack.sup.data_dir, "key", "rotate", "rotate-app", "--overlap-seconds", "600")
    new = done.stdout.splitlines()[0].strip()
    assert call(stack.sup, new).status_code == 200
    assert call(stack.sup, old).status_code == 200


def test_an_enforced_application_budget_refuses_with_429_naming_it(stack: Stack) -> None:
    key = stack.keys["budget-app"]
    assert call(stack.sup, key).status_code == 200
    wait_for(
        lambda: [r for r in stack.sup.usage() if r.application == "budget-app"], 30, "budget-app's usage row"
    )
    llm_admin(
        stack.sup.data_dir,
        *("budget", "add", "--application", "budget-app", "--period", "daily", "--limit-usd", "0.000001"),
        "--enforce",
    )
    response = wait_for(
        lambda: (r := call(stack.sup, key)).status_code == 429 and r, 30, "the spent budget to refuse"
    )
    assert "the budget of application budget-app, application budget-app (daily $0.00)" in message(response)


def test_usage_rows_name_the_application_and_refusals_are_not_provider_failures(stack: Stack) -> None:
    call(stack.sup, stack.keys["scoped-app"], model="chat-b")  # refused: 403

    def rows() -> list[UsageEvent] | None:
        found = [r for r in stack.sup.usage() if r.application == "scoped-app"]
        return found if any(r.status == "refused" for r in found) else None

    found = wait_for(rows, 30, "scoped-app's refused usage row")
    served = [r for r in found if r.status == "success"]
    assert served and all(r.provider == "up" for r in served)
    refused = [r for r in found if r.status == "refused"]
    assert all(r.provider is None and r.deployment is None for r in refused)
    assert not [r for r in stack.sup.usage() if r.status == "failure"]


def test_the_proxy_serves_valid_keys_while_the_database_is_down(tmp_path: Path) -> None:
    """PostgreSQL stopped under a running proxy: known keys keep working, unknown ones are still refused."""
    upstream = FakeUpstream(reply="hello").start()
    server = start_postgres()
    master = "sk-master-" + "m" * 32
    env = {
        "LLM_ADMIN_DATABASE_URL": server.url(),
        "LLM_ADMIN_SECRET_KEYS": generate_key(),
        "LITELLM_MASTER_KEY": master,
    }
    data = tmp_path / "data"
    data.mkdir()
    (data / "master.key").write_text(master + "\n")  # what supervised() reads the master key from
    try:
        llm_admin(data, "db", "upgrade", **env)
        add_provider(data, "up", f"{upstream.base_url}/v1", **env)
        add_model(data, "up", "chat-a", **env)
        key = create_key(data, "steady-app", **env)
        llm_admin(data, "config", "apply", "--yes", **env)
        with supervised(data, workers=1, env=env) as sup:
            assert call(sup, key).status_code == 200
            server.stop()
            assert call(sup, key).status_code == 200
            # a full refresh interval and more with the database gone: the verdict still holds
            deadline = time.monotonic() + 3 * REFRESH_SECONDS
            while time.monotonic() < deadline:
                response = call(sup, key)
                assert response.status_code == 200, response.text
            refused = call(sup, "llmk_" + "y" * 43)
            assert refused.status_code == 401, refused.text
    finally:
        server.stop()
        upstream.stop()
