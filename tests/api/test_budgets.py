"""Budgets over HTTP: added, listed with what was spent, changed with a version, removed; every
invalid field named; only admins change them."""

from __future__ import annotations

import pytest

from app.models import AuditEntry, Budget, utcnow
from tests.api import seed
from tests.api.conftest import Api


@pytest.fixture
def rows(api: Api) -> dict[str, int]:
    made = seed.cloud_and_home(api.settings)
    api.client("admin").put("/api/routes/summarizer", json={"model": "fast"}).raise_for_status()
    return made


def _add(api: Api, **values: object) -> dict[str, object]:
    body = {"scope": "provider", "target": "cloud", "period": "daily", "limit_usd": 10, **values}
    added = api.client("admin").post("/api/budgets", json=body)
    assert added.status_code == 201, added.text
    result: dict[str, object] = added.json()
    return result


def test_a_budget_is_added_and_listed_with_what_was_spent(api: Api, rows: dict[str, int]) -> None:
    now = utcnow()
    seed.usage(2.5, at=now, route="agent/summarizer")
    seed.usage(1.5, at=now)
    seed.usage(7.0, at=now, provider="elsewhere", route="agent/summarizer")
    added = api.client("admin").post(
        "/api/budgets", json={"scope": "provider", "target": " CLOUD ", "period": "daily", "limit_usd": 8}
    )
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == f"/api/budgets/{added.json()['id']}"
    assert (added.json()["target"], added.json()["limit_usd"]) == ("cloud", 8.0)
    _add(api, scope="route", target="summarizer", period="monthly", limit_usd=5, enforce=True)
    listed = api.client("viewer").get("/api/budgets").json()
    assert listed["total"] == 2
    spent = {
        (b["scope"], b["target"]): (b["spent_usd"], b["percent"], b["exhausted"], b["enforce"])
        for b in listed["items"]
    }
    assert spent == {
        ("provider", "cloud"): (pytest.approx(4.0), pytest.approx(50.0), False, False),
        ("route", "summarizer"): (pytest.approx(9.5), pytest.approx(190.0), True, True),
    }


def test_get_shows_one_budget_with_its_etag(api: Api, rows: dict[str, int]) -> None:
    budget = _add(api)
    got = api.client("viewer").get(f"/api/budgets/{budget['id']}")
    assert got.status_code == 200
    assert got.headers["ETag"] == '"1"'
    assert (got.json()["target"], got.json()["spent_usd"]) == ("cloud", 0.0)
    missing = api.client("viewer").get("/api/budgets/999")
    assert missing.status_code == 404 and "GET /api/budgets" in missing.json()["error"]


def test_put_changes_limit_and_enforcement_and_a_stale_version_is_a_conflict(
    api: Api, rows: dict[str, int]
) -> None:
    admin = api.client("admin")
    budget = _add(api)
    path = f"/api/budgets/{budget['id']}"
    changed = admin.put(path, json={"limit_usd": 20, "version": 1})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["limit_usd"], changed.headers["ETag"]) == (20.0, '"2"')
    stale = admin.put(path, json={"enforce": True}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409, stale.text
    also_stale = admin.put(path, json={"enforce": True, "version": 1})
    assert also_stale.status_code == 409
    assert admin.get(path).json()["enforce"] is False
    enforced = admin.put(path, json={"enforce": True}, headers={"If-Match": '"2"'})
    assert enforced.status_code == 200
    shown = admin.get(path).json()
    assert (shown["limit_usd"], shown["enforce"], shown["version"]) == (20.0, True, 3)
    assert admin.put("/api/budgets/999", json={"limit_usd": 1}).status_code == 404


def test_delete_removes_a_budget(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    budget = _add(api)
    assert admin.delete(f"/api/budgets/{budget['id']}").status_code == 204
    assert admin.get(f"/api/budgets/{budget['id']}").status_code == 404
    assert admin.delete(f"/api/budgets/{budget['id']}").status_code == 404
    assert seed.count(Budget) == 0


def test_an_invalid_budget_names_every_field_and_stores_nothing(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    wrong = admin.post(
        "/api/budgets", json={"scope": "team", "target": "x", "period": "weekly", "limit_usd": 0}
    )
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["scope", "period", "limit_usd"]
    assert "must be one of provider, route, application" in wrong.json()["error"]
    unknown = admin.post(
        "/api/budgets", json={"scope": "provider", "target": "Nope", "period": "daily", "limit_usd": 5}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"field": "target", "message": "no provider named 'Nope'; `llm-admin provider list` shows them"}
    ]
    typed = admin.post("/api/budgets", json={"scope": "provider", "period": "daily", "limit_usd": "ten"})
    assert typed.status_code == 422
    assert [e["field"] for e in typed.json()["errors"]] == ["limit_usd"]
    budget = _add(api)
    duplicate = admin.post(
        "/api/budgets", json={"scope": "provider", "target": "cloud", "period": "daily", "limit_usd": 3}
    )
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["field"] == "target"
    bad_limit = admin.put(f"/api/budgets/{budget['id']}", json={"limit_usd": -1})
    assert bad_limit.status_code == 422
    assert bad_limit.json()["errors"][0]["field"] == "limit_usd"
    assert seed.count(Budget) == 1
    assert admin.get(f"/api/budgets/{budget['id']}").json()["limit_usd"] == 10.0


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_change_budgets(api: Api, rows: dict[str, int], role: str) -> None:
    budget = _add(api)
    before = seed.count(AuditEntry)
    client = api.client(role)
    refusals = [
        client.post(
            "/api/budgets", json={"scope": "route", "target": "summarizer", "period": "daily", "limit_usd": 1}
        ),
        client.put(f"/api/budgets/{budget['id']}", json={"limit_usd": 99}),
        client.delete(f"/api/budgets/{budget['id']}"),
    ]
    assert [r.status_code for r in refusals] == [403, 403, 403]
    assert seed.count(Budget) == 1 and seed.count(AuditEntry) == before
    assert client.get(f"/api/budgets/{budget['id']}").json()["limit_usd"] == 10.0
