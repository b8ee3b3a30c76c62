"""Routes and default fallbacks over HTTP: create, replace, preview, conflicts, every problem listed,
and only admins change them."""

from __future__ import annotations

import pytest

from app.models import AuditEntry, Route
from tests.api import seed
from tests.api.conftest import Api


@pytest.fixture
def rows(api: Api) -> dict[str, int]:
    return seed.cloud_and_home(api.settings)


def test_put_creates_a_route_then_replaces_it(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    created = admin.put("/api/routes/summarizer", json={"model": "fast", "fallbacks": ["big"]})
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    assert (created.json()["model"], created.json()["fallbacks"]) == ("fast", ["big"])
    replaced = admin.put("/api/routes/summarizer", json={"model": "big", "max_cost_usd": 0.5})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["ETag"] == '"2"'
    body = admin.get("/api/routes/summarizer").json()
    assert (body["model"], body["fallbacks"], body["max_cost_usd"]) == ("big", [], 0.5)
    # the same PUT again stores the same route (idempotent)
    again = admin.put("/api/routes/summarizer", json={"model": "big", "max_cost_usd": 0.5})
    assert again.status_code == 200
    assert seed.count(Route) == 1


def test_list_and_get_with_etag(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    for name in ("b-route", "a-route", "c-route"):
        assert admin.put(f"/api/routes/{name}", json={"model": "fast"}).status_code == 201
    page = api.client("viewer").get("/api/routes", params={"limit": 2}).json()
    assert [r["agent_type"] for r in page["items"]] == ["a-route", "b-route"]
    assert (page["total"], page["next_offset"]) == (3, 2)
    rest = api.client("viewer").get("/api/routes", params={"limit": 2, "offset": 2}).json()
    assert [r["agent_type"] for r in rest["items"]] == ["c-route"]
    assert rest["next_offset"] is None
    got = api.client("viewer").get("/api/routes/A-Route")
    assert got.status_code == 200
    assert got.headers["ETag"] == '"1"' and got.json()["agent_type"] == "a-route"
    missing = admin.get("/api/routes/nothing")
    assert missing.status_code == 404
    assert "no route 'nothing'" in missing.json()["error"]


def test_a_stale_version_is_a_conflict_and_changes_nothing(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    admin.put("/api/routes/summarizer", json={"model": "fast"})
    assert admin.put("/api/routes/summarizer", json={"model": "big"}, headers={"If-Match": '"1"'}).is_success
    stale = admin.put("/api/routes/summarizer", json={"model": "llama"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409, stale.text
    assert "summarizer" in stale.json()["error"]
    by_body = admin.put("/api/routes/summarizer", json={"model": "llama", "version": 1})
    assert by_body.status_code == 409
    current = admin.get("/api/routes/summarizer")
    assert (current.json()["model"], current.headers["ETag"]) == ("big", '"2"')
    fresh = admin.put("/api/routes/summarizer", json={"model": "llama"}, headers={"If-Match": 'W/"2"'})
    assert fresh.status_code == 200 and fresh.json()["model"] == "llama"
    garbled = admin.put("/api/routes/summarizer", json={"model": "fast"}, headers={"If-Match": "yesterday"})
    assert garbled.status_code == 422
    assert garbled.json()["errors"][0]["field"] == "If-Match"


def test_an_invalid_route_lists_each_problem_and_stores_nothing(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    shape = admin.put("/api/routes/Bad Type!", json={"model": "fast", "max_cost_usd": -1})
    assert shape.status_code == 422
    assert {e["field"] for e in shape.json()["errors"]} == {"agent_type", "max_cost_usd"}
    unknown = admin.put("/api/routes/writer", json={"model": "nope", "fallbacks": ["ghost"]})
    assert unknown.status_code == 422
    problems = {e["field"]: e["message"] for e in unknown.json()["errors"]}
    assert set(problems) == {"model", "fallbacks"}
    assert "'nope' is unknown or disabled" in problems["model"]
    assert "'ghost' is unknown" in problems["fallbacks"]
    local = admin.put(
        "/api/routes/private", json={"model": "llama", "fallbacks": ["fast"], "local_only": True}
    )
    assert local.status_code == 422
    assert [e["field"] for e in local.json()["errors"]] == ["local_only"]
    typed = admin.put("/api/routes/writer", json={"model": "fast", "max_cost_usd": "cheap", "colour": 1})
    assert typed.status_code == 422
    assert {e["field"] for e in typed.json()["errors"]} == {"max_cost_usd", "colour"}
    assert seed.count(Route) == 0


def test_preview_renders_a_route_and_stores_nothing(api: Api, rows: dict[str, int]) -> None:
    shown = api.client("viewer").post(
        "/api/routes/preview",
        params={"agent_type": "summarizer"},
        json={"model": "fast", "fallbacks": ["big"]},
    )
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["errors"] == []
    assert "model_name: agent/summarizer" in body["text"]
    assert "agent/summarizer/fallback-1" in body["text"]
    assert seed.REAL_LOOKING_KEY not in shown.text
    wrong = api.client("viewer").post(
        "/api/routes/preview", params={"agent_type": "x"}, json={"model": "nope"}
    )
    assert wrong.status_code == 200
    assert [e["field"] for e in wrong.json()["errors"]] == ["model"]
    assert seed.count(Route) == 0


def test_choices_name_each_enabled_alias_with_its_providers(api: Api, rows: dict[str, int]) -> None:
    choices = api.client("viewer").get("/api/route-choices")
    assert choices.status_code == 200
    assert choices.json() == {"big": ["cloud"], "fast": ["cloud"], "llama": ["home"]}


def test_delete_removes_the_route(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    admin.put("/api/routes/summarizer", json={"model": "fast"})
    gone = admin.delete("/api/routes/summarizer")
    assert gone.status_code == 204 and gone.content == b""
    assert admin.get("/api/routes/summarizer").status_code == 404
    assert admin.delete("/api/routes/summarizer").status_code == 404
    assert seed.count(Route) == 0


def test_default_fallbacks_are_read_and_replaced(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    assert admin.get("/api/default-fallbacks").json() == {"aliases": []}
    saved = admin.put("/api/default-fallbacks", json={"aliases": ["big", "llama"]})
    assert saved.status_code == 200 and saved.json() == {"aliases": ["big", "llama"]}
    assert api.client("viewer").get("/api/default-fallbacks").json() == {"aliases": ["big", "llama"]}
    wrong = admin.put("/api/default-fallbacks", json={"aliases": ["ghost", "big", "big"]})
    assert wrong.status_code == 422
    assert len(wrong.json()["errors"]) == 2
    assert admin.get("/api/default-fallbacks").json() == {"aliases": ["big", "llama"]}
    assert admin.put("/api/default-fallbacks", json={"aliases": []}).json() == {"aliases": []}


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_cannot_change_routes(api: Api, rows: dict[str, int], role: str) -> None:
    admin = api.client("admin")
    admin.put("/api/routes/kept", json={"model": "fast"})
    before = seed.count(AuditEntry)
    client = api.client(role)
    refusals = [
        client.put("/api/routes/summarizer", json={"model": "fast"}),
        client.put("/api/routes/kept", json={"model": "big"}),
        client.delete("/api/routes/kept"),
        client.put("/api/default-fallbacks", json={"aliases": ["big"]}),
    ]
    assert [r.status_code for r in refusals] == [403] * 4
    assert f"role '{role}'" in refusals[0].json()["error"]
    assert [r["agent_type"] for r in admin.get("/api/routes").json()["items"]] == ["kept"]
    assert admin.get("/api/routes/kept").json()["model"] == "fast"
    assert admin.get("/api/default-fallbacks").json() == {"aliases": []}
    assert seed.count(AuditEntry) == before
