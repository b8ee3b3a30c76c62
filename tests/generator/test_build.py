"""build_config: rows in, LiteLLM config dict out."""

from __future__ import annotations

import dataclasses

import pytest

from generator import build, names
from tests.generator.fixtures import fixture_input, fixture_models, fixture_providers


def _by_id(config: dict) -> dict[str, dict]:
    return {d["model_info"]["id"]: d for d in config["model_list"]}


def _rows(
    *models: build.ModelRow, providers: tuple[build.ProviderRow, ...] | None = None
) -> build.ConfigInput:
    return build.ConfigInput(providers=fixture_providers() if providers is None else providers, models=models)


def test_one_deployment_per_model_of_an_enabled_provider() -> None:
    # provider 99 is not in the input (disabled or deleted): its model must not serve
    orphan = build.ModelRow(9, 99, "gpt-4o", "orphan")
    config = build.build_config(_rows(*fixture_models(), orphan), revision=1)
    assert sorted(_by_id(config)) == [f"llm-admin-m{i}" for i in range(1, 9)]


def test_model_name_is_the_alias() -> None:
    config = build.build_config(fixture_input(), revision=1)
    assert _by_id(config)["llm-admin-m5"]["model_name"] == "claude-haiku"
    assert _by_id(config)["llm-admin-m5"]["litellm_params"]["model"] == "anthropic/claude-haiku-4-5"


def test_stored_secrets_are_named_by_provider_id_and_env_secrets_by_their_variable() -> None:
    deployments = _by_id(build.build_config(fixture_input(), revision=1))
    assert deployments["llm-admin-m1"]["litellm_params"]["api_key"] == "os.environ/LLM_ADMIN_P1_API_KEY"
    assert deployments["llm-admin-m5"]["litellm_params"]["api_key"] == "os.environ/ANTHROPIC_API_KEY"
    bedrock = deployments["llm-admin-m7"]["litellm_params"]
    assert bedrock["aws_access_key_id"] == "os.environ/LLM_ADMIN_P4_AWS_ACCESS_KEY_ID"
    assert bedrock["aws_secret_access_key"] == "os.environ/LLM_ADMIN_P4_AWS_SECRET_ACCESS_KEY"
    assert "api_key" not in deployments["llm-admin-m8"]["litellm_params"]


def test_provider_params_and_limits_go_into_litellm_params() -> None:
    deployments = _by_id(build.build_config(fixture_input(), revision=1))
    assert deployments["llm-admin-m4"]["litellm_params"] == {
        "model": "azure/gpt-4o-mini-eu",
        "api_base": "https://llm-admin-eu.openai.azure.com",
        "api_key": "os.environ/LLM_ADMIN_P3_API_KEY",
        "api_version": "2024-10-21",
        "rpm": 300,
    }
    assert deployments["llm-admin-m7"]["litellm_params"]["aws_region_name"] == "us-east-1"
    assert "api_base" not in deployments["llm-admin-m7"]["litellm_params"]


def test_prices_per_1m_become_prices_per_token() -> None:
    info = _by_id(build.build_config(fixture_input(), revision=1))["llm-admin-m2"]["model_info"]
    assert info["input_cost_per_token"] == 2.5e-6
    assert info["output_cost_per_token"] == 1e-5
    assert info["max_input_tokens"] == 128_000
    assert info["max_output_tokens"] == 16_384


@pytest.mark.parametrize(
    ("per_1m", "per_token"),
    [
        (0.4, 4e-07),  # 0.4 / 1e6 is 4.0000000000000003e-07 in floating point
        (0.15, 1.5e-07),
        (0.165, 1.65e-07),
        (3.0, 3e-06),
        (0.0, 0.0),
        (1 / 3, 3.33333333333e-07),  # 12 significant digits, not 16
        (123456.789, 0.123456789),
        (None, None),
    ],
)
def test_per_token_prices_are_rounded_to_12_significant_digits(
    per_1m: float | None, per_token: float | None
) -> None:
    assert build.per_token(per_1m) == per_token
    if per_1m is not None:
        assert build.per_token(per_1m) == pytest.approx(per_1m / 1_000_000, rel=1e-11)


def test_unknown_prices_and_windows_are_left_out_not_zeroed() -> None:
    info = _by_id(build.build_config(fixture_input(), revision=1))["llm-admin-m3"]["model_info"]
    assert "output_cost_per_token" not in info
    assert "max_output_tokens" not in info
    assert info["mode"] == "embedding"


def test_model_info_carries_id_revision_and_provider() -> None:
    info = _by_id(build.build_config(fixture_input(), revision=42))["llm-admin-m6"]["model_info"]
    assert (info["id"], info[build.REVISION_KEY], info[names.PROVIDER_KEY]) == (
        "llm-admin-m6",
        42,
        "Anthropic",
    )


def test_same_alias_on_two_providers_is_one_group_of_two_deployments() -> None:
    config = build.build_config(fixture_input(), revision=1)
    group = [d for d in config["model_list"] if d["model_name"] == "gpt-4o-mini"]
    assert sorted(d["litellm_params"]["model"] for d in group) == [
        "azure/gpt-4o-mini-eu",
        "openai/gpt-4o-mini",
    ]


def test_same_alias_twice_on_one_provider_names_both_rows() -> None:
    rows = _rows(build.ModelRow(1, 1, "gpt-4o", "fast"), build.ModelRow(2, 1, "gpt-4o-mini", "fast"))
    with pytest.raises(build.BuildError) as err:
        build.build_config(rows, revision=1)
    (problem,) = err.value.problems
    assert "OpenAI Prod/gpt-4o-mini" in problem
    assert "OpenAI Prod/gpt-4o" in problem.replace("OpenAI Prod/gpt-4o-mini", "")
    assert "rename one of them" in problem


def test_a_group_mixing_chat_and_embedding_is_an_error() -> None:
    rows = _rows(
        build.ModelRow(1, 1, "gpt-4o", "shared"),
        build.ModelRow(2, 2, "voyage-3", "shared", mode="embedding"),
    )
    with pytest.raises(build.BuildError) as err:
        build.build_config(rows, revision=1)
    assert err.value.problems == [
        "model Anthropic/voyage-3: is an embedding model but group 'shared' serves chat; "
        "give it another alias"
    ]


def test_an_alias_in_the_route_namespace_is_an_error() -> None:
    with pytest.raises(build.BuildError) as err:
        build.build_config(_rows(build.ModelRow(1, 1, "gpt-4o", "agent/gpt-4o")), revision=1)
    assert err.value.problems == [
        "model OpenAI Prod/gpt-4o: alias 'agent/gpt-4o' starts with 'agent/', which names routes; "
        "pick another alias"
    ]


def test_a_build_error_carries_the_config_built_without_the_offending_rows() -> None:
    rows = _rows(
        build.ModelRow(1, 1, "gpt-4o", "agent/a"),
        build.ModelRow(2, 1, "gpt-4o-mini", "mini"),
        build.ModelRow(3, 1, "o3", "mini"),
        build.ModelRow(4, 2, "claude-haiku-4-5", "haiku"),
    )
    with pytest.raises(build.BuildError) as err:
        build.build_config(rows, revision=3)
    assert len(err.value.problems) == 2
    partial = err.value.config
    assert [(d["model_name"], d["litellm_params"]["model"]) for d in partial["model_list"]] == [
        ("haiku", "anthropic/claude-haiku-4-5"),
        ("mini", "openai/gpt-4o-mini"),
    ]
    assert {d["model_info"][build.REVISION_KEY] for d in partial["model_list"]} == {3}
    good = build.build_config(_rows(*(m for m in rows.models if m.id in (2, 4))), revision=3)
    assert partial == good  # every section, not only model_list, as if the bad rows were not there


def test_every_problem_is_reported_at_once() -> None:
    rows = _rows(
        build.ModelRow(1, 1, "gpt-4o", "agent/a"),
        build.ModelRow(2, 1, "gpt-4o-mini", "dup"),
        build.ModelRow(3, 1, "o3", "dup"),
        build.ModelRow(4, 2, "claude", "gpt-4o-mini-group"),
        build.ModelRow(5, 3, "embed", "gpt-4o-mini-group", mode="embedding"),
    )
    with pytest.raises(build.BuildError) as err:
        build.build_config(rows, revision=1)
    assert len(err.value.problems) == 3
    assert [p.split(":")[0] for p in err.value.problems] == [
        "model OpenAI Prod/gpt-4o",
        "model OpenAI Prod/o3",
        "model Azure EU/embed",
    ]
    assert str(err.value) == "; ".join(err.value.problems)


def test_hosted_keys_list_exactly_the_database_stored_secrets() -> None:
    general = build.build_config(fixture_input(), revision=1)["general_settings"]
    assert general["key_management_system"] == "custom"
    assert general["key_management_settings"]["hosted_keys"] == [
        "LLM_ADMIN_P1_API_KEY",
        "LLM_ADMIN_P3_API_KEY",
        "LLM_ADMIN_P4_AWS_ACCESS_KEY_ID",
        "LLM_ADMIN_P4_AWS_SECRET_ACCESS_KEY",
    ]
    assert general["key_management_settings"]["custom_secret_manager"] == (
        "llm_admin_secrets.LlmAdminSecretManager"
    )


def test_managed_configs_load_our_hooks_after_any_saved_callbacks() -> None:
    assert build.build_config(fixture_input(), revision=1)["litellm_settings"] == {
        "drop_params": True,
        "disable_hf_tokenizer_download": True,
        "callbacks": ["llm_admin_hooks.hooks"],
    }
    rows = dataclasses.replace(
        fixture_input(), settings=build.GlobalRow(litellm_settings={"callbacks": ["prometheus", "otel"]})
    )
    config = build.build_config(rows, revision=1)
    assert config["litellm_settings"]["callbacks"] == ["prometheus", "otel", "llm_admin_hooks.hooks"]
    assert rows.settings.litellm_settings["callbacks"] == ["prometheus", "otel"]  # the row is not changed


def test_hooks_already_in_the_saved_callbacks_are_not_listed_twice() -> None:
    saved = ["llm_admin_hooks.hooks", "prometheus"]
    rows = dataclasses.replace(
        fixture_input(), settings=build.GlobalRow(litellm_settings={"callbacks": saved})
    )
    assert build.build_config(rows, revision=1)["litellm_settings"]["callbacks"] == saved


def test_a_stock_proxy_gets_neither_our_hooks_nor_our_secret_manager() -> None:
    rows = dataclasses.replace(
        fixture_input(), settings=build.GlobalRow(litellm_settings={"callbacks": ["prometheus"]})
    )
    config = build.build_config(rows, revision=1, managed=False)
    assert config["litellm_settings"] == {
        "drop_params": True,
        "disable_hf_tokenizer_download": True,
        "callbacks": ["prometheus"],
    }
    assert config["general_settings"] == {
        "master_key": "os.environ/LITELLM_MASTER_KEY",
        "store_model_in_db": False,
    }
    # stored secrets keep their names: the env file from `config export-env` provides them
    deployments = _by_id(config)
    assert deployments["llm-admin-m1"]["litellm_params"]["api_key"] == "os.environ/LLM_ADMIN_P1_API_KEY"
    assert (
        "callbacks" not in build.build_config(fixture_input(), revision=1, managed=False)["litellm_settings"]
    )
    managed = build.build_config(rows, revision=1)
    assert config["model_list"] == managed["model_list"]
    assert config["router_settings"] == managed["router_settings"]


def test_without_stored_secrets_no_secret_manager_is_configured() -> None:
    providers = tuple(p for p in fixture_providers() if p.id in (2, 5))
    config = build.build_config(
        _rows(
            build.ModelRow(1, 2, "claude", "c"), build.ModelRow(2, 5, "llama3.1", "l"), providers=providers
        ),
        revision=1,
    )
    assert config["general_settings"] == {
        "master_key": "os.environ/LITELLM_MASTER_KEY",
        "store_model_in_db": False,
        "custom_auth": "llm_admin_auth.user_api_key_auth",
    }


def test_a_managed_proxy_authenticates_callers_with_our_custom_auth_and_a_stock_one_does_not() -> None:
    rows = _rows(build.ModelRow(1, 2, "claude", "c"))
    assert build.build_config(rows, revision=1)["general_settings"]["custom_auth"] == build.AUTH
    assert "custom_auth" not in build.build_config(rows, revision=1, managed=False)["general_settings"]


def test_master_key_is_a_reference_and_the_db_never_overrides_the_yaml() -> None:
    general = build.build_config(fixture_input(), revision=1)["general_settings"]
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert general["store_model_in_db"] is False


def test_saved_settings_cannot_override_the_master_key_reference() -> None:
    rows = dataclasses.replace(
        fixture_input(),
        settings=build.GlobalRow(general_settings={"master_key": "sk-plain", "alerting": ["slack"]}),
    )
    general = build.build_config(rows, revision=1)["general_settings"]
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert general["alerting"] == ["slack"]


def test_router_defaults_merge_with_saved_fallbacks() -> None:
    router = build.build_config(fixture_input(), revision=1)["router_settings"]
    assert router == {
        "routing_strategy": "simple-shuffle",
        "num_retries": 0,
        "allowed_fails": 0,
        "cooldown_time": 30,
        "timeout": 4,
        # each route step falls back only to the later steps of its route, the last to none
        "fallbacks": [
            {"claude-sonnet": ["bedrock-claude-sonnet"]},
            {"agent/private": []},
            {"agent/summarizer": ["agent/summarizer/fallback-1"]},
            {"agent/summarizer/fallback-1": []},
        ],
        # the next larger window first; the local llama3.1 has no larger local model to go to
        "context_window_fallbacks": [
            {"gpt-4o": ["bedrock-claude-sonnet", "claude-haiku", "claude-sonnet"]},
            {"gpt-4o-mini": ["bedrock-claude-sonnet", "claude-haiku", "claude-sonnet"]},
            {"agent/private": []},
            {"agent/summarizer": ["agent/summarizer/fallback-1"]},
            {"agent/summarizer/fallback-1": []},
        ],
    }


def test_saved_router_settings_override_the_defaults() -> None:
    rows = dataclasses.replace(
        fixture_input(), settings=build.GlobalRow(router_settings={"timeout": 30, "num_retries": 2})
    )
    router = build.build_config(rows, revision=1)["router_settings"]
    assert (router["timeout"], router["num_retries"], router["cooldown_time"]) == (30, 2, 30)


def test_extra_params_and_model_info_survive_and_an_imported_id_is_kept() -> None:
    model = build.ModelRow(
        1,
        1,
        "gpt-4o",
        "g",
        extra_params={"seed": 7},
        extra_model_info={"id": "imported-1", "base_model": "x"},
    )
    (deployment,) = build.build_config(_rows(model), revision=1)["model_list"]
    assert deployment["litellm_params"]["seed"] == 7
    assert deployment["model_info"]["id"] == "imported-1"
    assert deployment["model_info"]["base_model"] == "x"


def test_building_does_not_share_mutable_state_with_the_rows() -> None:
    rows = fixture_input()
    config = build.build_config(rows, revision=1)
    config["router_settings"]["fallbacks"].append({"x": ["y"]})
    assert rows.settings.router_settings["fallbacks"] == [{"claude-sonnet": ["bedrock-claude-sonnet"]}]


def test_a_shared_redis_is_rendered_for_the_router_with_its_password_as_a_reference() -> None:
    rows = dataclasses.replace(fixture_input(), redis=build.RedisRow("redis", 6380, "REDIS_PASSWORD"))
    router = build.build_config(rows, revision=1)["router_settings"]
    assert (router["redis_host"], router["redis_port"], router["redis_password"]) == (
        "redis",
        6380,
        "os.environ/REDIS_PASSWORD",
    )
    assert "redis_host" not in build.build_config(fixture_input(), revision=1)["router_settings"]


def test_a_model_is_sent_where_its_mode_is_served() -> None:
    cohere = build.ProviderRow(
        id=9,
        name="co",
        type="cohere",
        litellm_provider="cohere",
        base_url="https://api.cohere.ai/v2/chat",
        endpoints={"embedding": build.Endpoint("cohere", "https://api.cohere.ai/v2/embed")},
    )
    chat = build.ModelRow(id=91, provider_id=9, identifier="command-r", alias="command-r")
    embed = build.ModelRow(id=92, provider_id=9, identifier="embed-v3", alias="embed-v3", mode="embedding")
    rows = build.ConfigInput(providers=(cohere,), models=(chat, embed))
    params = {
        d["model_name"]: d["litellm_params"] for d in build.build_config(rows, revision=1)["model_list"]
    }
    assert params["command-r"]["api_base"] == "https://api.cohere.ai/v2/chat"
    assert (params["embed-v3"]["model"], params["embed-v3"]["api_base"]) == (
        "cohere/embed-v3",
        "https://api.cohere.ai/v2/embed",
    )
