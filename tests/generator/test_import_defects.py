"""Import defects found on real configs, one behaviour each: what is kept, changed (and said), or refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app import db
from app.cli import main
from app.crypto import KeyRing, generate_key
from app.models import Model, Provider, ProviderCredential
from app.services import config
from app.services.access import Actor
from app.services.config_import import ImportReport, import_config
from app.settings import Settings, load_settings

KEY = generate_key()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.from_strings([KEY])


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        {
            "LLM_ADMIN_DATA_DIR": str(tmp_path / "data"),
            "LLM_ADMIN_DATABASE_URL": db_url,
            "LLM_ADMIN_SECRET_KEYS": KEY,
            "LITELLM_MASTER_KEY": "sk-import-defects-master-0000000000",
        }
    )


def _one(alias: str, params: str) -> str:
    """A config of one deployment, its litellm_params written as a YAML flow mapping."""
    return f"model_list:\n  - model_name: {alias}\n    litellm_params: {params}\n"


def _import(text: str, ring: KeyRing, admin: Actor, **options: bool) -> ImportReport:
    with db.Session.begin() as session:
        return import_config(session, actor=admin, ring=ring, text=text, **options)


def _rendered(settings: Settings, ring: KeyRing) -> dict:
    with db.Session.begin() as session:
        plan = config.plan(session, settings=settings, ring=ring, environ={"X": "1"}, author="t", deep=True)
    assert plan.problems == []
    return yaml.safe_load(plan.text)


def test_a_single_callback_name_renders_as_a_list_of_one_and_is_reported(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    text = (
        "model_list:\n  - model_name: m\n    litellm_params: {model: ollama/llama3}\n"
        "litellm_settings:\n  callbacks: custom_callbacks.proxy_handler_instance\n"
    )
    report = _import(text, ring, admin)
    assert _rendered(settings, ring)["litellm_settings"]["callbacks"] == [
        "custom_callbacks.proxy_handler_instance",
        "llm_admin_hooks.hooks",
    ]
    assert any(w.startswith("litellm_settings.callbacks was one name") for w in report.warnings)


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("cohere/rerank-english-v3.0", "rerank"),
        ("openai/text-embedding-3-small", "embedding"),
        ("ollama/some-local-model-nobody-priced", None),
        ("openai/gpt-4o-mini", "chat"),
    ],
)
def test_a_deployment_without_a_mode_gets_the_cost_map_s_or_none(
    settings: Settings, ring: KeyRing, admin: Actor, model: str, mode: str | None
) -> None:
    _import(
        f"model_list:\n  - model_name: m\n    litellm_params: {{model: {model}, api_key: os.environ/X}}\n",
        ring,
        admin,
    )
    [deployment] = _rendered(settings, ring)["model_list"]
    assert deployment["model_info"].get("mode") == mode


def test_an_empty_api_key_is_kept_empty_not_stored_as_none(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    _import(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: gpt-4o-mini\n      api_key:\n",
        ring,
        admin,
    )
    with db.Session.begin() as session:
        assert list(session.scalars(select(ProviderCredential))) == []
    [deployment] = _rendered(settings, ring)["model_list"]
    assert deployment["litellm_params"]["api_key"] is None


def test_a_foreign_secret_manager_is_kept_and_reported(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    text = (
        "model_list:\n  - model_name: m\n    litellm_params: {model: gpt-4o-mini, api_key: os.environ/X}\n"
        "general_settings:\n  key_management_system: azure_key_vault\n"
    )
    report = _import(text, ring, admin)
    assert _rendered(settings, ring)["general_settings"]["key_management_system"] == "azure_key_vault"
    assert any("key_management_system 'azure_key_vault' is kept" in w for w in report.warnings)


def test_an_empty_model_list_is_accepted(ring: KeyRing, admin: Actor, db_url: str) -> None:
    report = _import("model_list: []\nlitellm_settings: {drop_params: true}\n", ring, admin)
    assert (report.providers, report.models) == (0, 0)


def test_a_bare_bedrock_id_is_resolved_as_litellm_resolves_it(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    text = (
        "model_list:\n  - model_name: sonnet\n    litellm_params:\n"
        "      model: anthropic.claude-3-sonnet-20240229-v1:0\n      aws_region_name: us-east-1\n"
    )
    _import(text, ring, admin)
    with db.Session.begin() as session:
        assert [p.type for p in session.scalars(select(Provider))] == ["bedrock"]
        assert [m.identifier for m in session.scalars(select(Model))] == [
            "anthropic.claude-3-sonnet-20240229-v1:0"
        ]
    [deployment] = _rendered(settings, ring)["model_list"]
    assert deployment["litellm_params"]["model"] == "bedrock/anthropic.claude-3-sonnet-20240229-v1:0"


def test_a_plain_key_on_ollama_chat_is_refused_naming_the_deployment_and_the_fix(
    ring: KeyRing, admin: Actor, db_url: str
) -> None:
    text = _one("cloud", "{model: ollama_chat/glm-5, api_key: abc123}")
    with pytest.raises(config.ConfigInvalid) as refused:
        _import(text, ring, admin)
    assert refused.value.problems == [
        "model_list[0] (cloud): api_key on a ollama_chat/ deployment: llm-admin's ollama type stores no "
        "api_key; make it api_key: os.environ/NAME (kept as written) and import again"
    ]


def test_a_key_reference_on_ollama_chat_is_kept_as_written(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    _import(
        _one("cloud", "{model: ollama_chat/glm-5, api_key: os.environ/X}"),
        ring,
        admin,
    )
    [deployment] = _rendered(settings, ring)["model_list"]
    assert deployment["litellm_params"]["api_key"] == "os.environ/X"


SIMPLE = _one("m", "{model: ollama/llama3}") + "router_settings: {num_retries: 1}\n"


def test_the_render_defaults_added_are_listed(settings: Settings, ring: KeyRing, admin: Actor) -> None:
    report = _import(SIMPLE, ring, admin)
    assert [line.split(":")[0] for line in report.defaults] == [
        "router_settings.allowed_fails",
        "router_settings.cooldown_time",
        "router_settings.timeout",
        "litellm_settings.drop_params",
    ]
    assert report.defaults[0] == (
        "router_settings.allowed_fails: llm-admin renders 0 where the file had none (LiteLLM's default: 3); "
        "import with --keep-behaviour to keep 3"
    )
    router = _rendered(settings, ring)["router_settings"]
    assert (router["num_retries"], router["allowed_fails"], router["timeout"]) == (1, 0, 4)


def test_keep_behaviour_keeps_litellm_s_defaults(settings: Settings, ring: KeyRing, admin: Actor) -> None:
    report = _import(SIMPLE, ring, admin, keep_behaviour=True)
    assert report.defaults[0] == "router_settings.allowed_fails: kept LiteLLM's default 3 (llm-admin's is 0)"
    rendered = _rendered(settings, ring)
    router = rendered["router_settings"]
    assert (router["num_retries"], router["allowed_fails"], router["cooldown_time"], router["timeout"]) == (
        1,
        3,
        5,
        None,
    )
    assert rendered["litellm_settings"]["drop_params"] is False


def test_the_litellm_defaults_we_state_are_litellm_s_own() -> None:
    import litellm
    from litellm import constants

    from generator.adopt import LITELLM_ROUTER_DEFAULTS, LITELLM_SETTINGS_DEFAULTS

    assert LITELLM_ROUTER_DEFAULTS["allowed_fails"] == constants.DEFAULT_ALLOWED_FAILS
    assert LITELLM_ROUTER_DEFAULTS["cooldown_time"] == constants.DEFAULT_COOLDOWN_TIME_SECONDS
    assert LITELLM_ROUTER_DEFAULTS["num_retries"] == constants.DEFAULT_MAX_RETRIES
    assert LITELLM_SETTINGS_DEFAULTS["drop_params"] == litellm.drop_params


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_cli_lists_the_defaults_and_takes_keep_behaviour(
    cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hand.yaml"
    path.write_text(SIMPLE)
    assert main(["config", "import", str(path), "--keep-behaviour"]) == 0
    out = capsys.readouterr().out
    assert "default: router_settings.timeout: kept LiteLLM's default None (llm-admin's is 4)" in out
