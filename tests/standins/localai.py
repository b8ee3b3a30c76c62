"""Stand-in for LocalAI's OpenAI-compatible API (default http://localhost:8080/v1), built from
LocalAI's own source (mudler/LocalAI), not from what clients send.

Paths (core/http/routes/openai.go): POST /v1/chat/completions and /chat/completions, POST
/v1/embeddings and /embeddings, GET /v1/models and /models. There is no GET /v1/models/{id}.
Trailing slashes are stripped before routing (app.go: middleware.RemoveTrailingSlash).

Auth (core/http/auth/middleware.go): with API keys configured (LOCALAI_API_KEY / --api-keys) every
API path needs one; the key is read from `Authorization: Bearer <key>` (or a bare Authorization
value), `x-api-key`, `xi-api-key` or the `token` cookie. Without configured keys anything passes.
A missing or wrong key: 401, `WWW-Authenticate: Bearer`,
`{"error": {"code": 401, "message": "An authentication key is required", "type": "invalid_request_error"}}`.
The check runs before routing, so an unknown path without a key is also a 401.

Bodies (core/schema/openai.go: OpenAIResponse, Choice, Item, OpenAIUsage, ModelsDataResponse, APIError):
- models: `{"object": "list", "data": [{"id", "object": "model"}]}` (endpoints/openai/list.go);
- chat: `{"created", "object": "chat.completion", "id", "model", "choices": [{"index",
  "finish_reason", "message"}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}`;
- stream: SSE `data: {chat.completion.chunk}`, a last chunk with finish_reason "stop", then, only
  when the request sets stream_options.include_usage, a trailer `{"choices": [], "usage": {...}}`,
  then `data: [DONE]`. Intermediate chunks carry no `usage` key at all
  (endpoints/openai/chat.go, chat_emit.go, chat_stream_usage_test.go: the fix for issue #8546);
- embeddings: `{"created", "object": "list", "id", "model", "data": [{"embedding", "index",
  "object": "embedding"}]}`; base64 when encoding_format is "base64"; LocalAI reports no token
  usage for embeddings (endpoints/openai/embeddings.go: "does not currently track per-call token
  counts"), so the body has no `usage`.
- unknown path: 404 `{"error": {"code": 404, "message": "Resource not found", "type": ""}}`
  (core/http/render.go notFoundHandler for JSON / non-HTML clients).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.standins import base
from tests.standins.base import Case, Request, Response
from tests.standins.openai import OpenAIStyleStandIn, embedding_inputs, float32_base64, split_reply

LOCALAI_KEY = "localai-standin-key"
# Not a "llama-3..." id on purpose: for those LiteLLM fetches a Hugging Face tokenizer on every stream
# (litellm/utils.py huggingface_tokenizer_kind), which stalls ~24 s per call without internet.
CHAT_MODEL = "qwen2.5-7b-instruct"
EMBED_MODEL = "nomic-embed-text-v1.5"
MODELS = (CHAT_MODEL, EMBED_MODEL)


class LocalAIStandIn(OpenAIStyleStandIn):
    """LocalAI with (api_key set) or without (api_key=None) API keys configured."""

    def __init__(
        self, api_key: str | None = LOCALAI_KEY, models: tuple[str, ...] | list[str] = MODELS
    ) -> None:
        super().__init__(api_key, models)

    def route(self, request: Request) -> str | None:
        path = request.path.rstrip("/") or "/"
        for prefix in ("/v1", ""):
            if request.method == "GET" and path == f"{prefix}/models":
                return "models"
            if request.method == "POST" and path == f"{prefix}/chat/completions":
                return "chat"
            if request.method == "POST" and path == f"{prefix}/embeddings":
                return "embed"
        return None

    def presented_key(self, request: Request) -> str | None:
        auth = request.header("authorization")
        if auth:
            return auth[len("Bearer ") :] if auth.startswith("Bearer ") else auth
        for name in ("x-api-key", "xi-api-key"):
            if request.header(name):
                return request.header(name)
        for part in (request.header("cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "token" and value:
                return value
        return None

    def auth_failure(self, request: Request) -> Response | None:
        if self.api_key is None or self.presented_key(request) == self.api_key:
            return None
        return Response(
            401,
            {
                "error": {
                    "code": 401,
                    "message": "An authentication key is required",
                    "type": "invalid_request_error",
                }
            },
            headers={"WWW-Authenticate": "Bearer"},
        )

    def handle(self, request: Request) -> Response:
        route = self.route(request)
        failure = self.auth_failure(request)
        request.authorized = failure is None
        if route == "chat":
            request.kind = "stream" if request.json.get("stream") else "chat"
        else:
            request.kind = route or "unknown"
        if failure is not None:  # the auth middleware runs before routing
            return failure
        if route is None:
            return Response(404, {"error": {"code": 404, "message": "Resource not found", "type": ""}})
        if route == "models":
            return Response(
                200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
            )
        body = request.json
        if route == "chat":
            return self.chat_stream(body) if body.get("stream") else Response(200, self.chat_object(body))
        return self.embed(body)

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": base.PROMPT_TOKENS,
            "completion_tokens": base.COMPLETION_TOKENS,
            "total_tokens": base.PROMPT_TOKENS + base.COMPLETION_TOKENS,
        }

    def chat_object(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "created": int(time.time()),
            "object": "chat.completion",
            "id": str(uuid.uuid4()),
            "model": body.get("model"),
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": base.REPLY}}
            ],
            "usage": self.usage(),
        }

    def stream_events(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        cid, created, model = str(uuid.uuid4()), int(time.time()), body.get("model")

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "created": created,
                "object": "chat.completion.chunk",
                "id": cid,
                "model": model,
                "choices": choices,
                **extra,
            }

        events = [chunk([{"index": 0, "finish_reason": None, "delta": {"role": "assistant", "content": ""}}])]
        for piece in split_reply(base.REPLY):
            events.append(chunk([{"index": 0, "finish_reason": None, "delta": {"content": piece}}]))
        events.append(chunk([{"index": 0, "finish_reason": "stop", "delta": {}}]))
        if self.include_usage(body):
            events.append(chunk([], usage=self.usage()))
        return events

    def embed(self, body: dict[str, Any]) -> Response:
        inputs = embedding_inputs(body.get("input"))
        vector: Any = (
            float32_base64(base.EMBEDDING)
            if body.get("encoding_format") == "base64"
            else list(base.EMBEDDING)
        )
        return Response(
            200,
            {
                "created": int(time.time()),
                "object": "list",
                "id": str(uuid.uuid4()),
                "model": body.get("model"),
                "data": [
                    {"embedding": vector, "index": i, "object": "embedding"} for i in range(len(inputs))
                ],
            },
        )


def case() -> Case:
    return Case(
        type="localai",
        base_url="{url}/v1",  # catalog default http://localhost:8080/v1
        secrets={"api_key": LOCALAI_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=EMBED_MODEL,
        listed_models=tuple(sorted(MODELS)),
    )
