"""Cohere stand-in: the Cohere Platform API (https://api.cohere.com, also api.cohere.ai).

What it speaks (all paths under the bare host, as the real API):

* ``GET  /v1/models``            -> ``{"models": [{name, endpoints, finetuned, context_length, ...}],
  "next_page_token": null}``; ``?endpoint=chat|embed|...`` filters, ``?page_size`` limits.
* ``GET  /v1/models/{name}``     -> one model object, or 404.
* ``POST /v2/chat``              -> ``{id, finish_reason, message: {role, content: [{type: "text", text}]},
  usage: {billed_units: {input_tokens, output_tokens}, tokens: {input_tokens, output_tokens}}}``;
  with ``"stream": true`` an SSE stream (``text/event-stream``) of named events
  ``message-start``, ``content-start``, ``content-delta``..., ``content-end``, ``message-end``; the usage
  rides on ``message-end`` as ``delta.usage`` (same shape as non-stream ``usage``). A request whose
  ``Accept`` is ``application/json`` (not ``text/event-stream``) gets the same event objects as
  newline-delimited JSON instead, as a captured api.cohere.com exchange shows (reference below).
* ``POST /v1/chat``              -> v1 body ``{response_id, generation_id, text, finish_reason, chat_history,
  meta: {api_version, billed_units, tokens}}``; with ``"stream": true`` newline-delimited JSON events
  ``stream-start``, ``text-generation``..., ``stream-end`` (whose ``response`` carries the full body and
  ``meta``); SSE instead when the request sends ``Accepts: text/event-stream`` (documented v1 header).
* ``POST /v2/embed``             -> ``{id, embeddings: {float: [[...]]}, texts, meta: {api_version,
  billed_units: {input_tokens}}, response_type: "embeddings_by_type"}``; ``input_type`` is required.
* ``POST /v1/embed``             -> as v2, but without ``embedding_types`` the v1 shape
  ``{response_type: "embeddings_floats", embeddings: [[...]]}``.
* Auth: ``Authorization: Bearer <key>`` (scheme case-insensitive, the docs' curl uses "bearer").
  Missing -> 401 ``{"message": "no api key supplied"}``; wrong -> 401 ``{"message": "invalid api token"}``.
* Errors are ``{"message": "..."}``; unknown model -> 404 with the documented "model 'x' not found, ..."
  text; unknown path -> 404 ``{"message": ...}``.

References used:
* Cohere API reference, Chat (v2): https://docs.cohere.com/reference/chat
* Cohere API reference, Chat with Streaming (v2): https://docs.cohere.com/reference/chat-stream
* Cohere guide, Streaming Responses (event types): https://docs.cohere.com/v2/docs/streaming
* Cohere API reference, Chat (V1) and Chat with Streaming (API V1) (the ``Accepts`` header, NDJSON default):
  https://docs.cohere.com/reference/chat-v1, https://docs.cohere.com/reference/chat-stream-v1
* Cohere API reference, List Models (query params page_size/page_token/endpoint/default_only):
  https://docs.cohere.com/v1/reference/list-models
* Cohere API reference, Embed (v2): https://docs.cohere.com/reference/embed
* Cohere errors page (401 "no api key supplied" / "invalid api token", 404 "model ... not found"):
  https://docs.cohere.com/v1/reference/errors
* Captured v2 stream with ``accept: application/json`` (bare JSON lines, message-end carrying
  ``delta.usage``): M-Lai-ai/LLM-Provider-reference, Cohere/streaming.md
* Official SDK cohere-ai/cohere-python: src/cohere/v2/raw_client.py (v2 chat_stream parses SSE and requires
  Content-Type text/event-stream), src/cohere/v2/types/streamed_chat_response2.py,
  chat_message_end_event_delta.py, non_streamed_chat_response2.py, usage.py, chat_finish_reason.py;
  src/cohere/types/api_meta.py, chat_stream_end_event.py, embed_by_type_response.py,
  list_models_response.py, get_model_response.py.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

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
)

API_KEY = "co-standin-test-key"
CHAT_MODEL = "command-r-08-2024"
EMBED_MODEL = "embed-english-v3.0"
MODELS = (CHAT_MODEL, "command-r-plus-08-2024", EMBED_MODEL)

# The reply in the pieces a model would stream it in.
_PIECES = ["hello", " from", " the", " stand-in"]
assert "".join(_PIECES) == REPLY


def _endpoints(name: str) -> list[str]:
    # embed-* models serve /embed; the command family serves /chat (and the legacy /generate).
    return ["embed"] if name.startswith("embed") else ["chat", "generate"]


def _model_obj(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "endpoints": _endpoints(name),
        "finetuned": False,
        "context_length": 512 if name.startswith("embed") else 128000,
        "tokenizer_url": f"https://storage.googleapis.com/cohere-public/tokenizers/{name}.json",
        "default_endpoints": [],
    }


def _v2_usage() -> dict[str, Any]:
    return {
        "billed_units": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS},
        "tokens": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS},
    }


def _v1_meta() -> dict[str, Any]:
    return {
        "api_version": {"version": "1"},
        "billed_units": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS},
        "tokens": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS},
    }


def _sse_named(events: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    return [f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode() for name, payload in events]


class CohereStandIn(StandIn):
    def __init__(self, api_key: str = API_KEY, models: tuple[str, ...] = MODELS) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = tuple(models)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str) -> Response:
        return Response(status, {"message": message})

    def _auth(self, request: Request) -> Response | None:
        value = (request.header("authorization") or "").strip()
        if not value:
            request.authorized = False
            return self._error(401, "no api key supplied")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            request.authorized = False
            return self._error(401, "invalid api token")
        request.authorized = True
        return None

    def _model_missing(self, model: Any, endpoint: str) -> Response | None:
        if not model:
            return self._error(400, f"invalid request: model is required for the {endpoint} endpoint.")
        if model not in self.models:
            return self._error(
                404,
                f"model '{model}' not found, make sure the correct model ID was used and that you have "
                "access to the model.",
            )
        if endpoint not in _endpoints(model):
            return self._error(
                400, f"invalid request: model '{model}' is not supported by the {endpoint} API."
            )
        return None

    # -- routing -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        routes = {
            ("GET", "/v1/models"): ("models", self._list_models),
            ("POST", "/v2/chat"): ("chat", self._chat_v2),
            ("POST", "/v1/chat"): ("chat", self._chat_v1),
            ("POST", "/v2/embed"): ("embed", self._embed_v2),
            ("POST", "/v1/embed"): ("embed", self._embed_v1),
        }
        route = routes.get((request.method, path))
        if route is None and request.method == "GET" and path.startswith("/v1/models/"):
            route = ("models", self._get_model)
        if route is None:
            request.kind = "unknown"
            return self._error(404, f"{request.method} {request.path} not found")
        request.kind = route[0]
        denied = self._auth(request)
        if denied is not None:
            return denied
        try:
            body = request.json if request.method == "POST" else {}
        except json.JSONDecodeError:
            return self._error(400, "invalid request: body is not valid JSON")
        return route[1](request, body)

    # -- models ------------------------------------------------------------------------------------

    def _list_models(self, request: Request, _body: Any) -> Response:
        names = list(self.models)
        endpoint = request.query.get("endpoint")
        if endpoint:
            names = [n for n in names if endpoint in _endpoints(n)]
            if request.query.get("default_only", "").lower() == "true":
                names = names[:1]
        page_size = int(float(request.query.get("page_size") or 20))
        return Response(200, {"models": [_model_obj(n) for n in names[:page_size]], "next_page_token": None})

    def _get_model(self, request: Request, _body: Any) -> Response:
        name = request.path.rstrip("/").removeprefix("/v1/models/")
        if name not in self.models:
            return self._model_missing(name, "chat") or self._error(404, f"model '{name}' not found")
        return Response(200, _model_obj(name))

    # -- chat v2 -----------------------------------------------------------------------------------

    def _chat_v2(self, request: Request, body: dict[str, Any]) -> Response:
        stream = body.get("stream") is True
        request.kind = "stream" if stream else "chat"
        problem = self._model_missing(body.get("model"), "chat")
        if problem is not None:
            return problem
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self._error(400, "invalid request: messages must be a non-empty list.")
        reply_id = str(uuid.uuid4())
        if not stream:
            return Response(
                200,
                {
                    "id": reply_id,
                    "finish_reason": "COMPLETE",
                    "message": {"role": "assistant", "content": [{"type": "text", "text": REPLY}]},
                    "usage": _v2_usage(),
                },
            )
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message-start",
                {
                    "id": reply_id,
                    "type": "message-start",
                    "delta": {
                        "message": {
                            "role": "assistant",
                            "content": [],
                            "tool_plan": "",
                            "tool_calls": [],
                            "citations": [],
                        }
                    },
                },
            ),
            (
                "content-start",
                {
                    "type": "content-start",
                    "index": 0,
                    "delta": {"message": {"content": {"type": "text", "text": ""}}},
                },
            ),
        ]
        for piece in _PIECES:
            events.append(
                (
                    "content-delta",
                    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}},
                )
            )
        events.append(("content-end", {"type": "content-end", "index": 0}))
        events.append(
            (
                "message-end",
                {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": _v2_usage()}},
            )
        )
        accept = (request.header("accept") or "").lower()
        if "application/json" in accept and "text/event-stream" not in accept:
            # Asked for JSON rather than an event stream: the same events, one JSON object a line (as
            # captured from api.cohere.com/v2/chat with `accept: application/json`).
            lines = [(json.dumps(payload) + "\n").encode() for _, payload in events]
            return Response(200, chunks=lines, content_type="application/stream+json")
        return Response(200, chunks=_sse_named(events), content_type="text/event-stream")

    # -- chat v1 -----------------------------------------------------------------------------------

    def _chat_v1(self, request: Request, body: dict[str, Any]) -> Response:
        stream = body.get("stream") is True
        request.kind = "stream" if stream else "chat"
        problem = self._model_missing(body.get("model") or CHAT_MODEL, "chat")
        if problem is not None:
            return problem
        message = body.get("message")
        if not isinstance(message, str):
            return self._error(400, "invalid request: message must be a string.")
        generation_id = str(uuid.uuid4())
        full = {
            "response_id": str(uuid.uuid4()),
            "text": REPLY,
            "generation_id": generation_id,
            "chat_history": [
                *(body.get("chat_history") or []),
                {"role": "USER", "message": message},
                {"role": "CHATBOT", "message": REPLY},
            ],
            "finish_reason": "COMPLETE",
            "meta": _v1_meta(),
        }
        if not stream:
            return Response(200, full)
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "stream-start",
                {"is_finished": False, "event_type": "stream-start", "generation_id": generation_id},
            )
        ]
        for piece in _PIECES:
            events.append(
                ("text-generation", {"is_finished": False, "event_type": "text-generation", "text": piece})
            )
        events.append(
            (
                "stream-end",
                {
                    "is_finished": True,
                    "event_type": "stream-end",
                    "finish_reason": "COMPLETE",
                    "response": full,
                },
            )
        )
        accepts = (request.header("accepts") or "").lower()
        if "text/event-stream" in accepts:
            return Response(200, chunks=_sse_named(events), content_type="text/event-stream")
        lines = [(json.dumps(payload) + "\n").encode() for _, payload in events]
        return Response(200, chunks=lines, content_type="application/stream+json")

    # -- embed -------------------------------------------------------------------------------------

    def _embed_common(self, body: dict[str, Any], api_version: str) -> tuple[Response | None, list[str]]:
        problem = self._model_missing(body.get("model"), "embed")
        if problem is not None:
            return problem, []
        texts = body.get("texts")
        if texts is None and isinstance(body.get("inputs"), list):  # v2 "inputs": [{content: [...]}, ...]
            texts = [
                "".join(part.get("text", "") for part in item.get("content", []))
                for item in body["inputs"]
                if isinstance(item, dict)
            ]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or not texts:
            return self._error(400, "invalid request: texts must be a non-empty list of strings."), []
        if not body.get("input_type"):
            return (
                self._error(
                    400,
                    "invalid request: valid input_type must be provided with the provided model "
                    f"(api version {api_version}).",
                ),
                [],
            )
        return None, texts

    def _embed_meta(self, version: str) -> dict[str, Any]:
        return {"api_version": {"version": version}, "billed_units": {"input_tokens": EMBEDDING_TOKENS}}

    def _embed_v2(self, request: Request, body: dict[str, Any]) -> Response:
        problem, texts = self._embed_common(body, "2")
        if problem is not None:
            return problem
        types = body.get("embedding_types") or ["float"]
        return Response(
            200,
            {
                "id": str(uuid.uuid4()),
                "embeddings": {t: [list(EMBEDDING) for _ in texts] for t in types},
                "texts": texts,
                "meta": self._embed_meta("2"),
                "response_type": "embeddings_by_type",
            },
        )

    def _embed_v1(self, request: Request, body: dict[str, Any]) -> Response:
        problem, texts = self._embed_common(body, "1")
        if problem is not None:
            return problem
        types = body.get("embedding_types")
        if types:
            embeddings: Any = {t: [list(EMBEDDING) for _ in texts] for t in types}
            response_type = "embeddings_by_type"
        else:
            embeddings = [list(EMBEDDING) for _ in texts]
            response_type = "embeddings_floats"
        return Response(
            200,
            {
                "id": str(uuid.uuid4()),
                "embeddings": embeddings,
                "texts": texts,
                "meta": self._embed_meta("1"),
                "response_type": response_type,
            },
        )


def case() -> Case:
    # The catalog's default base URL is the bare host (https://api.cohere.ai): the user types the host.
    return Case(
        type="cohere",
        base_url="{url}",
        secrets={"api_key": API_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=EMBED_MODEL,
        listed_models=tuple(sorted(MODELS)),
    )
