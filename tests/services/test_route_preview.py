"""What the Routing page asks of the routes service: step choices, defaults, weights, one route's YAML."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func, select

from app import db
from app.crypto import KeyRing
from app.errors import ValidationError
from app.models import Route
from app.services import models, providers, routes
from app.services.access import Actor


@pytest.fixture
def rows(db_url: str, ring: KeyRing, admin: Actor) -> dict[str, int]:
    """cloud (OpenAI, stored key) serves fast and big; home (Ollama, local) serves fast and llama."""
    with db.Session.begin() as session:
        cloud = providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="cloud",
            type="openai",
            secrets={"api_key": "sk-" + "b" * 24},
        )
        home = providers.create_provider(
            session, actor=admin, ring=ring, name="home", type="ollama", base_url="http://127.0.0.1:11434"
        )
        for provider, alias, identifier in (
            (cloud, "fast", "fast-model"),
            (cloud, "big", "big-model"),
            (home, "fast", "fast-local"),
            (home, "llama", "llama-model"),
        ):
            models.create_model(
                session,
                actor=admin,
                provider_id=provider.id,
                identifier=identifier,
                alias=alias,
                enabled=True,
                input_cost_per_1m=1.0,
                output_cost_per_1m=2.0,
                context_window=8_000 if alias != "big" else 128_000,
            )
        models.create_model(session, actor=admin, provider_id=cloud.id, identifier="off-model", alias="off")
        return {"cloud": cloud.id, "home": home.id}


def test_step_choices_are_enabled_aliases_with_the_providers_serving_them(rows: dict[str, int]) -> None:
    with db.Session.begin() as session:
        assert routes.step_choices(session) == {
            "big": ["cloud"],
            "fast": ["cloud", "home"],
            "llama": ["home"],
        }


def test_a_disabled_provider_s_models_are_no_choice(rows: dict[str, int], admin: Actor) -> None:
    with db.Session.begin() as session:
        providers.set_provider_enabled(session, actor=admin, provider_id=rows["home"], enabled=False)
    with db.Session.begin() as session:
        assert routes.step_choices(session) == {"big": ["cloud"], "fast": ["cloud"]}


def test_default_fallbacks_read_back_without_creating_a_settings_row(
    rows: dict[str, int], admin: Actor
) -> None:
    with db.Session.begin() as session:
        assert routes.default_fallbacks(session) == []
        routes.set_default_fallbacks(session, actor=admin, aliases=["big", "fast"])
    with db.Session.begin() as session:
        assert routes.default_fallbacks(session) == ["big", "fast"]


def test_weights_parse_from_lines_and_a_bad_line_names_the_field() -> None:
    assert routes.parse_weights(["fast@cloud=3", "", " fast@home = 1.5 ", "big@Azure EU=2"]) == {
        "fast": {"cloud": 3.0, "home": 1.5},
        "big": {"Azure EU": 2.0},
    }
    for bad in ("fast@cloud", "fast=2", "@cloud=1", "fast@cloud=0", "fast@cloud=-1", "fast@cloud=nan"):
        with pytest.raises(ValidationError) as err:
            routes.parse_weights([bad])
        assert err.value.errors[0].field == "weights"
        assert f"'{bad}' is not ALIAS@PROVIDER=WEIGHT" in err.value.errors[0].message


def test_the_preview_is_the_route_s_own_part_of_the_config_and_nothing_is_stored(
    rows: dict[str, int],
) -> None:
    with db.Session.begin() as session:
        preview = routes.preview_route(
            session,
            agent_type="Summarizer",
            model="fast",
            fallbacks=["big"],
            max_cost_usd=0.5,
            weights={"fast": {"cloud": 3, "home": 1}},
        )
        assert session.scalar(select(func.count(Route.id))) == 0
    assert preview.errors == []
    part = yaml.safe_load(preview.text)
    assert set(part) == {"model_list", "router_settings"}
    by_group = {}
    for deployment in part["model_list"]:
        by_group.setdefault(deployment["model_name"], []).append(deployment)
    assert sorted(by_group) == ["agent/summarizer", "agent/summarizer/fallback-1"]
    weights = {
        d["model_info"]["llm_admin_provider"]: d["litellm_params"]["weight"]
        for d in by_group["agent/summarizer"]
    }
    assert weights == {"cloud": 3, "home": 1}
    cloud = next(d for d in by_group["agent/summarizer"] if d["model_info"]["llm_admin_provider"] == "cloud")
    assert cloud["litellm_params"]["api_key"] == f"os.environ/LLM_ADMIN_P{rows['cloud']}_API_KEY"
    assert all("llm_admin_revision" not in d["model_info"] for d in part["model_list"])
    assert part["router_settings"]["fallbacks"] == [
        {"agent/summarizer": ["agent/summarizer/fallback-1"]},
        {"agent/summarizer/fallback-1": []},
    ]
    assert part["router_settings"]["context_window_fallbacks"] == [
        {"agent/summarizer": ["agent/summarizer/fallback-1"]},
        {"agent/summarizer/fallback-1": []},
    ]
    assert "sk-bbb" not in preview.text


def test_the_preview_leaves_out_other_routes_and_plain_model_groups(
    rows: dict[str, int], admin: Actor
) -> None:
    with db.Session.begin() as session:
        routes.save_route(session, actor=admin, agent_type="summarizer-2", model="big")
    with db.Session.begin() as session:
        preview = routes.preview_route(session, agent_type="summarizer", model="llama", local_only=True)
    part = yaml.safe_load(preview.text)
    assert [d["model_name"] for d in part["model_list"]] == ["agent/summarizer"]
    assert part["router_settings"] == {
        "fallbacks": [{"agent/summarizer": []}],
        "context_window_fallbacks": [{"agent/summarizer": []}],
    }


def test_a_route_that_cannot_render_previews_its_field_errors_and_no_yaml(rows: dict[str, int]) -> None:
    with db.Session.begin() as session:
        preview = routes.preview_route(
            session, agent_type="private", model="llama", fallbacks=["big"], local_only=True
        )
    assert preview.text == ""
    assert [(e.field, e.message) for e in preview.errors] == [
        (
            "local_only",
            "is local only, but model 'big' is served by cloud, which is not local; remove the step or mark "
            "the provider local",
        )
    ]


def test_the_preview_of_a_disabled_model_names_the_model_field(rows: dict[str, int]) -> None:
    with db.Session.begin() as session:
        preview = routes.preview_route(session, agent_type="x", model="off")
    assert [e.field for e in preview.errors] == ["model"]
    assert "'off' is unknown or disabled" in preview.errors[0].message
