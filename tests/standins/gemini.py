"""Stand-in for the Google AI Studio Gemini API (generativelanguage.googleapis.com).

Wire format, as published:
- Key: `x-goog-api-key: KEY` header or `?key=KEY` query parameter (the API takes either). A request
  without a key gets 403 PERMISSION_DENIED ("Method doesn't allow unregistered callers ..."); a wrong
  key gets 400 INVALID_ARGUMENT "API key not valid. Please pass a valid API key." with an ErrorInfo
  (reason API_KEY_INVALID) and a LocalizedMessage in `details`.
- Paths, under an API version (`v1beta`; `v1` and `v1alpha` are served the same way):
  GET  /{v}/models                              -> {"models": [Model...], "nextPageToken"?} (pageSize
                                                   defaults to 50, at most 1000; pageToken pages on)
  GET  /{v}/models/{id}                         -> Model
  POST /{v}/models/{id}:generateContent         -> GenerateContentResponse
  POST /{v}/models/{id}:streamGenerateContent   -> with ?alt=sse: `data: <GenerateContentResponse>`
                                                   events; without: one JSON array of them
  POST /{v}/models/{id}:embedContent            -> {"embedding": {"values"}, "usageMetadata"}
  POST /{v}/models/{id}:batchEmbedContents      -> {"embeddings": [{"values"}], "usageMetadata"}
- Usage: `usageMetadata` {promptTokenCount, candidatesTokenCount, totalTokenCount}. In a stream every
  chunk carries usageMetadata; chunks before the last report only the prompt (promptTokenCount,
  totalTokenCount), the last one (finishReason STOP) the full counts. Streams always report usage
  (there is no opt-in like OpenAI's stream_options). Embeddings report EmbeddingUsageMetadata
  {promptTokenCount}.
- Errors: {"error": {"code", "message", "status", "details"?}}. A model that is not served, or does
  not support the method, is 404 NOT_FOUND "models/X is not found for API version V, or is not
  supported for M. Call ListModels ..."; a path no method matches gets Google's front-end HTML 404.

References used:
- Gemini API reference, models.list: https://ai.google.dev/api/rest/v1beta/models/list
- Gemini API reference, streamGenerateContent: https://ai.google.dev/api/rest/v1/models/streamGenerateContent
- Gemini API reference, embeddings (embedContent, batchEmbedContents, EmbeddingUsageMetadata):
  https://ai.google.dev/api/embeddings
- google.ai.generativelanguage ListModelsResponse / BatchEmbedContentsResponse / Model:
  https://ai.google.dev/api/python/google/ai/generativelanguage/ListModelsResponse,
  https://ai.google.dev/api/python/google/generativeai/types/Model
- Recorded real exchanges (google/adk-go model/gemini/testdata TestModel_Generate_ok.httprr and
  TestModel_GenerateStream_ok.httprr): exact JSON of generateContent and of the alt=sse stream
- Error bodies as the API returns them, quoted in: github.com/cequence-io/openai-scala-client/issues/109
  (400 API_KEY_INVALID), github.com/googleapis/js-genai/issues/898 and
  github.com/gunpal5/Google_GenerativeAI/issues/15 (403 unregistered callers),
  github.com/google/adk-python/issues/200 (404 model not found)
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence

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

VERSIONS = ("v1beta", "v1", "v1alpha")
CHAT_MODEL = "gemini-2.5-flash"
EMBEDDING_MODEL = "gemini-embedding-001"
API_KEY = "AIzaSyStandIn-gemini-test-key-0123456"

_LIST = re.compile(r"^/(?P<v>v1beta|v1|v1alpha)/models/?$")
_GET = re.compile(r"^/(?P<v>v1beta|v1|v1alpha)/models/(?P<model>[^/:]+)$")
_CALL = re.compile(r"^/(?P<v>v1beta|v1|v1alpha)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
_METHODS = {
    "generateContent": "chat",
    "streamGenerateContent": "stream",
    "embedContent": "embed",
    "batchEmbedContents": "embed",
    "countTokens": "count",
}


def _is_embedding(model: str) -> bool:
    return "embedding" in model


def _error(code: int, status: str, message: str, details: list | None = None) -> Response:
    error: dict = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return Response(code, {"error": error})


def _html_404(path: str) -> Response:
    """What Google's front end answers for a URL no API method is mapped to."""
    body = (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        "  <title>Error 404 (Not Found)!!1</title>\n"
        f"  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n  <p>The requested URL <code>{path}</code> "
        "was not found on this server.  <ins>That\u2019s all we know.</ins>\n"
    )
    return Response(404, body.encode(), content_type="text/html; charset=UTF-8")


class GeminiStandIn(StandIn):
    """Accepts one API key; serves `models` (ids without the `models/` prefix)."""

    def __init__(self, api_key: str = API_KEY, models: Sequence[str] = (CHAT_MODEL, EMBEDDING_MODEL)):
        super().__init__()
        self.api_key = api_key
        self.models = list(models)

    # -- shapes -------------------------------------------------------------------------------
    def _model(self, model: str) -> dict:
        if _is_embedding(model):
            methods, limits = ["embedContent"], (2048, 1)
        else:
            methods, limits = ["generateContent", "countTokens"], (1048576, 65536)
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model,
            "description": f"{model} (stand-in)",
            "inputTokenLimit": limits[0],
            "outputTokenLimit": limits[1],
            "supportedGenerationMethods": methods,
        }

    @staticmethod
    def _candidate(text: str, final: bool) -> dict:
        candidate: dict = {"content": {"parts": [{"text": text}], "role": "model"}}
        if final:
            candidate["finishReason"] = "STOP"
            candidate["index"] = 0
        return candidate

    @staticmethod
    def _usage(final: bool = True) -> dict:
        if not final:  # what the API reports before the last chunk: the prompt only
            return {
                "promptTokenCount": PROMPT_TOKENS,
                "totalTokenCount": PROMPT_TOKENS,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
            }
        return {
            "promptTokenCount": PROMPT_TOKENS,
            "candidatesTokenCount": COMPLETION_TOKENS,
            "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": COMPLETION_TOKENS}],
        }

    def _chunks(self, model: str) -> list[dict]:
        response_id = uuid.uuid4().hex[:22]
        words = REPLY.split(" ")
        pieces = [" ".join(words[:2]), " " + " ".join(words[2:])]
        out = []
        for i, piece in enumerate(pieces):
            final = i == len(pieces) - 1
            out.append(
                {
                    "candidates": [self._candidate(piece, final)],
                    "usageMetadata": self._usage(final),
                    "modelVersion": model,
                    "responseId": response_id,
                }
            )
        return out

    # -- dispatch -----------------------------------------------------------------------------
    def _check_key(self, request: Request) -> Response | None:
        key = request.header("x-goog-api-key") or request.query.get("key")
        if not key:
            request.authorized = False
            return _error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if key != self.api_key:
            request.authorized = False
            message = "API key not valid. Please pass a valid API key."
            return _error(
                400,
                "INVALID_ARGUMENT",
                message,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": message,
                    },
                ],
            )
        request.authorized = True
        return None

    def handle(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and (m := _LIST.match(path)):
            request.kind = "models"
            return self._check_key(request) or self._list(request)
        if request.method == "GET" and (m := _GET.match(path)):
            request.kind = "model"
            if denied := self._check_key(request):
                return denied
            model = m["model"]
            if model not in self.models:
                return _error(404, "NOT_FOUND", f"models/{model} is not found for API version {m['v']}")
            return Response(200, self._model(model))
        m = _CALL.match(path)
        if request.method != "POST" or not m or m["method"] not in _METHODS:
            return _html_404(path)
        request.kind = _METHODS[m["method"]]
        if denied := self._check_key(request):
            return denied
        model, method, version = m["model"], m["method"], m["v"]
        embedding_method = method in ("embedContent", "batchEmbedContents")
        if model not in self.models or _is_embedding(model) != embedding_method:
            return _error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version {version}, or is not supported for {method}. "
                "Call ListModels to see the list of available models and their supported methods.",
            )
        try:
            body = request.json
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if method == "batchEmbedContents":
            requests = body.get("requests") or []
            if not requests:
                return _error(
                    400,
                    "INVALID_ARGUMENT",
                    "* BatchEmbedContentsRequest.requests: requests is not specified\n",
                )
            return Response(
                200,
                {
                    "embeddings": [{"values": list(EMBEDDING)} for _ in requests],
                    "usageMetadata": {"promptTokenCount": EMBEDDING_TOKENS},
                },
            )
        if method == "embedContent":
            if not (body.get("content") or {}).get("parts"):
                return _error(
                    400, "INVALID_ARGUMENT", "* EmbedContentRequest.content: contents is not specified\n"
                )
            return Response(
                200,
                {
                    "embedding": {"values": list(EMBEDDING)},
                    "usageMetadata": {"promptTokenCount": EMBEDDING_TOKENS},
                },
            )
        if method == "countTokens":
            return Response(200, {"totalTokens": PROMPT_TOKENS})
        if not body.get("contents"):
            return _error(
                400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n"
            )
        if method == "streamGenerateContent":
            chunks = self._chunks(model)
            if request.query.get("alt") == "sse":
                return Response(200, chunks=sse(chunks), content_type="text/event-stream")
            # without alt=sse the API streams one JSON array of GenerateContentResponse objects
            parts = [("[" if i == 0 else ",\r\n") + json.dumps(c) for i, c in enumerate(chunks)]
            return Response(
                200,
                chunks=[p.encode() for p in parts] + [b"]"],
                content_type="application/json; charset=UTF-8",
            )
        return Response(
            200,
            {
                "candidates": [self._candidate(REPLY, True)],
                "usageMetadata": self._usage(),
                "modelVersion": model,
                "responseId": uuid.uuid4().hex[:22],
            },
            content_type="application/json; charset=UTF-8",
        )

    def _list(self, request: Request) -> Response:
        try:
            size = int(request.query.get("pageSize") or 50)
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid value at 'page_size' (TYPE_INT32)")
        size = min(size if size > 0 else 50, 1000)
        start = int(request.query["pageToken"]) if request.query.get("pageToken", "").isdigit() else 0
        page = self.models[start : start + size]
        body: dict = {"models": [self._model(m) for m in page]}
        if start + size < len(self.models):
            body["nextPageToken"] = str(start + size)
        return Response(200, body, content_type="application/json; charset=UTF-8")


def case() -> Case:
    """A user adds Gemini with the catalog's default-shaped base URL (host only, no /v1beta)."""
    return Case(
        type="gemini",
        base_url="{url}",
        secrets={"api_key": API_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=EMBEDDING_MODEL,
        listed_models=tuple(sorted((CHAT_MODEL, EMBEDDING_MODEL))),
    )
