"""The server answers with its conventions: tokens, request IDs, error bodies, pages."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_token_lists_providers_and_no_token_is_refused(api: Api) -> None:
    listed = api.client("viewer").get("/api/providers")
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "total": 0, "limit": 100, "offset": 0, "next_offset": None}
    refused = api.anonymous().get("/api/providers")
    assert refused.status_code == 401
    assert "llm-admin token create" in refused.json()["error"]
    assert refused.headers["WWW-Authenticate"] == "Bearer"
