"""Where the add form starts: system templates per catalog type, custom ones, and the fields shown."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import catalog, db
from app.crypto import KeyRing
from app.errors import PermissionDenied, ValidationError
from app.models import Model, Provider
from app.services import models, provider_forms, providers, templates
from app.services.access import Actor


def test_choices_cover_every_type_even_before_templates_are_stored(db_url: str) -> None:
    with db.Session.begin() as session:
        choices = provider_forms.template_choices(session)
    assert [c.type for c in choices] == list(catalog.PROVIDER_TYPES)
    openai = choices[0]
    assert (openai.key, openai.label, openai.base_url, openai.models, openai.default_model) == (
        "system:openai",
        "OpenAI",
        "https://api.openai.com/v1",
        ["gpt-4o-mini", "gpt-4o"],
        "gpt-4o-mini",
    )
    azure = next(c for c in choices if c.type == "azure_openai")
    assert azure.params == {"api_version": "2024-10-21"}


def test_custom_templates_follow_the_system_ones(db_url: str, ring: KeyRing, admin: Actor) -> None:
    with db.Session.begin() as session:
        templates.sync_system_templates(session)
        pid = providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="Team",
            type="custom",
            base_url="http://gpu-box:8000/v1",
            secret_envs={"api_key": "TEAM_KEY"},
        ).id
        models.create_model(session, actor=admin, provider_id=pid, identifier="llama-70b", enabled=True)
        templates.save_template_from_provider(session, actor=admin, provider_id=pid, name="GPU box")
    with db.Session.begin() as session:
        choices = provider_forms.template_choices(session)
    assert len(choices) == len(catalog.PROVIDER_TYPES) + 1
    custom = choices[-1]
    assert (custom.key, custom.label, custom.base_url, custom.models, custom.secret_envs) == (
        "custom:GPU box",
        "GPU box (custom, custom)",
        "http://gpu-box:8000/v1",
        ["llama-70b"],
        {"api_key": "TEAM_KEY"},
    )


@pytest.mark.parametrize(
    ("type_id", "shown"),
    [
        ("openai", True),
        ("azure_openai", True),
        ("custom", True),
        ("vertex_ai", True),  # an optional endpoint override (Private Service Connect)
        ("bedrock", False),  # its endpoint is the aws_bedrock_runtime_endpoint field
        ("replicate", False),  # LiteLLM always calls api.replicate.com
    ],
)
def test_base_url_is_asked_only_where_the_type_has_an_endpoint(type_id: str, shown: bool) -> None:
    assert provider_forms.shows_base_url(type_id) is shown


def test_create_from_a_system_template_adds_its_models(db_url: str, ring: KeyRing, admin: Actor) -> None:
    with db.Session.begin() as session:
        provider_forms.create_from_template(
            session,
            actor=admin,
            ring=ring,
            template_name="OpenAI",
            name="Prod",
            secrets={"api_key": "sk-0123456789abcdef"},
            secret_envs={},
            base_url=None,
            params={},
            default_model="gpt-4o-mini",
        )
    with db.Session.begin() as session:
        provider = session.scalars(select(Provider)).one()
        assert (provider.name, provider.base_url, provider.default_model) == (
            "Prod",
            "https://api.openai.com/v1",
            "gpt-4o-mini",
        )
        assert session.execute(select(Model.identifier, Model.enabled).order_by(Model.id)).all() == [
            ("gpt-4o-mini", True),
            ("gpt-4o", False),
        ]


def test_create_errors_store_nothing(db_url: str, ring: KeyRing, admin: Actor) -> None:
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        provider_forms.create_from_template(
            session, actor=admin, ring=ring, template_name="Groq", name=" ", secrets={}, secret_envs={}
        )
    assert err.value.fields == ["name"]
    with db.Session.begin() as session:
        assert session.scalars(select(Provider)).all() == []


def test_only_admins_create(db_url: str, ring: KeyRing) -> None:
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        provider_forms.create_from_template(
            session, actor=Actor("o", "operator"), ring=ring, template_name="Groq", name="G"
        )
