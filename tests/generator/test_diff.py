"""diff_texts: a semantic summary and a unified diff that never shows a secret."""

from __future__ import annotations

import dataclasses

from generator import build, diff, render
from tests.generator.fixtures import FIXTURE_AT, fixture_input, render_fixture


def _render(rows: build.ConfigInput, revision: int = 2) -> str:
    config = build.build_config(rows, revision=revision)
    return render.render_config(config, revision=revision, author="bob", at=FIXTURE_AT)


def _with(**changes: object) -> build.ConfigInput:
    return dataclasses.replace(fixture_input(), **changes)


def test_the_same_rows_at_a_new_revision_are_no_changes_and_an_empty_diff() -> None:
    assert diff.diff_texts(render_fixture(), _render(fixture_input(), revision=9)) == ("no changes", "")


def test_first_file_counts_what_it_adds() -> None:
    summary, unified = diff.diff_texts(None, render_fixture())
    assert summary == "new file: +8 models, +5 providers, +2 routes"
    assert unified.splitlines()[:2] == ["--- current", "+++ new"]


def test_two_added_models_are_plus_2_models() -> None:
    models = (
        *fixture_input().models,
        build.ModelRow(20, 1, "o3", "o3"),
        build.ModelRow(21, 2, "claude-opus-4-1", "claude-opus"),
    )
    summary, unified = diff.diff_texts(render_fixture(), _render(_with(models=models)))
    assert summary == "+2 models"
    assert "+- model_name: o3" in unified.splitlines()


def test_removing_a_provider_is_minus_its_models_and_minus_1_provider() -> None:
    rows = fixture_input()
    rows = _with(
        providers=tuple(p for p in rows.providers if p.name != "Ollama Local"),
        models=tuple(m for m in rows.models if m.provider_id != 5),
        routes=tuple(r for r in rows.routes if r.model != "llama3.1"),
    )
    assert diff.diff_texts(render_fixture(), _render(rows))[0] == "−1 model, −1 route, −1 provider"


def test_a_changed_price_is_a_changed_model() -> None:
    models = tuple(
        dataclasses.replace(m, input_cost_per_1m=3.0) if m.id == 2 else m for m in fixture_input().models
    )
    summary, unified = diff.diff_texts(render_fixture(), _render(_with(models=models)))
    assert summary == "~1 model"
    assert "-    input_cost_per_token: 2.5e-06" in unified.splitlines()
    assert "+    input_cost_per_token: 3.0e-06" in unified.splitlines()


def test_changed_fallbacks_are_named_by_group() -> None:
    settings = build.GlobalRow(
        router_settings={"fallbacks": [{"claude-sonnet": ["gpt-4o"]}, {"gpt-4o": ["x"]}]}
    )
    summary, _ = diff.diff_texts(render_fixture(), _render(_with(settings=settings)))
    assert summary == "fallbacks of claude-sonnet changed, fallbacks of gpt-4o changed"


def test_other_setting_changes_name_the_section_and_keys() -> None:
    settings = build.GlobalRow(
        router_settings={"fallbacks": [{"claude-sonnet": ["bedrock-claude-sonnet"]}], "num_retries": 2},
        litellm_settings={"request_timeout": 30},
    )
    summary, _ = diff.diff_texts(render_fixture(), _render(_with(settings=settings)))
    assert summary == "router_settings: num_retries changed, litellm_settings: request_timeout changed"


HAND_WRITTEN = """\
# my old config
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-handwritten-0123456789
  - model_name: flow
    litellm_params: {model: openai/gpt-4o-mini, api_key: "sk-flowstyle-abcdef"}
  - model_name: env
    litellm_params:
      model: anthropic/claude
      api_key: os.environ/ANTHROPIC_API_KEY
general_settings:
  master_key: sk-master-plain-987
"""


def test_plain_text_keys_of_a_hand_written_file_are_masked_in_the_diff() -> None:
    summary, unified = diff.diff_texts(HAND_WRITTEN, render_fixture())
    for secret in ("sk-handwritten-0123456789", "sk-flowstyle-abcdef", "sk-master-plain-987"):
        assert secret not in unified and secret not in summary
    lines = unified.splitlines()
    assert "-      api_key: '***'" in lines
    assert '-    litellm_params: {model: openai/gpt-4o-mini, api_key: "***"}' in lines
    assert "-  master_key: '***'" in lines
    assert "-      api_key: os.environ/ANTHROPIC_API_KEY" in lines


def test_a_secret_on_the_next_line_or_in_a_block_scalar_is_masked() -> None:
    old = (
        "model_list:\n"
        "  - model_name: v\n"
        "    litellm_params:\n"
        "      model: vertex_ai/gemini\n"
        "      api_key:\n"
        "        sk-next-line-secret\n"
        "      vertex_credentials: |\n"
        '        {"private_key": "-----BEGIN PRIVATE KEY-----abc",\n'
        '         "client_email": "svc@proj.iam.gserviceaccount.com"}\n'
    )
    _, unified = diff.diff_texts(old, render_fixture())
    assert "sk-next-line-secret" not in unified
    assert "BEGIN PRIVATE KEY" not in unified
    assert "svc@proj" not in unified


def test_revision_stamps_and_header_are_not_differences() -> None:
    old = render_fixture()
    new = _render(fixture_input(), revision=5)
    assert old != new
    assert diff.unified_diff(old, new) == ""


def test_counts_prices_and_the_secret_manager_name_are_not_mistaken_for_secrets() -> None:
    text = "a:\n  max_tokens: 100\n  input_cost_per_token: 1.0e-06\n  custom_secret_manager: mod.Cls\n"
    assert diff.mask_secrets(text) == text.rstrip("\n")
    assert diff.mask_secrets("aws_session_token: FQoGZXIvYXdzEJr") == "aws_session_token: '***'"
