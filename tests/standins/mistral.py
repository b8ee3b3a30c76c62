"""Mistral AI stand-in: La Plateforme's API under /v1, as Mistral publishes it.

Wire format (each point from the references below):
- Base URL https://api.mistral.ai/v1. Auth: `Authorization: Bearer <key>` (security scheme http/bearer).
- The API sits behind a gateway that matches routes first: an unknown route gets 404
  {"message": "no Route matched with those values", "request_id": "<hex>"}; a known route without the
  right key gets 401 {"message": "Unauthorized", "request_id": "<hex>"}.
- GET /v1/models: {"object": "list", "data": [model card]}; a base model card is {"id", "object":
  "model", "created", "owned_by": "mistralai", "capabilities": {"completion_chat", "completion_fim",
  "function_calling", "fine_tuning", "vision", "classification"}, "name", "description",
  "max_context_length", "aliases", "deprecation", "default_model_temperature", "type": "base"}.
  The card has no "embedding" capability: an embedding model is one with completion_chat false.
- POST /v1/chat/completions: {"id", "object": "chat.completion", "model", "created", "choices": [{"index",
  "message": {"role": "assistant", "content", "tool_calls"}, "finish_reason"}], "usage": {"prompt_tokens",
  "completion_tokens", "total_tokens"}}.
- Streaming: data-only SSE closed by `data: [DONE]`; the chunk carrying finish_reason also carries
  `usage` (always; Mistral has no stream_options).
- POST /v1/embeddings: {"id", "object": "list", "model", "usage": {"prompt_tokens", "completion_tokens",
  "total_tokens"}, "data": [{"object": "embedding", "embedding", "index"}]}.

References:
- Mistral API spec, mistralai/platform-docs-public openapi.yaml (https://docs.mistral.ai/api/): paths,
  bearer security, ChatCompletionResponse, ModelList, stream "terminated by a data: [DONE] message"
- mistralai/client-python (official SDK, generated from the spec): src/mistralai/models/basemodelcard.py,
  modelcapabilities.py, modellist.py, chatcompletionresponse.py, completionchunk.py (usage on a chunk),
  usageinfo.py, embeddingresponse.py, embeddingresponsedata.py
- mistralai/client-ts docs/models/components/completionchunk.md (final chunk: finish_reason + usage)
- A recorded Mistral stream (M-Lai-ai/LLM-Provider-reference Mistral/streaming.md): usage on the
  finish_reason chunk, then [DONE]
- Error bodies as Mistral returns them: cline/cline#1734 (401 {"message":"Unauthorized","request_id"}),
  apmantza/pi-free#293 and nextcloud/assistant#593 (404 "no Route matched with those values")
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from tests.standins.base import (
    COMPLETION_TOKENS,
    EMBEDDING,
    EMBEDDING_TOKENS,
    PROMPT_TOKENS,
    REPLY,
    Case,
    Request,
    Response,
    StandIn,
    sse,
)

PREFIX = "/v1"
API_KEY = "mistral-standin-key-0123456789"
CHAT_MODEL = "mistral-small-latest"
EMBEDDING_MODEL = "mistral-embed"
MODELS = (CHAT_MODEL, EMBEDDING_MODEL)


def _gateway_error(status: int, message: str) -> Response:
    return Response(status, {"message": message, "request_id": uuid.uuid4().hex})


def _usage() -> dict:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


class MistralStandIn(StandIn):
    def __init__(
        self,
        api_key: str = API_KEY,
        models: Iterable[str] = MODELS,
        embedding_models: Iterable[str] = (EMBEDDING_MODEL,),
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = tuple(models)
        self.embedding_models = set(embedding_models)

    def handle(self, request: Request) -> Response:
        request.authorized = request.header("authorization") == f"Bearer {self.api_key}"
        kinds = {
            ("GET", f"{PREFIX}/models"): "models",
            ("POST", f"{PREFIX}/chat/completions"): "chat",
            ("POST", f"{PREFIX}/embeddings"): "embed",
        }
        kind = kinds.get((request.method, request.path))
        if kind is None:
            request.kind = "unknown"
            return _gateway_error(404, "no Route matched with those values")
        if kind == "chat" and request.json.get("stream"):
            kind = "stream"
        request.kind = kind
        if not request.authorized:
            return _gateway_error(401, "Unauthorized")
        if kind == "models":
            return Response(body={"object": "list", "data": [self._card(m) for m in self.models]})
        body = request.json
        if kind == "embed":
            return Response(body=self._embeddings(body))
        if kind == "stream":
            return Response(chunks=self._stream(body), content_type="text/event-stream")
        return Response(body=self._completion(body))

    def _card(self, model: str) -> dict:
        embed = model in self.embedding_models
        return {
            "id": model,
            "object": "model",
            "created": 1735689600,
            "owned_by": "mistralai",
            "capabilities": {
                "completion_chat": not embed,
                "completion_fim": False,
                "function_calling": not embed,
                "fine_tuning": False,
                "vision": False,
                "classification": False,
            },
            "name": model,
            "description": f"{model} (stand-in)",
            "max_context_length": 8192 if embed else 32768,
            "aliases": [],
            "deprecation": None,
            "default_model_temperature": None if embed else 0.3,
            "type": "base",
        }

    def _completion(self, body: dict) -> dict:
        return {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "model": body.get("model"),
            "created": int(time.time()),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY, "tool_calls": None},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
        }

    def _stream(self, body: dict) -> list[bytes]:
        base = {
            "id": uuid.uuid4().hex,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }
        events: list[dict] = [
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            }
        ]
        words = REPLY.split(" ")
        for i, word in enumerate(words):
            text = word if i == 0 else f" {word}"
            last = i == len(words) - 1
            event = {
                **base,
                "choices": [
                    {"index": 0, "delta": {"content": text}, "finish_reason": "stop" if last else None}
                ],
            }
            if last:
                event["usage"] = _usage()
            events.append(event)
        return sse(events, done=True)

    def _embeddings(self, body: dict) -> dict:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        return {
            "id": uuid.uuid4().hex,
            "object": "list",
            "model": body.get("model"),
            "usage": {
                "prompt_tokens": EMBEDDING_TOKENS,
                "completion_tokens": 0,
                "total_tokens": EMBEDDING_TOKENS,
            },
            "data": [
                {"object": "embedding", "embedding": list(EMBEDDING), "index": i}
                for i in range(len(inputs or []))
            ],
        }


def case() -> Case:
    return Case(
        type="mistral",
        base_url="{url}/v1",
        secrets={"api_key": API_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=EMBEDDING_MODEL,
        listed_models=tuple(sorted(MODELS)),
    )
