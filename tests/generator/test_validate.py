"""structural_problems and litellm_problems: every problem at once, each naming the row and the fix."""

from __future__ import annotations

import copy
import math

import pytest

from generator import build, validate
from tests.generator.fixtures import fixture_input

GPT_4O = "model OpenAI Prod/gpt-4o (group 'gpt-4o')"


@pytest.fixture
def config() -> dict:
    return build.build_config(fixture_input(), revision=1)


def _deployment(config: dict, dep_id: str) -> dict:
    return next(d for d in config["model_list"] if d["model_info"]["id"] == dep_id)


def test_the_fixture_config_has_no_problems(config: dict) -> None:
    assert validate.structural_problems(config, resolvable=lambda name: True) == []


def test_a_negative_price_names_the_model_and_the_fix(config: dict) -> None:
    _deployment(config, "llm-admin-m2")["model_info"]["input_cost_per_token"] = -1e-6
    assert validate.structural_problems(config) == [
        f"{GPT_4O}: input_cost_per_token is -1e-06; set a price ≥ 0 per 1M tokens"
    ]


def test_nan_and_infinite_prices_are_problems(config: dict) -> None:
    info = _deployment(config, "llm-admin-m2")["model_info"]
    info["input_cost_per_token"] = math.nan
    info["output_cost_per_token"] = math.inf
    assert validate.structural_problems(config) == [
        f"{GPT_4O}: input_cost_per_token is nan; set a price ≥ 0 per 1M tokens",
        f"{GPT_4O}: output_cost_per_token is inf; set a price ≥ 0 per 1M tokens",
    ]


def test_a_window_that_is_not_a_positive_whole_number_is_a_problem(config: dict) -> None:
    info = _deployment(config, "llm-admin-m2")["model_info"]
    info["max_input_tokens"] = 0
    info["max_output_tokens"] = "lots"
    assert validate.structural_problems(config) == [
        f"{GPT_4O}: max_input_tokens is 0; set a whole number of tokens ≥ 1",
        f"{GPT_4O}: max_output_tokens is 'lots'; set a whole number of tokens ≥ 1",
    ]


def test_a_plain_text_secret_is_found_and_not_repeated(config: dict) -> None:
    _deployment(config, "llm-admin-m2")["litellm_params"]["api_key"] = "sk-plain-0123456789"
    _deployment(config, "llm-admin-m7")["litellm_params"]["aws_secret_access_key"] = "wJalrXUtnFEMI/K7MDENG"
    problems = validate.structural_problems(config)
    assert problems == [
        "model Bedrock US/anthropic.claude-3-5-sonnet-20241022-v2:0 (group 'bedrock-claude-sonnet'): "
        "litellm_params.aws_secret_access_key holds a plain-text secret; store it as the provider's key "
        "(encrypted) or reference an environment variable",
        f"{GPT_4O}: litellm_params.api_key holds a plain-text secret; store it as the provider's key "
        "(encrypted) or reference an environment variable",
    ]
    assert not any("sk-plain" in p or "wJalr" in p for p in problems)


def test_a_plain_text_master_key_is_a_problem(config: dict) -> None:
    config["general_settings"]["master_key"] = "sk-1234"
    assert validate.structural_problems(config) == [
        "general_settings.master_key: holds a plain-text key; use os.environ/LITELLM_MASTER_KEY"
    ]


def test_duplicate_deployment_ids_name_both_rows(config: dict) -> None:
    _deployment(config, "llm-admin-m2")["model_info"]["id"] = "llm-admin-m1"
    assert validate.structural_problems(config) == [
        "model OpenAI Prod/gpt-4o-mini (group 'gpt-4o-mini'): deployment id 'llm-admin-m1' repeats "
        f"{GPT_4O}; give one of them another model_info.id"
    ]


def test_fallbacks_to_unknown_groups_name_the_group(config: dict) -> None:
    config["router_settings"]["fallbacks"] = [{"gpt-4o": ["claude-sonnet", "gone"]}, {"missing": ["gpt-4o"]}]
    config["router_settings"]["context_window_fallbacks"] = [{"*": ["nope"]}]
    assert validate.structural_problems(config) == [
        "router_settings.fallbacks: 'gone' is not an enabled model group; enable it or remove it from the "
        "fallbacks",
        "router_settings.fallbacks: 'missing' is not an enabled model group; enable it or remove it from the "
        "fallbacks",
        "router_settings.context_window_fallbacks: 'nope' is not an enabled model group; enable it or remove "
        "it from the fallbacks",
    ]


def test_unresolvable_secrets_are_named_with_the_fix(config: dict) -> None:
    known = {"LLM_ADMIN_P1_API_KEY", "LLM_ADMIN_P3_API_KEY", "LLM_ADMIN_P4_AWS_ACCESS_KEY_ID"}
    problems = validate.structural_problems(config, resolvable=known.__contains__)
    assert problems == [
        f"secret {name}: not set in the proxy's environment and not stored in llm-admin; "
        f"export {name} for the proxy or store the key in the provider"
        for name in ("ANTHROPIC_API_KEY", "LITELLM_MASTER_KEY", "LLM_ADMIN_P4_AWS_SECRET_ACCESS_KEY")
    ]


def test_secret_refs_finds_every_reference(config: dict) -> None:
    assert validate.secret_refs(config) == {
        "ANTHROPIC_API_KEY",
        "LITELLM_MASTER_KEY",
        "LLM_ADMIN_P1_API_KEY",
        "LLM_ADMIN_P3_API_KEY",
        "LLM_ADMIN_P4_AWS_ACCESS_KEY_ID",
        "LLM_ADMIN_P4_AWS_SECRET_ACCESS_KEY",
    }


def test_no_models_is_a_problem_with_the_fix() -> None:
    config = build.build_config(build.ConfigInput(providers=fixture_input().providers, models=()), revision=1)
    assert validate.structural_problems(config) == [
        "model_list: no enabled models; enable a model of an enabled provider"
    ]


def test_a_model_without_provider_prefix_or_name_is_a_problem() -> None:
    config = {"model_list": [{"litellm_params": {"model": "gpt-4o"}}]}
    assert validate.structural_problems(config) == [
        "model_list[0] ('None', gpt-4o): model_name is missing; give the model an alias",
        "model_list[0] ('None', gpt-4o): litellm_params.model 'gpt-4o' has no provider prefix",
    ]


def test_every_problem_is_reported_at_once(config: dict) -> None:
    broken = copy.deepcopy(config)
    _deployment(broken, "llm-admin-m2")["model_info"]["input_cost_per_token"] = -1.0
    _deployment(broken, "llm-admin-m5")["litellm_params"]["api_key"] = "sk-ant-plain"
    _deployment(broken, "llm-admin-m6")["model_info"]["id"] = "llm-admin-m5"
    broken["router_settings"]["fallbacks"] = [{"nowhere": ["gpt-4o"]}]
    problems = validate.structural_problems(broken, resolvable=lambda name: name != "LITELLM_MASTER_KEY")
    assert len(problems) == 5
    assert [p.split(":")[0] for p in problems] == [
        "model Anthropic/claude-haiku-4-5 (group 'claude-haiku')",
        "model Anthropic/claude-sonnet-4-5 (group 'claude-sonnet')",
        GPT_4O,
        "router_settings.fallbacks",
        "secret LITELLM_MASTER_KEY",
    ]


def test_litellm_accepts_the_fixture_and_rejects_an_unknown_provider(config: dict) -> None:
    assert validate.litellm_problems(config) == []
    _deployment(config, "llm-admin-m2")["litellm_params"]["model"] = "no-such-provider/gpt-4o"
    (problem,) = validate.litellm_problems(config)
    assert problem.startswith(f"{GPT_4O}: LiteLLM cannot route it (")
