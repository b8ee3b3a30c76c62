"""Every provider type the catalog offers, end to end against a stand-in that speaks that provider's own
published API (tests/standins/): Test Connection, model sync, chat, streaming chat and embeddings
through the real supervised proxy, the usage row of each, and the stored key reaching the upstream where
the provider expects it while staying out of every file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app import catalog, db
from app.crypto import load_key_ring
from app.models import Model, UsageEvent
from app.probes import ProbeResult
from app.services import discovery, models, providers
from app.services.access import Actor
from app.settings import load_settings
from tests.e2e.supervised import Supervised, llm_admin, supervised, wait_for
from tests.standins import (
    anthropic,
    azure_openai,
    bedrock,
    cohere,
    custom,
    gemini,
    groq,
    localai,
    mistral,
    ollama,
    openai,
    together_ai,
    vertex_ai,
)
from tests.standins.base import (
    COMPLETION_TOKENS,
    EMBEDDING,
    EMBEDDING_TOKENS,
    PROMPT_TOKENS,
    REPLY,
    Case,
    StandIn,
)

pytestmark = pytest.mark.e2e

ADMIN = Actor("conformance", "admin")
COST_IN_PER_1M, COST_OUT_PER_1M = 1.5, 2.5

# type → (its case, a stand-in that accepts exactly that case's credentials)
MODULES: dict[str, tuple[Callable[[], Case], Callable[[Case], StandIn]]] = {
    "openai": (openai.case, lambda c: openai.OpenAIStandIn()),
    "azure_openai": (azure_openai.case, lambda c: azure_openai.AzureOpenAIStandIn()),
    "localai": (localai.case, lambda c: localai.LocalAIStandIn()),
    "custom": (custom.case, lambda c: custom.CustomStandIn()),
    "groq": (groq.case, lambda c: groq.GroqStandIn()),
    "mistral": (mistral.case, lambda c: mistral.MistralStandIn()),
    "together_ai": (together_ai.case, lambda c: together_ai.TogetherStandIn()),
    "anthropic": (anthropic.case, lambda c: anthropic.AnthropicStandIn()),
    "bedrock": (bedrock.case, lambda c: bedrock.BedrockStandIn()),
    "gemini": (gemini.case, lambda c: gemini.GeminiStandIn()),
    "vertex_ai": (vertex_ai.case, lambda c: vertex_ai.VertexAIStandIn(c.secrets["vertex_credentials"])),
    "cohere": (cohere.case, lambda c: cohere.CohereStandIn()),
    "ollama": (ollama.case, lambda c: ollama.OllamaStandIn()),
}
TESTED = sorted(t for t, ptype in catalog.PROVIDER_TYPES.items() if ptype.stand_in)
# Embedding token counts the provider does not report, so LiteLLM's own count is what a row can carry:
# LocalAI's and Together AI's embedding responses carry no usage; Gemini's batchEmbedContents response
# has only `embeddings` (BatchEmbedContentsResponse in the Gemini API reference).
EMBEDDING_TOKENS_NOT_REPORTED = {"localai", "together_ai", "gemini"}
# Model lists that do not say what a model is (Ollama's /api/tags, an OpenAI-compatible server's
# /v1/models; Azure lists models, not the deployments its identifiers name), for a model LiteLLM's
# cost map does not know either: the admin sets the embedding model's mode, as the Models page allows.
MODE_SET_BY_ADMIN = {"ollama", "azure_openai", "custom", "localai"}


@dataclass
class Provider:
    case: Case
    stand_in: StandIn
    name: str
    test: ProbeResult
    synced: dict[str, str]  # identifier → mode after sync
    secrets: list[str]

    def alias(self, kind: str) -> str:
        return f"{self.case.type}-{kind}"


@dataclass
class Stack:
    sup: Supervised
    providers: dict[str, Provider]


def _filled(case: Case, url: str) -> Case:
    """The case as the user types it for this stand-in (`{url}` → its address; the values may be JSON,
    so no str.format)."""

    def fill(value: str) -> str:
        return value.replace("{url}", url)

    return replace(
        case,
        base_url=fill(case.base_url) if case.base_url else None,
        secrets={k: fill(v) for k, v in case.secrets.items()},
        params={k: fill(v) for k, v in case.params.items()},
    )


def _set_up(session: Any, ring: Any, case: Case, name: str) -> tuple[ProbeResult, dict[str, str]]:
    """What an admin does in the Providers page: add, Test Connection, Sync, enable and price."""
    provider = providers.create_provider(
        session,
        actor=ADMIN,
        ring=ring,
        name=name,
        type=case.type,
        base_url=case.base_url,
        secrets=case.secrets,
        params=case.params,
        default_model=case.chat_model,
    )
    target = discovery.target_for(session, actor=ADMIN, ring=ring, provider_id=provider.id, environ={})
    result = discovery.probe(target)
    discovery.record_test(session, actor=ADMIN, provider_id=provider.id, result=result)
    if result.ok:
        discovery.sync_models(
            session, actor=ADMIN, provider_id=provider.id, discovered=result.models, modes=result.modes
        )
    listed = session.execute(select(Model.identifier, Model.mode).where(Model.provider_id == provider.id))
    synced = {row.identifier: row.mode for row in listed}
    for kind, identifier, mode in (
        ("chat", case.chat_model, "chat"),
        ("embed", case.embedding_model, "embedding"),
    ):
        if identifier is None:
            continue
        row = session.scalar(
            select(Model).where(Model.provider_id == provider.id, Model.identifier == identifier)
        )
        if row is None:  # an Azure deployment name, which no list shows: the admin adds it by name
            row = models.create_model(session, actor=ADMIN, provider_id=provider.id, identifier=identifier)
        changes: dict[str, Any] = {
            "enabled": True,
            "alias": f"{case.type}-{kind}",
            "input_cost_per_1m": COST_IN_PER_1M,
            "output_cost_per_1m": COST_OUT_PER_1M,
        }
        if row.mode != mode and case.type in MODE_SET_BY_ADMIN:
            changes["mode"] = mode
        models.update_model(session, actor=ADMIN, model_id=row.id, expected_version=row.version, **changes)
    return result, synced


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("conformance") / "data"
    llm_admin(data, "db", "upgrade")
    settings = load_settings({"LLM_ADMIN_DATA_DIR": str(data)})
    ring = load_key_ring(settings)
    db.init(settings.database_url)
    set_up: dict[str, Provider] = {}
    try:
        for type_id in TESTED:
            make_case, make_stand_in = MODULES[type_id]
            case = make_case()
            stand_in = make_stand_in(case).start()
            case = _filled(case, stand_in.url)
            name = f"p-{type_id}"
            with db.Session.begin() as session:
                result, synced = _set_up(session, ring, case, name)
            set_up[type_id] = Provider(case, stand_in, name, result, synced, list(case.secrets.values()))
        llm_admin(data, "config", "apply", "--yes")
        with supervised(data, workers=1) as sup:
            yield Stack(sup, set_up)
    finally:
        for p in set_up.values():
            p.stand_in.stop()


def test_every_type_the_catalog_offers_is_covered_or_says_why_not() -> None:
    assert set(TESTED) == set(MODULES)
    for ptype in catalog.PROVIDER_TYPES.values():
        if not ptype.stand_in:  # it must say so, and offer no base URL that would do nothing
            assert "not testable offline" in ptype.notes and not ptype.shows_base_url


def _rows(sup: Supervised, alias: str, count: int) -> list[UsageEvent]:
    def found() -> list[UsageEvent] | None:
        rows = [r for r in sup.usage() if r.model_group == alias]
        return rows if len(rows) >= count else None

    return wait_for(found, 30, f"{count} usage rows of {alias}")


def _assert_priced(row: UsageEvent, provider: Provider) -> None:
    assert row.provider == provider.name and row.status == "success"
    expected = (row.prompt_tokens * COST_IN_PER_1M + row.completion_tokens * COST_OUT_PER_1M) / 1e6
    assert math.isclose(row.cost_usd, expected, rel_tol=1e-9), (row.cost_usd, expected)


@pytest.mark.parametrize("type_id", TESTED)
def test_test_connection_lists_the_models_and_sync_adds_them(stack: Stack, type_id: str) -> None:
    p = stack.providers[type_id]
    assert p.test.ok, p.test.message
    assert p.test.latency_ms > 0
    if catalog.PROVIDER_TYPES[type_id].listing is None:  # tested with a 1-token completion
        assert (p.test.models, p.test.tokens_used) == ([p.case.chat_model], PROMPT_TOKENS + COMPLETION_TOKENS)
    else:
        assert set(p.case.listed_models) <= set(p.test.models)
    assert set(p.test.models) <= set(p.synced)
    if p.case.embedding_model in p.synced and type_id not in MODE_SET_BY_ADMIN:
        assert p.synced[p.case.embedding_model] == "embedding"  # from the list or LiteLLM's cost map


@pytest.mark.parametrize("type_id", TESTED)
def test_chat_answers_with_the_upstreams_text_and_tokens(stack: Stack, type_id: str) -> None:
    p = stack.providers[type_id]
    before = len([r for r in stack.sup.usage() if r.model_group == p.alias("chat")])
    body = {"model": p.alias("chat"), "messages": [{"role": "user", "content": "hi"}]}
    with stack.sup.client() as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == REPLY
    assert (answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]) == (
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )
    row = _rows(stack.sup, p.alias("chat"), before + 1)[-1]
    assert (row.prompt_tokens, row.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    _assert_priced(row, p)
    assert "chat" in {r.kind for r in p.stand_in.seen}


def _streamed(client: httpx.Client, alias: str) -> str:
    body = {"model": alias, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    text = []
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200, response.read().decode()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:]).get("choices") or []:
                    text.append((choice.get("delta") or {}).get("content") or "")
    return "".join(text)


@pytest.mark.parametrize("type_id", TESTED)
def test_a_streamed_chat_arrives_whole_and_its_row_has_the_upstreams_tokens(
    stack: Stack, type_id: str
) -> None:
    p = stack.providers[type_id]
    before = len([r for r in stack.sup.usage() if r.model_group == p.alias("chat")])
    with stack.sup.client() as client:
        assert _streamed(client, p.alias("chat")) == REPLY
    row = _rows(stack.sup, p.alias("chat"), before + 1)[-1]
    assert (row.prompt_tokens, row.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    _assert_priced(row, p)
    assert "stream" in {r.kind for r in p.stand_in.seen}


@pytest.mark.parametrize("type_id", [t for t in TESTED if MODULES[t][0]().embedding_model])
def test_embeddings_return_the_upstreams_vector(stack: Stack, type_id: str) -> None:
    p = stack.providers[type_id]
    with stack.sup.client() as client:
        response = client.post("/v1/embeddings", json={"model": p.alias("embed"), "input": ["hello"]})
    assert response.status_code == 200, response.text
    [item] = response.json()["data"]
    assert item["embedding"] == pytest.approx(EMBEDDING)
    [row] = _rows(stack.sup, p.alias("embed"), 1)
    if type_id not in EMBEDDING_TOKENS_NOT_REPORTED:
        assert row.prompt_tokens == EMBEDDING_TOKENS
    _assert_priced(row, p)
    assert "embed" in {r.kind for r in p.stand_in.seen}


@pytest.mark.parametrize("type_id", TESTED)
def test_the_stored_key_reached_the_upstream_where_it_expects_it(stack: Stack, type_id: str) -> None:
    p = stack.providers[type_id]
    served = [r for r in p.stand_in.seen if r.kind in ("models", "chat", "stream", "embed")]
    assert served
    assert all(r.authorized for r in served), [(r.method, r.path) for r in served if not r.authorized]


def test_no_stored_secret_is_in_any_file_or_log(stack: Stack) -> None:
    secrets = [s for p in stack.providers.values() for s in p.secrets if len(s) >= 8]
    for path in Path(stack.sup.data_dir).rglob("*"):
        if path.is_file() and path.suffix != ".db":  # the database holds them encrypted
            text = path.read_bytes().decode(errors="replace")
            leaked = [s[:6] for s in secrets if s in text]
            assert not leaked, f"{path} holds a stored secret starting {leaked}"
