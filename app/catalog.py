"""Provider types: LiteLLM prefix, default base URL, the fields each needs, and model defaults.

Field names are LiteLLM's own `litellm_params` names; prefixes are members of
`litellm.provider_list` (tests/test_catalog.py checks both against LiteLLM).
Model defaults come from the cost map LiteLLM ships, read as JSON so the
dashboard does not pay for `import litellm`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from generator.names import KEYLESS_API_KEY


@dataclass(frozen=True)
class Field:
    """One input a provider type needs, named as LiteLLM names it."""

    name: str
    label: str
    secret: bool = False
    required: bool = False
    default: str | None = None
    help: str = ""


@dataclass(frozen=True)
class ProviderType:
    """What llm-admin knows about one kind of provider."""

    id: str
    label: str
    litellm_provider: str
    default_base_url: str | None
    base_url_required: bool = False
    fields: tuple[Field, ...] = ()
    key_prefix: str | None = None
    local: bool = False
    # how models are listed: openai (GET /models), anthropic, azure, ollama, gemini, cohere, or None
    listing: str | None = "openai"
    default_models: tuple[str, ...] = ()
    key_env: str | None = None  # the environment variable LiteLLM reads for this provider
    notes: str = ""
    # The base URL rule: what the user types is the provider's root (with or without these suffixes);
    # LiteLLM is given root + version_path, or root + the path of the model's mode where it takes
    # api_base as the complete endpoint (Cohere).
    version_path: str = ""
    mode_paths: tuple[tuple[str, str], ...] = ()  # (mode, path); the first is the default
    mode_prefixes: tuple[tuple[str, str], ...] = ()  # (mode, LiteLLM prefix) where it is not the type's
    root_suffixes: tuple[str, ...] = ()  # more endings a typed URL may have that are not the root
    base_url_optional: bool = False  # no default, but an endpoint override may be typed
    # params LiteLLM does not send on every endpoint, so they also go out as these headers
    header_params: tuple[tuple[str, str], ...] = ()  # (param, header)
    # an OpenAI-compatible server that needs no key still gets one, so that LiteLLM's OpenAI client
    # starts, and never falls back to an OPENAI_API_KEY the proxy may have for another provider
    keyless_api_key: str | None = None
    # False: LiteLLM cannot be pointed at another endpoint, so no local stand-in can test the type
    stand_in: bool = True

    @property
    def secret_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.secret)

    @property
    def param_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.secret)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def shows_base_url(self) -> bool:
        """Whether the form offers a base URL: only where LiteLLM uses it."""
        return self.base_url_required or self.default_base_url is not None or self.base_url_optional

    def root_url(self, base_url: str | None) -> str | None:
        """The provider's root: what the user typed, without the version or endpoint path."""
        base = (base_url or self.default_base_url or "").rstrip("/")
        for suffix in (self.version_path, *(path for _, path in self.mode_paths), *self.root_suffixes):
            if suffix and base.endswith(suffix):
                base = base.removesuffix(suffix)
        return base or None

    def api_base(self, base_url: str | None, mode: str = "chat") -> str | None:
        """The `api_base` LiteLLM needs for a model of this mode (None: LiteLLM's own default)."""
        if base_url is None or not (self.version_path or self.mode_paths or self.root_suffixes):
            return base_url
        root = self.root_url(base_url)
        if root is None:
            return None
        paths = dict(self.mode_paths)
        return root + self.version_path + paths.get(mode, self.mode_paths[0][1] if self.mode_paths else "")

    def deployment_params(self, params: dict[str, Any], *, has_api_key: bool) -> dict[str, Any]:
        """A provider's stored params as LiteLLM must be given them."""
        out = dict(params)
        headers = {h: str(out[p]) for p, h in self.header_params if out.get(p)}
        if headers:
            out["extra_headers"] = {**headers, **(out.get("extra_headers") or {})}
        if self.keyless_api_key and not has_api_key:
            out["api_key"] = self.keyless_api_key
        return out

    def litellm_prefix(self, mode: str = "chat") -> str:
        """The LiteLLM provider prefix for a model of this mode."""
        return dict(self.mode_prefixes).get(mode, self.litellm_provider)


API_KEY = Field("api_key", "API key", secret=True, required=True)
OPTIONAL_API_KEY = Field("api_key", "API key (if the server asks for one)", secret=True)
EXTRA_HEADERS = Field("extra_headers", "Extra headers (JSON object)", help='{"X-Team": "ml"}')

PROVIDER_TYPES: dict[str, ProviderType] = {
    t.id: t
    for t in (
        ProviderType(
            "openai",
            "OpenAI",
            "openai",
            "https://api.openai.com/v1",
            fields=(API_KEY, Field("organization", "Organization ID"), EXTRA_HEADERS),
            # LiteLLM sends `organization` with chat but not with embeddings: the header goes with both
            header_params=(("organization", "OpenAI-Organization"),),
            key_prefix="sk-",
            key_env="OPENAI_API_KEY",
            default_models=("gpt-4o-mini", "gpt-4o"),
        ),
        ProviderType(
            "anthropic",
            "Anthropic",
            "anthropic",
            "https://api.anthropic.com",
            fields=(API_KEY, EXTRA_HEADERS),
            key_prefix="sk-ant-",
            listing="anthropic",
            key_env="ANTHROPIC_API_KEY",
            default_models=("claude-haiku-4-5", "claude-sonnet-4-5"),
        ),
        ProviderType(
            "azure_openai",
            "Azure OpenAI",
            "azure",
            None,
            base_url_required=True,
            fields=(
                API_KEY,
                Field("api_version", "API version", required=True, default="2024-10-21"),
                EXTRA_HEADERS,
            ),
            key_env="AZURE_API_KEY",
            listing="azure",
            # LiteLLM appends /openai/deployments/...: the root is the resource's endpoint
            root_suffixes=("/openai",),
            notes="Each model's identifier is the Azure deployment name; Test Connection lists the "
            "models the resource offers.",
        ),
        ProviderType(
            "bedrock",
            "AWS Bedrock",
            "bedrock",
            None,
            fields=(
                Field("aws_access_key_id", "AWS access key ID", secret=True, required=True),
                Field("aws_secret_access_key", "AWS secret access key", secret=True, required=True),
                Field("aws_session_token", "AWS session token", secret=True),
                Field("aws_region_name", "AWS region", required=True, default="us-east-1"),
                Field(
                    "aws_bedrock_runtime_endpoint",
                    "Bedrock runtime endpoint (VPC endpoint)",
                    help="Leave empty for AWS's public endpoint of the region, e.g. "
                    "https://vpce-….bedrock-runtime.us-east-1.vpce.amazonaws.com",
                ),
            ),
            listing=None,
            key_env="AWS_ACCESS_KEY_ID",
            default_models=("anthropic.claude-3-5-sonnet-20241022-v2:0",),
        ),
        ProviderType(
            "gemini",
            "Google Gemini (AI Studio)",
            "gemini",
            "https://generativelanguage.googleapis.com",
            fields=(API_KEY,),
            key_prefix="AIza",
            listing="gemini",
            key_env="GEMINI_API_KEY",
            default_models=("gemini-2.5-flash", "gemini-2.5-pro"),
            version_path="/v1beta",
        ),
        ProviderType(
            "vertex_ai",
            "Google Vertex AI",
            "vertex_ai",
            None,
            fields=(
                Field("vertex_project", "GCP project", required=True),
                Field("vertex_location", "GCP location", required=True, default="us-central1"),
                Field(
                    "vertex_credentials",
                    "Service account JSON",
                    secret=True,
                    help="Leave empty to use the machine's application default credentials",
                ),
            ),
            listing=None,
            default_models=("gemini-2.5-pro",),
            base_url_optional=True,
            notes="Base URL: leave empty for Google's regional endpoint, or give a Private Service "
            "Connect endpoint.",
        ),
        ProviderType(
            "cohere",
            "Cohere",
            "cohere",
            "https://api.cohere.ai",
            fields=(API_KEY,),
            listing="cohere",
            key_env="COHERE_API_KEY",
            default_models=("command-r-08-2024", "command-r-plus-08-2024"),
            # LiteLLM posts to api_base as it is: the chat and embed endpoints, by the model's mode
            mode_paths=(("chat", "/v2/chat"), ("embedding", "/v2/embed")),
        ),
        ProviderType(
            "together_ai",
            "Together AI",
            "together_ai",
            "https://api.together.xyz/v1",
            fields=(API_KEY,),
            key_env="TOGETHERAI_API_KEY",
            default_models=("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",),
        ),
        ProviderType(
            "replicate",
            "Replicate",
            "replicate",
            None,  # LiteLLM always calls https://api.replicate.com: a base URL would have no effect
            fields=(API_KEY,),
            key_prefix="r8_",
            listing=None,
            key_env="REPLICATE_API_KEY",
            default_models=("deepseek-ai/deepseek-v3",),
            stand_in=False,
            notes="LiteLLM always calls api.replicate.com (no other endpoint can be set) and counts "
            "tokens itself rather than reading Replicate's metrics; not testable offline.",
        ),
        ProviderType(
            "groq",
            "Groq",
            "groq",
            "https://api.groq.com/openai/v1",
            fields=(API_KEY,),
            key_prefix="gsk_",
            key_env="GROQ_API_KEY",
            default_models=("openai/gpt-oss-20b",),
        ),
        ProviderType(
            "mistral",
            "Mistral AI",
            "mistral",
            "https://api.mistral.ai/v1",
            fields=(API_KEY,),
            key_env="MISTRAL_API_KEY",
            default_models=("mistral-small-latest", "mistral-large-latest"),
        ),
        ProviderType(
            "ollama",
            "Ollama (local)",
            "ollama_chat",
            "http://localhost:11434",
            local=True,
            listing="ollama",
            default_models=("llama3.1",),
            # LiteLLM's ollama_chat/ has no embeddings; ollama/ posts them to /api/embed
            mode_prefixes=(("embedding", "ollama"),),
        ),
        ProviderType(
            "localai",
            "LocalAI (local)",
            "openai",
            "http://localhost:8080/v1",
            fields=(OPTIONAL_API_KEY,),
            local=True,
            keyless_api_key=KEYLESS_API_KEY,
        ),
        ProviderType(
            "custom",
            "Custom OpenAI-compatible endpoint",
            "openai",
            None,
            base_url_required=True,
            fields=(OPTIONAL_API_KEY, EXTRA_HEADERS),
            keyless_api_key=KEYLESS_API_KEY,
            notes="Mark it local (on-prem) to let local-only routes use it.",
        ),
    )
}


def get_type(type_id: str) -> ProviderType | None:
    return PROVIDER_TYPES.get(type_id)


def type_ids() -> list[str]:
    return sorted(PROVIDER_TYPES)


def litellm_model(ptype: ProviderType, identifier: str, mode: str = "chat") -> str:
    """The `model` value LiteLLM routes on: `<prefix>/<identifier>`."""
    return f"{ptype.litellm_prefix(mode)}/{identifier}"


def key_format_warning(ptype: ProviderType, secrets: Mapping[str, str]) -> str | None:
    """A warning (never an error) when the API key among a new provider's `secrets` does not look like
    this provider's keys; None when no key was given (an env var reference is not checked)."""
    key = secrets.get(API_KEY.name, "")
    if ptype.key_prefix and key and not key.startswith(ptype.key_prefix):
        return f"{ptype.label} keys usually start with '{ptype.key_prefix}'; check you pasted the right key"
    return None


@lru_cache(maxsize=1)
def cost_map() -> dict[str, dict[str, Any]]:
    """LiteLLM's bundled model cost map (prices, windows, capabilities)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations)))
    data: dict[str, dict[str, Any]] = json.loads(
        (path / "model_prices_and_context_window_backup.json").read_text()
    )
    data.pop("sample_spec", None)
    return data


@dataclass(frozen=True)
class ModelDefaults:
    """What LiteLLM's cost map says about one model."""

    input_cost_per_1m: float | None = None
    output_cost_per_1m: float | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    mode: str = "chat"
    capabilities: dict[str, bool] = field(default_factory=dict)
    known: bool = False


_CAPABILITIES = {
    "supports_tools": "supports_function_calling",
    "supports_vision": "supports_vision",
    "supports_audio": "supports_audio_input",
    "supports_system_messages": "supports_system_messages",
}


def model_defaults(type_id: str, identifier: str) -> ModelDefaults:
    """Prices per 1M tokens, context window and capabilities from LiteLLM's cost map."""
    ptype = PROVIDER_TYPES[type_id]
    entries = cost_map()
    candidates = (litellm_model(ptype, identifier), f"{ptype.id}/{identifier}", identifier)
    entry = next((entries[c] for c in candidates if c in entries), None)
    if not entry:
        return ModelDefaults()

    def per_1m(key: str) -> float | None:
        value = entry.get(key)
        return round(float(value) * 1_000_000, 6) if value is not None else None

    caps = {ours: bool(entry.get(theirs, False)) for ours, theirs in _CAPABILITIES.items()}
    if "supports_system_messages" not in entry:
        caps["supports_system_messages"] = True
    return ModelDefaults(
        input_cost_per_1m=per_1m("input_cost_per_token"),
        output_cost_per_1m=per_1m("output_cost_per_token"),
        context_window=entry.get("max_input_tokens") or entry.get("max_tokens"),
        max_output_tokens=entry.get("max_output_tokens"),
        mode=entry.get("mode", "chat"),
        capabilities=caps,
        known=True,
    )
