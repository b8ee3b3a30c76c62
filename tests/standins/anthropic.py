"""Stand-in for the Anthropic API (Messages, Models), built from Anthropic's published wire format.

What it speaks:
- auth: the `x-api-key` header, plus the required `anthropic-version` header (401
  `authentication_error` / 400 `invalid_request_error` otherwise);
- POST /v1/messages: a `message` object with `content: [{"type": "text", ...}]` and
  `usage.input_tokens` / `usage.output_tokens`; with `"stream": true`, named server-sent events
  message_start (usage with input_tokens and an initial output_tokens) / content_block_start / ping /
  content_block_delta (text_delta) / content_block_stop / message_delta (usage.output_tokens, cumulative)
  / message_stop; usage is always part of the stream (there is no opt-in);
- POST /v1/messages/count_tokens: `{"input_tokens": N}`;
- GET /v1/models (limit / after_id / before_id paging): `{"data": [...], "has_more", "first_id",
  "last_id"}`, each entry `{"type": "model", "id", "display_name", "created_at"}`; GET /v1/models/{id};
- errors: `{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`, 404
  `not_found_error` for unknown paths and models. Anthropic has no embeddings API.

References used:
- Messages API / streaming: https://platform.claude.com/docs/build-with-claude/streaming ("Streaming
  messages", event flow and the message_start / message_delta usage example),
  https://docs.anthropic.com/en/api/messages-streaming
- Models list: https://docs.anthropic.com/en/api/models-list (first_id, has_more, last_id, limit 1-1000,
  default 20, after_id / before_id)
- Errors: https://docs.anthropic.com/en/api/errors (error types per status, shape with request_id)
- Versioning: https://docs.anthropic.com/en/api/versioning (anthropic-version header is required)
- Official SDK, anthropics/anthropic-sdk-python: src/anthropic/_client.py (X-Api-Key auth header,
  anthropic-version 2023-06-01, base URL https://api.anthropic.com), src/anthropic/types/message.py,
  usage.py, message_delta_usage.py (output_tokens cumulative), model_info.py
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.standins import base
from tests.standins.base import Case, Request, Response, StandIn

API_VERSION = "2023-06-01"
DEFAULT_MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5")
TEST_KEY = "sk-ant-api03-standin-test-key"


def _error(status: int, kind: str, message: str) -> Response:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    return Response(
        status,
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id},
        headers={"request-id": request_id},
    )


def _chunks(text: str, size: int = 6) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class AnthropicStandIn(StandIn):
    """Anthropic's API on 127.0.0.1: accepts one API key, lists `models`."""

    def __init__(self, api_key: str = TEST_KEY, models: tuple[str, ...] = DEFAULT_MODELS) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = tuple(models)

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        route = self._route(request.method, path)
        if route is None:
            request.kind = "unknown"
            request.authorized = self._key_ok(request)
            return _error(404, "not_found_error", "Not Found")
        request.kind = route
        key = request.header("x-api-key")
        request.authorized = key == self.api_key
        if not key:
            return _error(401, "authentication_error", "x-api-key header is required")
        if key != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if not request.header("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if route == "models":
            return self._list_models(request)
        if route == "model":
            return self._get_model(path.removeprefix("/v1/models/"))
        if route == "count_tokens":
            return self._count_tokens(request)
        return self._messages(request)

    def _route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/messages":
            return "chat"  # refined to "stream" once the body is read
        if method == "POST" and path == "/v1/messages/count_tokens":
            return "count_tokens"
        if method == "GET" and path == "/v1/models":
            return "models"
        if method == "GET" and path.startswith("/v1/models/") and path.count("/") == 3:
            return "model"
        return None

    def _key_ok(self, request: Request) -> bool:
        return request.header("x-api-key") == self.api_key

    # -- models -----------------------------------------------------------------------------------

    @staticmethod
    def _model_info(model_id: str, index: int) -> dict[str, Any]:
        return {
            "type": "model",
            "id": model_id,
            "display_name": model_id.replace("-", " ").title(),
            # RFC 3339; newer models are listed first, so the first id gets the latest date
            "created_at": f"2025-{12 - min(index, 11):02d}-01T00:00:00Z",
        }

    def _list_models(self, request: Request) -> Response:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return _error(400, "invalid_request_error", "limit: Input should be a valid integer")
        if not 1 <= limit <= 1000:
            return _error(400, "invalid_request_error", "limit: must be between 1 and 1000")
        ids = list(self.models)
        after, before = request.query.get("after_id"), request.query.get("before_id")
        if after is not None:
            if after not in ids:
                return _error(404, "not_found_error", f"model: {after}")
            window = ids[ids.index(after) + 1 :]
            page, more = window[:limit], len(window) > limit
        elif before is not None:
            if before not in ids:
                return _error(404, "not_found_error", f"model: {before}")
            window = ids[: ids.index(before)]
            page, more = window[-limit:], len(window) > limit
        else:
            page, more = ids[:limit], len(ids) > limit
        data = [self._model_info(m, ids.index(m)) for m in page]
        return Response(
            200,
            {
                "data": data,
                "has_more": more,
                "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None,
            },
        )

    def _get_model(self, model_id: str) -> Response:
        if model_id not in self.models:
            return _error(404, "not_found_error", f"model: {model_id}")
        return Response(200, self._model_info(model_id, self.models.index(model_id)))

    # -- messages ---------------------------------------------------------------------------------

    def _check_body(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        try:
            body = request.json
        except ValueError:
            return None, _error(400, "invalid_request_error", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return None, _error(400, "invalid_request_error", "The request body must be a JSON object.")
        if "model" not in body:
            return None, _error(400, "invalid_request_error", "model: Field required")
        if not isinstance(body.get("messages"), list):
            return None, _error(400, "invalid_request_error", "messages: Field required")
        if body["model"] not in self.models:
            return None, _error(404, "not_found_error", f"model: {body['model']}")
        return body, None

    def _count_tokens(self, request: Request) -> Response:
        _, problem = self._check_body(request)
        return problem or Response(200, {"input_tokens": base.PROMPT_TOKENS})

    def _messages(self, request: Request) -> Response:
        body, problem = self._check_body(request)
        if body is not None and body.get("stream") is True:
            request.kind = "stream"
        if problem is not None:
            return problem
        assert body is not None
        if not isinstance(body.get("max_tokens"), int):
            return _error(400, "invalid_request_error", "max_tokens: Field required")
        message_id = f"msg_{uuid.uuid4().hex[:24]}"
        if body.get("stream") is True:
            return self._stream(message_id, body["model"])
        return Response(
            200,
            {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": base.REPLY}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": base.PROMPT_TOKENS,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": base.COMPLETION_TOKENS,
                    "service_tier": "standard",
                },
            },
            headers={"request-id": f"req_{uuid.uuid4().hex[:24]}"},
        )

    def _stream(self, message_id: str, model: str) -> Response:
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        # as the reference shows: input tokens up front, a first output token count
                        "usage": {
                            "input_tokens": base.PROMPT_TOKENS,
                            "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0,
                            "output_tokens": 1,
                            "service_tier": "standard",
                        },
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        for piece in _chunks(base.REPLY):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    # cumulative: the final count of output tokens for the whole message
                    "usage": {"output_tokens": base.COMPLETION_TOKENS},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return Response(
            200,
            chunks=base.sse(events, named=True),
            content_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-cache", "request-id": f"req_{uuid.uuid4().hex[:24]}"},
        )


def case() -> Case:
    """A user adding Anthropic: base URL in the catalog's shape (https://api.anthropic.com, no /v1)."""
    return Case(
        type="anthropic",
        base_url="{url}",
        secrets={"api_key": TEST_KEY},
        chat_model="claude-haiku-4-5",
        embedding_model=None,
        listed_models=DEFAULT_MODELS,
    )
