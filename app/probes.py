"""Test Connection and model discovery over httpx: the cheapest real request per provider type."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from app import catalog

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProbeTarget:
    """What a probe needs to know about a provider; secrets already resolved."""

    type: str
    base_url: str | None
    secrets: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    default_model: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: ok, how long it took, what it found, what to do if it failed."""

    ok: bool
    latency_ms: float
    message: str
    models: list[str] = field(default_factory=list)
    tokens_used: int = 0
    # model → mode ("chat", "embedding", ...) where the provider's list says what a model is
    modes: dict[str, str] = field(default_factory=dict)


def _request(target: ProbeTarget) -> tuple[str, dict[str, str], dict[str, str]]:
    """URL, headers and query for listing models."""
    ptype = catalog.PROVIDER_TYPES[target.type]
    base = ptype.root_url(target.base_url) or ""
    key = target.secrets.get("api_key", "")
    headers = dict(target.params.get("extra_headers") or {})
    query: dict[str, str] = {}
    if ptype.listing == "anthropic":
        headers.update({"x-api-key": key, "anthropic-version": "2023-06-01"})
        url = f"{base}/v1/models"
        query["limit"] = "1000"  # its most per page; later pages follow has_more / last_id
    elif ptype.listing == "azure":
        version = str(target.params.get("api_version") or "")
        # the v1 API (api_version v1/preview/latest) lists under /openai/v1, the dated ones under /openai
        if version in ("v1", "preview", "latest"):
            url = f"{base}/openai/v1/models"
        else:
            url = f"{base}/openai/models"
            query["api-version"] = version
        headers["api-key"] = key
    elif ptype.listing == "ollama":
        url = f"{base}/api/tags"
    elif ptype.listing == "gemini":
        url = f"{base}{ptype.version_path}/models"
        query["pageSize"] = "1000"  # its most per page; later pages follow nextPageToken
        # a header, not ?key=: httpx logs request URLs, and the key must never reach a log
        headers["x-goog-api-key"] = key
    elif ptype.listing == "cohere":
        url = f"{base}/v1/models"
        query["page_size"] = "1000"
        headers["Authorization"] = f"Bearer {key}"
    else:
        url = f"{base}/models"
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if target.params.get("organization"):
            headers["OpenAI-Organization"] = target.params["organization"]
    return url, headers, query


def _listed(listing: str | None, body: Any) -> dict[str, str | None]:
    """Model id → its mode where the list says (None where it does not), from one page of a list."""
    if listing == "ollama":
        return {m["name"]: None for m in body["models"]}
    if listing == "gemini":
        return {m["name"].removeprefix("models/"): _gemini_mode(m) for m in body["models"]}
    if listing == "cohere":
        return {m["name"]: _cohere_mode(m) for m in body["models"]}
    # OpenAI's {"object": "list", "data": [...]}; Together AI answers with the bare array
    entries = body if isinstance(body, list) else body["data"]
    return {m["id"]: _openai_style_mode(m) for m in entries}


def _gemini_mode(model: dict[str, Any]) -> str | None:
    methods = set(model.get("supportedGenerationMethods") or ())
    if "generateContent" in methods:
        return "chat"
    return "embedding" if methods & {"embedContent", "batchEmbedContents"} else None


def _cohere_mode(model: dict[str, Any]) -> str | None:
    endpoints = set(model.get("endpoints") or ())
    if "chat" in endpoints:
        return "chat"
    if "embed" in endpoints:
        return "embedding"
    return "rerank" if "rerank" in endpoints else None


# Together AI's model `type`
_TYPE_MODES = {
    "chat": "chat",
    "language": "completion",
    "code": "completion",
    "embedding": "embedding",
    "rerank": "rerank",
    "image": "image_generation",
    "moderation": "moderation",
    "audio": "audio_speech",
    "transcribe": "audio_transcription",
}


def _openai_style_mode(model: dict[str, Any]) -> str | None:
    """Together AI's `type`, or Azure's and Mistral's capabilities."""
    if model.get("type") in _TYPE_MODES:
        return _TYPE_MODES[model["type"]]
    capabilities = model.get("capabilities") or {}
    if capabilities.get("chat_completion") or capabilities.get("completion_chat"):
        return "chat"
    return "embedding" if capabilities.get("embeddings") else None


def _next_page(listing: str | None, body: Any) -> dict[str, str] | None:
    """The query for the list's next page, None on the last."""
    if listing == "anthropic" and body.get("has_more") and body.get("last_id"):
        return {"after_id": str(body["last_id"])}
    if listing == "gemini" and body.get("nextPageToken"):
        return {"pageToken": str(body["nextPageToken"])}
    if listing == "cohere" and body.get("next_page_token"):
        return {"page_token": str(body["next_page_token"])}
    return None


MAX_PAGES = 20


def _explain(status: int, text: str) -> str:
    hints = {
        400: "the request was refused; check the base URL and the API key (Gemini answers a wrong key so)",
        401: "the key was refused; check the API key (or the env variable it comes from)",
        403: "the key lacks permission; check its scopes or the organization",
        404: "the endpoint was not found; check the base URL (often it must end in /v1)",
        429: "rate limited; wait a moment or raise the account's limits",
    }
    hint = hints.get(status, "the provider answered with an error; see its message")
    return f"HTTP {status}: {hint} ({text[:200].strip()})"


async def test_connection(
    target: ProbeTarget, *, timeout: float = DEFAULT_TIMEOUT, client: httpx.AsyncClient | None = None
) -> ProbeResult:
    """List the provider's models (or send a 1-token completion where it has no listing)."""
    ptype = catalog.PROVIDER_TYPES[target.type]
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    if ptype.listing is None:
        return await _completion_probe(target, timeout=timeout, started=started)
    url, headers, query = _request(target)
    own = client is None
    http = client or httpx.AsyncClient(timeout=timeout)
    listed: dict[str, str | None] = {}
    try:
        for _ in range(MAX_PAGES):
            try:
                response = await http.get(url, headers=headers, params=query, timeout=timeout)
            except httpx.TimeoutException:
                return ProbeResult(False, elapsed(), f"no answer within {timeout:g} s from {url}; is it up?")
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
                return ProbeResult(
                    False, elapsed(), f"cannot reach {url} ({reason}); check the base URL and network"
                )
            if response.status_code != 200:
                return ProbeResult(False, elapsed(), _explain(response.status_code, response.text))
            try:
                body = response.json()
                listed.update(_listed(ptype.listing, body))
            except (ValueError, KeyError, TypeError, AttributeError):
                return ProbeResult(
                    False, elapsed(), f"{url} answered, but not with a model list; check the base URL"
                )
            following = _next_page(ptype.listing, body)
            if following is None:
                break
            query = {**query, **following}
    finally:
        if own:
            await http.aclose()
    models = sorted(listed)
    modes = {m: mode for m, mode in listed.items() if mode}
    return ProbeResult(True, elapsed(), f"connected; {len(models)} models listed", models, modes=modes)


async def _completion_probe(target: ProbeTarget, *, timeout: float, started: float) -> ProbeResult:
    """A 1-token completion through LiteLLM for providers without a model listing."""
    import litellm  # slow import: only paid when such a provider is tested

    ptype = catalog.PROVIDER_TYPES[target.type]
    model = target.default_model or (ptype.default_models[0] if ptype.default_models else None)
    if not model:
        return ProbeResult(False, 0.0, "no default model to test with; set the provider's default model")
    params: dict[str, Any] = {**target.secrets, **target.params}
    api_base = ptype.api_base(target.base_url)
    if api_base:
        params["api_base"] = api_base
    try:
        response = await litellm.acompletion(
            model=catalog.litellm_model(ptype, model),
            messages=[{"role": "user", "content": "ping"}],
            max_tokens=1,
            timeout=timeout,
            num_retries=0,
            **params,
        )
    except Exception as exc:  # LiteLLM maps every provider error to its own exception types
        latency = round((time.perf_counter() - started) * 1000, 1)
        return ProbeResult(False, latency, f"{type(exc).__name__}: {str(exc)[:300]}")
    latency = round((time.perf_counter() - started) * 1000, 1)
    usage = getattr(response, "usage", None)
    tokens = int(getattr(usage, "total_tokens", 0) or 0)
    return ProbeResult(True, latency, f"connected; {model} answered", [model], tokens)
