"""Groq stand-in: GroqCloud's OpenAI-compatible API under /openai/v1, as Groq publishes it.

Wire format (each point from the references below):
- Base URL https://api.groq.com/openai/v1; every route lives under /openai/v1.
- Auth: `Authorization: Bearer <key>`. A missing or wrong key gets 401
  {"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}.
- An unknown route gets 404 {"error": {"message": "Unknown request URL: <METHOD> <path>. Please check the
  URL for typos, or see the docs at https://console.groq.com/docs/", "type": "invalid_request_error",
  "code": "unknown_url"}}.
- GET /openai/v1/models: {"object": "list", "data": [{"id", "object": "model", "created", "owned_by",
  "active", "context_window", "public_apps", "max_completion_tokens"}]}.
- POST /openai/v1/chat/completions: an OpenAI-shaped chat.completion whose usage also carries Groq's
  timings (queue_time, prompt_time, completion_time, total_time), plus usage_breakdown (null),
  system_fingerprint, x_groq {"id", "seed"} and service_tier ("on_demand").
- Streaming: data-only SSE closed by `data: [DONE]`. Groq reports the stream's usage in the FINAL
  chunk's `x_groq.usage` (sent always; x_groq.id goes in the first and final chunks). A top-level
  `usage` comes only when the request sets stream_options.include_usage: then one more chunk with
  `choices: []` and `usage` is sent before [DONE].
- Embeddings: Groq has no embeddings models. The SDK has a POST /openai/v1/embeddings route, but Groq's
  maintainers say embeddings "is not currently available" and calls answer that the model "does not
  exist or you do not have access to it" (groq/groq-python#96); this stand-in answers that way (404
  model_not_found) and `case()` has no embedding model.

References:
- Groq API reference, https://console.groq.com/docs/api-reference (chat create, models list)
- Groq supported models, https://console.groq.com/docs/models (no embedding models listed)
- groq/groq-python: src/groq/types/chat/chat_completion_chunk.py (XGroq.usage "Only sent in the final
  chunk"; top-level usage only with stream_options.include_usage), types/completion_usage.py,
  types/model.py, resources/embeddings.py
- GroqCloud OpenAPI spec (api-evangelist/groq openapi/groq-models-api-openapi.yml,
  groq-chat-api-openapi.yml): list-models example, CreateChatCompletionResponse, CompletionUsage
- groq/groq-python issue #96 "Embeddings Functionality Active?" (not available)
- Recorded Groq responses quoted in public code (e.g. service_tier "on_demand", usage_breakdown null,
  x_groq.seed on chat.completion; the include_usage trailer chunk with choices [] and service_tier)
- Error bodies as Groq returns them: ag5826000/resume-commentor#4 (401 invalid_api_key),
  ChatGPTNextWeb/NextChat#4599 (404 unknown_url)
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from tests.standins.base import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    REPLY,
    Case,
    Request,
    Response,
    StandIn,
    sse,
)

PREFIX = "/openai/v1"
API_KEY = "gsk_standin_0123456789abcdef"
CHAT_MODEL = "llama-3.1-8b-instant"
MODELS = (CHAT_MODEL, "openai/gpt-oss-20b")
REQUEST_ID = "req_01standin0000000000000000"


def _error(status: int, message: str, code: str) -> Response:
    return Response(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}})


def _usage() -> dict:
    return {
        "queue_time": 0.012,
        "prompt_tokens": PROMPT_TOKENS,
        "prompt_time": 0.004,
        "completion_tokens": COMPLETION_TOKENS,
        "completion_time": 0.021,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "total_time": 0.025,
    }


class GroqStandIn(StandIn):
    def __init__(self, api_key: str = API_KEY, models: Iterable[str] = MODELS) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = tuple(models)

    def handle(self, request: Request) -> Response:
        request.authorized = request.header("authorization") == f"Bearer {self.api_key}"
        route = (request.method, request.path)
        kinds = {
            ("GET", f"{PREFIX}/models"): "models",
            ("POST", f"{PREFIX}/chat/completions"): "chat",
            ("POST", f"{PREFIX}/embeddings"): "embed",
        }
        kind = kinds.get(route)
        if kind is None:
            request.kind = "unknown"
            return _error(
                404,
                f"Unknown request URL: {request.method} {request.path}. Please check the URL for typos, "
                "or see the docs at https://console.groq.com/docs/",
                "unknown_url",
            )
        if kind == "chat" and request.json.get("stream"):
            kind = "stream"
        request.kind = kind
        if not request.authorized:
            return _error(401, "Invalid API Key", "invalid_api_key")
        if kind == "models":
            return Response(body=self._models())
        if kind == "embed":
            model = request.json.get("model")
            return _error(
                404, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found"
            )
        body = request.json
        if kind == "stream":
            return Response(chunks=self._stream(body), content_type="text/event-stream")
        return Response(body=self._completion(body))

    def _models(self) -> dict:
        return {
            "object": "list",
            "data": [
                {
                    "id": model,
                    "object": "model",
                    "created": 1693721698,
                    "owned_by": "Meta",
                    "active": True,
                    "context_window": 131072,
                    "public_apps": None,
                    "max_completion_tokens": 131072,
                }
                for model in self.models
            ],
        }

    def _completion(self, body: dict) -> dict:
        return {
            "id": "chatcmpl-standin-0001",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
            "usage_breakdown": None,
            "system_fingerprint": "fp_standin",
            "x_groq": {"id": REQUEST_ID, "seed": 1321871292},
            "service_tier": "on_demand",
        }

    def _stream(self, body: dict) -> list[bytes]:
        created = int(time.time())
        base = {
            "id": "chatcmpl-standin-0001",
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
            "system_fingerprint": "fp_standin",
        }

        def choice(delta: dict, finish: str | None = None) -> list[dict]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        words = REPLY.split(" ")
        events: list[dict] = [
            {**base, "choices": choice({"role": "assistant", "content": ""}), "x_groq": {"id": REQUEST_ID}}
        ]
        for i, word in enumerate(words):
            events.append({**base, "choices": choice({"content": word if i == 0 else f" {word}"})})
        events.append(
            {**base, "choices": choice({}, "stop"), "x_groq": {"id": REQUEST_ID, "usage": _usage()}}
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            # "contains a null value except for the last chunk", which carries the whole request's usage
            events = [{**event, "usage": None} for event in events]
            events.append({**base, "choices": [], "usage": _usage(), "service_tier": "on_demand"})
        return sse(events, done=True)


def case() -> Case:
    return Case(
        type="groq",
        base_url="{url}/openai/v1",
        secrets={"api_key": API_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=None,
        listed_models=tuple(sorted(MODELS)),
    )
