"""Models over HTTP: create (priced from LiteLLM's cost map), list with search, provider filter and
pages, read, update with versions, bulk enable/disable, delete (refused while a route needs it)."""

from __future__ import annotations

from typing import Any

import httpx

from app import db
from app.services import providers, routes
from tests.api.conftest import Api
from tests.api.rows import ALICE, audit_after, audit_mark, create_provider, ring_of, stored


def _model(client: httpx.Client, pid: int, identifier: str, **extra: Any) -> dict[str, Any]:
    made = client.post("/api/models", json={"provider_id": pid, "identifier": identifier, **extra})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def test_create_is_201_priced_from_litellms_map_with_location_and_etag(api: Api) -> None:
    admin = api.client("admin")
    pid = create_provider(admin)["id"]
    mark = audit_mark()
    made = admin.post("/api/models", json={"provider_id": pid, "identifier": "gpt-4o-mini", "enabled": True})
    assert made.status_code == 201, made.text
    body = made.json()
    assert made.headers["Location"] == f"/api/models/{body['id']}"
    assert made.headers["ETag"] == f'"{body["version"]}"'
    assert (body["identifier"], body["alias"], body["provider"], body["enabled"]) == (
        "gpt-4o-mini",
        "gpt-4o-mini",
        "OpenAI Prod",
        True,
    )
    assert body["input_cost_per_1m"] == 0.15 and body["output_cost_per_1m"] == 0.6
    assert body["context_window"] == 128_000 and body["mode"] == "chat"
    assert api.client("viewer").get(made.headers["Location"]).json() == body
    assert [(e.actor, e.action, e.target_name) for e in audit_after(mark)] == [
        ("alice", "model.create", "OpenAI Prod/gpt-4o-mini")
    ]
    # a model of a provider that does not exist
    missing = admin.post("/api/models", json={"provider_id": 999, "identifier": "gpt-4o"})
    assert missing.status_code == 404 and missing.json()["error"] == "provider 999 does not exist"


def test_the_list_searches_filters_by_provider_and_pages(api: Api) -> None:
    admin = api.client("admin")
    openai = create_provider(admin)["id"]
    other = create_provider(admin, name="Backup OpenAI")["id"]
    for identifier, alias in [("gpt-4o", "smart"), ("gpt-4o-mini", "fast"), ("o1", None), ("o3-mini", None)]:
        _model(admin, openai, identifier, **({"alias": alias} if alias else {}))
    _model(admin, other, "gpt-4o", enabled=True)
    viewer = api.client("viewer")

    def listed(**params: Any) -> tuple[list[str], int, int | None]:
        page = viewer.get("/api/models", params=params).json()
        return (
            [f"{m['provider']}/{m['identifier']}" for m in page["items"]],
            page["total"],
            page["next_offset"],
        )

    assert listed() == (
        [
            "Backup OpenAI/gpt-4o",
            "OpenAI Prod/gpt-4o",
            "OpenAI Prod/gpt-4o-mini",
            "OpenAI Prod/o1",
            "OpenAI Prod/o3-mini",
        ],
        5,
        None,
    )
    assert listed(provider_id=openai, limit=2) == (["OpenAI Prod/gpt-4o", "OpenAI Prod/gpt-4o-mini"], 4, 2)
    assert listed(provider_id=openai, limit=2, offset=2) == (
        ["OpenAI Prod/o1", "OpenAI Prod/o3-mini"],
        4,
        None,
    )
    assert listed(search="MINI") == (["OpenAI Prod/gpt-4o-mini", "OpenAI Prod/o3-mini"], 2, None)
    assert listed(search="fast") == (["OpenAI Prod/gpt-4o-mini"], 1, None)  # the alias matches too
    assert listed(search="_") == ([], 0, None)  # a LIKE wildcard is a character to find
    assert listed(enabled="true") == (["Backup OpenAI/gpt-4o"], 1, None)
    assert viewer.get("/api/models", params={"limit": 501}).status_code == 422

    # a deleted provider's models are not listed
    assert listed(search="gpt-4o")[1] == 3
    assert admin.delete(f"/api/providers/{other}").status_code == 204
    assert listed(search="gpt-4o")[1] == 2


def test_put_sets_the_fields_given_and_a_stale_version_is_409_changing_nothing(api: Api) -> None:
    admin = api.client("admin")
    model = _model(admin, create_provider(admin)["id"], "gpt-4o")
    path = f"/api/models/{model['id']}"
    changed = admin.put(
        path,
        json={"alias": "smart", "input_cost_per_1m": 2.0, "enabled": True},
        headers={"If-Match": f'"{model["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["alias"], body["input_cost_per_1m"], body["enabled"]) == ("smart", 2.0, True)
    assert body["output_cost_per_1m"] == model["output_cost_per_1m"]  # not given: as it was
    assert body["version"] == model["version"] + 1 and changed.headers["ETag"] == f'"{body["version"]}"'

    before = stored()
    for stale in (
        admin.put(path, json={"alias": "other"}, headers={"If-Match": f'"{model["version"]}"'}),
        admin.put(path, json={"alias": "other", "version": model["version"]}),
    ):
        assert stale.status_code == 409, stale.text
        assert stale.json()["error"].startswith("model 'gpt-4o' was changed by alice at ")
    assert stored() == before

    again = admin.put(path, json={"alias": "smart", "input_cost_per_1m": 2.0, "enabled": True})
    assert again.status_code == 200 and again.json() == body  # the same PUT again: no new version
    assert stored() == before


def test_bulk_enable_and_disable_is_one_change_with_one_audit_entry(api: Api) -> None:
    admin = api.client("admin")
    pid = create_provider(admin)["id"]
    ids = [_model(admin, pid, name)["id"] for name in ("gpt-4o", "gpt-4o-mini", "o1")]
    mark = audit_mark()
    on = admin.post("/api/models/bulk", json={"ids": ids[:2], "enabled": True})
    assert on.status_code == 200 and on.json() == {"changed": 2, "enabled": True}
    enabled = admin.get("/api/models", params={"enabled": "true"}).json()["items"]
    assert [m["id"] for m in enabled] == ids[:2]
    (entry,) = audit_after(mark)
    assert (entry.actor, entry.action) == ("alice", "model.enable")
    assert sorted(entry.details["models"]) == ["OpenAI Prod/gpt-4o", "OpenAI Prod/gpt-4o-mini"]

    before = stored()
    missing = admin.post("/api/models/bulk", json={"ids": [ids[2], 999], "enabled": True})
    assert missing.status_code == 404 and "999" in missing.json()["error"]
    assert stored() == before  # not even the model that exists

    off = admin.post("/api/models/bulk", json={"ids": ids, "enabled": False})
    assert off.json() == {"changed": 3, "enabled": False}
    assert admin.get("/api/models", params={"enabled": "true"}).json()["total"] == 0

    assert admin.delete(f"/api/providers/{pid}").status_code == 204
    refused = admin.post("/api/models/bulk", json={"ids": ids[:1], "enabled": True})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "enabled", "message": "OpenAI Prod is deleted; restore it first"}
    ]
    wrong = admin.post("/api/models/bulk", json={"ids": ["1"], "enabled": "true"})
    assert sorted(e["field"] for e in wrong.json()["errors"]) == ["enabled", "ids.0"]


def test_delete_removes_a_model_and_a_second_delete_is_404(api: Api) -> None:
    admin = api.client("admin")
    model = _model(admin, create_provider(admin)["id"], "gpt-4o")
    mark = audit_mark()
    assert admin.delete(f"/api/models/{model['id']}").status_code == 204
    assert admin.get(f"/api/models/{model['id']}").status_code == 404
    again = admin.delete(f"/api/models/{model['id']}")
    assert again.status_code == 404 and again.json()["error"] == f"model {model['id']} does not exist"
    assert [(e.actor, e.action) for e in audit_after(mark)] == [("alice", "model.delete")]


def test_delete_is_refused_while_a_route_needs_the_alias_and_allowed_once_another_serves_it(api: Api) -> None:
    admin = api.client("admin")
    pid = create_provider(admin)["id"]
    fast = _model(admin, pid, "gpt-4o-mini", alias="fast", enabled=True)
    smart = _model(admin, pid, "gpt-4o", alias="smart", enabled=True)
    with db.Session.begin() as session:
        routes.save_route(session, actor=ALICE, agent_type="code-review", model="smart", fallbacks=["fast"])
    before = stored()
    for model, alias in [(smart, "smart"), (fast, "fast")]:  # the route's model, then its fallback
        refused = admin.delete(f"/api/models/{model['id']}")
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [
            {"field": "model", "message": f"route agent/code-review uses '{alias}'; change the route first"}
        ]
    assert stored() == before

    # another provider serves 'fast' too: this one may go, the route still has a model
    with db.Session.begin() as session:
        backup = providers.create_provider(
            session, actor=ALICE, ring=ring_of(api), name="Local", type="ollama"
        )
        backup_id = backup.id
    _model(admin, backup_id, "llama3.1", alias="fast", enabled=True)
    assert admin.delete(f"/api/models/{fast['id']}").status_code == 204
