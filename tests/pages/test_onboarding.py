"""First run on the Providers page: keys in the environment and local servers, each added in one click."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app import db
from app.models import Model, Provider
from app.services import onboarding
from tests.fake_ollama import FakeOllama
from tests.pages.helpers import plain
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

KEY = "sk-env-0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets is found (the machine's own keys would otherwise show up)."""
    for source in onboarding.ENV_SOURCES:
        names = [*source.keys, *source.base_urls]
        names += [n for group in source.extra_secrets.values() for n in group]
        names += [n for group in source.params.values() for n in group]
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OLLAMA_API_BASE", raising=False)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(models=("gpt-4o", "gpt-4o-mini"), api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    server = FakeOllama(models=("llama3.1:latest", "qwen2.5:7b")).start()
    yield server
    server.stop()


def open_page(signed_in: Callable[[str], AppTest], role: str) -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/providers.py").run()
    assert not at.exception
    return at


def found(at: AppTest) -> list[str]:
    """The findings offered, e.g. '**OpenAI** (openai): OPENAI_API_KEY is set'."""
    return [v for v in (plain(m.value) for m in at.markdown) if re.match(r"\*\*[^*]+\*\* \(\w+\): ", v)]


def only_provider() -> Provider:
    with db.Session.begin() as session:
        provider = session.scalars(select(Provider)).one()
        _ = provider.credentials, provider.models
        session.expunge_all()
        return provider


def test_an_environment_key_is_added_tested_and_synced_in_one_click(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{upstream.base_url}/v1")
    at = open_page(signed_in, "admin")
    assert [s.value for s in at.subheader] == ["Get started"]
    assert found(at) == ["**OpenAI** (openai): OPENAI_API_KEY is set, endpoint from OPENAI_BASE_URL"]
    assert "api_key from $OPENAI_API_KEY" in " ".join(plain(c.value) for c in at.caption)
    at.button(key="onboard_env:openai").click().run()
    assert not at.exception
    provider = only_provider()
    assert provider.base_url == f"{upstream.base_url}/v1"
    assert [(c.field, c.env_var, c.ciphertext) for c in provider.credentials] == [
        ("api_key", "OPENAI_API_KEY", None)
    ]
    assert provider.last_test_ok is True
    assert sorted((m.identifier, m.enabled) for m in provider.models) == [
        ("gpt-4o", False),
        ("gpt-4o-mini", True),
    ]
    assert provider.default_model == "gpt-4o-mini"
    assert "connected; 2 models listed" in [s.value for s in at.success]
    assert "Enabled gpt-4o-mini as the default model." in [plain(i.value) for i in at.info]
    assert at.dataframe[0].value.to_dict("records")[0]["Status"] == "🟢 connected"
    assert not at.subheader  # nothing else was found: the first-run section is done


def test_a_local_ollama_is_found_and_added(
    signed_in: Callable[[str], AppTest], ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_API_BASE", ollama.base_url)
    at = open_page(signed_in, "admin")
    assert found(at) == [f"**Ollama** (ollama): a server answers at {ollama.base_url} with 2 models"]
    at.button(key="onboard_local:ollama").click().run()
    assert not at.exception
    provider = only_provider()
    assert (provider.type, provider.base_url, provider.is_local) == ("ollama", ollama.base_url, True)
    assert provider.credentials == []
    assert sorted((m.identifier, m.enabled) for m in provider.models) == [
        ("llama3.1:latest", True),
        ("qwen2.5:7b", False),
    ]


def test_each_finding_stays_offered_until_added(
    signed_in: Callable[[str], AppTest],
    upstream: FakeUpstream,
    ollama: FakeOllama,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_BASE", f"{upstream.base_url}/v1")
    monkeypatch.setenv("OLLAMA_API_BASE", ollama.base_url)
    at = open_page(signed_in, "admin")
    assert len(found(at)) == 2
    at.button(key="onboard_local:ollama").click().run()
    assert found(at) == ["**OpenAI** (openai): OPENAI_API_KEY is set, endpoint from OPENAI_API_BASE"]
    at.button(key="onboard_done").click().run()
    assert not found(at)
    with db.Session.begin() as session:
        assert session.scalars(select(Provider.name)).all() == ["Ollama"]


def test_a_key_the_provider_refuses_is_added_with_the_error_and_no_models(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-revoked-000000000000000")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{upstream.base_url}/v1")
    at = open_page(signed_in, "admin")
    at.button(key="onboard_env:openai").click().run()
    assert not at.exception
    assert plain(at.error[0].value).startswith("HTTP 401: the key was refused; check the API key")
    provider = only_provider()
    assert (provider.last_test_ok, provider.models) == (False, [])


def test_an_incomplete_set_of_variables_says_what_is_missing(
    signed_in: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE0000000")
    at = open_page(signed_in, "admin")
    warnings = [plain(w.value) for w in at.warning]
    assert warnings == [
        "Cannot add it yet: set AZURE_API_BASE to the endpoint URL as well.",
        "Cannot add it yet: set AWS_SECRET_ACCESS_KEY as well.",
    ]
    assert not [b for b in at.button if str(b.key).startswith("onboard_")]
    with db.Session.begin() as session:
        assert session.scalars(select(Provider)).all() == []


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_can_add_what_was_found(
    signed_in: Callable[[str], AppTest], role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_0123456789abcdef0123")
    at = open_page(signed_in, role)
    assert found(at) == ["**Groq** (groq): GROQ_API_KEY is set"]
    assert {str(b.key) for b in at.button} == {"logout"}
    assert "Ask an admin to add them." in [i.value for i in at.info]


def test_nothing_found_points_to_the_add_form(signed_in: Callable[[str], AppTest]) -> None:
    at = open_page(signed_in, "admin")
    assert at.info[0].value.startswith("No providers yet, no provider keys in the environment")
    assert "Add a provider" in [e.label for e in at.expander]


def test_onboarding_is_not_shown_once_providers_exist(
    signed_in: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import ui
    from app.services import providers
    from app.services.access import Actor

    with db.Session.begin() as session:
        providers.create_provider(
            session,
            actor=Actor("bob", "admin"),
            ring=ui.key_ring(),
            name="Groq",
            type="groq",
            secrets={"api_key": "k"},
        )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    at = open_page(signed_in, "admin")
    assert not at.subheader
    assert not found(at)


def test_models_of_a_stored_env_provider_come_from_litellms_cost_map(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{upstream.base_url}/v1")
    at = open_page(signed_in, "admin")
    at.button(key="onboard_env:openai").click().run()
    with db.Session.begin() as session:
        model = session.scalars(select(Model).where(Model.identifier == "gpt-4o")).one()
        assert model.input_cost_per_1m is not None and model.input_cost_per_1m > 0
        assert model.context_window is not None and model.context_window >= 128_000
