"""The provider catalog agrees with LiteLLM: provider names, parameter names, cost-map defaults."""

from __future__ import annotations

import inspect

import litellm
import pytest
from litellm.types.router import GenericLiteLLMParams
from litellm.types.utils import all_litellm_params

from app import catalog

REQUIRED_TYPES = {
    "openai", "anthropic", "azure_openai", "bedrock", "gemini", "vertex_ai", "cohere",
    "together_ai", "replicate", "groq", "mistral", "ollama", "localai", "custom",
}  # fmt: skip


def litellm_providers() -> set[str]:
    return {getattr(p, "value", p) for p in litellm.provider_list}


def litellm_param_names() -> set[str]:
    """Every keyword LiteLLM accepts for a deployment or a completion call."""
    return (
        set(inspect.signature(litellm.completion).parameters)
        | set(GenericLiteLLMParams.model_fields)
        | set(all_litellm_params)
    )


def test_every_required_type_is_in_the_catalog() -> None:
    assert REQUIRED_TYPES <= set(catalog.type_ids())


@pytest.mark.parametrize("type_id", sorted(catalog.PROVIDER_TYPES))
def test_litellm_knows_the_provider_prefix(type_id: str) -> None:
    assert catalog.PROVIDER_TYPES[type_id].litellm_provider in litellm_providers()


@pytest.mark.parametrize("type_id", sorted(catalog.PROVIDER_TYPES))
def test_field_names_are_litellm_parameter_names(type_id: str) -> None:
    names = {f.name for f in catalog.PROVIDER_TYPES[type_id].fields} - {"api_key"}
    assert names - litellm_param_names() == set()


def test_only_ollama_and_localai_are_local() -> None:
    assert {t.id for t in catalog.PROVIDER_TYPES.values() if t.local} == {"ollama", "localai"}


def test_types_without_a_default_url_require_one_or_do_not_use_it() -> None:
    need_url = {t.id for t in catalog.PROVIDER_TYPES.values() if t.base_url_required}
    assert need_url == {"azure_openai", "custom"}
    assert all(catalog.PROVIDER_TYPES[t].default_base_url is None for t in need_url)


def test_litellm_model_is_prefix_slash_identifier() -> None:
    ollama = catalog.PROVIDER_TYPES["ollama"]
    assert catalog.litellm_model(ollama, "llama3.1") == "ollama_chat/llama3.1"


def test_model_defaults_come_from_the_bundled_cost_map() -> None:
    known = catalog.model_defaults("openai", "gpt-4o-mini")
    assert known.known is True
    assert (known.input_cost_per_1m, known.output_cost_per_1m) == (0.15, 0.6)
    assert known.context_window == 128000
    assert known.mode == "chat"
    assert known.capabilities["supports_tools"] is True


def test_model_defaults_agree_with_litellm_itself() -> None:
    info = litellm.get_model_info("gpt-4o-mini", custom_llm_provider="openai")
    known = catalog.model_defaults("openai", "gpt-4o-mini")
    assert known.input_cost_per_1m == pytest.approx(info["input_cost_per_token"] * 1_000_000)
    assert known.output_cost_per_1m == pytest.approx(info["output_cost_per_token"] * 1_000_000)


def test_unknown_model_has_no_defaults() -> None:
    unknown = catalog.model_defaults("openai", "my-finetune-that-litellm-never-heard-of")
    assert unknown.known is False
    assert (unknown.input_cost_per_1m, unknown.context_window, unknown.capabilities) == (None, None, {})


def test_key_format_warning_for_anthropic() -> None:
    anthropic = catalog.PROVIDER_TYPES["anthropic"]
    warning = catalog.key_format_warning(anthropic, {"api_key": "sk-proj-0123456789"})
    assert warning is not None and "sk-ant-" in warning
    assert catalog.key_format_warning(anthropic, {"api_key": "sk-ant-api03-0123456789"}) is None
    assert catalog.key_format_warning(anthropic, {}) is None  # no key typed (an env var is not checked)


def test_types_without_a_key_format_never_warn() -> None:
    custom = catalog.PROVIDER_TYPES["custom"]
    assert catalog.key_format_warning(custom, {"api_key": "anything-at-all"}) is None


def test_openai_default_models_get_prices_from_the_cost_map() -> None:
    defaults = [catalog.model_defaults("openai", m) for m in catalog.PROVIDER_TYPES["openai"].default_models]
    assert all(d.known and d.input_cost_per_1m and d.context_window for d in defaults)


# --- the base URL rule: what the user typed → what LiteLLM and the probe are given --------------


@pytest.mark.parametrize(
    "typed",
    ["https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta/"],
)
def test_gemini_gets_its_version_path_once_whether_or_not_it_was_typed(typed: str) -> None:
    gemini = catalog.PROVIDER_TYPES["gemini"]
    assert gemini.root_url(typed) == "https://generativelanguage.googleapis.com"
    assert gemini.api_base(typed) == "https://generativelanguage.googleapis.com/v1beta"
    assert gemini.api_base(typed, "embedding") == "https://generativelanguage.googleapis.com/v1beta"


@pytest.mark.parametrize("typed", ["https://api.cohere.ai", "https://api.cohere.ai/v2/chat"])
def test_cohere_is_given_the_complete_endpoint_of_each_models_mode(typed: str) -> None:
    cohere = catalog.PROVIDER_TYPES["cohere"]
    assert cohere.api_base(typed, "chat") == "https://api.cohere.ai/v2/chat"
    assert cohere.api_base(typed, "embedding") == "https://api.cohere.ai/v2/embed"
    assert cohere.root_url(typed) == "https://api.cohere.ai"


def test_an_azure_endpoint_typed_with_its_openai_path_is_its_root() -> None:
    azure = catalog.PROVIDER_TYPES["azure_openai"]
    assert azure.api_base("https://x.openai.azure.com/openai") == "https://x.openai.azure.com"
    assert azure.api_base("https://x.openai.azure.com") == "https://x.openai.azure.com"


def test_other_types_get_the_base_url_as_typed() -> None:
    assert catalog.PROVIDER_TYPES["openai"].api_base("https://gw.example/v1") == "https://gw.example/v1"
    assert catalog.PROVIDER_TYPES["vertex_ai"].api_base(None) is None


def test_ollama_embeddings_go_through_litellms_ollama_provider() -> None:
    ollama = catalog.PROVIDER_TYPES["ollama"]
    assert catalog.litellm_model(ollama, "llama3.1") == "ollama_chat/llama3.1"
    assert catalog.litellm_model(ollama, "nomic-embed-text", "embedding") == "ollama/nomic-embed-text"
    assert {ollama.litellm_prefix(m) for m in ("chat", "embedding")} <= litellm_providers()


def test_the_openai_organization_also_goes_out_as_its_header() -> None:
    params = catalog.PROVIDER_TYPES["openai"].deployment_params(
        {"organization": "org-1", "extra_headers": {"X-Team": "ml"}}, has_api_key=True
    )
    assert params["extra_headers"] == {"OpenAI-Organization": "org-1", "X-Team": "ml"}


@pytest.mark.parametrize("type_id", ["localai", "custom"])
def test_a_keyless_openai_compatible_server_gets_a_placeholder_key_never_an_inherited_one(
    type_id: str,
) -> None:
    ptype = catalog.PROVIDER_TYPES[type_id]
    assert ptype.deployment_params({}, has_api_key=False) == {"api_key": "no-key"}
    assert ptype.deployment_params({}, has_api_key=True) == {}


def test_a_type_litellm_cannot_point_elsewhere_offers_no_base_url_and_says_so() -> None:
    replicate = catalog.PROVIDER_TYPES["replicate"]
    assert not replicate.stand_in and not replicate.shows_base_url
    assert "not testable offline" in replicate.notes
