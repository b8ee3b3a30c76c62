"""Together AI stand-in: Together's REST API under /v1, as Together publishes it.

Wire format (each point from the references below):
- Base URL https://api.together.xyz/v1 (also served as api.together.ai). Auth: `Authorization: Bearer
  <key>`. A missing or wrong key gets 401 {"id": "...", "error": {"message": "Invalid API key provided.
  You can find your API key at https://api.together.ai/settings/api-keys.", "type":
  "invalid_request_error", "param": null, "code": "invalid_api_key"}}.
- An unknown route gets 404 ("The endpoint URL or model name is invalid", Together's error-code list).
  Together documents the status but not that body; the stand-in answers in Together's own error envelope
  {"error": {"message", "type", "param", "code"}}.
- GET /v1/models returns a BARE JSON ARRAY (no {"object": "list", "data": ...} wrapper) of model objects
  {"id", "object": "model", "created", "type", "display_name", "organization", "link", "license",
  "context_length", "pricing": {"hourly", "input", "output", "base", "finetune"}}, where `type` is one of
  "chat", "language", "code", "image", "embedding", "moderation", "rerank", "audio", "transcribe",
  "video": the provider's own word for the model's mode.
- POST /v1/chat/completions: {"id", "object": "chat.completion", "created", "model", "prompt": [],
  "choices": [{"index", "message": {"role": "assistant", "content", "tool_calls"}, "finish_reason",
  "logprobs", "seed"}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}.
- Streaming: data-only SSE closed by `data: [DONE]`; every chunk has "usage": null except the last,
  which carries finish_reason and the usage (always; not gated on stream_options).
- POST /v1/embeddings: {"object": "list", "model", "data": [{"object": "embedding", "embedding",
  "index"}]}. Together's embedding response has NO usage field.

References:
- Together API reference, https://docs.together.ai/reference (list models, chat completions,
  embeddings); Together OpenAPI spec (togethercomputer/openapi, as vendored in tryAGI/Together
  src/libs/Together/openapi.yaml): servers https://api.together.xyz/v1, bearer auth
- togethercomputer/together-py (official SDK, generated from the spec): src/together/types/model_object.py
  (ModelObject and its `type` enum), types/model_list_response.py (`ModelListResponse = List[...]`),
  resources/models.py (GET /models), types/chat/chat_completion.py, chat_completion_chunk.py,
  chat_completion_usage.py, types/embedding.py, resources/embeddings.py (POST /embeddings)
- Together docs "Streaming responses" (docs.together.ai, llms-full.txt): chunk shape with "usage": null
- Together support "Error codes, explanations and solutions" (support.together.ai): 401, 404 meanings
- 401 body as Together returns it: harshitv804/LawGPT#4 and SDK-test fixtures quoting it
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping

from tests.standins.base import (
    COMPLETION_TOKENS,
    EMBEDDING,
    PROMPT_TOKENS,
    REPLY,
    Case,
    Request,
    Response,
    StandIn,
    sse,
)

PREFIX = "/v1"
API_KEY = "tgp_v1_standin0123456789abcdef"
CHAT_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"
EMBEDDING_MODEL = "togethercomputer/m2-bert-80M-8k-retrieval"
MODELS = {CHAT_MODEL: "chat", EMBEDDING_MODEL: "embedding"}


def _error(status: int, message: str, code: str | None, type_: str = "invalid_request_error") -> Response:
    return Response(
        status,
        {"id": uuid.uuid4().hex, "error": {"message": message, "type": type_, "param": None, "code": code}},
    )


def _usage() -> dict:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


class TogetherStandIn(StandIn):
    """`models`: model ids (typed "chat") or a mapping of model id -> Together model `type`."""

    def __init__(self, api_key: str = API_KEY, models: Iterable[str] | Mapping[str, str] = MODELS) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = dict(models) if isinstance(models, Mapping) else {m: "chat" for m in models}

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
            return _error(404, f"Not found: {request.method} {request.path}", "not_found")
        if kind == "chat" and request.json.get("stream"):
            kind = "stream"
        request.kind = kind
        if not request.authorized:
            return _error(
                401,
                "Invalid API key provided. "
                "You can find your API key at https://api.together.ai/settings/api-keys.",
                "invalid_api_key",
            )
        if kind == "models":
            return Response(body=[self._model(m, t) for m, t in self.models.items()])
        body = request.json
        if kind == "embed":
            return Response(body=self._embeddings(body))
        if kind == "stream":
            return Response(chunks=self._stream(body), content_type="text/event-stream")
        return Response(body=self._completion(body))

    @staticmethod
    def _model(model: str, type_: str) -> dict:
        return {
            "id": model,
            "object": "model",
            "created": 1721692800,
            "type": type_,
            "display_name": model.rsplit("/", 1)[-1],
            "organization": model.split("/", 1)[0],
            "link": f"https://huggingface.co/{model}",
            "license": "apache-2.0",
            "context_length": 8192 if type_ == "embedding" else 131072,
            "pricing": {"hourly": 0, "input": 0.18, "output": 0.18, "base": 0, "finetune": 0},
        }

    def _completion(self, body: dict) -> dict:
        return {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "prompt": [],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY, "tool_calls": []},
                    "finish_reason": "stop",
                    "logprobs": None,
                    "seed": 1234,
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
        words = REPLY.split(" ")
        events = []
        for i, word in enumerate(words):
            text = word if i == 0 else f" {word}"
            last = i == len(words) - 1
            events.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": text},
                            "finish_reason": "stop" if last else None,
                            "logprobs": None,
                            "seed": 1234 if last else None,
                        }
                    ],
                    "usage": _usage() if last else None,
                }
            )
        return sse(events, done=True)

    def _embeddings(self, body: dict) -> dict:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        return {
            "object": "list",
            "model": body.get("model"),
            "data": [
                {"object": "embedding", "embedding": list(EMBEDDING), "index": i}
                for i in range(len(inputs or []))
            ],
        }


def case() -> Case:
    return Case(
        type="together_ai",
        base_url="{url}/v1",
        secrets={"api_key": API_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=EMBEDDING_MODEL,
        listed_models=tuple(sorted(MODELS)),
    )
