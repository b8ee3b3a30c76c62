"""Users (admins only) and API tokens over HTTP: list, create, change a role, disable, set a
password, the last admin kept; a token shown once, listed without it, revoked at once."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app import db
from app.models import ApiToken, User
from app.services import api_tokens, users
from tests.api.conftest import Api
from tests.api.rows import audit_after, audit_mark, stored


def _ids(client: httpx.Client) -> dict[str, int]:
    return {u["username"]: u["id"] for u in client.get("/api/users").json()["items"]}


def _signs_in(username: str, password: str) -> bool:
    with db.Session.begin() as session:
        return users.authenticate(session, username=username, password=password) is not None


def test_an_admin_lists_and_creates_users_without_any_password_hash(api: Api) -> None:
    admin = api.client("admin")
    listed = admin.get("/api/users")
    assert listed.status_code == 200
    page = listed.json()
    assert [(u["username"], u["role"], u["disabled"]) for u in page["items"]] == [
        ("alice", "admin", False),
        ("oscar", "operator", False),
        ("vera", "viewer", False),
    ]
    assert page["total"] == 3 and "password_hash" not in page["items"][0]
    assert admin.get("/api/users", params={"limit": 1, "offset": 1}).json()["items"][0]["username"] == "oscar"

    mark = audit_mark()
    made = admin.post(
        "/api/users", json={"username": "bob", "password": "a-long-password-5", "role": "operator"}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["username"], body["role"], body["disabled"]) == ("bob", "operator", False)
    assert "a-long-password-5" not in made.text and "scrypt" not in made.text
    got = admin.get(made.headers["Location"])
    assert got.status_code == 200 and got.json() == body
    assert _signs_in("bob", "a-long-password-5")
    assert [(e.actor, e.action, e.target_name) for e in audit_after(mark)] == [
        ("alice", "user.create", "bob")
    ]

    before = stored()
    taken = admin.post(
        "/api/users", json={"username": "BOB", "password": "a-long-password-5", "role": "viewer"}
    )
    assert taken.status_code == 422
    assert taken.json()["errors"] == [
        {"field": "username", "message": "'BOB' already exists; pick another username"}
    ]
    several = admin.post("/api/users", json={"username": "carol smith", "password": "short", "role": "root"})
    assert [e["field"] for e in several.json()["errors"]] == ["username", "password", "role"]
    assert stored() == before
    assert admin.get("/api/users/999").status_code == 404


def test_an_admin_changes_a_role_disables_and_sets_a_password(api: Api) -> None:
    admin = api.client("admin")
    vera = _ids(admin)["vera"]
    mark = audit_mark()
    promoted = admin.put(f"/api/users/{vera}", json={"role": "operator"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "operator"
    assert admin.put(f"/api/users/{vera}", json={"role": "operator"}).json()["role"] == "operator"
    reset = admin.put(f"/api/users/{vera}", json={"password": "a-brand-new-password"})
    assert reset.status_code == 200, reset.text
    assert _signs_in("vera", "a-brand-new-password") and not _signs_in("vera", "a-long-password-1")
    off = admin.put(f"/api/users/{vera}", json={"disabled": True})
    assert off.status_code == 200 and off.json()["disabled"] is True
    assert not _signs_in("vera", "a-brand-new-password")
    actions = [(e.actor, e.action, e.target_name) for e in audit_after(mark)]
    assert ("alice", "user.role", "vera") in actions
    assert actions[-2:] == [("alice", "user.password", "vera"), ("alice", "user.disable", "vera")]

    # one request, one transaction: a refused password leaves the role it came with unchanged
    before = stored()
    refused = admin.put(f"/api/users/{vera}", json={"role": "admin", "password": "short"})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "password", "message": "must be at least 10 characters"}]
    assert stored() == before
    assert admin.put("/api/users/999", json={"role": "viewer"}).status_code == 404


def test_users_set_their_own_password_but_nobody_elses(api: Api) -> None:
    ids = _ids(api.client("admin"))
    own = api.client("viewer").put(f"/api/users/{ids['vera']}", json={"password": "veras-own-new-one"})
    assert own.status_code == 200, own.text
    assert _signs_in("vera", "veras-own-new-one")
    before = stored()
    other = api.client("operator").put(f"/api/users/{ids['vera']}", json={"password": "taken-over-now"})
    assert other.status_code == 403
    assert stored() == before


def test_the_last_admin_can_be_neither_demoted_nor_disabled(api: Api) -> None:
    admin = api.client("admin")
    alice = _ids(admin)["alice"]
    before = stored()
    for change in ({"role": "viewer"}, {"disabled": True}):
        refused = admin.put(f"/api/users/{alice}", json=change)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [
            {"field": "role", "message": "alice is the last admin; add another first"}
        ]
    assert stored() == before
    # with a second admin, alice may step down (and is then refused what admins do)
    admin.post("/api/users", json={"username": "adam", "password": "a-long-password-6", "role": "admin"})
    assert admin.put(f"/api/users/{alice}", json={"role": "operator"}).status_code == 200
    assert admin.get("/api/users").status_code == 403


def test_a_token_is_shown_once_stored_as_a_hash_and_never_listed(api: Api) -> None:
    viewer = api.client("viewer")
    mark = audit_mark()
    made = viewer.post("/api/tokens", json={"name": "laptop", "days": 7})
    assert made.status_code == 201, made.text
    body = made.json()
    token = body["token"]
    assert token.startswith("llma_") and len(token) > 40
    assert (body["username"], body["name"], body["state"], body["prefix"]) == (
        "vera",
        "laptop",
        "active",
        token[:13],
    )
    assert [(e.actor, e.action, e.target_name) for e in audit_after(mark)] == [
        ("vera", "api_token.create", "vera/laptop")
    ]
    assert token not in str(audit_after(mark))
    with db.Session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.id == body["id"])).one()
        assert row.token_hash == api_tokens.hash_token(token)
    assert token not in repr(stored())  # only its hash is kept

    hashed = api_tokens.hash_token(token)
    for client in (viewer, api.client("admin")):
        listing = client.get("/api/tokens")
        assert listing.status_code == 200
        assert token not in listing.text and hashed not in listing.text and "token_hash" not in listing.text
        assert body["id"] in [t["id"] for t in listing.json()["items"]]
    works = api.anonymous({"Authorization": f"Bearer {token}"}).get("/api/tokens")
    assert works.status_code == 200


def test_each_user_lists_their_own_tokens_and_an_admin_everyones(api: Api) -> None:
    def owners(client: httpx.Client, **params: Any) -> list[str]:
        page = client.get("/api/tokens", params=params)
        assert page.status_code == 200, page.text
        return [t["username"] for t in page.json()["items"]]

    assert owners(api.client("viewer")) == ["vera"]
    assert owners(api.client("operator")) == ["oscar"]
    assert sorted(owners(api.client("admin"))) == ["alice", "oscar", "vera"]
    assert owners(api.client("admin"), username="vera") == ["vera"]
    assert owners(api.client("viewer"), username="VERA") == ["vera"]  # yourself, however spelt
    assert api.client("viewer").get("/api/tokens", params={"username": "oscar"}).status_code == 403


def test_an_admin_makes_a_token_for_another_user_a_viewer_may_not(api: Api) -> None:
    admin = api.client("admin")
    made = admin.post("/api/tokens", json={"name": "oscar-ci", "username": "oscar", "days": 30})
    assert made.status_code == 201, made.text
    assert made.json()["username"] == "oscar" and made.json()["created_by"] == "alice"
    acting = api.anonymous({"Authorization": f"Bearer {made.json()['token']}"})
    assert (
        acting.post("/api/providers", json={"name": "X", "type": "ollama"}).status_code == 403
    )  # oscar's role

    before = stored()
    refused = api.client("viewer").post("/api/tokens", json={"name": "theirs", "username": "alice"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "vera has role 'viewer', which may not manage users; ask an admin"
    assert stored() == before


def test_a_revoked_token_stops_at_once_and_revoking_again_changes_nothing(api: Api) -> None:
    viewer = api.client("viewer")
    made = viewer.post("/api/tokens", json={"name": "short-lived"}).json()
    own = api.anonymous({"Authorization": f"Bearer {made['token']}"})
    assert own.get("/api/providers").status_code == 200
    mark = audit_mark()
    assert viewer.delete(f"/api/tokens/{made['id']}").status_code == 204
    assert own.get("/api/providers").status_code == 401
    assert viewer.delete(f"/api/tokens/{made['id']}").status_code == 204
    assert [(e.actor, e.action) for e in audit_after(mark)] == [("vera", "api_token.revoke")]
    listed = {t["id"]: t for t in viewer.get("/api/tokens").json()["items"]}
    assert listed[made["id"]]["state"] == "revoked" and listed[made["id"]]["revoked_at"]
    assert viewer.get("/api/providers").status_code == 200  # vera's other token still works


def test_another_users_token_does_not_exist_for_a_non_admin(api: Api) -> None:
    alices = api.client("admin").get("/api/tokens", params={"username": "alice"}).json()["items"][0]
    before = stored()
    refused = api.client("operator").delete(f"/api/tokens/{alices['id']}")
    assert refused.status_code == 404
    assert stored() == before
    assert api.client("admin").get("/api/providers").status_code == 200  # alice's token still works
    assert api.client("admin").delete("/api/tokens/999").status_code == 404


def test_invalid_token_requests_are_422_listing_each_problem(api: Api) -> None:
    admin = api.client("admin")
    before = stored()
    for body, fields in [
        ({"name": "", "days": 0}, ["name", "days"]),
        ({"name": "x", "days": 367}, ["days"]),
        ({"name": "x", "days": True}, ["days"]),
        ({"name": "x", "days": "30"}, ["days"]),
        ({"name": "x\u202e", "days": 1}, ["name"]),
        ({"name": "x", "scope": "all"}, ["scope"]),
    ]:
        refused = admin.post("/api/tokens", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == fields, body
    missing = admin.post("/api/tokens", json={"name": "x", "username": "nobody"})
    assert missing.status_code == 404
    assert stored() == before
    with db.Session.begin() as session:
        vera = users.find_user(session, username="vera")
        assert isinstance(vera, User)
        vera.disabled = True
    before = stored()
    disabled = admin.post("/api/tokens", json={"name": "x", "username": "vera"})
    assert disabled.status_code == 422
    assert disabled.json()["errors"] == [
        {"field": "username", "message": "vera is disabled; enable them first"}
    ]
    assert stored() == before


def test_a_user_changes_their_own_password_over_the_api_with_the_current_one(api: Api) -> None:
    client = api.client("viewer")
    assert client.get("/api/account").json() == {
        "username": "vera",
        "role": "viewer",
        "must_change_password": False,
    }
    wrong = client.post(
        "/api/account/password", json={"current": "not it", "password": "a new long passphrase"}
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current"
    done = client.post(
        "/api/account/password", json={"current": "a-long-password-1", "password": "a new long passphrase"}
    )
    assert done.status_code == 200 and "password_hash" not in done.json()
    with db.Session.begin() as session:
        assert users.authenticate(session, username="vera", password="a new long passphrase") is not None
