"""Provider types: LiteLLM prefix, default base URL, the fields each needs, and model defaults.

Field names are LiteLLM's own `litellm_params` names; prefixes are members of
`litellm.provider_list` (tests/test_catalog.py checks both against LiteLLM).
Model defaults come from the cost map LiteLLM ships, read as JSON so the
dashboard does not pay for `import litellm`.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any


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
    # how models are listed: openai (GET /models), anthropic, ollama, gemini, cohere, or None
    listing: str | None = "openai"
    default_models: tuple[str, ...] = ()
    key_env: str | None = None  # the environment variable LiteLLM reads for this provider
    notes: str = ""

    @property
    def secret_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.secret)

    @property
    def param_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.secret)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


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
            listing=None,
            notes="Each model's identifier is the Azure deployment name.",
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
            "https://api.replicate.com/v1",
            fields=(API_KEY,),
            key_prefix="r8_",
            listing=None,
            key_env="REPLICATE_API_KEY",
            default_models=("deepseek-ai/deepseek-v3",),
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
        ),
        ProviderType(
            "localai",
            "LocalAI (local)",
            "openai",
            "http://localhost:8080/v1",
            fields=(OPTIONAL_API_KEY,),
            local=True,
        ),
        ProviderType(
            "custom",
            "Custom OpenAI-compatible endpoint",
            "openai",
            None,
            base_url_required=True,
            fields=(OPTIONAL_API_KEY, EXTRA_HEADERS),
            notes="Mark it local (on-prem) to let local-only routes use it.",
        ),
    )
}


def get_type(type_id: str) -> ProviderType | None:
    return PROVIDER_TYPES.get(type_id)


def type_ids() -> list[str]:
    return sorted(PROVIDER_TYPES)


def litellm_model(ptype: ProviderType, identifier: str) -> str:
    """The `model` value LiteLLM routes on: `<prefix>/<identifier>`."""
    return f"{ptype.litellm_provider}/{identifier}"


def key_format_warning(ptype: ProviderType, key: str) -> str | None:
    """A warning (never an error) when a key does not look like this provider's keys."""
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
