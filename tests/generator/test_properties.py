"""Properties: any valid rows render to safe, loadable, valid YAML; any invalid rows write nothing."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import catalog, db
from app.crypto import KeyRing
from app.models import ConfigRevision, Model, Provider
from app.services import config as config_service
from app.services import models as model_service
from app.services import providers as provider_service
from app.services.access import Actor
from app.settings import Settings
from generator import build, render, validate
from tests.generator.fixtures import FIXTURE_AT
from tests.generator.yaml_checks import same_data, style_problems

SECRET_MARK = "SECRET-"
IDENT = r"[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,39}"

aliases = st.from_regex(IDENT, fullmatch=True).filter(lambda a: not a.startswith(build.ROUTE_PREFIX))
identifiers = st.from_regex(IDENT, fullmatch=True)
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{2,30}", fullmatch=True).filter(
    lambda n: not n.startswith("LLM_ADMIN_P") and n != build.MASTER_KEY_ENV
)
# Anything an admin could paste into a form, so YAML quoting is exercised; never our secret marker.
free_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30).filter(
    lambda t: SECRET_MARK not in t
)
secret_values = st.text(string.ascii_letters + string.digits + "-_/+=", min_size=16, max_size=48).map(
    lambda v: SECRET_MARK + v
)
prices = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
windows = st.one_of(st.none(), st.integers(min_value=1, max_value=10_000_000))
urls = st.builds(
    lambda host, port, path: f"https://{host}.example.com:{port}/{path}",
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    st.integers(1, 65535),
    st.from_regex(r"[a-z0-9/]{0,12}", fullmatch=True),
)


@dataclass(frozen=True)
class Case:
    """Valid rows, the secret values the proxy would resolve, and the names it can resolve."""

    rows: build.ConfigInput
    secrets: dict[str, str]

    @property
    def resolvable(self) -> set[str]:
        return {*self.secrets, build.MASTER_KEY_ENV}


@st.composite
def provider_rows(draw: st.DrawFn, pid: int) -> tuple[build.ProviderRow, dict[str, str]]:
    ptype = catalog.PROVIDER_TYPES[draw(st.sampled_from(sorted(catalog.PROVIDER_TYPES)))]
    params: dict[str, Any] = {}
    for spec in ptype.param_fields:
        if draw(st.booleans()):
            if spec.name == "extra_headers":
                params[spec.name] = draw(
                    st.dictionaries(
                        st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True), free_text, max_size=3
                    )
                )
            else:
                params[spec.name] = draw(free_text)
    secrets: list[build.SecretRow] = []
    values: dict[str, str] = {}
    for spec in ptype.secret_fields:
        source = draw(st.sampled_from(["stored", "env"] if spec.required else ["stored", "env", "absent"]))
        if source == "absent":
            continue
        env_var = draw(env_names) if source == "env" else None
        secrets.append(build.SecretRow(spec.name, env_var))
        values[env_var or build.stored_secret_env(pid, spec.name)] = draw(secret_values)
    base_url = draw(urls) if ptype.base_url_required else draw(st.one_of(st.none(), urls))
    row = build.ProviderRow(
        id=pid,
        name=f"{ptype.label} {pid}",
        type=ptype.id,
        litellm_provider=ptype.litellm_provider,
        base_url=base_url,
        params=params,
        secrets=tuple(secrets),
        rpm=draw(st.one_of(st.none(), st.integers(1, 10**7))),
        tpm=draw(st.one_of(st.none(), st.integers(1, 10**9))),
        timeout_seconds=draw(st.one_of(st.none(), st.floats(0.1, 3600))),
        is_local=ptype.local,
    )
    return row, values


@st.composite
def valid_cases(draw: st.DrawFn, max_providers: int = 5, max_models: int = 12) -> Case:
    count = draw(st.integers(1, max_providers))
    drawn = [draw(provider_rows(pid)) for pid in range(1, count + 1)]
    providers = tuple(row for row, _ in drawn)
    specs = draw(
        st.lists(
            st.tuples(
                st.integers(1, count),
                identifiers,
                aliases,
                prices,
                prices,
                windows,
                windows,
                st.sampled_from(["chat", "embedding", "completion"]),
            ),
            min_size=1,
            max_size=max_models,
            unique_by=(lambda s: (s[0], s[1]), lambda s: (s[0], s[2])),  # one alias per provider, as the DB
        )
    )
    group_modes: dict[str, str] = {}
    models = tuple(
        build.ModelRow(
            id=index,
            provider_id=pid,
            identifier=ident,
            alias=alias,
            input_cost_per_1m=price_in,
            output_cost_per_1m=price_out,
            context_window=window,
            max_output_tokens=max_out,
            mode=group_modes.setdefault(alias, mode),  # a group serves one mode
        )
        for index, (pid, ident, alias, price_in, price_out, window, max_out, mode) in enumerate(specs, 1)
    )
    groups = sorted(group_modes)
    fallbacks = draw(
        st.lists(
            st.tuples(st.sampled_from(groups), st.lists(st.sampled_from(groups), min_size=1, max_size=3)),
            max_size=3,
        )
    )
    settings_row = build.GlobalRow(
        router_settings={"fallbacks": [{g: t} for g, t in fallbacks]} if fallbacks else {}
    )
    secrets = {name: value for _, values in drawn for name, value in values.items()}
    return Case(build.ConfigInput(providers=providers, models=models, settings=settings_row), secrets)


def _render(case: Case, revision: int = 1) -> tuple[dict[str, Any], str]:
    config = build.build_config(case.rows, revision=revision)
    return config, render.render_config(config, revision=revision, author="prop", at=FIXTURE_AT)


@settings(max_examples=150, deadline=None)
@given(valid_cases())
def test_valid_rows_render_loadable_yaml_without_secrets_that_passes_validation(case: Case) -> None:
    config, text_ = _render(case)
    assert yaml.safe_load(text_) == config
    for value in case.secrets.values():
        assert value not in text_
    assert validate.structural_problems(config, resolvable=case.resolvable.__contains__) == []
    assert len(config["model_list"]) == len(case.rows.models)


@settings(max_examples=100, deadline=None)
@given(valid_cases(), st.randoms(use_true_random=False))
def test_row_order_never_changes_the_text(case: Case, shuffler: Any) -> None:
    providers, models = list(case.rows.providers), list(case.rows.models)
    shuffler.shuffle(providers)
    shuffler.shuffle(models)
    shuffled = Case(build.ConfigInput(tuple(providers), tuple(models), case.rows.settings), case.secrets)
    assert _render(shuffled)[1] == _render(case)[1]


@settings(max_examples=100, deadline=None)
@given(valid_cases())
def test_hosted_keys_are_exactly_the_stored_secrets_of_serving_providers(case: Case) -> None:
    config, _ = _render(case)
    serving = {m.provider_id for m in case.rows.models}
    stored = sorted(
        build.stored_secret_env(p.id, s.field)
        for p in case.rows.providers
        if p.id in serving
        for s in p.secrets
        if s.env_var is None
    )
    settings_ = config["general_settings"].get("key_management_settings", {})
    assert settings_.get("hosted_keys", []) == stored
    assert validate.secret_refs(config) <= case.resolvable


def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


@settings(max_examples=50, deadline=None)
@given(valid_cases())
def test_rendered_rows_are_block_yaml_that_loads_back_the_same_whatever_the_key_order(case: Case) -> None:
    config, _ = _render(case)
    body = render.render_body(config)
    assert same_data(yaml.safe_load(body), config)
    assert style_problems(body) == []
    assert render.render_body(_reversed_keys(config)) == body


# Long keys and values too: libyaml writes keys over 128 characters as `? key` and folds long lines.
long_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=100, max_size=400)
json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), free_text, long_text),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(free_text, st.integers(), long_text), children, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(free_text, long_text), json_like, max_size=5))
def test_any_settings_load_back_exactly_as_deterministic_block_yaml(extra: dict[str, Any]) -> None:
    config = {"model_list": [], "litellm_settings": extra, "general_settings": {"shared": extra}}
    text_ = render.render_body(config)
    assert same_data(yaml.safe_load(text_), config)  # same values and types; NaN loads back as NaN
    assert style_problems(text_) == []  # block style; the dict used twice is written out twice
    assert render.render_body(_reversed_keys(config)) == text_
    assert render.render_body(yaml.safe_load(text_)) == text_


@settings(max_examples=5, deadline=None)
@given(valid_cases(max_providers=4, max_models=6))
def test_litellm_accepts_arbitrary_valid_rows(case: Case) -> None:
    config, _ = _render(case)
    assert validate.litellm_problems(config) == []


# Invalid rows, written straight into the database behind the services' back.

API_KEY = "sk-prop-0123456789abcdef"
MASTER_KEY = "sk-master-prop-0123456789"
ENVIRON = {"ANTHROPIC_API_KEY": "sk-ant-prop-0123456789"}
# Each kind of damage and the words its problem must contain. Build-phase damage (a bad alias) drops
# the offending rows and the rest is still validated, so both kinds of problem are reported at once.
STRUCTURAL = (
    "negative_price",
    "infinite_price",
    "bad_window",
    "plain_secret",
    "unknown_fallback",
    "foreign_ciphertext",
    "corrupt_ciphertext",
)
BUILD = ("route_alias", "duplicate_alias", "mixed_mode")
# Structural damage to rows that no build damage drops, so its problem must survive alongside them.
BUILD_PROOF = ("bad_window", "unknown_fallback", "foreign_ciphertext", "corrupt_ciphertext")


@dataclass(frozen=True)
class World:
    ids: dict[str, int]  # model identifier or provider name -> id
    existing: Settings  # its config file was applied once and must keep its bytes
    fresh: Settings  # its config file has never been written and must not appear
    models: list[dict[str, Any]]  # the good rows, to repair the damage after each example
    credentials: list[dict[str, Any]]


def _settings(db_url: str, root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        database_url=db_url,
        config_path=root / "proxy" / "litellm-config.yaml",
        master_key=MASTER_KEY,
    )


MODEL_COLUMNS = "id, alias, mode, enabled, input_cost_per_1m, output_cost_per_1m, context_window"


@pytest.fixture
def world(db_url: str, ring: KeyRing, admin: Actor, tmp_path: Path) -> World:
    with db.Session.begin() as session:
        openai = provider_service.create_provider(
            session, actor=admin, ring=ring, name="OpenAI", type="openai", secrets={"api_key": API_KEY}
        )
        anthropic = provider_service.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="Anthropic",
            type="anthropic",
            secret_envs={"api_key": "ANTHROPIC_API_KEY"},
        )
        ids = {"OpenAI": openai.id, "Anthropic": anthropic.id}
        for provider, identifier in (
            (openai, "gpt-4o-mini"),
            (openai, "gpt-4o"),
            (openai, "o3-mini"),
            (anthropic, "claude-haiku-4-5"),
            (anthropic, "claude-sonnet-4-5"),
        ):
            model = model_service.create_model(
                session, actor=admin, provider_id=provider.id, identifier=identifier, enabled=True
            )
            ids[identifier] = model.id
    with db.Session.begin() as session:
        models = [dict(r._mapping) for r in session.execute(text(f"SELECT {MODEL_COLUMNS} FROM models"))]
        credentials = [
            dict(r._mapping)
            for r in session.execute(text("SELECT id, ciphertext, env_var FROM provider_credentials"))
        ]
    existing = _settings(db_url, tmp_path / "existing")
    config_service.apply(actor=admin, settings=existing, ring=ring, environ=ENVIRON, deep=False)
    return World(ids, existing, _settings(db_url, tmp_path / "fresh"), models, credentials)


def _repair(world: World) -> None:
    with db.Session.begin() as session:
        assignments = ", ".join(f"{c} = :{c}" for c in MODEL_COLUMNS.split(", ")[1:])
        session.execute(text(f"UPDATE models SET {assignments} WHERE id = :id"), world.models)
        session.execute(
            text(
                "UPDATE provider_credentials SET ciphertext = :ciphertext, env_var = :env_var WHERE id = :id"
            ),
            world.credentials,
        )
        for model in session.scalars(select(Model)):
            model.extra_params = {}
        config_service.get_settings_row(session).router_settings = {}


def _damage(session: Session, world: World, kind: str, data: st.DataObject) -> str:
    """Break the rows in one way; return words the resulting problem must contain."""
    ids = world.ids

    def sql(statement: str, **values: Any) -> None:
        session.execute(text(statement), values)

    if kind == "negative_price":
        price = -data.draw(st.floats(min_value=1e-6, max_value=1e9), label="negative price")
        sql("UPDATE models SET input_cost_per_1m = :p WHERE id = :id", p=price, id=ids["gpt-4o-mini"])
        return "OpenAI/gpt-4o-mini (group 'gpt-4o-mini'): input_cost_per_token is -"
    if kind == "infinite_price":
        sql("UPDATE models SET output_cost_per_1m = :p WHERE id = :id", p=math.inf, id=ids["gpt-4o"])
        return "OpenAI/gpt-4o (group 'gpt-4o'): output_cost_per_token is inf"
    if kind == "bad_window":
        window = data.draw(st.integers(-(10**9), 0), label="window")
        sql("UPDATE models SET context_window = :w WHERE id = :id", w=window, id=ids["claude-sonnet-4-5"])
        return f"Anthropic/claude-sonnet-4-5 (group 'claude-sonnet-4-5'): max_input_tokens is {window}"
    if kind == "plain_secret":
        model = session.get(Model, ids["claude-haiku-4-5"])
        assert model is not None
        model.extra_params = {"api_key": data.draw(secret_values, label="plain secret")}
        return "claude-haiku-4-5'): litellm_params.api_key holds a plain-text secret"
    if kind == "unknown_fallback":
        group = data.draw(aliases.filter(lambda a: a not in ids), label="unknown group")
        config_service.get_settings_row(session).router_settings = {"fallbacks": [{"gpt-4o": [group]}]}
        return f"router_settings.fallbacks: '{group}' is not an enabled model group"
    stored = build.stored_secret_env(ids["OpenAI"], "api_key")
    if kind == "foreign_ciphertext":
        token = f"v1:{data.draw(st.from_regex(r'[a-f0-9]{8}', fullmatch=True), label='key id')}:AAAA"
        sql(
            "UPDATE provider_credentials SET ciphertext = :t WHERE provider_id = :id",
            t=token,
            id=ids["OpenAI"],
        )
        return f"secret {stored}: stored in llm-admin, but LLM_ADMIN_SECRET_KEYS cannot decrypt it"
    if kind == "corrupt_ciphertext":
        token = data.draw(st.text(string.printable, max_size=20).filter(lambda t: t.strip()), label="corrupt")
        sql(
            "UPDATE provider_credentials SET ciphertext = :t WHERE provider_id = :id",
            t=token,
            id=ids["OpenAI"],
        )
        return f"secret {stored}: stored in llm-admin, but LLM_ADMIN_SECRET_KEYS cannot decrypt it"
    if kind == "route_alias":
        alias = build.ROUTE_PREFIX + data.draw(aliases, label="route alias")
        sql("UPDATE models SET alias = :a WHERE id = :id", a=alias, id=ids["o3-mini"])
        return f"OpenAI/o3-mini: alias '{alias}' starts with 'agent/'"
    if kind == "duplicate_alias":
        sql("UPDATE models SET alias = 'gpt-4o-mini' WHERE id = :id", id=ids["gpt-4o"])
        return "alias 'gpt-4o-mini' is already used by OpenAI/"
    if kind == "mixed_mode":
        sql(
            "UPDATE models SET alias = 'gpt-4o-mini', mode = 'embedding' WHERE id = :id",
            id=ids["claude-haiku-4-5"],
        )
        return "Anthropic/claude-haiku-4-5: is an embedding model but group 'gpt-4o-mini' serves chat"
    assert kind == "no_enabled_models"
    sql("UPDATE models SET enabled = :f", f=False)
    return "model_list: no enabled models"


def _listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.exists() else {}


def _revision_count() -> int:
    with db.Session.begin() as session:
        return int(session.scalar(select(func.count(ConfigRevision.id))) or 0)


damage_sets = st.one_of(
    st.sets(st.sampled_from(STRUCTURAL), min_size=1),
    st.builds(
        frozenset.union,
        st.frozensets(st.sampled_from(BUILD), min_size=1),
        st.frozensets(st.sampled_from(BUILD_PROOF)),
    ),
    st.just(frozenset({"no_enabled_models"})),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=damage_sets, onto_existing=st.booleans(), data=st.data())
def test_invalid_rows_raise_every_problem_and_write_nothing(
    world: World, ring: KeyRing, admin: Actor, kinds: frozenset[str], onto_existing: bool, data: st.DataObject
) -> None:
    target = world.existing if onto_existing else world.fresh
    before = _listing(target.config_path.parent)
    revisions = _revision_count()
    try:
        with db.Session.begin() as session:
            expected = [_damage(session, world, kind, data) for kind in sorted(kinds)]
        with pytest.raises(config_service.ConfigInvalid) as err:
            config_service.apply(actor=admin, settings=target, ring=ring, environ=ENVIRON)
    finally:
        _repair(world)
    problems = err.value.problems
    for words in expected:
        assert any(words in p for p in problems), (words, problems)
    assert len(problems) >= len(set(expected))
    assert API_KEY not in str(err.value) and ENVIRON["ANTHROPIC_API_KEY"] not in str(err.value)
    assert all(SECRET_MARK not in p for p in problems)
    assert _revision_count() == revisions
    assert _listing(target.config_path.parent) == before
    assert target.config_path.exists() is onto_existing


def test_the_world_is_valid_before_and_after_repair(world: World, ring: KeyRing, admin: Actor) -> None:
    with db.Session.begin() as session:
        _damage(session, world, "mixed_mode", None)  # type: ignore[arg-type]
    _repair(world)
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Provider.id))) == 2
        plan = config_service.plan(
            session, settings=world.fresh, ring=ring, environ=ENVIRON, author=admin.name, deep=True
        )
    assert plan.problems == []
    assert plan.summary == "new file: +5 models, +2 providers"
    assert world.existing.config_path.stat().st_mode & 0o777 == 0o600
