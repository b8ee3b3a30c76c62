"""Stand-in for the OpenAI API (https://api.openai.com/v1), built from OpenAI's published wire format.

Paths (all under /v1): GET /models, GET /models/{model}, POST /chat/completions (JSON or SSE),
POST /embeddings. Auth: `Authorization: Bearer <key>`; an optional `OpenAI-Organization` header
must name the key's organization.

Wire details and where they come from:
- Chat completion object (`chat.completion`), choices[].message / finish_reason / logprobs, and the
  `usage` block (prompt_tokens, completion_tokens, total_tokens + the *_details breakdowns):
  openai/openai-python src/openai/types/chat/chat_completion.py, types/completion_usage.py.
- Streaming: data-only server-sent events `data: {chat.completion.chunk}` closed by `data: [DONE]`;
  usage only when the request sets `stream_options.include_usage`: then one extra chunk before
  [DONE] carries `usage` with `"choices": []`, and every other chunk carries `"usage": null`
  (types/chat/chat_completion_chunk.py, ChatCompletionStreamOptions in the OpenAPI spec
  openai/openai-openapi; API reference "The chat completion chunk object"). Chunks carry an
  `obfuscation` string unless stream_options.include_obfuscation is false (same file).
- Embeddings: `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
  "usage": {"prompt_tokens", "total_tokens"}}`; `encoding_format` "float" (default) or "base64"
  (little-endian float32, which the official SDK requests by default and decodes with
  `array("f", b64decode(...))`): types/create_embedding_response.py, types/embedding.py,
  resources/embeddings.py; API reference "Create embeddings".
- Models: `{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}`
  (types/model.py; API reference "List models").
- Errors: `{"error": {"message", "type", "param", "code"}}`. Missing key: 401 "You didn't provide an
  API key. ..." (code null); wrong key: 401 "Incorrect API key provided: ..." code invalid_api_key;
  wrong organization: 401 "OpenAI-Organization header should match organization for API key"
  code mismatched_organization; unknown path: 404 "Invalid URL (POST /v1/...)" code null;
  unknown model: 404 "The model `x` does not exist or you do not have access to it." code
  model_not_found. (Bodies as returned by api.openai.com, quoted verbatim in openai/openai-python
  issue #1434, corca-ai/EVAL#46 / microsoft/TaskWeaver#11, microsoft/foundry-dev-tools#262.)

`OpenAIStyleStandIn` is the reusable core: `custom.py` uses it as is, `localai.py` subclasses it
for LocalAI's own auth and error shapes.
"""

from __future__ import annotations

import base64
import secrets
import struct
import time
from typing import Any

from tests.standins import base
from tests.standins.base import Case, Request, Response, StandIn

OPENAI_KEY = "sk-standin-0123456789abcdefXYZ"
OPENAI_ORG = "org-standin42"
CHAT_MODEL = "gpt-4o-mini"
EMBED_MODEL = "text-embedding-3-small"
MODELS = (CHAT_MODEL, "gpt-4o", EMBED_MODEL)


def split_reply(text: str) -> list[str]:
    """The reply as a model streams it: a few word-sized pieces."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def float32_base64(vector: list[float]) -> str:
    """`encoding_format: base64`: the vector as little-endian float32, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embedding_inputs(value: Any) -> list[Any]:
    """`input` is a string, an array of strings, an array of tokens or an array of token arrays."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]  # one token array
    return list(value or [])


class OpenAIStyleStandIn(StandIn):
    """OpenAI's REST API: /v1/models, /v1/chat/completions, /v1/embeddings."""

    prefix = "/v1"
    owned_by = "openai"

    def __init__(
        self,
        api_key: str | None = OPENAI_KEY,
        models: tuple[str, ...] | list[str] = MODELS,
        *,
        organization: str | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key  # None: the server asks for no key (a local OpenAI-compatible server)
        self.models = tuple(models)
        self.organization = organization
        self.created = int(time.time())

    # ---- errors -------------------------------------------------------------------------------

    def error(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        param: str | None = None,
        type_: str = "invalid_request_error",
    ) -> Response:
        return Response(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})

    def not_found(self, request: Request) -> Response:
        return self.error(404, f"Invalid URL ({request.method} {request.path})")

    def unknown_model(self, model: Any) -> Response:
        return self.error(
            404, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found"
        )

    def auth_failure(self, request: Request) -> Response | None:
        """None when the request carries the key (and organization) OpenAI expects."""
        if self.api_key is None:
            return None
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
                "(with blank username) if you're accessing the API from your browser and are prompted for "
                "a username and password. You can obtain an API key from "
                "https://platform.openai.com/account/api-keys.",
            )
        token = token.strip()
        if token != self.api_key:
            shown = f"{token[:3]}*{token[-4:]}" if len(token) > 8 else token
            return self.error(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_api_key",
            )
        org = request.header("openai-organization")
        if org is not None and self.organization is not None and org != self.organization:
            return self.error(
                401,
                "OpenAI-Organization header should match organization for API key",
                "mismatched_organization",
            )
        return None

    # ---- routing ------------------------------------------------------------------------------

    def route(self, request: Request) -> str | None:
        path = request.path.rstrip("/")
        p = self.prefix
        if request.method == "GET" and path == f"{p}/models":
            return "models"
        if request.method == "GET" and path.startswith(f"{p}/models/"):
            return "model"
        if request.method == "POST" and path == f"{p}/chat/completions":
            return "chat"
        if request.method == "POST" and path == f"{p}/embeddings":
            return "embed"
        return None

    def handle(self, request: Request) -> Response:
        route = self.route(request)
        failure = self.auth_failure(request)
        request.authorized = failure is None
        if route is None:
            request.kind = "unknown"
            return self.not_found(request)
        if route == "chat":
            body = request.json
            request.kind = "stream" if body.get("stream") else "chat"
        else:
            request.kind = "models" if route == "model" else route
        if failure is not None:
            return failure
        if route == "models":
            return Response(200, self.model_list())
        if route == "model":
            model_id = request.path.rstrip("/")[len(f"{self.prefix}/models/") :]
            if model_id not in self.models:
                return self.unknown_model(model_id)
            return Response(200, self.model_object(model_id))
        if route == "chat":
            return self.chat(request.json)
        return self.embed(request.json)

    # ---- bodies -------------------------------------------------------------------------------

    def model_object(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": self.created, "owned_by": self.owned_by}

    def model_list(self) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_object(m) for m in self.models]}

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": base.PROMPT_TOKENS,
            "completion_tokens": base.COMPLETION_TOKENS,
            "total_tokens": base.PROMPT_TOKENS + base.COMPLETION_TOKENS,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def completion_id(self) -> str:
        return "chatcmpl-" + secrets.token_hex(12)

    def chat(self, body: dict[str, Any]) -> Response:
        model = body.get("model")
        if model not in self.models:
            return self.unknown_model(model)
        if not body.get("messages"):
            return self.error(
                400, "Missing required parameter: 'messages'.", "missing_required_parameter", param="messages"
            )
        if body.get("stream"):
            return self.chat_stream(body)
        return Response(200, self.chat_object(body))

    def chat_object(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": base.REPLY,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_standin",
        }

    def include_usage(self, body: dict[str, Any]) -> bool:
        return bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(
        self, cid: str, created: int, body: dict[str, Any], choices: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_standin",
            "choices": choices,
        }
        if self.include_usage(body):
            chunk["usage"] = None
        if (body.get("stream_options") or {}).get("include_obfuscation", True):
            chunk["obfuscation"] = secrets.token_urlsafe(6)
        chunk.update(extra)
        return chunk

    def stream_events(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        cid, created = self.completion_id(), int(time.time())
        events = [
            self.chunk(
                cid,
                created,
                body,
                [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            )
        ]
        for piece in split_reply(base.REPLY):
            events.append(
                self.chunk(
                    cid,
                    created,
                    body,
                    [{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}],
                )
            )
        events.append(
            self.chunk(
                cid, created, body, [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
            )
        )
        if self.include_usage(body):
            events.append(self.chunk(cid, created, body, [], usage=self.usage()))
        return events

    def chat_stream(self, body: dict[str, Any]) -> Response:
        return Response(
            200,
            chunks=base.sse(self.stream_events(body), done=True),
            content_type="text/event-stream; charset=utf-8",
        )

    def embed(self, body: dict[str, Any]) -> Response:
        model = body.get("model")
        if model not in self.models:
            return self.unknown_model(model)
        inputs = embedding_inputs(body.get("input"))
        if not inputs:
            return self.error(400, "'input' is a required property", param="input")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            return self.error(
                400, f"'{fmt}' is not one of ['float', 'base64'] - 'encoding_format'", param="encoding_format"
            )
        vector: Any = float32_base64(base.EMBEDDING) if fmt == "base64" else list(base.EMBEDDING)
        return Response(200, self.embedding_object(body, inputs, vector))

    def embedding_object(self, body: dict[str, Any], inputs: list[Any], vector: Any) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": vector} for i in range(len(inputs))],
            "model": body["model"],
            "usage": {"prompt_tokens": base.EMBEDDING_TOKENS, "total_tokens": base.EMBEDDING_TOKENS},
        }


class OpenAIStandIn(OpenAIStyleStandIn):
    """api.openai.com itself: a key is always required; the key belongs to one organization."""

    def __init__(
        self,
        api_key: str = OPENAI_KEY,
        models: tuple[str, ...] | list[str] = MODELS,
        *,
        organization: str | None = OPENAI_ORG,
    ) -> None:
        super().__init__(api_key, models, organization=organization)


def case() -> Case:
    return Case(
        type="openai",
        base_url="{url}/v1",  # catalog default https://api.openai.com/v1
        secrets={"api_key": OPENAI_KEY},
        params={"organization": OPENAI_ORG},
        chat_model=CHAT_MODEL,
        embedding_model=EMBED_MODEL,
        listed_models=tuple(sorted(MODELS)),
    )
