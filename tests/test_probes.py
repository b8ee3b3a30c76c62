"""Test Connection against stand-ins of each provider's model-list API: pages, shapes, modes, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from app import probes
from app.probes import ProbeResult, ProbeTarget
from tests.standins import anthropic, azure_openai, cohere, gemini, openai, together_ai
from tests.standins.base import StandIn


@pytest.fixture
def started() -> Iterator[list[StandIn]]:
    running: list[StandIn] = []
    yield running
    for stand_in in running:
        stand_in.stop()


def probe(
    started: list[StandIn], stand_in: StandIn, type_id: str, base: str, key: str, **params: str
) -> ProbeResult:
    started.append(stand_in.start())
    target = ProbeTarget(type_id, base.replace("{url}", stand_in.url), {"api_key": key}, dict(params))
    return asyncio.run(probes.test_connection(target, timeout=10))


def test_together_ais_bare_array_is_a_model_list_with_each_models_type(started: list[StandIn]) -> None:
    result = probe(started, together_ai.TogetherStandIn(), "together_ai", "{url}/v1", together_ai.API_KEY)
    assert result.ok, result.message
    assert result.models == sorted(together_ai.MODELS)
    assert result.modes == together_ai.MODELS  # chat / embedding, as Together's `type` says


def test_every_page_of_anthropics_list_is_read(started: list[StandIn]) -> None:
    names = tuple(f"claude-test-{i:04d}" for i in range(1005))
    stand_in = anthropic.AnthropicStandIn(models=names)
    result = probe(started, stand_in, "anthropic", "{url}", anthropic.TEST_KEY)
    assert result.ok, result.message
    assert result.models == sorted(names)
    assert len(stand_in.requests_to("/v1/models")) == 2  # 1,000 a page, then the rest


@pytest.mark.parametrize("base", ["{url}", "{url}/v1beta"])
def test_gemini_lists_with_or_without_the_typed_version_path(started: list[StandIn], base: str) -> None:
    result = probe(started, gemini.GeminiStandIn(), "gemini", base, gemini.API_KEY)
    assert result.ok, result.message
    assert result.modes == {gemini.CHAT_MODEL: "chat", gemini.EMBEDDING_MODEL: "embedding"}


def test_cohere_says_which_models_embed(started: list[StandIn]) -> None:
    result = probe(started, cohere.CohereStandIn(), "cohere", "{url}", cohere.API_KEY)
    assert result.ok, result.message
    assert result.modes[cohere.EMBED_MODEL] == "embedding" and result.modes[cohere.CHAT_MODEL] == "chat"


def test_azure_lists_the_models_its_resource_offers(started: list[StandIn]) -> None:
    result = probe(
        started,
        azure_openai.AzureOpenAIStandIn(),
        "azure_openai",
        "{url}/openai",
        azure_openai.AZURE_KEY,
        api_version=azure_openai.API_VERSION,
    )
    assert result.ok, result.message
    assert result.models == sorted(azure_openai.MODELS)
    assert result.modes == {azure_openai.CHAT_MODEL: "chat", azure_openai.EMBED_MODEL: "embedding"}


def test_a_refused_key_says_what_to_check_and_never_shows_the_key(started: list[StandIn]) -> None:
    result = probe(started, openai.OpenAIStandIn(), "openai", "{url}/v1", "sk-wrong-key-0123456789")
    assert not result.ok
    assert result.message.startswith("HTTP 401: the key was refused; check the API key")
    assert "sk-wrong-key-0123456789" not in result.message
