"""First-run detection: provider keys in a given environment, local servers on given ports, one-click add."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app import db
from app.crypto import KeyRing
from app.models import Provider, ProviderCredential
from app.services import onboarding, providers
from app.services.access import Actor
from app.services.onboarding import Candidate
from tests.fake_ollama import FakeOllama
from tests.upstream import FakeUpstream


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    server = FakeOllama(models=("llama3.1:latest", "mistral:7b")).start()
    yield server
    server.stop()


@pytest.fixture
def localai() -> Iterator[FakeUpstream]:
    server = FakeUpstream(models=("phi-2", "whisper-1")).start()
    yield server
    server.stop()


def test_keys_litellm_reads_are_found_by_name_only() -> None:
    environ = {
        "OPENAI_API_KEY": "sk-secret-value",
        "CO_API_KEY": "co-secret",  # Cohere's other name
        "GROQ_API_KEY": "  ",  # blank: not a key
        "PATH": "/usr/bin",
    }
    found = onboarding.detect_env_keys(environ)
    assert [(c.key, c.name, c.secret_envs, c.found, c.missing) for c in found] == [
        ("env:openai", "OpenAI", {"api_key": "OPENAI_API_KEY"}, "OPENAI_API_KEY is set", None),
        ("env:cohere", "Cohere", {"api_key": "CO_API_KEY"}, "CO_API_KEY is set", None),
    ]
    assert "sk-secret-value" not in repr(found) and "co-secret" not in repr(found)


def test_endpoint_and_parameters_come_from_their_variables() -> None:
    environ = {
        "AZURE_API_KEY": "k",
        "AZURE_API_BASE": "https://team.openai.azure.com/",
        "AZURE_API_VERSION": "2025-01-01",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "eu-west-1",
    }
    azure, bedrock = onboarding.detect_env_keys(environ)
    assert (azure.base_url, azure.params, azure.missing) == (
        "https://team.openai.azure.com/",
        {"api_version": "2025-01-01"},
        None,
    )
    assert bedrock.secret_envs == {
        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
        "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    }
    assert bedrock.params == {"aws_region_name": "eu-west-1"}


def test_what_is_missing_is_said() -> None:
    azure, bedrock = onboarding.detect_env_keys({"AZURE_OPENAI_API_KEY": "k", "AWS_ACCESS_KEY_ID": "AKIA"})
    assert azure.missing == "set AZURE_API_BASE to the endpoint URL as well"
    assert bedrock.missing == "set AWS_SECRET_ACCESS_KEY as well"


def test_local_servers_answering_with_their_model_lists_are_found(
    ollama: FakeOllama, localai: FakeUpstream
) -> None:
    found = onboarding.detect_local_servers(
        {}, ports={"ollama": _port(ollama.base_url), "localai": localai.port}
    )
    assert [(c.key, c.type, c.base_url, c.models, c.found) for c in found] == [
        (
            "local:ollama",
            "ollama",
            ollama.base_url,
            ["llama3.1:latest", "mistral:7b"],
            f"a server answers at {ollama.base_url} with 2 models",
        ),
        (
            "local:localai",
            "localai",
            f"{localai.base_url}/v1",
            ["phi-2", "whisper-1"],
            f"a server answers at {localai.base_url}/v1 with 2 models",
        ),
    ]


def test_nothing_listening_or_something_else_answering_is_not_a_server(
    closed_port: int, localai: FakeUpstream
) -> None:
    # the fake OpenAI server answers /api/tags too, but not with Ollama's model list
    ports = {"ollama": localai.port, "localai": closed_port}
    assert onboarding.detect_local_servers({}, ports=ports) == []


def test_ollama_api_base_moves_the_ollama_probe(ollama: FakeOllama, closed_port: int) -> None:
    found = onboarding.detect_local_servers(
        {"OLLAMA_API_BASE": ollama.base_url + "/"}, ports={"ollama": closed_port}
    )
    assert [c.base_url for c in found] == [ollama.base_url]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_detect_leaves_out_what_is_already_configured(
    db_url: str, ring: KeyRing, admin: Actor, ollama: FakeOllama, closed_port: int
) -> None:
    environ = {"OPENAI_API_KEY": "sk-x", "GROQ_API_KEY": "gsk_x", "OLLAMA_API_BASE": ollama.base_url}
    ports = {"ollama": 1, "localai": closed_port}
    with db.Session.begin() as session:
        providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="Mine",
            type="openai",
            secret_envs={"api_key": "OPENAI_API_KEY"},
        )
        providers.create_provider(
            session, actor=admin, ring=ring, name="Groq", type="openai", secrets={"api_key": "k"}
        )
        providers.create_provider(
            session, actor=admin, ring=ring, name="Llama", type="ollama", base_url=ollama.base_url
        )
    with db.Session.begin() as session:
        found = onboarding.detect(session, environ=environ, ports=ports)
    # OpenAI's variable is in use; Ollama's URL is in use; the name Groq is taken, so it gets a number
    assert [(c.key, c.name) for c in found] == [("env:groq", "Groq 2")]


def test_add_candidate_keeps_a_reference_to_the_variable_not_the_key(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    (candidate,) = onboarding.detect_env_keys({"ANTHROPIC_API_KEY": "sk-ant-secret-0123456789"})
    with db.Session.begin() as session:
        pid = onboarding.add_candidate(session, actor=admin, ring=ring, candidate=candidate).id
    with db.Session.begin() as session:
        provider = session.get(Provider, pid)
        assert provider is not None
        assert (provider.name, provider.type, provider.base_url) == (
            "Anthropic",
            "anthropic",
            "https://api.anthropic.com",
        )
        cred = session.scalars(select(ProviderCredential)).one()
        assert (cred.field, cred.env_var, cred.ciphertext) == ("api_key", "ANTHROPIC_API_KEY", None)


def test_add_candidate_of_a_local_server(db_url: str, ring: KeyRing, admin: Actor) -> None:
    candidate = Candidate(
        key="local:localai", type="localai", name="LocalAI", found="", base_url="http://h:8080/v1"
    )
    with db.Session.begin() as session:
        provider = onboarding.add_candidate(session, actor=admin, ring=ring, candidate=candidate)
        assert (provider.type, provider.base_url, provider.is_local, provider.credentials) == (
            "localai",
            "http://h:8080/v1",
            True,
            [],
        )
