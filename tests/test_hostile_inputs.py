"""Hostile inputs: each is refused with a field-named, fixable error and leaves the database unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from app import db
from app.crypto import KeyRing
from app.errors import ValidationError
from app.models import Base
from app.services import models, providers, users
from app.services.access import Actor

KEY = "sk-test-0123456789abcdefXYZ"
TABLES = ("providers", "provider_credentials", "models", "users", "audit_entries", "provider_templates")


@dataclass
class Seed:
    """The rows every case starts from: two providers, a model on the first, one user."""

    provider_id: int
    provider_version: int
    model_id: int
    model_version: int
    ring: KeyRing
    actor: Actor = field(default_factory=lambda: Actor("alice", "admin"))


@pytest.fixture
def seed(db_url: str, ring: KeyRing, admin: Actor) -> Seed:
    with db.Session.begin() as session:
        provider = providers.create_provider(
            session, actor=admin, ring=ring, name="OpenAI Prod", type="openai", secrets={"api_key": KEY}
        )
        providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="Anthropic Main",
            type="anthropic",
            secrets={"api_key": "sk-ant-0123456789abcdef"},
        )
        model = models.create_model(session, actor=admin, provider_id=provider.id, identifier="gpt-4o-mini")
        users.create_user(
            session, actor=admin, username="alice", password="correct horse battery", role="admin"
        )
        session.flush()
        return Seed(provider.id, provider.version, model.id, model.version, ring, admin)


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as sorted tuples (JSON columns as canonical text)."""

    def plain(value: Any) -> Any:
        return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value

    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.Session() as session:
        for table in Base.metadata.sorted_tables:
            rows = [tuple(plain(v) for v in row) for row in session.execute(select(table))]
            out[table.name] = sorted(rows, key=repr)
    return out


# ---- the operations under attack; each takes the hostile keyword arguments -----------------------


def create_provider(session: Session, seed: Seed, **kw: Any) -> object:
    args: dict[str, Any] = {"name": "New Provider", "type": "openai", "secrets": {"api_key": KEY}, **kw}
    return providers.create_provider(session, actor=seed.actor, ring=seed.ring, **args)


def update_provider(session: Session, seed: Seed, **kw: Any) -> object:
    return providers.update_provider(
        session,
        actor=seed.actor,
        ring=seed.ring,
        provider_id=seed.provider_id,
        expected_version=seed.provider_version,
        **kw,
    )


def create_model(session: Session, seed: Seed, **kw: Any) -> object:
    args: dict[str, Any] = {"identifier": "gpt-4o", **kw}
    return models.create_model(session, actor=seed.actor, provider_id=seed.provider_id, **args)


def update_model(session: Session, seed: Seed, **kw: Any) -> object:
    return models.update_model(
        session, actor=seed.actor, model_id=seed.model_id, expected_version=seed.model_version, **kw
    )


def create_user(session: Session, seed: Seed, **kw: Any) -> object:
    args: dict[str, Any] = {"username": "bob", "password": "a long enough password", "role": "viewer", **kw}
    return users.create_user(session, actor=seed.actor, **args)


Operation = Callable[..., object]
NAN, INF = float("nan"), float("inf")
LONG = "x" * 10_000

# (id, operation, hostile keyword arguments, the field named, a fragment of the fix in the message)
CASES: list[tuple[str, Operation, dict[str, Any], str, str]] = [
    # provider names
    ("name-empty", create_provider, {"name": ""}, "name", "enter a name"),
    ("name-whitespace-only", create_provider, {"name": " \t\u3000 "}, "name", "enter a name"),
    ("name-none", create_provider, {"name": None}, "name", "enter a name"),
    ("name-10k-chars", create_provider, {"name": LONG}, "name", "use at most 100"),
    ("name-101-chars", create_provider, {"name": "n" * 101}, "name", "use at most 100"),
    ("name-nul", create_provider, {"name": "open\x00ai"}, "name", "type it plainly"),
    ("name-escape", create_provider, {"name": "\x1b[31mred"}, "name", "type it plainly"),
    ("name-newline", create_provider, {"name": "line one\nline two"}, "name", "type it plainly"),
    ("name-rtl-override", create_provider, {"name": "invoice\u202egpj.exe"}, "name", "type it plainly"),
    ("name-zero-width-space", create_provider, {"name": "Open\u200bAI"}, "name", "type it plainly"),
    ("name-same-but-case", create_provider, {"name": "openai PROD"}, "name", "pick another name"),
    ("name-same-but-spacing", create_provider, {"name": "  OpenAI    Prod "}, "name", "pick another name"),
    (
        "name-same-but-fullwidth",
        create_provider,
        {"name": "ＯｐｅｎＡＩ Ｐｒｏｄ"},
        "name",
        "pick another name",
    ),
    # provider type
    ("type-unknown", create_provider, {"type": "skynet"}, "type", "must be one of"),
    ("type-none", create_provider, {"type": None}, "type", "must be one of"),
    # base URLs
    ("url-javascript", create_provider, {"base_url": "javascript:alert(1)"}, "base_url", "https://"),
    ("url-file", create_provider, {"base_url": "file:///etc/passwd"}, "base_url", "https://"),
    ("url-ftp", create_provider, {"base_url": "ftp://files.example.com/v1"}, "base_url", "https://"),
    ("url-no-scheme", create_provider, {"base_url": "//api.example.com"}, "base_url", "https://"),
    (
        "url-credentials",
        create_provider,
        {"base_url": "http://user:pass@host.example"},
        "base_url",
        "put the key in the API key field",
    ),
    (
        "url-username-only",
        create_provider,
        {"base_url": "https://admin@host.example"},
        "base_url",
        "put the key in the API key field",
    ),
    (
        "url-with-spaces",
        create_provider,
        {"base_url": "https://api.example.com/my path"},
        "base_url",
        "one URL",
    ),
    ("url-no-host", create_provider, {"base_url": "https://"}, "base_url", "https://api.example.com"),
    (
        "url-bad-port",
        create_provider,
        {"base_url": "https://host.example:99999"},
        "base_url",
        "check the port",
    ),
    ("url-broken-ipv6", create_provider, {"base_url": "http://[::1"}, "base_url", "check the port"),
    ("url-required-for-custom", create_provider, {"type": "custom", "secrets": {}}, "base_url", "https://"),
    # secrets
    (
        "secret-value-and-env",
        create_provider,
        {"secret_envs": {"api_key": "OPENAI_API_KEY"}},
        "api_key",
        "not both",
    ),
    (
        "secret-env-invalid-name",
        create_provider,
        {"secrets": {}, "secret_envs": {"api_key": "1BAD-NAME"}},
        "api_key_env",
        "like OPENAI_API_KEY",
    ),
    ("secret-empty", create_provider, {"secrets": {"api_key": "   "}}, "api_key", "paste the key"),
    (
        "secret-control-chars",
        create_provider,
        {"secrets": {"api_key": "sk-abc\x00\x1bdef"}},
        "api_key",
        "paste the key again",
    ),
    ("secret-missing", create_provider, {"secrets": {}}, "api_key", "paste it or give an environment"),
    (
        "secret-unknown-field",
        create_provider,
        {"secrets": {"api_key": KEY, "password": "hunter2"}},
        "password",
        "known: api_key",
    ),
    # provider params and limits
    ("param-unknown", create_provider, {"params": {"temperature": "0.2"}}, "params.temperature", "known:"),
    ("param-secret-as-param", create_provider, {"params": {"api_key": KEY}}, "params.api_key", "known:"),
    (
        "param-control-chars",
        create_provider,
        {"params": {"organization": "org\x00"}},
        "params.organization",
        "printable",
    ),
    (
        "param-headers-not-json",
        create_provider,
        {"params": {"extra_headers": "{not json"}},
        "params.extra_headers",
        "JSON object",
    ),
    (
        "param-header-injection",
        create_provider,
        {"params": {"extra_headers": {"X-A": "1\r\nX-Evil: 2"}}},
        "params.extra_headers",
        "JSON object",
    ),
    (
        "param-required-missing",
        create_provider,
        {"type": "azure_openai", "base_url": "https://x.openai.azure.com", "params": {"api_version": " "}},
        "params.api_version",
        "2024-10-21",
    ),
    ("rpm-negative", create_provider, {"rpm": -1}, "rpm", "whole number from 1"),
    ("rpm-text", create_provider, {"rpm": "abc"}, "rpm", "whole number from 1"),
    ("rpm-bool", create_provider, {"rpm": True}, "rpm", "whole number from 1"),
    ("tpm-huge", create_provider, {"tpm": 10**12}, "tpm", "whole number from 1"),
    ("timeout-nan", create_provider, {"timeout_seconds": NAN}, "timeout_seconds", "between 0.1 and 3600"),
    (
        "timeout-inf-text",
        create_provider,
        {"timeout_seconds": "inf"},
        "timeout_seconds",
        "between 0.1 and 3600",
    ),
    ("timeout-bool", create_provider, {"timeout_seconds": True}, "timeout_seconds", "between 0.1 and 3600"),
    ("priority-huge", create_provider, {"priority": 10**6}, "priority", "whole number from -1,000"),
    # provider update
    ("update-name-empty", update_provider, {"name": ""}, "name", "enter a name"),
    ("update-name-control", update_provider, {"name": "Prod\x07"}, "name", "type it plainly"),
    ("update-name-case-of-other", update_provider, {"name": "ANTHROPIC main"}, "name", "pick another name"),
    (
        "update-name-spacing-of-other",
        update_provider,
        {"name": "Anthropic   Main"},
        "name",
        "pick another name",
    ),
    ("update-url-javascript", update_provider, {"base_url": "javascript:alert(1)"}, "base_url", "https://"),
    ("update-url-file", update_provider, {"base_url": "file:///etc/passwd"}, "base_url", "https://"),
    (
        "update-url-credentials",
        update_provider,
        {"base_url": "https://u:p@api.example.com"},
        "base_url",
        "put the key in the API key field",
    ),
    ("update-param-unknown", update_provider, {"params": {"region": "eu"}}, "params.region", "known:"),
    (
        "update-secret-value-and-env",
        update_provider,
        {"secrets": {"api_key": KEY}, "secret_envs": {"api_key": "OPENAI_API_KEY"}},
        "api_key",
        "not both",
    ),
    (
        "update-secret-env-invalid",
        update_provider,
        {"secret_envs": {"api_key": "1BAD-NAME"}},
        "api_key_env",
        "like OPENAI_API_KEY",
    ),
    ("update-rpm-zero", update_provider, {"rpm": 0}, "rpm", "whole number from 1"),
    (
        "update-timeout-negative",
        update_provider,
        {"timeout_seconds": -5},
        "timeout_seconds",
        "between 0.1 and 3600",
    ),
    # model creation
    ("model-id-empty", create_model, {"identifier": ""}, "model", "model ID"),
    ("model-id-whitespace", create_model, {"identifier": "  \t "}, "model", "model ID"),
    ("model-id-with-space", create_model, {"identifier": "gpt 4o"}, "model", "copy the ID"),
    ("model-id-10k-chars", create_model, {"identifier": LONG}, "model", "copy the ID"),
    ("model-id-nul", create_model, {"identifier": "gpt\x00-4o"}, "model", "copy the ID"),
    ("model-id-sql", create_model, {"identifier": "x'; DROP TABLE models; --"}, "model", "copy the ID"),
    ("model-id-duplicate", create_model, {"identifier": "gpt-4o-mini"}, "model", "edit the existing row"),
    ("model-alias-rtl", create_model, {"alias": "fast\u202emodel"}, "alias", "copy the ID"),
    ("price-negative", create_model, {"input_cost_per_1m": -0.01}, "input_cost_per_1m", "finite number ≥ 0"),
    ("price-nan", create_model, {"input_cost_per_1m": NAN}, "input_cost_per_1m", "finite number ≥ 0"),
    ("price-inf", create_model, {"output_cost_per_1m": INF}, "output_cost_per_1m", "finite number ≥ 0"),
    (
        "price-1e309-text",
        create_model,
        {"output_cost_per_1m": "1e309"},
        "output_cost_per_1m",
        "finite number ≥ 0",
    ),
    ("price-text", create_model, {"input_cost_per_1m": "abc"}, "input_cost_per_1m", "USD per 1M tokens"),
    ("price-bool", create_model, {"input_cost_per_1m": True}, "input_cost_per_1m", "USD per 1M tokens"),
    ("price-absurd", create_model, {"input_cost_per_1m": 5_000_000}, "input_cost_per_1m", "check the units"),
    ("context-zero", create_model, {"context_window": 0}, "context_window", "from 1 to 10,000,000"),
    ("context-negative", create_model, {"context_window": -1}, "context_window", "from 1 to 10,000,000"),
    (
        "context-over-max",
        create_model,
        {"context_window": 10_000_001},
        "context_window",
        "from 1 to 10,000,000",
    ),
    ("context-1e12", create_model, {"context_window": 1e12}, "context_window", "from 1 to 10,000,000"),
    ("context-bool", create_model, {"context_window": True}, "context_window", "from 1 to 10,000,000"),
    (
        "context-fraction-text",
        create_model,
        {"context_window": "12.5"},
        "context_window",
        "from 1 to 10,000,000",
    ),
    ("max-output-zero", create_model, {"max_output_tokens": 0}, "max_output_tokens", "from 1 to"),
    ("status-unknown", create_model, {"status": "retired"}, "status", "active, deprecated"),
    ("capability-not-bool", create_model, {"supports_tools": "yes"}, "supports_tools", "true or false"),
    ("model-unknown-field", create_model, {"temperature": 0.2}, "temperature", "editable:"),
    # model update
    ("update-price-nan", update_model, {"input_cost_per_1m": NAN}, "input_cost_per_1m", "finite number ≥ 0"),
    (
        "update-price-negative",
        update_model,
        {"output_cost_per_1m": -1},
        "output_cost_per_1m",
        "finite number ≥ 0",
    ),
    ("update-context-zero", update_model, {"context_window": 0}, "context_window", "from 1 to 10,000,000"),
    (
        "update-context-huge",
        update_model,
        {"context_window": 10**12},
        "context_window",
        "from 1 to 10,000,000",
    ),
    ("update-status-invalid", update_model, {"status": "DELETED"}, "status", "active, deprecated"),
    ("update-identifier-not-editable", update_model, {"identifier": "gpt-5"}, "identifier", "editable:"),
    ("update-alias-empty", update_model, {"alias": ""}, "alias", "model ID"),
    # user creation
    ("username-empty", create_user, {"username": ""}, "username", "enter a name"),
    ("username-with-space", create_user, {"username": "bob smith"}, "username", "must not contain spaces"),
    ("username-rtl", create_user, {"username": "\u202enimda"}, "username", "type it plainly"),
    ("username-10k", create_user, {"username": LONG}, "username", "use at most 100"),
    ("username-same-but-case", create_user, {"username": "ALICE"}, "username", "pick another username"),
    ("password-short", create_user, {"password": "short"}, "password", "at least 10 characters"),
    ("password-none", create_user, {"password": None}, "password", "at least 10 characters"),
    ("role-unknown", create_user, {"role": "root"}, "role", "admin, operator, viewer"),
]


@pytest.mark.parametrize(
    ("operation", "hostile", "field", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_is_refused_and_changes_nothing(
    seed: Seed, operation: Operation, hostile: dict[str, Any], field: str, fix: str
) -> None:
    before = snapshot()
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        operation(session, seed, **hostile)
    assert err.value.fields == [field]
    (problem,) = err.value.errors
    assert str(problem).startswith(f"{field}: ")
    assert fix in problem.message
    assert snapshot() == before


def test_there_are_at_least_thirty_five_cases_over_every_operation() -> None:
    assert len(CASES) >= 35
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} == {
        create_provider,
        update_provider,
        create_model,
        update_model,
        create_user,
    }


def test_snapshot_covers_every_table(seed: Seed) -> None:
    assert set(TABLES) <= set(snapshot())
    assert {name: len(rows) > 0 for name, rows in snapshot().items() if name in TABLES} == {
        "providers": True,
        "provider_credentials": True,
        "models": True,
        "users": True,
        "audit_entries": True,
        "provider_templates": False,
    }


# ---- text that looks dangerous but is valid is stored exactly, as data -------------------------------


def test_sql_looking_provider_name_is_stored_verbatim(seed: Seed, db_url: str) -> None:
    name = "'; DROP TABLE providers; --"
    with db.Session.begin() as session:
        create_provider(session, seed, name=name, params={"organization": "x' OR '1'='1"})
    with db.Session.begin() as session:
        found = providers.find_provider(session, name=name)
        assert (found.name, found.params) == (name, {"organization": "x' OR '1'='1"})
        assert [p.name for p in providers.list_providers(session)] == [
            "'; DROP TABLE providers; --",
            "Anthropic Main",
            "OpenAI Prod",
        ]
    assert set(TABLES) <= set(inspect(db.make_engine(db_url)).get_table_names())


def test_sql_looking_username_is_stored_verbatim(seed: Seed) -> None:
    username = "robert');DROP/**/TABLE/**/users;--"
    with db.Session.begin() as session:
        create_user(session, seed, username=username)
    with db.Session.begin() as session:
        assert [u.username for u in users.list_users(session)] == ["alice", username]


def test_emoji_and_non_latin_names_are_printable_and_accepted(seed: Seed) -> None:
    with db.Session.begin() as session:
        create_provider(session, seed, name="🚀🔥")
        create_provider(session, seed, name="Ünïcødé 日本語 مرحبا")
    with db.Session.begin() as session:
        assert providers.find_provider(session, name="🚀🔥").name == "🚀🔥"
        assert providers.find_provider(session, name="ünïcødé 日本語 مرحبا").name == "Ünïcødé 日本語 مرحبا"


def test_boundary_values_are_accepted(seed: Seed) -> None:
    with db.Session.begin() as session:
        create_provider(session, seed, name="n" * 100, rpm=1, timeout_seconds="0.1")
        model = create_model(
            session,
            seed,
            identifier="gpt-4o",
            input_cost_per_1m=0,
            output_cost_per_1m="1e3",
            context_window=10_000_000,
            max_output_tokens="1",
        )
        assert (model.input_cost_per_1m, model.output_cost_per_1m) == (0.0, 1000.0)  # type: ignore[attr-defined]
        assert (model.context_window, model.max_output_tokens) == (10_000_000, 1)  # type: ignore[attr-defined]


def test_name_is_stored_with_its_spacing_collapsed(seed: Seed) -> None:
    with db.Session.begin() as session:
        provider = create_provider(session, seed, name="  Groq   Fast  ")
        assert provider.name == "Groq Fast"  # type: ignore[attr-defined]
