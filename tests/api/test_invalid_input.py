"""Invalid input over HTTP: a 422 listing every problem (field and fix, the services' own words),
unknown fields and wrong JSON types named, and each hostile input of tests/test_hostile_inputs.py
refused with nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from tests.api.rows import ANTHROPIC_KEY, OPENAI_KEY, create_provider, stored
from tests.test_hostile_inputs import CASES, create_model, create_user, update_model, update_provider
from tests.test_hostile_inputs import create_provider as hostile_create_provider


def send(client: httpx.Client, method: str, path: str, body: Any, **headers: str) -> httpx.Response:
    """The body as Python's json writes it: NaN and Infinity too, which a strict client cannot send
    but a hand-written request can."""
    return client.request(
        method, path, content=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )


def problems(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-ID"]
    listed = {e["field"]: e["message"] for e in body["errors"]}
    assert len(listed) == len(body["errors"]), body  # each field once
    for field, message in listed.items():
        assert f"{field}: {message}" in body["error"]  # the summary names every one too
    return listed


def test_every_invalid_field_of_a_provider_is_listed_at_once(api: Api) -> None:
    before = stored()
    refused = api.client("admin").post(
        "/api/providers",
        json={
            "name": "",
            "type": "openai",
            "base_url": "javascript:alert(1)",
            "secrets": {"api_key": "   "},
            "params": {"temperature": "0.2"},
            "rpm": -1,
            "tpm": "lots",
            "timeout_seconds": 0,
            "priority": 10**6,
        },
    )
    listed = problems(refused)
    assert set(listed) == {
        "name",
        "base_url",
        "api_key",
        "params.temperature",
        "rpm",
        "tpm",
        "timeout_seconds",
        "priority",
    }
    assert listed["name"] == "is required; enter a name such as 'openai-prod'"
    assert listed["rpm"] == "must be a whole number from 1 to 1,000,000,000 (got -1)"
    assert listed["tpm"] == "must be a whole number from 1 to 1,000,000,000 (got 'lots')"
    assert listed["timeout_seconds"] == "must be seconds between 0.1 and 3600 (got 0)"
    assert stored() == before


def test_every_invalid_field_of_a_model_is_listed_at_once(api: Api) -> None:
    admin = api.client("admin")
    pid = create_provider(admin)["id"]
    before = stored()
    refused = admin.post(
        "/api/models",
        json={
            "provider_id": pid,
            "identifier": "gpt 4o",
            "input_cost_per_1m": -1,
            "output_cost_per_1m": "cheap",
            "context_window": 0,
            "status": "retired",
            "supports_tools": "yes",
            "enabled": 1,
        },
    )
    listed = problems(refused)
    assert set(listed) == {
        "model",
        "input_cost_per_1m",
        "output_cost_per_1m",
        "context_window",
        "status",
        "supports_tools",
        "enabled",
    }
    assert listed["supports_tools"] == "must be true or false"
    assert stored() == before


def test_an_unknown_field_is_422_naming_it_and_the_known_ones(api: Api) -> None:
    admin = api.client("admin")
    before = stored()
    refused = admin.post(
        "/api/providers",
        json={
            "name": "X",
            "type": "openai",
            "secrets": {"api_key": OPENAI_KEY},
            "colour": "red",
            "api_key": "k",
        },
    )
    listed = problems(refused)
    assert set(listed) == {"colour", "api_key"}
    assert listed["colour"].startswith("is not a field of this request; known: ")
    assert "secrets" in listed["colour"] and "base_url" in listed["colour"]
    assert stored() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"secrets": "sk-just-a-string"}, "secrets"),
        ({"secrets": {"api_key": 12345}}, "secrets.api_key"),
        ({"params": ["organization"]}, "params"),
        ({"enabled": "yes"}, "enabled"),
        ({"is_local": 1}, "is_local"),
        ({"default_model": 4}, "default_model"),
    ],
    ids=["secrets-text", "secret-number", "params-list", "enabled-text", "is-local-number", "default-number"],
)
def test_a_wrong_json_type_is_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    before = stored()
    base = {"name": "Typed", "type": "openai", "secrets": {"api_key": OPENAI_KEY}}
    listed = problems(api.client("admin").post("/api/providers", json={**base, **body}))
    assert list(listed) == [field]
    assert stored() == before


def test_a_body_that_is_not_a_json_object_is_422(api: Api) -> None:
    admin = api.client("admin")
    before = stored()
    broken = admin.post(
        "/api/providers", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert list(problems(broken)) == ["body"]
    listed = admin.post("/api/providers", json=["name", "type"])
    assert list(problems(listed)) == ["body"]
    missing = admin.post("/api/providers", json={})
    assert list(problems(missing)) == ["name"]
    assert stored() == before


@dataclass
class Seeded:
    provider_id: int
    provider_version: int
    model_id: int
    model_version: int


@pytest.fixture
def seeded(api: Api) -> Iterator[Seeded]:
    """As tests/test_hostile_inputs.py's seed: two providers, a model on the first (and the users)."""
    admin = api.client("admin")
    first = create_provider(admin, name="OpenAI Prod", key="sk-test-0123456789abcdefXYZ")
    admin.post(
        "/api/providers",
        json={"name": "Anthropic Main", "type": "anthropic", "secrets": {"api_key": ANTHROPIC_KEY}},
    )
    model = admin.post("/api/models", json={"provider_id": first["id"], "identifier": "gpt-4o-mini"}).json()
    yield Seeded(first["id"], first["version"], model["id"], model["version"])


def _request(seed: Seeded, operation: Any, hostile: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    if operation is hostile_create_provider:
        base = {
            "name": "New Provider",
            "type": "openai",
            "secrets": {"api_key": "sk-test-0123456789abcdefXYZ"},
        }
        return "POST", "/api/providers", {**base, **hostile}
    if operation is update_provider:
        return "PUT", f"/api/providers/{seed.provider_id}", {**hostile, "version": seed.provider_version}
    if operation is create_model:
        return "POST", "/api/models", {"provider_id": seed.provider_id, "identifier": "gpt-4o", **hostile}
    if operation is update_model:
        return "PUT", f"/api/models/{seed.model_id}", {**hostile, "version": seed.model_version}
    assert operation is create_user
    return (
        "POST",
        "/api/users",
        {"username": "bob", "password": "a long enough password", "role": "viewer", **hostile},
    )


# unknown fields are refused by the request's own schema, which names them and the known ones
UNKNOWN_FIELD = {"model-unknown-field", "update-identifier-not-editable"}


OPERATIONS = [hostile_create_provider, update_provider, create_model, update_model, create_user]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.__name__ for o in OPERATIONS])
def test_hostile_input_through_the_api_is_refused_and_stores_nothing(
    api: Api, seeded: Seeded, operation: Any
) -> None:
    """Each case of tests/test_hostile_inputs.py for this operation, sent as a request: a 422 naming
    the field with the service's fix, and not one row changed. Every case that does not is listed."""
    admin = api.client("admin")
    admin.get("/api/providers")  # the token's first use is recorded before the snapshot
    cases = [c for c in CASES if c[1] is operation]
    assert cases
    wrong = []
    for case_id, _, hostile, field, fix in cases:
        method, path, body = _request(seeded, operation, hostile)
        before = stored()
        response = send(admin, method, path, body)
        if response.status_code != 422:
            wrong.append(f"{case_id}: {response.status_code} {response.text[:300]}")
            continue
        listed = {e["field"]: e["message"] for e in response.json()["errors"]}
        expected = "is not a field of this request; known: " if case_id in UNKNOWN_FIELD else fix
        if list(listed) != [field] or expected not in listed[field]:
            wrong.append(f"{case_id}: {listed}")
        if stored() != before:
            wrong.append(f"{case_id}: rows changed")
    assert not wrong, "\n".join(wrong)
