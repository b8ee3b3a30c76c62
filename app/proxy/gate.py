"""Outside the model routes, the proxy answers only the master key; liveness answers everyone.

LiteLLM serves some routes without authenticating them (readiness, its UI and login, images,
well-known documents) and many management routes that a caller must not reach. This ASGI middleware,
wrapped around the supervised proxy's app, lets through liveness, the model-calling routes (where
our custom_auth judges the caller key: app/proxy/auth.py) and, for ops, anything with the master key.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from app.proxy.auth import MODEL_ROUTES, MODEL_ROUTES_TEXT
from app.runtime.caller_keys import looks_like_caller_key

LIVENESS = frozenset({"/health/liveliness", "/health/liveness"})
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
KEY_HEADERS = (b"authorization", b"x-litellm-api-key", b"api-key", b"x-api-key")


def _presented_key(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name in KEY_HEADERS:
            text = value.decode("latin-1").strip()
            return text[7:].strip() if text.lower().startswith("bearer ") else text
    return ""


class OpenRouteGate:
    """Refuse every request outside liveness and the model routes unless it carries the master key."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        root = scope.get("root_path") or ""
        route = path[len(root) :] if root and path.startswith(root) else path
        if scope["type"] != "http" or route in LIVENESS or route in MODEL_ROUTES:
            await self.app(scope, receive, send)
            return
        key = _presented_key(scope)
        master = os.environ.get("LITELLM_MASTER_KEY", "")
        if master and hmac.compare_digest(key.encode(), master.encode()):
            await self.app(scope, receive, send)
            return
        status = 403 if looks_like_caller_key(key) else 401
        who = "a caller key may call" if status == 403 else "callers call"
        body = json.dumps(
            {
                "error": {
                    "message": f"{route} is for the proxy's operators (master key); {who} only "
                    f"{MODEL_ROUTES_TEXT}",
                    "type": "auth_error",
                    "code": str(status),
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
