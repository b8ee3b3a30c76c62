"""Who may do what: a token lets its user in with the role the database has now; anything else is a
401 that says what to do, a role too low a 403 that stores nothing; every change is audited under
the token's user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app import db
from app.models import utcnow
from app.services import api_tokens
from app.services.users import find_user
from tests.api.conftest import Api
from tests.api.rows import (
    ALICE,
    OPENAI_KEY,
    audit_after,
    audit_mark,
    provider_body,
    seed_provider_and_model,
    stored,
)
from tests.standins.openai import OpenAIStandIn


def _user_id(username: str) -> int:
    with db.Session() as session:
        user = find_user(session, username=username)
        assert user is not None
        return user.id


def _refused(response: Any, fix: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert fix in body["error"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("authorization", "fix"),
    [
        (
            None,
            "send an API token as 'Authorization: Bearer llma_…'; create one with `llm-admin token create`",
        ),
        ("Basic YWxpY2U6c2VjcmV0", "send an API token as 'Authorization: Bearer"),
        ("Bearer", "send an API token as 'Authorization: Bearer"),
        ("Token llma_abc", "send an API token as 'Authorization: Bearer"),
        ("Bearer sk-not-an-api-token", "send an API token as 'Authorization: Bearer"),
        ("Bearer llma_" + "x" * 43, "this API token is not known; create one with `llm-admin token create`"),
    ],
    ids=["missing", "basic", "bearer-alone", "other-scheme", "not-a-token", "unknown"],
)
def test_a_request_without_a_known_token_is_401_saying_what_to_do(
    api: Api, authorization: str | None, fix: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    client = api.anonymous(headers)
    before = stored()
    _refused(client.get("/api/providers"), fix)
    _refused(client.post("/api/providers", json=provider_body()), fix)
    assert stored() == before


def test_a_revoked_token_is_401_from_the_next_request(api: Api) -> None:
    admin = api.client("admin")
    made = admin.post("/api/tokens", json={"name": "ci", "days": 30})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    ci = api.anonymous({"Authorization": f"Bearer {token}"})
    assert ci.get("/api/providers").status_code == 200
    assert admin.delete(f"/api/tokens/{made.json()['id']}").status_code == 204
    _refused(ci.get("/api/providers"), f"API token {token[:13]}… was revoked; create a new one")


def test_an_expired_token_is_401_naming_when_it_expired(api: Api) -> None:
    with db.Session.begin() as session:
        _, token = api_tokens.create_token(
            session, actor=ALICE, name="old", days=1, now=utcnow() - timedelta(days=2)
        )
    _refused(
        api.anonymous({"Authorization": f"Bearer {token}"}).get("/api/providers"),
        "expired at ",
    )


def test_a_disabled_users_token_is_401(api: Api) -> None:
    viewer = api.client("viewer")
    assert viewer.get("/api/providers").status_code == 200
    disabled = api.client("admin").put(f"/api/users/{_user_id('vera')}", json={"disabled": True})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True
    _refused(viewer.get("/api/providers"), "vera is disabled; ask an admin")
    # enabled again, the same token works again
    assert (
        api.client("admin").put(f"/api/users/{_user_id('vera')}", json={"disabled": False}).status_code == 200
    )
    assert viewer.get("/api/providers").status_code == 200


def test_a_demoted_admin_is_refused_at_their_next_request(api: Api) -> None:
    admin = api.client("admin")
    made = admin.post(
        "/api/users", json={"username": "adam", "password": "a-long-password-2", "role": "admin"}
    )
    assert made.status_code == 201, made.text
    token = admin.post("/api/tokens", json={"name": "adam-ci", "username": "adam"}).json()["token"]
    adam = api.anonymous({"Authorization": f"Bearer {token}"})
    assert adam.post("/api/providers", json=provider_body("First")).status_code == 201

    demoted = admin.put(f"/api/users/{made.json()['id']}", json={"role": "viewer"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    before = stored()
    refused = adam.post("/api/providers", json=provider_body("Second"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "adam has role 'viewer', which may not edit; ask an admin"
    assert stored() == before
    assert adam.get("/api/providers").json()["total"] == 1  # reading is still allowed

    # and promoted again, the same token may edit at once
    assert admin.put(f"/api/users/{made.json()['id']}", json={"role": "admin"}).status_code == 200
    assert adam.post("/api/providers", json=provider_body("Second")).status_code == 201


def _edits(pid: int, mid: int, alice: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every change an admin may make (the operator may make none of them)."""
    return [
        ("POST", "/api/providers", provider_body("New One")),
        (
            "POST",
            "/api/providers",
            {"name": "From Template", "template": "OpenAI", "secrets": {"api_key": OPENAI_KEY}},
        ),
        ("PUT", f"/api/providers/{pid}", {"rpm": 5}),
        ("DELETE", f"/api/providers/{pid}", None),
        ("POST", f"/api/providers/{pid}/restore", None),
        ("POST", f"/api/providers/{pid}/template", {"name": "Team OpenAI"}),
        ("POST", f"/api/providers/{pid}/sync", None),
        ("POST", f"/api/providers/{pid}/test?sync=true", None),
        ("POST", f"/api/providers/{pid}/reveal", {"field": "api_key"}),
        ("POST", "/api/models", {"provider_id": pid, "identifier": "gpt-4o"}),
        ("PUT", f"/api/models/{mid}", {"enabled": False}),
        ("DELETE", f"/api/models/{mid}", None),
        ("POST", "/api/models/bulk", {"ids": [mid], "enabled": False}),
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"username": "mallory", "password": "a-long-password-3", "role": "admin"}),
        ("PUT", f"/api/users/{alice}", {"role": "viewer"}),
        ("PUT", f"/api/users/{alice}", {"disabled": True}),
        ("PUT", f"/api/users/{alice}", {"password": "taken-over-password"}),
        ("PUT", f"/api/users/{alice}", {}),
        ("POST", "/api/users/alice/unlock", None),
        ("POST", "/api/tokens", {"name": "theirs", "username": "alice"}),
        ("GET", "/api/tokens?username=alice", None),
    ]


@pytest.mark.parametrize(("role", "name"), [("viewer", "vera"), ("operator", "oscar")])
def test_each_role_is_refused_what_it_may_not_do_and_nothing_is_stored(
    api: Api, role: str, name: str
) -> None:
    with OpenAIStandIn(OPENAI_KEY, organization=None) as upstream:
        # the stand-in answers with the provider's key, so a sync let through would add models
        pid, mid = seed_provider_and_model(api, base_url=f"{upstream.url}/v1")
        client = api.client(role)
        client.get("/api/providers")  # the token's first use is recorded; from here nothing may change
        before = stored()
        wrong: list[str] = []
        for method, path, body in _edits(pid, mid, _user_id("alice")):
            response = client.request(method, path, json=body)
            if response.status_code != 403 or "ask an admin" not in response.json().get("error", ""):
                wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            elif not response.json()["error"].startswith(f"{name} has role '{role}', which may not "):
                wrong.append(f"{method} {path}: {response.json()['error']}")
        assert wrong == []
        assert stored() == before
        assert upstream.seen == []  # each refusal comes before the provider is asked anything


def test_the_viewer_may_not_test_a_connection_the_operator_may(api: Api) -> None:
    with OpenAIStandIn(OPENAI_KEY, organization=None) as upstream:
        made = api.client("admin").post(
            "/api/providers", json=provider_body("Stand-in", key=OPENAI_KEY, base_url=f"{upstream.url}/v1")
        )
        pid = made.json()["id"]
        refused = api.client("viewer").post(f"/api/providers/{pid}/test")
        assert refused.status_code == 403
        assert refused.json()["error"] == "vera has role 'viewer', which may not operate; ask an admin"
        assert upstream.seen == []

        mark = audit_mark()
        tested = api.client("operator").post(f"/api/providers/{pid}/test")
        assert tested.status_code == 200, tested.text
        assert tested.json()["test"]["ok"] is True
        assert [(e.actor, e.action) for e in audit_after(mark)] == [("oscar", "provider.test")]
        shown = api.client("viewer").get(f"/api/providers/{pid}").json()
        assert shown["last_test_ok"] is True
        assert shown["version"] == made.json()["version"]  # a test is not an edit


def test_every_change_is_audited_under_the_tokens_user(api: Api) -> None:
    admin = api.client("admin")
    mark = audit_mark()
    pid = admin.post("/api/providers", json=provider_body()).json()["id"]
    mid = admin.post("/api/models", json={"provider_id": pid, "identifier": "gpt-4o"}).json()["id"]
    assert admin.put(f"/api/models/{mid}", json={"enabled": True}).status_code == 200
    assert admin.put(f"/api/providers/{pid}", json={"rpm": 60}).status_code == 200
    assert admin.post(f"/api/providers/{pid}/reveal", json={}).status_code == 200
    assert admin.post(f"/api/providers/{pid}/template", json={"name": "Team"}).status_code == 201
    assert admin.post("/api/models/bulk", json={"ids": [mid], "enabled": False}).status_code == 200
    assert admin.delete(f"/api/models/{mid}").status_code == 204
    assert admin.delete(f"/api/providers/{pid}").status_code == 204
    assert admin.post(f"/api/providers/{pid}/restore").status_code == 200
    made = admin.post(
        "/api/users", json={"username": "bob", "password": "a-long-password-4", "role": "viewer"}
    )
    assert admin.put(f"/api/users/{made.json()['id']}", json={"role": "operator"}).status_code == 200
    token = admin.post("/api/tokens", json={"name": "bob-ci", "username": "bob"}).json()
    assert admin.delete(f"/api/tokens/{token['id']}").status_code == 204
    entries = audit_after(mark)
    assert [e.action for e in entries] == [
        "provider.create",
        "model.create",
        "model.update",
        "provider.update",
        "provider.reveal_key",
        "template.create",
        "model.disable",
        "model.delete",
        "provider.delete",
        "provider.restore",
        "user.create",
        "user.role",
        "api_token.create",
        "api_token.revoke",
    ]
    assert {e.actor for e in entries} == {"alice"}


def test_the_operator_applies_the_config_the_viewer_may_not(api: Api) -> None:
    seed_provider_and_model(api)
    before = stored()
    refused = api.client("viewer").post("/api/config/apply", json={"wait": False})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "vera has role 'viewer', which may not operate; ask an admin"
    assert stored() == before
    assert not api.settings.config_path.exists()

    mark = audit_mark()
    applied = api.client("operator").post("/api/config/apply", json={"wait": False})
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"]["number"] == 1
    assert api.settings.config_path.exists()
    assert [(e.actor, e.action) for e in audit_after(mark)] == [("oscar", "config.apply")]
