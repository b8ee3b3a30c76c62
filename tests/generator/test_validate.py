"""structural_problems and litellm_problems: every problem at once, each naming the row and the fix."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

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
        "(encrypted) or reference an environment variable (os.environ/NAME)",
        f"{GPT_4O}: litellm_params.api_key holds a plain-text secret; store it as the provider's key "
        "(encrypted) or reference an environment variable (os.environ/NAME)",
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
        for name in ("ANTHROPIC_API_KEY", "LITELLM_MASTER_KEY")
    ] + [
        "secret LLM_ADMIN_P4_AWS_SECRET_ACCESS_KEY: stored in llm-admin, but LLM_ADMIN_SECRET_KEYS cannot "
        "decrypt it; add the key that encrypted it (after the newest) or enter the provider's key again"
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


def test_a_model_without_a_name_is_a_problem_but_a_bare_model_is_left_to_litellm() -> None:
    # LiteLLM routes bare names it knows (gpt-4o → openai); litellm_problems judges the rest
    config = {"model_list": [{"litellm_params": {"model": "gpt-4o"}}]}
    assert validate.structural_problems(config) == [
        "model_list[0] ('None', gpt-4o): model_name is missing; give the model an alias",
    ]
    config["model_list"][0]["model_name"] = "gpt-4o"
    assert validate.structural_problems(config) == []
    assert validate.litellm_problems(config) == []
    config["model_list"][0]["litellm_params"]["model"] = "no-such-model-anywhere"
    (problem,) = validate.litellm_problems(config)
    assert problem.startswith("model_list[0] ('gpt-4o', no-such-model-anywhere): LiteLLM cannot route it (")


def _section_secret(path: str) -> str:
    return f"{path}: holds a plain-text secret; reference an environment variable (os.environ/NAME)"


def test_a_plain_authorization_header_is_a_plain_text_secret(config: dict) -> None:
    headers = {"Authorization": "Bearer sk-header-0123456789", "X-Team": "ml"}
    _deployment(config, "llm-admin-m2")["litellm_params"]["extra_headers"] = headers
    problems = validate.structural_problems(config)
    assert problems == [
        f"{GPT_4O}: litellm_params.extra_headers.Authorization holds a plain-text secret; store it as the "
        "provider's key (encrypted) or reference an environment variable (os.environ/NAME)"
    ]
    assert "sk-header" not in "".join(problems)


def test_a_database_url_with_a_password_is_a_plain_text_secret(config: dict) -> None:
    config["general_settings"]["database_url"] = "postgresql://llm:hunter2-db@db.internal:5432/litellm"
    config["general_settings"]["alerting_url"] = "https://hooks.example.com/services/x"  # no credentials
    problems = validate.structural_problems(config)
    assert problems == [_section_secret("general_settings.database_url")]
    assert "hunter2" not in "".join(problems)


def test_a_cache_password_is_a_plain_text_secret(config: dict) -> None:
    config["litellm_settings"]["cache_params"] = {
        "type": "redis",
        "host": "redis.internal",
        "port": 6379,
        "password": "redis-plain-pw",
    }
    assert validate.structural_problems(config) == [_section_secret("litellm_settings.cache_params.password")]


def test_secrets_are_found_in_lists_and_in_every_section(config: dict) -> None:
    config["litellm_settings"]["success_callback_params"] = [{"name": "x"}, {"api_key": "lf-plain"}]
    config["router_settings"]["redis_password"] = "plain"
    config["environment_variables"] = {"LANGFUSE_SECRET_KEY": "sk-lf-plain", "REDIS_HOST": "redis"}
    config["callback_settings"] = {"otel": {"endpoint": "https://user:pw@otel.example.com"}}
    assert validate.structural_problems(config) == [
        _section_secret("callback_settings.otel.endpoint"),
        _section_secret("environment_variables.LANGFUSE_SECRET_KEY"),
        _section_secret("litellm_settings.success_callback_params[1].api_key"),
        _section_secret("router_settings.redis_password"),
    ]


def test_environment_references_and_secret_manager_names_are_not_secrets(config: dict) -> None:
    deployment = _deployment(config, "llm-admin-m2")["litellm_params"]
    deployment["extra_headers"] = {"Authorization": "os.environ/TEAM_AUTH_HEADER"}
    deployment["vertex_credentials"] = "os.environ/VERTEX_CREDENTIALS"
    config["general_settings"]["database_url"] = "os.environ/DATABASE_URL"
    config["litellm_settings"]["cache_params"] = {"type": "redis", "password": "os.environ/REDIS_PASSWORD"}
    config["router_settings"]["redis_url"] = "redis://redis.internal:6379/0"  # a URL without a password
    assert config["general_settings"]["key_management_settings"]["custom_secret_manager"]
    assert config["general_settings"]["key_management_system"] == "custom"
    assert validate.structural_problems(config) == []
    assert {"TEAM_AUTH_HEADER", "DATABASE_URL", "REDIS_PASSWORD"} <= validate.secret_refs(config)


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("api-key", True),
        ("x-api-key", True),
        ("APIKEY", True),
        ("client_secret", True),
        ("password", True),
        ("db_passwd", True),
        ("vertex_credentials", True),
        ("aws_access_key_id", True),
        ("authorization", True),
        ("aws_session_token", True),
        ("token", True),
        ("max_tokens", False),
        ("token_counter", False),
        ("tpm", False),
        ("custom_secret_manager", False),
        ("key_management_system", False),
        ("model", False),
    ],
)
def test_which_keys_hold_secrets(key: str, secret: bool) -> None:
    assert validate.plain_secrets({key: "plain-value"}, "s") == (["s." + key] if secret else [])
    assert validate.plain_secrets({key: "os.environ/NAME"}, "s") == []


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


def test_a_callback_module_missing_next_to_the_config_is_a_problem(tmp_path) -> None:
    config = {
        "litellm_settings": {"callbacks": ["prometheus", "llm_admin_hooks.hooks", "nowhere_module.handler"]},
        "general_settings": {
            "key_management_settings": {"custom_secret_manager": "llm_admin_secrets.LlmAdminSecretManager"}
        },
    }
    (tmp_path / "llm_admin_hooks.py").write_text("hooks = None\n")
    assert validate.module_problems(config, config_dir=tmp_path) == [
        "litellm_settings.callbacks: 'nowhere_module.handler' cannot be loaded: no nowhere_module.py next to "
        "the config",
        "general_settings.key_management_settings.custom_secret_manager: "
        "'llm_admin_secrets.LlmAdminSecretManager' cannot be loaded: no llm_admin_secrets.py next to "
        "the config",
    ]


def test_the_provider_prefixes_read_from_litellms_source_are_litellms_provider_list() -> None:
    import litellm

    assert validate.litellm_provider_prefixes() == {getattr(p, "value", p) for p in litellm.provider_list}


def test_checking_a_rendered_config_does_not_load_litellm() -> None:
    script = (
        "import sys\n"
        "from generator import validate\n"
        "from generator import build\n"
        "from tests.generator.fixtures import fixture_input\n"
        "assert validate.litellm_problems(build.build_config(fixture_input(), revision=1)) == []\n"
        "print('litellm' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
