"""Stand-in for the Azure OpenAI data plane (https://<resource>.openai.azure.com), built from
Microsoft's published REST reference.

References:
- Azure/azure-rest-api-specs, specification/cognitiveservices/data-plane/AzureOpenAI/inference/
  stable/2024-10-21/inference.json (+ examples/chat_completions.json, examples/embeddings.json):
  server `https://{endpoint}/openai`; POST /deployments/{deployment-id}/chat/completions and
  /deployments/{deployment-id}/embeddings, `api-version` a required query parameter; security
  `api-key` header or an Entra ID (OAuth2) bearer token; createChatCompletionResponse with
  `prompt_filter_results` and choices[].`content_filter_results`; completionUsage
  (prompt_tokens, completion_tokens, total_tokens, completion_tokens_details); stream terminated by
  `data: [DONE]`; chatCompletionStreamOptions.include_usage (extra chunk with `choices: []` and the
  usage; other chunks `usage: null`); embeddings encoding_format float|base64, usage
  {prompt_tokens, total_tokens}; errorResponse `{"error": {"code", "message", ...}}`.
- Learn "Models - List" (learn.microsoft.com/rest/api/azureopenai/models/list, api-version
  2024-10-21): GET {endpoint}/openai/models?api-version=..., `api-key` header, body
  `{"data": [{"status", "capabilities": {fine_tune, inference, completion, chat_completion,
  embeddings}, "lifecycle_status", "deprecation", "id", "created_at", "object": "model"}],
  "object": "list"}`. It lists the models the resource can use, not its deployments.
- Learn "Azure OpenAI v1 API" (learn.microsoft.com/rest/api/microsoft-foundry/azureopenai/...):
  {endpoint}/openai/v1/{chat/completions,embeddings,models}, api-version optional ("v1"/"preview"),
  the key in `api-key` or in the Authorization header; `model` in the body is the deployment name.
- Streaming prompt-annotation chunk: the first SSE event carries only `prompt_filter_results`
  with `"choices": [], "id": "", "object": "", "created": 0, "model": ""` (observed bodies quoted in
  AbanteAI/archive-old-cli-mentat#429, microsoft/autogen#6465, Azure/azure-sdk-for-go#21086).
- Error bodies as the service returns them: 401 `{"error": {"code": "401", "message": "Access
  denied due to invalid subscription key or wrong API endpoint. ..."}}` (SciSharp/BotSharp#386,
  microsoft/semantic-kernel#10337); unknown deployment 404 `{"error": {"code":
  "DeploymentNotFound", ...}}` (Azure-Samples/azure-search-openai-demo-csharp#379); unknown path or
  missing/unsupported api-version 404 `{"error": {"code": "404", "message": "Resource not found"}}`
  (openai/openai-python#362, MicrosoftDocs/azure-docs#114602).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from tests.standins import base
from tests.standins.base import Case, Request, Response, StandIn
from tests.standins.openai import embedding_inputs, float32_base64, split_reply

AZURE_KEY = "0123456789abcdef0123456789abcdef"  # Azure keys are 32 hex characters
API_VERSION = "2024-10-21"
CHAT_MODEL = "gpt-4o-mini"
EMBED_MODEL = "text-embedding-3-small"
MODELS = (CHAT_MODEL, EMBED_MODEL)
# deployment name -> model: names deliberately differ from the model ids
DEPLOYMENTS = {"chat-prod": CHAT_MODEL, "embed-prod": EMBED_MODEL}

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_DEPLOYMENT_PATH = re.compile(r"^/openai/deployments/(?P<dep>[^/]+)/(?P<op>chat/completions|embeddings)$")

_SAFE = {"filtered": False, "severity": "safe"}
PROMPT_FILTER = {
    "hate": _SAFE,
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
CHOICE_FILTER = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}


def azure_error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


def resource_not_found() -> Response:
    return azure_error(404, "404", "Resource not found")


class AzureOpenAIStandIn(StandIn):
    """One Azure OpenAI resource: its key(s), the models it can use, and its deployments."""

    def __init__(
        self,
        api_key: str = AZURE_KEY,
        models: tuple[str, ...] | list[str] = MODELS,
        *,
        deployments: dict[str, str] | None = None,
        entra_tokens: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = tuple(models)
        self.deployments = dict(DEPLOYMENTS if deployments is None else deployments)
        self.entra_tokens = tuple(entra_tokens)
        self.created = int(time.time())

    # ---- auth ---------------------------------------------------------------------------------

    def credential_ok(self, request: Request, *, v1: bool) -> bool:
        if request.header("api-key") is not None:
            return request.header("api-key") == self.api_key
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        token = token.strip()
        # Entra ID tokens everywhere; on the v1 API the resource key may also go in Authorization
        return token in self.entra_tokens or (v1 and token == self.api_key)

    # ---- routing ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        version = request.query.get("api-version")
        v1 = path.startswith("/openai/v1/")
        if v1:
            ok_version = version in (None, "v1", "preview", "latest")
        else:
            ok_version = version is not None and bool(_VERSION.match(version))

        kind, deployment = None, None
        match = _DEPLOYMENT_PATH.match(path)
        if request.method == "POST" and match:
            deployment, op = match["dep"], match["op"]
            kind = "embed" if op == "embeddings" else "chat"
        elif request.method == "POST" and path in ("/openai/v1/chat/completions", "/openai/v1/embeddings"):
            kind = "embed" if path.endswith("embeddings") else "chat"
            deployment = request.json.get("model")
        elif request.method == "GET" and path in ("/openai/models", "/openai/v1/models"):
            kind = "models"
        if kind == "chat" and request.json.get("stream"):
            kind = "stream"
        request.kind = kind or "unknown"
        request.authorized = self.credential_ok(request, v1=v1)

        if kind is None or not ok_version:
            return resource_not_found()
        if not request.authorized:
            return azure_error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
                "a valid key for an active subscription and use a correct regional API endpoint for your "
                "resource.",
            )
        if kind == "models":
            return Response(200, self.v1_model_list() if v1 else self.model_list())
        if deployment not in self.deployments:
            return azure_error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the deployment "
                "within the last 5 minutes, please wait a moment and try again.",
            )
        model = self.deployments[deployment]
        body = request.json
        if kind == "embed":
            return self.embed(body, model)
        if not body.get("messages"):
            return azure_error(400, "BadRequest", "'messages' is a required property")
        if kind == "stream":
            return self.chat_stream(body, model)
        return Response(200, self.chat_object(model))

    # ---- bodies -------------------------------------------------------------------------------

    def model_list(self) -> dict[str, Any]:
        data = []
        for m in self.models:
            embeds = "embedding" in m
            data.append(
                {
                    "status": "succeeded",
                    "capabilities": {
                        "fine_tune": False,
                        "inference": True,
                        "completion": False,
                        "chat_completion": not embeds,
                        "embeddings": embeds,
                    },
                    "lifecycle_status": "generally-available",
                    "deprecation": {"inference": self.created + 365 * 86400},
                    "id": m,
                    "created_at": self.created,
                    "object": "model",
                }
            )
        return {"data": data, "object": "list"}

    def v1_model_list(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": self.created, "owned_by": "system"}
                for m in self.models
            ],
        }

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": base.PROMPT_TOKENS,
            "completion_tokens": base.COMPLETION_TOKENS,
            "total_tokens": base.PROMPT_TOKENS + base.COMPLETION_TOKENS,
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    def chat_object(self, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": PROMPT_FILTER}],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": base.REPLY, "refusal": None},
                    "logprobs": None,
                    "content_filter_results": CHOICE_FILTER,
                }
            ],
            "system_fingerprint": "fp_standin",
            "usage": self.usage(),
        }

    def chat_stream(self, body: dict[str, Any], model: str) -> Response:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        cid, created = "chatcmpl-" + secrets.token_hex(12), int(time.time())

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_standin",
                "choices": choices,
            }
            if include_usage:
                out["usage"] = None
            out.update(extra)
            return out

        events: list[dict[str, Any]] = [
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": PROMPT_FILTER}],
            }
        ]
        events.append(
            chunk(
                [
                    {
                        "index": 0,
                        "finish_reason": None,
                        "logprobs": None,
                        "content_filter_results": {},
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                    }
                ]
            )
        )
        for piece in split_reply(base.REPLY):
            events.append(
                chunk(
                    [
                        {
                            "index": 0,
                            "finish_reason": None,
                            "logprobs": None,
                            "content_filter_results": CHOICE_FILTER,
                            "delta": {"content": piece},
                        }
                    ]
                )
            )
        events.append(
            chunk(
                [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "content_filter_results": {},
                        "delta": {},
                    }
                ]
            )
        )
        if include_usage:
            events.append(chunk([], usage=self.usage()))
        return Response(
            200, chunks=base.sse(events, done=True), content_type="text/event-stream; charset=utf-8"
        )

    def embed(self, body: dict[str, Any], model: str) -> Response:
        inputs = embedding_inputs(body.get("input"))
        if not inputs:
            return azure_error(400, "BadRequest", "'input' is a required property")
        fmt = body.get("encoding_format") or "float"
        vector: Any = float32_base64(base.EMBEDDING) if fmt == "base64" else list(base.EMBEDDING)
        return Response(
            200,
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": vector} for i in range(len(inputs))
                ],
                "model": model,
                "usage": {"prompt_tokens": base.EMBEDDING_TOKENS, "total_tokens": base.EMBEDDING_TOKENS},
            },
        )


def case() -> Case:
    return Case(
        type="azure_openai",
        base_url="{url}",  # the resource endpoint, https://<resource>.openai.azure.com (no path)
        secrets={"api_key": AZURE_KEY},
        params={"api_version": API_VERSION},
        chat_model="chat-prod",  # model identifiers are deployment names
        embedding_model="embed-prod",
        listed_models=tuple(sorted(MODELS)),  # GET /openai/models lists models, not deployments
    )
