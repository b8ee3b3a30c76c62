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


def _request(target: ProbeTarget) -> tuple[str, dict[str, str], dict[str, str]]:
    """URL, headers and query for listing models."""
    ptype = catalog.PROVIDER_TYPES[target.type]
    base = (target.base_url or ptype.default_base_url or "").rstrip("/")
    key = target.secrets.get("api_key", "")
    headers = dict(target.params.get("extra_headers") or {})
    query: dict[str, str] = {}
    if ptype.listing == "anthropic":
        headers.update({"x-api-key": key, "anthropic-version": "2023-06-01"})
        url = f"{base}/v1/models"
    elif ptype.listing == "ollama":
        url = f"{base}/api/tags"
    elif ptype.listing == "gemini":
        url = f"{base}/v1beta/models"
        # a header, not ?key=: httpx logs request URLs, and the key must never reach a log
        headers["x-goog-api-key"] = key
    elif ptype.listing == "cohere":
        url = f"{base}/v1/models"
        headers["Authorization"] = f"Bearer {key}"
    else:
        url = f"{base}/models"
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if target.params.get("organization"):
            headers["OpenAI-Organization"] = target.params["organization"]
    return url, headers, query


def _model_ids(listing: str | None, body: Any) -> list[str]:
    if listing == "ollama":
        return sorted(m["name"] for m in body.get("models", []))
    if listing == "gemini":
        return sorted(m["name"].removeprefix("models/") for m in body.get("models", []))
    if listing == "cohere":
        return sorted(m["name"] for m in body.get("models", []))
    return sorted(m["id"] for m in body.get("data", []))


def _explain(status: int, text: str) -> str:
    hints = {
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
    try:
        response = await http.get(url, headers=headers, params=query, timeout=timeout)
    except httpx.TimeoutException:
        return ProbeResult(False, elapsed(), f"no answer within {timeout:g} s from {url}; is it up?")
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        return ProbeResult(False, elapsed(), f"cannot reach {url} ({reason}); check the base URL and network")
    finally:
        if own:
            await http.aclose()
    if response.status_code != 200:
        return ProbeResult(False, elapsed(), _explain(response.status_code, response.text))
    try:
        models = _model_ids(ptype.listing, response.json())
    except (ValueError, KeyError, TypeError, AttributeError):
        return ProbeResult(False, elapsed(), f"{url} answered, but not with a model list; check the base URL")
    return ProbeResult(True, elapsed(), f"connected; {len(models)} models listed", models)


async def _completion_probe(target: ProbeTarget, *, timeout: float, started: float) -> ProbeResult:
    """A 1-token completion through LiteLLM for providers without a model listing."""
    import litellm  # slow import: only paid when such a provider is tested

    ptype = catalog.PROVIDER_TYPES[target.type]
    model = target.default_model or (ptype.default_models[0] if ptype.default_models else None)
    if not model:
        return ProbeResult(False, 0.0, "no default model to test with; set the provider's default model")
    params: dict[str, Any] = {**target.secrets, **target.params}
    if target.base_url:
        params["api_base"] = target.base_url
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
