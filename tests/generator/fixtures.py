"""The tests' fixture rows.

`python -m tests.generator.fixtures > litellm-config.yaml.example` writes the example file from them.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from generator import build, render
from generator.routes import RouteRow

FIXTURE_AT = datetime(2025, 1, 15, 9, 30, 0, tzinfo=UTC)
FIXTURE_AUTHOR = "alice"
FIXTURE_REVISION = 1

# What the proxy would resolve at run time; never part of the rows, so never part of the YAML.
FIXTURE_SECRETS: dict[str, str] = {
    "LLM_ADMIN_P1_API_KEY": "sk-fixture-openai-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-fixture-0123456789abcdef",
    "LLM_ADMIN_P3_API_KEY": "azfixture0123456789abcdef0123456789",
    "LLM_ADMIN_P4_AWS_ACCESS_KEY_ID": "AKIAFIXTURE012345678",
    "LLM_ADMIN_P4_AWS_SECRET_ACCESS_KEY": "fixture/secret+access/key0123456789abcdef",
}

STORED = None  # SecretRow.env_var for a secret kept encrypted in our database


def fixture_providers() -> tuple[build.ProviderRow, ...]:
    return (
        build.ProviderRow(
            id=1,
            name="OpenAI Prod",
            type="openai",
            litellm_provider="openai",
            base_url="https://api.openai.com/v1",
            params={"organization": "org-llmadmin"},
            secrets=(build.SecretRow("api_key", STORED),),
            rpm=500,
            tpm=200_000,
            timeout_seconds=60.0,
        ),
        build.ProviderRow(
            id=2,
            name="Anthropic",
            type="anthropic",
            litellm_provider="anthropic",
            base_url="https://api.anthropic.com",
            secrets=(build.SecretRow("api_key", "ANTHROPIC_API_KEY"),),
            timeout_seconds=120.0,
        ),
        build.ProviderRow(
            id=3,
            name="Azure EU",
            type="azure_openai",
            litellm_provider="azure",
            base_url="https://llm-admin-eu.openai.azure.com",
            params={"api_version": "2024-10-21"},
            secrets=(build.SecretRow("api_key", STORED),),
            rpm=300,
        ),
        build.ProviderRow(
            id=4,
            name="Bedrock US",
            type="bedrock",
            litellm_provider="bedrock",
            base_url=None,
            params={"aws_region_name": "us-east-1"},
            secrets=(
                build.SecretRow("aws_access_key_id", STORED),
                build.SecretRow("aws_secret_access_key", STORED),
            ),
        ),
        build.ProviderRow(
            id=5,
            name="Ollama Local",
            type="ollama",
            litellm_provider="ollama_chat",
            base_url="http://localhost:11434",
            is_local=True,
        ),
    )


def fixture_models() -> tuple[build.ModelRow, ...]:
    return (
        build.ModelRow(1, 1, "gpt-4o-mini", "gpt-4o-mini", 0.15, 0.6, 128_000, 16_384),
        build.ModelRow(2, 1, "gpt-4o", "gpt-4o", 2.5, 10.0, 128_000, 16_384),
        build.ModelRow(
            3,
            1,
            "text-embedding-3-small",
            "text-embedding-3-small",
            0.02,
            None,
            8_191,
            None,
            mode="embedding",
        ),
        # The Azure deployment serves the same alias: one load-balanced group with OpenAI's gpt-4o-mini.
        build.ModelRow(4, 3, "gpt-4o-mini-eu", "gpt-4o-mini", 0.165, 0.66, 128_000, 16_384),
        build.ModelRow(5, 2, "claude-haiku-4-5", "claude-haiku", 1.0, 5.0, 200_000, 64_000),
        build.ModelRow(6, 2, "claude-sonnet-4-5", "claude-sonnet", 3.0, 15.0, 200_000, 64_000),
        build.ModelRow(
            7,
            4,
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "bedrock-claude-sonnet",
            3.0,
            15.0,
            200_000,
            8_192,
        ),
        build.ModelRow(8, 5, "llama3.1", "llama3.1", 0.0, 0.0, 128_000, 4_096),
    )


def fixture_settings() -> build.GlobalRow:
    return build.GlobalRow(router_settings={"fallbacks": [{"claude-sonnet": ["bedrock-claude-sonnet"]}]})


def fixture_routes() -> tuple[RouteRow, ...]:
    return (
        RouteRow("summarizer", "gpt-4o-mini", ("claude-haiku",), max_cost_usd=0.05),
        RouteRow("private", "llama3.1", local_only=True),
    )


def fixture_input() -> build.ConfigInput:
    """Five providers of different types, eight models, one alias served by two providers, two routes."""
    return build.ConfigInput(
        providers=fixture_providers(),
        models=fixture_models(),
        settings=fixture_settings(),
        routes=fixture_routes(),
    )


def render_fixture() -> str:
    """The fixture rows rendered as revision 1: the text of litellm-config.yaml.example."""
    config = build.build_config(fixture_input(), revision=FIXTURE_REVISION)
    return render.render_config(config, revision=FIXTURE_REVISION, author=FIXTURE_AUTHOR, at=FIXTURE_AT)


if __name__ == "__main__":
    sys.stdout.write(render_fixture())
