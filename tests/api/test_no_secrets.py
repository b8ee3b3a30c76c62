"""No secret in any response: with providers holding real-looking keys, tokens, caller keys, users
and an applied config revision, every GET endpoint of the OpenAPI document (each per-id one for
every row) is read as an admin, and no body or header carries a key, a token, a password, a hash
or a ciphertext. Only the endpoints that exist to hand one out (reveal, a new token or caller key)
return their own, and nothing else."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app import db
from app.models import ApiToken, CallerKey, ProviderCredential, User
from tests.api.conftest import MASTER, Api
from tests.api.rows import ANTHROPIC_KEY, OPENAI_KEY

AZURE_KEY = "3f9a1c7e5b2d4f608a1b3c5d7e9f0a2b"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PASSWORD = "bobs-password-9876"


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), (response.request.url, response.text)
    body: dict[str, Any] = response.json()
    return body


def _seed(api: Api) -> tuple[dict[str, str], list[httpx.Response], dict[str, list[Any]]]:
    """Rows with every kind of secret, made through the API. Returns the secrets (what → value), the
    responses that must carry none, and the values to fill each path parameter with."""
    admin = api.client("admin")
    secrets = {f"{role} token": token for role, token in api.tokens.items()}
    secrets.update(
        {
            "openai key": OPENAI_KEY,
            "anthropic key": ANTHROPIC_KEY,
            "azure key": AZURE_KEY,
            "aws secret": AWS_SECRET,
            "seed password": "a-long-password-1",
            "new password": PASSWORD,
            "master key": MASTER,
        }
    )
    secrets.update({f"secret key {i}": key for i, key in enumerate(api.settings.secret_keys)})
    quiet: list[httpx.Response] = []

    def made(response: httpx.Response) -> dict[str, Any]:
        quiet.append(response)
        return _ok(response)

    bodies = [
        {"name": "OpenAI Prod", "type": "openai", "secrets": {"api_key": OPENAI_KEY}},
        {"name": "Claude", "type": "anthropic", "secrets": {"api_key": ANTHROPIC_KEY}},
        {
            "name": "Azure",
            "type": "azure_openai",
            "base_url": "https://example-res.openai.azure.com",
            "secrets": {"api_key": AZURE_KEY},
            "params": {"api_version": "2024-10-21"},
        },
        {
            "name": "Bedrock",
            "type": "bedrock",
            "secrets": {"aws_access_key_id": AWS_ID, "aws_secret_access_key": AWS_SECRET},
        },
        {"name": "From Env", "type": "groq", "secret_envs": {"api_key": "GROQ_API_KEY"}},
    ]
    pids = [made(admin.post("/api/providers", json=b))["id"] for b in bodies]
    mids = [
        made(admin.post("/api/models", json={"provider_id": pids[0], "identifier": m, "enabled": True}))["id"]
        for m in ("gpt-4o-mini", "gpt-4o")
    ]
    mids.append(
        made(
            admin.post("/api/models", json={"provider_id": pids[1], "identifier": "claude-3-5-haiku-latest"})
        )["id"]
    )
    made(admin.put(f"/api/providers/{pids[0]}", json={"secrets": {"api_key": OPENAI_KEY + "2"}}))
    secrets["replaced openai key"] = OPENAI_KEY + "2"
    made(admin.post(f"/api/providers/{pids[0]}/template", json={"name": "Team OpenAI"}))
    made(admin.put("/api/routes/code-review", json={"model": "gpt-4o-mini", "fallbacks": ["gpt-4o"]}))
    budget = made(
        admin.post(
            "/api/budgets",
            json={"scope": "provider", "target": "OpenAI Prod", "period": "daily", "limit_usd": 5},
        )
    )
    made(admin.post("/api/users", json={"username": "bob", "password": PASSWORD, "role": "operator"}))

    # the three answers that exist to hand a secret out: each has its own, and only that
    revealed = _ok(admin.post(f"/api/providers/{pids[1]}/reveal", json={}))
    assert revealed["value"] == ANTHROPIC_KEY
    token = _ok(admin.post("/api/tokens", json={"name": "bob-ci", "username": "bob"}))
    secrets["bob token"] = token["token"]
    caller = _ok(admin.post("/api/caller-keys", json={"application": "ci-bot"}))
    secrets["caller key"] = caller["key"]
    rotated = _ok(admin.post(f"/api/caller-keys/{caller['id']}/rotate", json={"overlap_seconds": 60}))
    secrets["rotated caller key"] = rotated["key"]
    handed_out = {
        "anthropic key": revealed,
        "bob token": token,
        "caller key": caller,
        "rotated caller key": rotated,
    }
    for what, body in handed_out.items():
        others = {k: v for k, v in secrets.items() if k != what and v not in secrets[what]}
        assert _leaks(str(body), others) == [], what

    applied = _ok(admin.post("/api/config/apply", json={"wait": False}))
    with db.Session() as session:
        for value in itertools.chain(
            session.scalars(select(User.password_hash)),
            session.scalars(select(ApiToken.token_hash)),
            session.scalars(select(CallerKey.key_hash)),
            session.scalars(select(CallerKey.previous_hash)),
            session.scalars(select(ProviderCredential.ciphertext)),
        ):
            if value:
                secrets[f"stored {value[:12]}…"] = value
        users = list(session.scalars(select(User.id)))
    fill: dict[str, list[Any]] = {
        "provider_id": pids,
        "model_id": mids,
        "name": ["Team OpenAI", "OpenAI", "Anthropic"],
        "agent_type": ["code-review"],
        "budget_id": [budget["id"]],
        "key_id": [caller["id"]],
        "number": [applied["applied"]["number"]],
        "user_id": users,
    }
    return secrets, quiet, fill


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [what for what, value in secrets.items() if value and value in text]


def _get_endpoints(api: Api) -> list[tuple[str, list[str], list[str]]]:
    """Each GET endpoint: its path, its path parameters, its required query parameters."""
    document = api.anonymous().get("/api/openapi.json").json()
    found = []
    for path, operations in sorted(document["paths"].items()):
        if "get" in operations:
            params = operations["get"].get("parameters", [])
            in_path = [p["name"] for p in params if p["in"] == "path"]
            required = [p["name"] for p in params if p["in"] == "query" and p.get("required")]
            found.append((path, in_path, required))
    return found


def test_no_get_endpoint_answers_with_a_secret(api: Api) -> None:
    secrets, quiet, fill = _seed(api)
    for response in quiet:  # what creating and changing the rows answered
        assert _leaks(response.text, secrets) == [], response.request.url

    admin = api.client("admin")
    endpoints = _get_endpoints(api)
    assert len(endpoints) >= 30
    read, leaks = 0, []
    for template, in_path, required in endpoints:
        unknown = [n for n in in_path + required if n not in fill]
        assert unknown == [], f"{template}: say here which rows fill {unknown}"
        for values in itertools.product(*(fill[n] for n in in_path + required)):
            given = dict(zip(in_path + required, values, strict=True))
            path = template
            for name in in_path:
                path = path.replace(f"{{{name}}}", str(given[name]))
            query = {n: given[n] for n in required}
            for extra in (
                {},
                {"include_deleted": "true", "include_disabled": "true", "include_acknowledged": "true"},
            ):
                response = admin.get(path, params={**query, **extra})
                assert response.status_code == 200, (path, response.status_code, response.text[:300])
                read += 1
                shown = response.text + repr(sorted(response.headers.items()))
                leaks += [f"{path}: {what}" for what in _leaks(shown, secrets)]
    assert leaks == []
    assert read >= 2 * (len(endpoints) + 10)


def test_the_audit_log_of_a_reveal_and_a_key_change_names_no_key(api: Api) -> None:
    admin = api.client("admin")
    body = {"name": "P", "type": "openai", "secrets": {"api_key": OPENAI_KEY}}
    pid = _ok(admin.post("/api/providers", json=body))["id"]
    _ok(admin.put(f"/api/providers/{pid}", json={"secrets": {"api_key": ANTHROPIC_KEY}}))
    _ok(admin.post(f"/api/providers/{pid}/reveal", json={}))
    log = admin.get("/api/audit")
    assert log.status_code == 200
    actions = [e["action"] for e in log.json()["items"]]
    assert {"provider.create", "provider.update", "provider.reveal_key"} <= set(actions)
    assert OPENAI_KEY not in log.text and ANTHROPIC_KEY not in log.text


def test_a_key_found_in_the_environment_is_offered_by_name_only(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_key = "sk-proj-FromTheEnvironment0123456789abcd"
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    admin = api.client("admin")
    detected = admin.get("/api/providers/detected")
    assert detected.status_code == 200
    offered = {c["key"]: c for c in detected.json()}
    assert offered["env:openai"]["secret_envs"] == {"api_key": "OPENAI_API_KEY"}
    assert env_key not in detected.text
    added = admin.post("/api/providers/detected/env:openai")
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == f"/api/providers/{added.json()['id']}"
    assert added.json()["credentials"] == [{"field": "api_key", "masked": None, "env_var": "OPENAI_API_KEY"}]
    assert env_key not in added.text
    assert env_key not in admin.get(f"/api/providers/{added.json()['id']}").text
