"""Caller keys over HTTP: the key is shown once (created, rotated) and never again, nor its hash;
viewers see only the application and its state; changes carry a version; revoke stops the key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import db
from app.models import AuditEntry, CallerKey
from app.runtime.caller_keys import hash_key
from tests.api import seed
from tests.api.conftest import Api


@pytest.fixture
def rows(api: Api) -> dict[str, int]:
    return seed.cloud_and_home(api.settings)


def _create(api: Api, application: str = "billing-bot", **values: object) -> dict[str, object]:
    made = api.client("admin").post("/api/caller-keys", json={"application": application, **values})
    assert made.status_code == 201, made.text
    body: dict[str, object] = made.json()
    return body


def _stored(key_id: object) -> CallerKey:
    with db.Session.begin() as session:
        row = session.scalars(select(CallerKey).where(CallerKey.id == key_id)).one()
        session.expunge(row)
        return row


def test_a_created_key_is_shown_once_and_never_again(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    made = admin.post(
        "/api/caller-keys", json={"application": "billing-bot", "models": ["fast"], "rpm": 60, "owner": "ana"}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    key = body["key"]
    assert key.startswith("llmk_") and body["prefix"] == key[:13]
    assert made.headers["Location"] == f"/api/caller-keys/{body['id']}"
    assert (body["application"], body["state"], body["models"], body["rpm"]) == (
        "billing-bot",
        "active",
        ["fast"],
        60,
    )
    stored = _stored(body["id"])
    assert stored.key_hash == hash_key(key)
    later = [
        admin.get("/api/caller-keys"),
        admin.get(f"/api/caller-keys/{body['id']}"),
        api.client("operator").get("/api/caller-keys"),
        admin.get("/api/audit"),
    ]
    for response in later:
        assert response.status_code == 200
        assert key not in response.text and key[13:] not in response.text
        assert stored.key_hash not in response.text
        assert "key_hash" not in response.text
    assert "key" not in later[1].json()
    assert later[1].json()["prefix"] == key[:13]


def test_viewers_see_only_the_application_and_its_state(api: Api, rows: dict[str, int]) -> None:
    made = _create(api, owner="ana", description="invoices", models=["fast"], rpm=5)
    viewer = api.client("viewer")
    [item] = viewer.get("/api/caller-keys").json()["items"]
    one = viewer.get(f"/api/caller-keys/{made['id']}").json()
    for shown in (item, one):
        assert {k: v for k, v in shown.items() if v is not None} == {
            "id": made["id"],
            "application": "billing-bot",
            "state": "active",
        }
    assert str(made["prefix"]) not in viewer.get("/api/caller-keys").text


def test_update_changes_scope_and_state_with_a_version(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    made = _create(api)
    path = f"/api/caller-keys/{made['id']}"
    assert admin.get(path).headers["ETag"] == '"1"'
    changed = admin.put(path, json={"models": ["big", "fast"], "tpm": 1000}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["models"], changed.json()["tpm"], changed.headers["ETag"]) == (
        ["big", "fast"],
        1000,
        '"2"',
    )
    stale = admin.put(path, json={"enabled": False}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert admin.get(path).json()["state"] == "active"
    disabled = admin.put(path, json={"enabled": False, "version": 2})
    assert disabled.status_code == 200 and disabled.json()["state"] == "disabled"
    wrong = admin.put(path, json={"models": ["ghost"], "rpm": 0})
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["models", "rpm"]
    assert admin.put("/api/caller-keys/999", json={"rpm": 5}).status_code == 404


def test_invalid_keys_are_refused_with_each_field(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    wrong = admin.post(
        "/api/caller-keys",
        json={"application": "x", "models": ["ghost"], "rpm": -1, "expires_at": "2001-01-01T00:00:00Z"},
    )
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["models", "rpm", "expires_at"]
    _create(api, "billing-bot")
    taken = admin.post("/api/caller-keys", json={"application": "Billing-Bot"})
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "application"
    assert seed.count(CallerKey) == 1


def test_rotate_shows_the_new_key_once(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    made = _create(api)
    rotated = admin.post(f"/api/caller-keys/{made['id']}/rotate", json={"overlap_seconds": 600})
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["key"]
    assert new_key.startswith("llmk_") and new_key != made["key"]
    assert rotated.json()["previous_prefix"] == made["prefix"]
    assert _stored(made["id"]).key_hash == hash_key(new_key)
    listed = admin.get("/api/caller-keys").text
    assert new_key not in listed and str(made["key"]) not in listed
    # the defaults (an overlap of an hour) need no body
    again = admin.post(f"/api/caller-keys/{made['id']}/rotate")
    assert again.status_code == 200, again.text
    assert again.json()["key"] not in (new_key, made["key"])
    wrong = admin.post(f"/api/caller-keys/{made['id']}/rotate", json={"overlap_seconds": -5})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "overlap_seconds"


def test_delete_revokes_the_key(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    made = _create(api)
    path = f"/api/caller-keys/{made['id']}"
    revoked = admin.delete(path)
    assert revoked.status_code == 204
    assert admin.get(path).json()["state"] == "revoked"
    assert _stored(made["id"]).revoked_by == "alice"
    # DELETE is idempotent: the key stays revoked, nothing more is recorded
    entries = seed.count(AuditEntry)
    assert admin.delete(path).status_code == 204
    assert seed.count(AuditEntry) == entries
    assert admin.delete("/api/caller-keys/999").status_code == 404
    assert admin.post(f"{path}/rotate").status_code == 422
    assert admin.put(path, json={"enabled": True}).status_code == 422


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_change_caller_keys(api: Api, rows: dict[str, int], role: str) -> None:
    made = _create(api)
    path = f"/api/caller-keys/{made['id']}"
    before = seed.count(AuditEntry)
    client = api.client(role)
    refusals = [
        client.post("/api/caller-keys", json={"application": "other"}),
        client.put(path, json={"rpm": 1}),
        client.post(f"{path}/rotate"),
        client.delete(path),
    ]
    assert [r.status_code for r in refusals] == [403] * 4
    assert seed.count(CallerKey) == 1 and seed.count(AuditEntry) == before
    assert _stored(made["id"]).key_hash == hash_key(str(made["key"]))
    assert api.client("admin").get(path).json()["state"] == "active"


def test_json_values_of_the_wrong_type_are_refused_not_coerced(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    wrong = admin.post("/api/caller-keys", json={"application": "typed", "rpm": True, "models": "fast"})
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"rpm", "models"}
    assert seed.count(CallerKey) == 0
    route = admin.put("/api/routes/chat", json={"model": "fast", "local_only": "yes"})
    assert route.status_code == 422 and route.json()["errors"][0]["field"] == "local_only"
