"""What every response shares: a request ID (echoed when the client sent a sane one) in the header
and in every error body; errors of every kind in one shape; docs that fetch nothing from outside."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from app.services import providers
from tests.api.conftest import Api
from tests.api.rows import create_provider


def _has_request_id(response: Any) -> str:
    rid: str = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", rid), rid
    if response.status_code >= 400:
        body = response.json()
        assert body["request_id"] == rid, body
        assert isinstance(body["error"], str) and body["error"], body
    return rid


def test_every_response_carries_a_request_id_and_each_is_new(api: Api) -> None:
    admin = api.client("admin")
    responses = {
        200: admin.get("/api/providers"),
        201: admin.post("/api/providers", json={"name": "P", "type": "ollama"}),
        401: api.anonymous().get("/api/providers"),
        403: api.client("viewer").post("/api/providers", json={"name": "Q", "type": "ollama"}),
        404: admin.get("/api/providers/12345"),
        409: admin.put("/api/providers/1", json={"rpm": 5}, headers={"If-Match": '"99"'}),
        422: admin.get("/api/providers", params={"limit": 501}),
    }
    ids = set()
    for status, response in responses.items():
        assert response.status_code == status, (status, response.text)
        ids.add(_has_request_id(response))
    assert len(ids) == len(responses)
    assert admin.delete("/api/providers/1").headers["X-Request-ID"]  # 204: no body, still the header


def test_a_sane_client_request_id_is_echoed_and_any_other_replaced(api: Api) -> None:
    sent = f"ci-run-42.{uuid.uuid4().hex[:8]}"
    ok = api.client("viewer").get("/api/providers", headers={"X-Request-ID": sent})
    assert ok.headers["X-Request-ID"] == sent
    refused = api.anonymous({"X-Request-ID": sent}).get("/api/providers")
    assert refused.headers["X-Request-ID"] == sent and refused.json()["request_id"] == sent
    for insane in [b"x" * 65, b"has space", b"semi;colon", b"<script>", "ünïcode".encode()]:
        replaced = api.client("viewer").get("/api/providers", headers={"X-Request-ID": insane})
        assert replaced.status_code == 200
        assert replaced.headers["X-Request-ID"].encode() != insane
        _has_request_id(replaced)


@pytest.mark.parametrize(
    ("method", "path", "status", "fix"),
    [
        ("GET", "/api/no-such-thing", 404, "no endpoint GET /api/no-such-thing; /api/docs lists them"),
        ("PATCH", "/api/providers", 405, "/api/providers does not take PATCH"),
        ("GET", "/api/providers/not-a-number", 422, "provider_id: "),
    ],
    ids=["no-endpoint", "wrong-method", "path-not-a-number"],
)
def test_the_frameworks_own_refusals_have_the_same_shape(
    api: Api, method: str, path: str, status: int, fix: str
) -> None:
    response = api.client("viewer").request(method, path)
    assert response.status_code == status, response.text
    _has_request_id(response)
    assert fix in response.json()["error"]


def test_an_unexpected_failure_is_a_500_with_the_request_id_and_no_internals(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals: sk-proj-do-not-show")

    monkeypatch.setattr(providers, "list_providers", broken)
    with caplog.at_level("ERROR", logger="llm_admin.api"):
        failed = api.client("viewer").get("/api/providers", headers={"X-Request-ID": "trace-me-1"})
    assert failed.status_code == 500
    assert failed.json() == {
        "error": "internal error; the API's log has the details under request_id=trace-me-1",
        "request_id": "trace-me-1",
    }
    assert failed.headers["X-Request-ID"] == "trace-me-1"
    assert any("request_id=trace-me-1" in r.getMessage() and r.exc_info for r in caplog.records)
    assert api.client("viewer").get("/api/provider-types").status_code == 200  # the server serves on


def test_a_conflict_and_a_not_found_say_what_to_do(api: Api) -> None:
    admin = api.client("admin")
    made = create_provider(admin)
    stale = admin.put(f"/api/providers/{made['id']}", json={"rpm": 1}, headers={"If-Match": '"0"'})
    assert stale.status_code == 409
    assert stale.json()["error"].endswith("reload it and make your change again")
    assert "errors" not in stale.json()


def test_the_docs_page_and_its_files_are_served_from_here(api: Api) -> None:
    anonymous = api.anonymous()
    page = anonymous.get("/api/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    linked = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    assert "/api/docs/static/swagger-ui-bundle.js" in linked and "/api/openapi.json" in linked
    assert [u for u in linked if "//" in u] == []  # nothing from another host
    assert re.findall(r"https?://", html) == []
    assert '"validatorUrl": null' in html  # Swagger UI would otherwise send the spec's URL out
    for path in [
        "/api/docs/static/swagger-ui-bundle.js",
        "/api/docs/static/swagger-ui.css",
        "/api/openapi.json",
    ]:
        assert anonymous.get(path).status_code == 200, path
    document = anonymous.get("/api/openapi.json").json()
    assert document["info"]["title"] == "llm-admin API"
    assert "/api/providers" in document["paths"]
