"""First run: find providers already available (keys in the environment, local servers) and add them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import catalog
from app.crypto import KeyRing
from app.models import Provider, ProviderCredential
from app.services import providers
from app.services.access import Actor
from app.validation import normalize_name


@dataclass(frozen=True)
class EnvSource:
    """The environment variables LiteLLM reads for one provider type, in LiteLLM's order of preference."""

    type: str
    keys: tuple[str, ...]  # the API key (any one of these names)
    base_urls: tuple[str, ...] = ()  # an endpoint override, if set
    # further secret fields read from their own variables (Bedrock's secret key and session token)
    extra_secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    needs_base_url: bool = False


ENV_SOURCES: tuple[EnvSource, ...] = (
    EnvSource("openai", ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE")),
    EnvSource("anthropic", ("ANTHROPIC_API_KEY",), ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE")),
    EnvSource(
        "azure_openai",
        ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
        ("AZURE_API_BASE",),
        params={"api_version": ("AZURE_API_VERSION",)},
        needs_base_url=True,
    ),
    EnvSource(
        "bedrock",
        ("AWS_ACCESS_KEY_ID",),
        extra_secrets={
            "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
            "aws_session_token": ("AWS_SESSION_TOKEN",),
        },
        params={"aws_region_name": ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")},
    ),
    EnvSource("gemini", ("GEMINI_API_KEY",), ("GEMINI_API_BASE",)),
    EnvSource("cohere", ("COHERE_API_KEY", "CO_API_KEY"), ("COHERE_API_BASE",)),
    EnvSource(
        "together_ai", ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHER_AI_TOKEN")
    ),
    EnvSource("replicate", ("REPLICATE_API_KEY", "REPLICATE_API_TOKEN")),
    EnvSource("groq", ("GROQ_API_KEY",), ("GROQ_API_BASE",)),
    EnvSource("mistral", ("MISTRAL_API_KEY",), ("MISTRAL_API_BASE",)),
)
# where local servers listen by default; OLLAMA_API_BASE (which LiteLLM reads) moves Ollama
DEFAULT_PORTS: dict[str, int] = {"ollama": 11434, "localai": 8080}
LOCAL_PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class Candidate:
    """A provider found on this machine, ready to add in one click."""

    key: str  # stable id for the page's widgets, e.g. "env:openai" or "local:ollama"
    type: str
    name: str
    found: str  # what was found, e.g. "OPENAI_API_KEY is set"
    base_url: str | None = None
    secret_envs: dict[str, str] = field(default_factory=dict)  # field -> environment variable name
    params: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)  # what a local server listed when found
    missing: str | None = None  # why it cannot be added as is (e.g. Azure without AZURE_API_BASE)


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if (environ.get(n) or "").strip()), None)


def detect_env_keys(environ: Mapping[str, str]) -> list[Candidate]:
    """Providers whose key LiteLLM would find in `environ`; the key stays there (referenced, not copied)."""
    found = []
    for source in ENV_SOURCES:
        key_var = _first(environ, source.keys)
        if key_var is None:
            continue
        ptype = catalog.PROVIDER_TYPES[source.type]
        secret_field = "aws_access_key_id" if source.type == "bedrock" else "api_key"
        secret_envs = {secret_field: key_var}
        for name, variables in source.extra_secrets.items():
            var = _first(environ, variables)
            if var is not None:
                secret_envs[name] = var
        params = {}
        for name, variables in source.params.items():
            var = _first(environ, variables)
            if var is not None:
                params[name] = environ[var].strip()
        base_var = _first(environ, source.base_urls)
        missing = None
        if source.needs_base_url and base_var is None:
            missing = f"set {source.base_urls[0]} to the endpoint URL as well"
        for spec in ptype.secret_fields:
            if spec.required and spec.name not in secret_envs:
                wanted = source.extra_secrets.get(spec.name, (spec.name.upper(),))[0]
                missing = f"set {wanted} as well"
        found.append(
            Candidate(
                key=f"env:{source.type}",
                type=source.type,
                name=ptype.label,
                found=f"{key_var} is set" + (f", endpoint from {base_var}" if base_var else ""),
                base_url=environ[base_var].strip() if base_var else None,
                secret_envs=secret_envs,
                params=params,
                missing=missing,
            )
        )
    return found


def _local_urls(environ: Mapping[str, str], ports: Mapping[str, int], host: str) -> dict[str, str]:
    urls = {}
    if "ollama" in ports:
        urls["ollama"] = (environ.get("OLLAMA_API_BASE") or "").strip() or f"http://{host}:{ports['ollama']}"
    if "localai" in ports:
        urls["localai"] = f"http://{host}:{ports['localai']}/v1"
    return {kind: url.rstrip("/") for kind, url in urls.items()}


async def _listed_models(client: httpx.AsyncClient, kind: str, base_url: str) -> list[str] | None:
    """The models a local server lists, or None when nothing of that kind answers there."""
    url = f"{base_url}/api/tags" if kind == "ollama" else f"{base_url}/models"
    try:
        response = await client.get(url)
        body: Any = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    # another program on the port answers too: only the server's own model list counts
    if kind == "ollama" and isinstance(body, dict) and isinstance(body.get("models"), list):
        return sorted(str(m.get("name")) for m in body["models"] if isinstance(m, dict) and m.get("name"))
    if kind == "localai" and isinstance(body, dict) and isinstance(body.get("data"), list):
        return sorted(str(m.get("id")) for m in body["data"] if isinstance(m, dict) and m.get("id"))
    return None


async def _detect_local(urls: dict[str, str], timeout: float) -> dict[str, list[str] | None]:
    async with httpx.AsyncClient(timeout=timeout) as client:
        found = await asyncio.gather(*(_listed_models(client, kind, url) for kind, url in urls.items()))
    return dict(zip(urls, found, strict=True))


def detect_local_servers(
    environ: Mapping[str, str],
    *,
    ports: Mapping[str, int] = DEFAULT_PORTS,
    host: str = "127.0.0.1",
    timeout: float = LOCAL_PROBE_TIMEOUT,
) -> list[Candidate]:
    """Ollama and LocalAI servers answering on their default ports (probed at once, briefly)."""
    urls = _local_urls(environ, ports, host)
    listed = asyncio.run(_detect_local(urls, timeout))
    found = []
    for kind, url in urls.items():
        names = listed[kind]
        if names is None:
            continue
        ptype = catalog.PROVIDER_TYPES[kind]
        found.append(
            Candidate(
                key=f"local:{kind}",
                type=kind,
                name=ptype.label.replace(" (local)", ""),
                found=f"a server answers at {url} with {len(names)} model{'s' * (len(names) != 1)}",
                base_url=url,
                models=names,
            )
        )
    return found


def _configured(session: Session) -> tuple[set[str], set[tuple[str, str]], set[tuple[str, str]]]:
    """Names, (type, env var) and (type, base URL) pairs already used by providers (deleted ones too)."""
    names = set(session.scalars(select(Provider.name_key)))
    envs = {
        (ptype, str(var))
        for ptype, var in session.execute(
            select(Provider.type, ProviderCredential.env_var)
            .join(ProviderCredential.provider)
            .where(ProviderCredential.env_var.is_not(None))
        )
    }
    urls = {(t, u.rstrip("/")) for t, u in session.execute(select(Provider.type, Provider.base_url)) if u}
    return names, envs, urls


def detect(
    session: Session,
    *,
    environ: Mapping[str, str],
    ports: Mapping[str, int] = DEFAULT_PORTS,
    host: str = "127.0.0.1",
    timeout: float = LOCAL_PROBE_TIMEOUT,
) -> list[Candidate]:
    """Everything available here that no provider uses yet: keys in `environ`, then local servers."""
    names, envs, urls = _configured(session)
    found = detect_env_keys(environ) + detect_local_servers(environ, ports=ports, host=host, timeout=timeout)
    fresh = []
    for candidate in found:
        if any((candidate.type, var) in envs for var in candidate.secret_envs.values()):
            continue
        if candidate.key.startswith("local:") and (candidate.type, candidate.base_url) in urls:
            continue
        name, suffix = candidate.name, 2
        while normalize_name(name) in names:
            name, suffix = f"{candidate.name} {suffix}", suffix + 1
        fresh.append(_renamed(candidate, name))
    return fresh


def _renamed(candidate: Candidate, name: str) -> Candidate:
    if name == candidate.name:
        return candidate
    return Candidate(**{**candidate.__dict__, "name": name})


def add_candidate(session: Session, *, actor: Actor, ring: KeyRing, candidate: Candidate) -> Provider:
    """Add a detected provider; an environment key is stored as a reference to its variable."""
    return providers.create_provider(
        session,
        actor=actor,
        ring=ring,
        name=candidate.name,
        type=candidate.type,
        base_url=candidate.base_url,
        secret_envs=dict(candidate.secret_envs),
        params=dict(candidate.params),
    )
