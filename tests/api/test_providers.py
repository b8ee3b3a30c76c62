"""Providers over HTTP: create, list, read, update with versions, soft delete and restore, reveal,
templates, Test Connection and Sync against a stand-in provider on loopback."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from app import db
from app.services import providers
from tests.api.conftest import Api
from tests.api.rows import (
    ALICE,
    ANTHROPIC_KEY,
    OPENAI_KEY,
    audit_after,
    audit_mark,
    create_provider,
    provider_body,
    ring_of,
    stored,
)
from tests.standins.openai import MODELS, OpenAIStandIn


def _get(client: httpx.Client, pid: int) -> dict[str, Any]:
    got = client.get(f"/api/providers/{pid}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def test_create_answers_201_with_location_and_etag_and_the_key_masked(api: Api) -> None:
    admin = api.client("admin")
    mark = audit_mark()
    made = admin.post("/api/providers", json=provider_body(rpm=100))
    assert made.status_code == 201, made.text
    body = made.json()
    assert made.headers["Location"] == f"/api/providers/{body['id']}"
    assert made.headers["ETag"] == f'"{body["version"]}"'
    assert body["name"] == "OpenAI Prod" and body["type"] == "openai" and body["rpm"] == 100
    assert body["base_url"] == "https://api.openai.com/v1"  # the type's default
    assert body["credentials"] == [{"field": "api_key", "masked": "sk-…0gA", "env_var": None}]
    assert OPENAI_KEY not in made.text

    got = api.client("viewer").get(made.headers["Location"])
    assert got.status_code == 200
    assert got.json() == body
    assert got.headers["ETag"] == made.headers["ETag"]
    assert [(e.actor, e.action, e.target_name) for e in audit_after(mark)] == [
        ("alice", "provider.create", "OpenAI Prod")
    ]


def test_a_key_from_the_environment_is_named_not_stored(api: Api) -> None:
    made = api.client("admin").post(
        "/api/providers",
        json={"name": "Env Key", "type": "anthropic", "secret_envs": {"api_key": "ANTHROPIC_API_KEY"}},
    )
    assert made.status_code == 201, made.text
    assert made.json()["credentials"] == [
        {"field": "api_key", "masked": None, "env_var": "ANTHROPIC_API_KEY"}
    ]


def test_an_unknown_provider_is_404_with_the_request_id(api: Api) -> None:
    for method, path in [
        ("GET", "/api/providers/999"),
        ("PUT", "/api/providers/999"),
        ("DELETE", "/api/providers/999"),
        ("POST", "/api/providers/999/restore"),
        ("POST", "/api/providers/999/test"),
    ]:
        missing = api.client("admin").request(method, path, json={} if method == "PUT" else None)
        assert missing.status_code == 404, (method, path, missing.text)
        assert missing.json() == {
            "error": "provider 999 does not exist",
            "request_id": missing.headers["X-Request-ID"],
        }


def _seed_many(api: Api) -> dict[str, int]:
    """Seven providers: five OpenAI ones (one disabled, one deleted), two Anthropic ones; priorities
    put 'Zeta' first."""
    ids: dict[str, int] = {}
    with db.Session.begin() as session:
        ring = ring_of(api)
        for name, type_, key, extra in [
            ("Alpha", "openai", OPENAI_KEY, {}),
            ("Bravo", "openai", OPENAI_KEY, {"enabled": False}),
            ("Charlie", "openai", OPENAI_KEY, {}),
            ("Delta", "openai", OPENAI_KEY, {}),
            ("Echo Gone", "openai", OPENAI_KEY, {}),
            ("Claude Main", "anthropic", ANTHROPIC_KEY, {}),
            ("Zeta", "anthropic", ANTHROPIC_KEY, {"priority": 10}),
        ]:
            row = providers.create_provider(
                session, actor=ALICE, ring=ring, name=name, type=type_, secrets={"api_key": key}, **extra
            )
            ids[name] = row.id
        providers.delete_provider(session, actor=ALICE, provider_id=ids["Echo Gone"])
    return ids


def _names(page: dict[str, Any]) -> list[str]:
    return [p["name"] for p in page["items"]]


def test_the_list_filters_and_pages_with_total_and_next_offset(api: Api) -> None:
    _seed_many(api)
    viewer = api.client("viewer")
    everything = viewer.get("/api/providers").json()
    assert _names(everything) == ["Zeta", "Alpha", "Bravo", "Charlie", "Claude Main", "Delta"]
    assert (everything["total"], everything["limit"], everything["offset"], everything["next_offset"]) == (
        6,
        100,
        0,
        None,
    )
    first = viewer.get("/api/providers", params={"limit": 2}).json()
    assert _names(first) == ["Zeta", "Alpha"] and first["total"] == 6 and first["next_offset"] == 2
    second = viewer.get("/api/providers", params={"limit": 2, "offset": first["next_offset"]}).json()
    assert _names(second) == ["Bravo", "Charlie"] and second["next_offset"] == 4
    last = viewer.get("/api/providers", params={"limit": 2, "offset": 4}).json()
    assert _names(last) == ["Claude Main", "Delta"] and last["next_offset"] is None
    beyond = viewer.get("/api/providers", params={"offset": 50}).json()
    assert beyond["items"] == [] and beyond["total"] == 6 and beyond["next_offset"] is None

    def names(**params: Any) -> tuple[list[str], int]:
        page = viewer.get("/api/providers", params=params).json()
        return _names(page), page["total"]

    assert names(type="anthropic") == (["Zeta", "Claude Main"], 2)
    assert names(enabled="false") == (["Bravo"], 1)
    assert names(type="openai", enabled="true", limit=1) == (["Alpha"], 3)
    assert names(search="  CLAUDE  ") == (["Claude Main"], 1)
    assert names(search="%") == ([], 0)  # a LIKE wildcard is a character to find, not a pattern
    assert names(include_deleted="true", type="openai")[1] == 5
    gone = viewer.get("/api/providers", params={"include_deleted": "true", "search": "echo"}).json()
    assert [(p["name"], p["deleted"], p["enabled"]) for p in gone["items"]] == [("Echo Gone", True, False)]


def test_page_sizes_outside_1_to_500_are_422_naming_the_parameter(api: Api) -> None:
    viewer = api.client("viewer")
    assert viewer.get("/api/providers", params={"limit": 500}).status_code == 200
    for params, field in [({"limit": 501}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")]:
        refused = viewer.get("/api/providers", params=params)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    both = viewer.get("/api/providers", params={"limit": 1000, "offset": -5, "enabled": "perhaps"})
    assert sorted(e["field"] for e in both.json()["errors"]) == ["enabled", "limit", "offset"]


def test_put_sets_only_the_fields_given_and_returns_the_new_etag(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin, rpm=100, params={"organization": "org-1"})
    changed = admin.put(
        f"/api/providers/{made['id']}", json={"tpm": 50_000}, headers={"If-Match": f'"{made["version"]}"'}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["tpm"] == 50_000 and body["rpm"] == 100 and body["params"] == {"organization": "org-1"}
    assert body["credentials"] == made["credentials"] and body["name"] == made["name"]
    assert body["version"] == made["version"] + 1
    assert changed.headers["ETag"] == f'"{body["version"]}"'
    assert _get(admin, made["id"]) == body


def test_a_new_key_replaces_the_stored_one(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    new_key = "sk-proj-Rt5Yu8Io1Pa4Sd7Fg0Hj3Kl6Zx9Cv2Bn"
    changed = admin.put(f"/api/providers/{made['id']}", json={"secrets": {"api_key": new_key}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["credentials"][0]["masked"] == "sk-…2Bn"
    assert new_key not in changed.text
    revealed = admin.post(f"/api/providers/{made['id']}/reveal", json={"field": "api_key"})
    assert revealed.json() == {"field": "api_key", "value": new_key}


def test_a_stale_if_match_is_409_and_changes_nothing(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    path = f"/api/providers/{made['id']}"
    assert admin.put(path, json={"rpm": 10}, headers={"If-Match": f'"{made["version"]}"'}).status_code == 200
    before = stored()
    stale = admin.put(path, json={"rpm": 99, "name": "Renamed"}, headers={"If-Match": f'"{made["version"]}"'})
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"].startswith("provider 'OpenAI Prod' was changed by alice at ")
    assert stale.json()["error"].endswith("since you opened it; reload it and make your change again")
    assert stored() == before
    # the weak form of the current tag is accepted; a tag that is no version is 422
    current = _get(admin, made["id"])["version"]
    assert admin.put(path, json={"rpm": 11}, headers={"If-Match": f'W/"{current}"'}).status_code == 200
    garbage = admin.put(path, json={"rpm": 12}, headers={"If-Match": "yesterday"})
    assert garbage.status_code == 422
    assert garbage.json()["errors"] == [
        {"field": "If-Match", "message": 'must be the ETag you read, e.g. "3"'}
    ]


def test_a_stale_version_in_the_body_is_409_and_changes_nothing(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    path = f"/api/providers/{made['id']}"
    assert admin.put(path, json={"rpm": 10, "version": made["version"]}).status_code == 200
    before = stored()
    stale = admin.put(path, json={"rpm": 99, "version": made["version"]})
    assert stale.status_code == 409, stale.text
    assert "reload it and make your change again" in stale.json()["error"]
    assert stored() == before


def test_the_same_put_twice_is_one_change(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    path = f"/api/providers/{made['id']}"
    desired = {
        "rpm": 60,
        "tpm": 90_000,
        "params": {"organization": "org-x"},
        "secrets": {"api_key": OPENAI_KEY},
    }
    first = admin.put(path, json=desired)
    assert first.status_code == 200, first.text
    mark, before = audit_mark(), stored()
    again = admin.put(path, json=desired)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert stored() == before  # no new version, no audit entry: nothing changed
    assert audit_after(mark) == []


def test_delete_is_soft_and_repeatable_and_restore_brings_it_back(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    model = admin.post(
        "/api/models", json={"provider_id": made["id"], "identifier": "gpt-4o", "enabled": True}
    )
    assert model.status_code == 201, model.text
    path = f"/api/providers/{made['id']}"
    mark = audit_mark()
    first = admin.delete(path)
    assert first.status_code == 204 and first.content == b""
    again = admin.delete(path)
    assert again.status_code == 204
    assert [e.action for e in audit_after(mark)] == ["provider.delete"]  # the second changed nothing
    assert admin.get("/api/providers").json()["total"] == 0
    shown = _get(admin, made["id"])
    assert shown["deleted"] is True and shown["enabled"] is False
    assert admin.get(f"/api/models/{model.json()['id']}").json()["enabled"] is False

    restored = admin.post(f"{path}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["deleted"] is False and restored.json()["enabled"] is True
    assert admin.get("/api/providers").json()["total"] == 1
    assert admin.get(f"/api/models/{model.json()['id']}").json()["enabled"] is False  # models stay off
    assert admin.post(f"{path}/restore").status_code == 200  # restoring again changes nothing
    assert [e.action for e in audit_after(mark)] == ["provider.delete", "provider.restore"]


def test_reveal_returns_the_key_to_an_admin_only_and_is_audited(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    mark = audit_mark()
    revealed = admin.post(f"/api/providers/{made['id']}/reveal", json={})
    assert revealed.status_code == 200, revealed.text
    assert revealed.json() == {"field": "api_key", "value": OPENAI_KEY}
    (entry,) = audit_after(mark)
    assert (entry.actor, entry.action, entry.target_name, entry.details) == (
        "alice",
        "provider.reveal_key",
        "OpenAI Prod",
        {"field": "api_key"},
    )
    for role in ("operator", "viewer"):
        refused = api.client(role).post(f"/api/providers/{made['id']}/reveal", json={})
        assert refused.status_code == 403 and OPENAI_KEY not in refused.text
    missing = admin.post(f"/api/providers/{made['id']}/reveal", json={"field": "password"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "provider 'OpenAI Prod' has no password"
    assert audit_after(mark) == [entry]


def test_save_as_template_then_create_from_it(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin, rpm=42, params={"organization": "org-team"})
    for identifier, enabled in [("gpt-4o", True), ("gpt-4o-mini", True), ("o1", False)]:
        added = admin.post(
            "/api/models", json={"provider_id": made["id"], "identifier": identifier, "enabled": enabled}
        )
        assert added.status_code == 201, added.text
    saved = admin.post(f"/api/providers/{made['id']}/template", json={"name": "Team OpenAI"})
    assert saved.status_code == 201, saved.text
    assert saved.json()["kind"] == "custom" and saved.json()["type"] == "openai"
    assert OPENAI_KEY not in saved.text
    again = admin.post(f"/api/providers/{made['id']}/template", json={"name": "Team OpenAI"})
    assert again.status_code == 422
    assert again.json()["errors"] == [
        {"field": "name", "message": "a template named 'Team OpenAI' exists; pick another name"}
    ]

    listed = api.client("viewer").get("/api/templates").json()
    custom = [t for t in listed["items"] if t["kind"] == "custom"]
    assert [(t["key"], t["models"]) for t in custom] == [("custom:Team OpenAI", ["gpt-4o", "gpt-4o-mini"])]
    assert api.client("viewer").get("/api/templates/Team OpenAI").json()["params"] == {
        "organization": "org-team"
    }
    assert api.client("viewer").get("/api/templates/Nope").status_code == 404

    new_key = "sk-proj-Mn3Bv6Cx9Za2Sd5Fg8Hj1Kl4Qw7Er0Ty"
    created = admin.post(
        "/api/providers",
        json={"name": "Team Copy", "template": "Team OpenAI", "secrets": {"api_key": new_key}},
    )
    assert created.status_code == 201, created.text
    copy = created.json()
    assert (copy["type"], copy["rpm"], copy["params"]) == ("openai", 42, {"organization": "org-team"})
    assert copy["default_model"] == "gpt-4o"
    models = admin.get("/api/models", params={"provider_id": copy["id"]}).json()["items"]
    assert [(m["identifier"], m["enabled"]) for m in models] == [("gpt-4o", True), ("gpt-4o-mini", False)]
    assert created.headers["Location"] == f"/api/providers/{copy['id']}"


def test_create_from_a_system_template_and_from_one_that_does_not_exist(api: Api) -> None:
    admin = api.client("admin")
    created = admin.post(
        "/api/providers",
        json={"name": "Claude", "template": "Anthropic", "secrets": {"api_key": ANTHROPIC_KEY}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["type"] == "anthropic"
    assert created.json()["model_count"] >= 1 and created.json()["enabled_model_count"] == 1
    before = stored()
    missing = admin.post(
        "/api/providers", json={"name": "Other", "template": "Nope", "secrets": {"api_key": "x" * 20}}
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "no template named 'Nope'"
    assert stored() == before


def test_test_connection_against_a_stand_in_records_the_result(api: Api) -> None:
    admin = api.client("admin")
    with OpenAIStandIn(OPENAI_KEY, organization=None) as upstream:
        made = create_provider(admin, base_url=f"{upstream.url}/v1")
        tested = admin.post(f"/api/providers/{made['id']}/test")
        assert tested.status_code == 200, tested.text
        result = tested.json()
        assert result["test"]["ok"] is True, result
        assert result["test"]["models"] == sorted(MODELS)
        assert "sync" not in result
        (asked,) = upstream.requests_to("/v1/models")
        assert asked.header("authorization") == f"Bearer {OPENAI_KEY}"
    shown = _get(admin, made["id"])
    assert shown["last_test_ok"] is True and shown["version"] == made["version"]
    assert admin.get("/api/models", params={"provider_id": made["id"]}).json()["total"] == 0


def test_a_refused_key_is_a_failed_test_not_an_error_and_the_key_is_not_echoed(api: Api) -> None:
    admin = api.client("admin")
    with OpenAIStandIn("sk-the-right-key-0123456789", organization=None) as upstream:
        made = create_provider(admin, base_url=f"{upstream.url}/v1")
        tested = admin.post(f"/api/providers/{made['id']}/test", params={"sync": "true"})
    assert tested.status_code == 200, tested.text
    assert tested.json()["test"]["ok"] is False
    assert tested.json()["test"]["message"].startswith("HTTP 401: the key was refused")
    assert OPENAI_KEY not in tested.text and "sync" not in tested.json()
    assert _get(admin, made["id"])["last_test_ok"] is False


def test_sync_adds_the_listed_models_disabled_and_a_second_sync_adds_none(api: Api) -> None:
    admin = api.client("admin")
    with OpenAIStandIn(OPENAI_KEY, organization=None) as upstream:
        made = create_provider(admin, base_url=f"{upstream.url}/v1")
        mark = audit_mark()
        synced = admin.post(f"/api/providers/{made['id']}/test", params={"sync": "true"})
        assert synced.status_code == 200, synced.text
        sync = synced.json()["sync"]
        assert (sync["added"], sync["existing"], sync["skipped"]) == (sorted(MODELS), [], [])
        listed = admin.get("/api/models", params={"provider_id": made["id"]}).json()
        assert sorted((m["identifier"], m["enabled"]) for m in listed["items"]) == [
            (m, False) for m in sorted(MODELS)
        ]
        modes = {m["identifier"]: m["mode"] for m in listed["items"]}
        assert modes["text-embedding-3-small"] == "embedding" and modes["gpt-4o"] == "chat"
        assert {e.actor for e in audit_after(mark)} == {"alice"}

        again = admin.post(f"/api/providers/{made['id']}/sync")
        assert again.status_code == 200, again.text
        sync = again.json()["sync"]
        assert (sync["added"], sync["existing"], sync["skipped"]) == ([], sorted(MODELS), [])
        assert admin.get("/api/models", params={"provider_id": made["id"]}).json()["total"] == len(MODELS)


def test_sync_with_enable_default_turns_one_model_on(api: Api) -> None:
    admin = api.client("admin")
    with OpenAIStandIn(OPENAI_KEY, organization=None) as upstream:
        made = create_provider(admin, base_url=f"{upstream.url}/v1")
        synced = admin.post(
            f"/api/providers/{made['id']}/test", params={"sync": "true", "enable_default": "true"}
        )
    assert synced.status_code == 200, synced.text
    chosen = synced.json()["enabled"]
    assert chosen in MODELS
    on = admin.get("/api/models", params={"provider_id": made["id"], "enabled": "true"}).json()["items"]
    assert [m["identifier"] for m in on] == [chosen]
    assert _get(admin, made["id"])["default_model"] == chosen


def test_provider_types_list_each_types_fields(api: Api) -> None:
    types = api.client("viewer").get("/api/provider-types")
    assert types.status_code == 200
    by_id = {t["id"]: t for t in types.json()}
    assert {"openai", "anthropic", "azure_openai", "ollama", "custom"} <= set(by_id)
    assert "api_key" in {f["name"] for f in by_id["openai"]["fields"]}


def test_a_deleted_provider_is_restored_not_enabled_and_its_models_stay_off(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    model = admin.post("/api/models", json={"provider_id": made["id"], "identifier": "gpt-4o"}).json()
    assert admin.delete(f"/api/providers/{made['id']}").status_code == 204
    before = stored()
    for method, path, body in [
        ("PUT", f"/api/providers/{made['id']}", {"enabled": True}),
        ("PUT", f"/api/models/{model['id']}", {"enabled": True}),
        ("POST", "/api/models", {"provider_id": made["id"], "identifier": "o1", "enabled": True}),
    ]:
        refused = admin.request(method, path, json=body)
        assert refused.status_code == 422, (path, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["enabled"]
        assert refused.json()["errors"][0]["message"].endswith("is deleted; restore it first")
    assert stored() == before


def test_a_custom_template_may_not_take_a_system_templates_name(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    before = stored()
    for name in ("OpenAI", "  anthropic "):
        refused = admin.post(f"/api/providers/{made['id']}/template", json={"name": name})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["message"].endswith(
            "is a system template's name; pick another name"
        )
    assert stored() == before
    # which would have broken every later provider made from a template (the system ones are
    # stored on first use, and the name is unique)
    from_template = admin.post(
        "/api/providers", json={"name": "Second", "template": "OpenAI", "secrets": {"api_key": OPENAI_KEY}}
    )
    assert from_template.status_code == 201, from_template.text


def test_of_two_simultaneous_saves_from_the_same_version_one_wins_the_other_is_409(api: Api) -> None:
    admin, second = api.client("admin"), api.client("admin")
    made = create_provider(admin)
    path, tag = f"/api/providers/{made['id']}", f'"{made["version"]}"'
    start = threading.Barrier(2)
    answers: dict[int, httpx.Response] = {}

    def save(client: httpx.Client, rpm: int) -> None:
        start.wait()
        answers[rpm] = client.put(path, json={"rpm": rpm}, headers={"If-Match": tag})

    threads = [threading.Thread(target=save, args=(c, rpm)) for c, rpm in ((admin, 10), (second, 20))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a.status_code for a in answers.values()) == [200, 409], {
        k: a.text for k, a in answers.items()
    }
    (winner,) = [rpm for rpm, a in answers.items() if a.status_code == 200]
    shown = _get(admin, made["id"])
    assert shown["rpm"] == winner and shown["version"] == made["version"] + 1
