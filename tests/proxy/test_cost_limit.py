"""Cost limits: priced at the dearest step of the route, max_tokens clamped to fit, or refused."""

from __future__ import annotations

import math

import pytest

from app.proxy import cost_limit
from generator import build
from generator.routes import RouteRow
from tests.generator.fixtures import fixture_input

LIMIT = 0.05


@pytest.fixture(scope="module")
def limits() -> dict[str, cost_limit.RouteLimit]:
    rows = fixture_input()  # summarizer: gpt-4o-mini ($0.15/$0.60, Azure $0.165/$0.66) → claude-haiku ($1/$5)
    rows = type(rows)(
        providers=rows.providers,
        models=rows.models,
        settings=rows.settings,
        routes=(RouteRow("summarizer", "gpt-4o-mini", ("claude-haiku",), max_cost_usd=LIMIT),),
    )
    return cost_limit.limits_from_config(build.build_config(rows, revision=1))


def _chat(text: str, **extra: object) -> dict[str, object]:
    return {"model": "agent/summarizer", "messages": [{"role": "user", "content": text}], **extra}


def test_every_group_of_the_route_carries_the_dearest_prices_of_the_whole_route(
    limits: dict[str, cost_limit.RouteLimit],
) -> None:
    assert set(limits) == {"agent/summarizer", "agent/summarizer/fallback-1"}
    limit = limits["agent/summarizer"]
    assert (limit.max_cost_usd, limit.input_cost_per_token, limit.output_cost_per_token) == (
        LIMIT,
        1e-06,
        5e-06,
    )
    assert limit.counting_model == "anthropic/claude-haiku-4-5"


def test_max_tokens_is_set_so_the_worst_case_fits(limits: dict[str, cost_limit.RouteLimit]) -> None:
    limit = limits["agent/summarizer"]
    data = cost_limit.enforce(limit, _chat("Summarize this."), "agent/summarizer")
    prompt = cost_limit.prompt_tokens(limit, _chat("Summarize this."))
    expected = math.floor((LIMIT - prompt * 1e-06) / 5e-06)
    assert data["max_tokens"] == expected
    assert prompt * 1e-06 + data["max_tokens"] * 5e-06 <= LIMIT


def test_a_smaller_request_is_kept_and_both_completion_keys_are_clamped(
    limits: dict[str, cost_limit.RouteLimit],
) -> None:
    limit = limits["agent/summarizer"]
    assert cost_limit.enforce(limit, _chat("hi", max_tokens=50), "g")["max_tokens"] == 50
    data = cost_limit.enforce(limit, _chat("hi", max_completion_tokens=10**6), "g")
    assert data["max_completion_tokens"] < 10_000 and "max_tokens" not in data


def test_n_choices_share_the_room(limits: dict[str, cost_limit.RouteLimit]) -> None:
    limit = limits["agent/summarizer"]
    one = cost_limit.enforce(limit, _chat("hi"), "g")["max_tokens"]
    four = cost_limit.enforce(limit, _chat("hi", n=4), "g")["max_tokens"]
    assert four == pytest.approx(one / 4, abs=1)


def test_a_prompt_that_alone_breaks_the_limit_is_refused_naming_limit_estimate_and_fix(
    limits: dict[str, cost_limit.RouteLimit],
) -> None:
    with pytest.raises(cost_limit.CostLimitExceeded) as err:
        cost_limit.enforce(limits["agent/summarizer"], _chat("word " * 60_000), "agent/summarizer")
    message = str(err.value)
    assert message.startswith("agent/summarizer allows at most $0.05 per request, but this prompt is about")
    assert "Shorten the prompt" in message and "--agent summarizer ... --max-cost-usd X" in message


@pytest.mark.parametrize(
    "model",
    ["openai/meta-llama/Llama-3.1-8B-Instruct", "together_ai/meta-llama/Llama-2-70b", "replicate/x/y"],
)
def test_a_model_whose_tokenizer_lives_on_hugging_face_is_counted_with_the_bundled_one(model: str) -> None:
    tokenizer = cost_limit.tokenizer_for(model)
    assert tokenizer.custom is not None and tokenizer.custom["type"] == "openai_tokenizer"
    assert tokenizer.margin == cost_limit.FALLBACK_TOKEN_MARGIN


def test_a_model_litellm_counts_locally_keeps_litellms_choice_and_the_narrow_margin() -> None:
    assert cost_limit.tokenizer_for("openai/gpt-4o-mini") == cost_limit.Tokenizer(
        None, cost_limit.TOKEN_MARGIN
    )


def test_the_fallback_margin_is_applied_to_the_bundled_count() -> None:
    import litellm

    model = "openai/meta-llama/Llama-3.1-8B-Instruct"
    request = _chat("Summarize the quarterly report in three bullet points.")
    bundled = litellm.token_counter(
        model=model, custom_tokenizer=cost_limit.tokenizer_for(model).custom, messages=request["messages"]
    )
    limit = cost_limit.RouteLimit("a", 1.0, 1e-6, 1e-6, model)
    assert cost_limit.prompt_tokens(limit, request) == math.ceil(bundled * cost_limit.FALLBACK_TOKEN_MARGIN)
