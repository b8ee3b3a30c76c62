"""Import a hand-written LiteLLM config, render it back: the proxy must get a semantically equal config.

Every file under tests/generator/corpus/ is imported into an empty database (SQLite and PostgreSQL)
and rendered by the real generator; `semantic()` reduces both configs to what LiteLLM acts on and
the test compares the two. A difference fails with both sides printed as YAML.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import litellm
import pytest
import yaml
from sqlalchemy import func, select

from app import catalog, db
from app.crypto import KeyRing, generate_key
from app.models import AuditEntry, ConfigSettings, Model, Provider, ProviderCredential
from app.services import config
from app.services.access import Actor
from app.services.config_import import ImportReport, import_config
from app.settings import Settings, load_settings
from generator import build, names
from generator.validate import secret_refs

CORPUS_DIR = Path(__file__).parent / "corpus"
CORPUS = sorted(CORPUS_DIR.glob("*.yaml"))
ENV_REF = "os.environ/"
SECRET_FIELDS = (
    "api_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "vertex_credentials",
)
PRICES = ("input_cost_per_token", "output_cost_per_token")
STORED_REF = re.compile(r"^os\.environ/LLM_ADMIN_P(\d+)_([A-Z_]+)$")
GENERATED_ID = re.compile(r"^llm-admin-m\d+$")

# Keys llm-admin owns in general_settings: the master key is always read from LITELLM_MASTER_KEY
# (asserted on its own below), models are never stored in LiteLLM's database, and the secret
# manager settings point LiteLLM at our encrypted store.
MANAGED_GENERAL = (
    "master_key",
    "store_model_in_db",
    "key_management_system",
    "key_management_settings",
    "custom_auth",
)

# What llm-admin adds that the original did not have, so the comparison leaves it out — and only
# where the original lacked it: an original value must come back unchanged.
#
# Defaults the generator writes when the original config did not set them (generator/build.py).
# They are product decisions, not the import's: each bounds how long a dead or hanging deployment
# keeps receiving traffic, where LiteLLM's own defaults are 2 retries, 3 allowed fails, a 5 s
# cooldown, no router timeout (a request waits litellm's request_timeout, 6000 s) and drop_params
# off. An original that sets any of them keeps its value (and the Router's fallback from
# router_settings to litellm_settings.num_retries/allowed_fails is folded in by `semantic`, so an
# imported litellm_settings value must win over these defaults too).
GENERATOR_ROUTER_DEFAULTS = {
    "routing_strategy": "simple-shuffle",  # LiteLLM's own default strategy, made explicit
    "num_retries": 0,  # fail over to the fallback group at once instead of retrying a dead one
    "allowed_fails": 0,  # cool a deployment down at its first failure
    "cooldown_time": 30,  # and keep it out for 30 s
    "timeout": 4,  # a hanging deployment is given up on after 4 s, so its fallback still answers
}
GENERATOR_LITELLM_DEFAULTS = {
    "drop_params": True,  # a param one provider lacks must not fail the fallback to it
    "disable_hf_tokenizer_download": True,  # no request waits on a tokenizer download
}
# The proxy llm-admin supervises also loads our usage and failover hooks: the generator appends
# them to litellm_settings.callbacks, after the original's own callbacks, which must all be kept
# in their order.
OUR_CALLBACK = build.HOOKS


def fingerprint(value: str) -> str:
    """Stands in for a secret in comparisons and failure messages (never the secret itself)."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def stored_marker(field: str, value: str) -> str:
    return f"<stored secret {field} #{fingerprint(value)}>"


def _route(model: str, custom_llm_provider: str | None) -> str:
    """What LiteLLM routes on: `gpt-4o` and `openai/gpt-4o` are the same deployment."""
    try:
        name, provider, _, _ = litellm.get_llm_provider(model=model, custom_llm_provider=custom_llm_provider)
    except litellm.BadRequestError:  # LiteLLM itself cannot route it: compared as written
        return f"unroutable:{model}"
    return f"{provider}/{name}"


def _cost_map_mode(route: str) -> str | None:
    costs = catalog.cost_map()
    entry = costs.get(route) or costs.get(route.partition("/")[2]) or {}
    return entry.get("mode")


def _secret(field: str, value: Any, reveal: Callable[[int, str], str] | None) -> Any:
    """A stored-secret reference, or a plain key that import must turn into one, as one marker."""
    if not isinstance(value, str):
        return value
    match = STORED_REF.match(value)
    if match and reveal is not None:
        stored_field = match.group(2).lower()
        return stored_marker(stored_field, reveal(int(match.group(1)), stored_field))
    if value.startswith(ENV_REF):
        return value  # the operator's own environment variable: kept by name
    if reveal is not None:
        return "<PLAIN TEXT in the rendered config>"
    return stored_marker(field, value)


def _deployment(raw: dict[str, Any], reveal: Callable[[int, str], str] | None) -> dict[str, Any]:
    params = dict(raw["litellm_params"])
    info = dict(raw.get("model_info") or {})
    for key in ("rpm", "tpm"):
        if key in raw:  # older configs put limits next to litellm_params; the Router reads both places
            params.setdefault(key, raw[key])
    route = _route(params.pop("model"), params.pop("custom_llm_provider", None))
    # What the generator adds for LiteLLM's sake (app/catalog.py deployment_params): a placeholder key for
    # an OpenAI-compatible server that needs none, and the organization also sent as its header
    if params.get("api_key") == names.KEYLESS_API_KEY:
        del params["api_key"]
    headers = dict(params.get("extra_headers") or {})
    if "organization" in params and headers.get("OpenAI-Organization") == params["organization"]:
        del headers["OpenAI-Organization"]
        if headers:
            params["extra_headers"] = headers
        else:
            del params["extra_headers"]
    for field in SECRET_FIELDS:
        if field in params:
            params[field] = _secret(field, params[field], reveal)
    base = params.get("api_base")
    if isinstance(base, str) and not base.startswith(ENV_REF):
        params["api_base"] = base.rstrip("/")  # llm-admin stores URLs without the trailing slash
    # a price may be given in model_info or litellm_params: LiteLLM reads either
    prices = {}
    for key in PRICES:
        in_info, in_params = info.pop(key, None), params.pop(key, None)
        if in_info is not None or in_params is not None:
            prices[key] = float(in_info if in_info is not None else in_params)
    for key in [k for k in info if k.startswith("llm_admin_")]:
        del info[key]
    if reveal is not None and GENERATED_ID.match(str(info.get("id", ""))):
        del info["id"]  # the generator's stable id where the original had none
    if info.get("mode") is None:  # LiteLLM goes by its cost map's mode for the model, if it has one
        info.pop("mode", None)
        known = _cost_map_mode(route)
        if known:
            info["mode"] = known
    return {
        "model_name": raw["model_name"],
        "route": route,
        "litellm_params": params,
        "prices": prices,
        "model_info": info,
    }


def semantic(
    config_dict: dict[str, Any], *, reveal: Callable[[int, str], str] | None = None
) -> dict[str, Any]:
    """What LiteLLM acts on, normalised. `reveal` (provider id, field) → plain value marks a rendered config.

    Plain-text keys of an original and os.environ/LLM_ADMIN_P<id>_<FIELD> references of a rendered
    config both become `<stored secret FIELD #fingerprint>`, so a reference must resolve to the very
    key the original deployment had.
    """
    deployments = [_deployment(d, reveal) for d in config_dict["model_list"]]
    router = dict(config_dict.get("router_settings") or {})
    litellm_settings = dict(config_dict.get("litellm_settings") or {})
    for key in ("callbacks", "success_callback", "failure_callback"):
        if isinstance(litellm_settings.get(key), str):  # one name: LiteLLM reads it as a list of one
            litellm_settings[key] = [litellm_settings[key]]
    for key in ("num_retries", "allowed_fails"):
        if key not in router and key in litellm_settings:
            router[key] = litellm_settings[key]  # litellm.Router falls back to these litellm settings
    general = {
        k: v for k, v in (config_dict.get("general_settings") or {}).items() if k not in MANAGED_GENERAL
    }
    extra = {
        k: v
        for k, v in config_dict.items()
        if k not in ("model_list", "router_settings", "litellm_settings", "general_settings")
    }
    if isinstance(extra.get("environment_variables"), dict):
        # plain values are deliberately not imported (they may be secrets; the user is warned)
        kept = {k: v for k, v in extra["environment_variables"].items() if str(v).startswith(ENV_REF)}
        extra["environment_variables"] = kept
        if not kept:
            del extra["environment_variables"]
    return {
        "groups": Counter(d["model_name"] for d in deployments),
        "deployments": deployments,
        "router_settings": router,
        "litellm_settings": litellm_settings,
        "general_settings": general,
        "extra": extra,
    }


def _same_deployment(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if {k: v for k, v in a.items() if k != "prices"} != {k: v for k, v in b.items() if k != "prices"}:
        return False
    return a["prices"].keys() == b["prices"].keys() and all(
        math.isclose(a["prices"][k], b["prices"][k], rel_tol=1e-9, abs_tol=1e-15) for k in a["prices"]
    )


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False).rstrip()


def _drop_our_callback(want: dict[str, Any], got: dict[str, Any]) -> None:
    """Take our hooks off the end of the rendered callbacks, where the original did not list them."""
    callbacks = got.get("callbacks")
    if OUR_CALLBACK in (want.get("callbacks") or []) or not isinstance(callbacks, list):
        return
    if callbacks[-1:] == [OUR_CALLBACK]:
        got["callbacks"] = callbacks[:-1]
        if not got["callbacks"] and "callbacks" not in want:
            del got["callbacks"]


def semantic_differences(original: dict[str, Any], rendered: dict[str, Any]) -> list[str]:
    """Readable differences between two `semantic()` results, the generator's own defaults aside."""
    problems: list[str] = []
    if original["groups"] != rendered["groups"]:
        problems.append(
            f"model groups differ: original {dict(original['groups'])}, rendered {dict(rendered['groups'])}"
        )
    unmatched = list(rendered["deployments"])
    missing = []
    for deployment in original["deployments"]:
        twin = next((r for r in unmatched if _same_deployment(deployment, r)), None)
        if twin is None:
            missing.append(deployment)
        else:
            unmatched.remove(twin)
    for deployment in missing:
        same_group = [r for r in unmatched if r["model_name"] == deployment["model_name"]]
        problems.append(
            f"deployment of '{deployment['model_name']}' not rendered back:\n{_dump(deployment)}\n"
            f"unmatched rendered deployments of that group:\n{_dump(same_group)}"
        )
    if unmatched and not missing:
        problems.append(f"rendered deployments the original did not have:\n{_dump(unmatched)}")

    sections = (
        ("router_settings", GENERATOR_ROUTER_DEFAULTS),
        ("litellm_settings", GENERATOR_LITELLM_DEFAULTS),
        ("general_settings", {}),
        ("extra", {}),
    )
    for section, defaults in sections:
        want, got = dict(original[section]), dict(rendered[section])
        if section == "litellm_settings":
            _drop_our_callback(want, got)
        for key, value in defaults.items():
            if key not in want and got.get(key) == value:
                del got[key]
        for key in sorted(want.keys() | got.keys()):
            if want.get(key, "<absent>") != got.get(key, "<absent>"):
                problems.append(
                    f"{section}.{key}: original {want.get(key, '<absent>')!r}, "
                    f"rendered {got.get(key, '<absent>')!r}"
                )
    return problems


# --- fixtures ---------------------------------------------------------------------------------


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
            "LITELLM_MASTER_KEY": "sk-roundtrip-master-" + "x" * 16,
        }
    )


def _import(text: str, *, admin: Actor, ring: KeyRing) -> ImportReport:
    with db.Session.begin() as session:
        return import_config(session, actor=admin, ring=ring, text=text)


def _reveal(ring: KeyRing) -> Callable[[int, str], str]:
    def reveal(provider_id: int, field: str) -> str:
        with db.Session.begin() as session:
            token = session.scalar(
                select(ProviderCredential.ciphertext).where(
                    ProviderCredential.provider_id == provider_id, ProviderCredential.field == field
                )
            )
        assert token, f"LLM_ADMIN_P{provider_id}_{field.upper()} is referenced but nothing is stored"
        return ring.decrypt(token)

    return reveal


def _render(settings: Settings, ring: KeyRing, original: dict[str, Any]) -> dict[str, Any]:
    """The next revision for the imported rows, as the generator renders it (and validates it)."""
    environ = {name: "set" for name in secret_refs(original)}  # the operator's own variables
    with db.Session.begin() as session:
        result = config.plan(session, settings=settings, ring=ring, environ=environ, author="test")
    assert result.problems == [], "\n".join(result.problems)
    rendered = yaml.safe_load(result.text)
    assert rendered == result.config
    return rendered


def _plain_secrets(original: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(index, field, value) of every inline key in an original config's model_list."""
    return [
        (index, field, value)
        for index, d in enumerate(original["model_list"])
        for field, value in d["litellm_params"].items()
        if field in SECRET_FIELDS and isinstance(value, str) and not value.startswith(ENV_REF)
    ]


# --- the round trip ---------------------------------------------------------------------------


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 12
    prefixes = {
        str(d["litellm_params"]["model"]).split("/")[0]
        for path in CORPUS
        for d in yaml.safe_load(path.read_text())["model_list"]
    }
    assert {"openai", "azure", "anthropic", "bedrock", "vertex_ai", "ollama", "ollama_chat"} <= prefixes
    assert {"groq", "mistral", "together_ai", "cohere", "openrouter"} <= prefixes


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_import_then_render_is_semantically_the_same_config(
    path: Path, settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    text = path.read_text()
    original = yaml.safe_load(text)
    _import(text, admin=admin, ring=ring)
    rendered = _render(settings, ring, original)

    differences = semantic_differences(semantic(original), semantic(rendered, reveal=_reveal(ring)))
    assert not differences, f"{path.name} did not survive the round trip:\n" + "\n".join(differences)
    assert rendered["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert rendered["general_settings"]["store_model_in_db"] is False


def test_the_semantic_comparison_notices_a_changed_param_price_fallback_or_key() -> None:
    original = yaml.safe_load((CORPUS_DIR / "13_unknown_params_and_ids.yaml").read_text())
    base = semantic(original)
    assert semantic_differences(base, semantic(original)) == []

    def changed(edit: Callable[[dict[str, Any]], None]) -> list[str]:
        other = yaml.safe_load(yaml.safe_dump(original))
        edit(other)
        return semantic_differences(base, semantic(other))

    assert "stream_timeout: 99" in "\n".join(
        changed(lambda c: c["model_list"][0]["litellm_params"].update(stream_timeout=99))
    )
    assert changed(lambda c: c["model_list"][2]["model_info"].update(input_cost_per_token=1e-6))
    assert changed(lambda c: c["router_settings"].update(fallbacks=[{"gpt-4o": ["vision-small"]}])) == [
        "router_settings.fallbacks: original '<absent>', rendered [{'gpt-4o': ['vision-small']}]"
    ]
    assert changed(lambda c: c["model_list"][0]["litellm_params"].update(api_key="sk-plain"))
    assert changed(lambda c: c["model_list"].pop())[0].startswith("model groups differ")


def test_the_semantic_comparison_leaves_out_only_what_llm_admin_adds() -> None:
    original = yaml.safe_load((CORPUS_DIR / "11_settings_heavy.yaml").read_text())
    assert original["litellm_settings"]["callbacks"] == ["prometheus"]
    assert "timeout" not in original.get("router_settings", {})
    base = semantic(original)

    def differences(edit: Callable[[dict[str, Any]], None]) -> list[str]:
        other = yaml.safe_load(yaml.safe_dump(original))
        edit(other)
        return semantic_differences(base, semantic(other))

    def settings(**values: Any) -> Callable[[dict[str, Any]], None]:
        return lambda c: c["litellm_settings"].update(values)

    def router(**values: Any) -> Callable[[dict[str, Any]], None]:
        return lambda c: c.setdefault("router_settings", {}).update(values)

    assert differences(settings(callbacks=["prometheus", OUR_CALLBACK])) == []
    assert differences(router(timeout=4)) == []
    assert differences(settings(callbacks=[OUR_CALLBACK])) == [
        "litellm_settings.callbacks: original ['prometheus'], rendered []"
    ]
    assert differences(settings(callbacks=[OUR_CALLBACK, "prometheus"])) == [
        f"litellm_settings.callbacks: original ['prometheus'], rendered ['{OUR_CALLBACK}', 'prometheus']"
    ]
    assert differences(settings(callbacks=["prometheus", "otel", OUR_CALLBACK]))
    assert differences(router(timeout=5)) == ["router_settings.timeout: original '<absent>', rendered 5"]

    # an original that set them must get its own values back
    no_callbacks = yaml.safe_load(yaml.safe_dump(original))
    del no_callbacks["litellm_settings"]["callbacks"]
    no_callbacks["router_settings"] = {"timeout": 30}
    lacking = semantic(no_callbacks)
    assert semantic_differences(lacking, semantic(no_callbacks)) == []
    rendered = yaml.safe_load(yaml.safe_dump(no_callbacks))
    rendered["litellm_settings"]["callbacks"] = [OUR_CALLBACK]
    assert semantic_differences(lacking, semantic(rendered)) == []
    rendered["router_settings"]["timeout"] = 4
    assert semantic_differences(lacking, semantic(rendered)) == [
        "router_settings.timeout: original 30, rendered 4"
    ]


# --- secrets on the way in ----------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_inline_key_is_stored_encrypted_and_decrypts_to_the_original(
    path: Path, ring: KeyRing, admin: Actor, db_url: str
) -> None:
    original = yaml.safe_load(path.read_text())
    _import(path.read_text(), admin=admin, ring=ring)
    with db.Session.begin() as session:
        tokens = session.scalars(
            select(ProviderCredential.ciphertext).where(ProviderCredential.ciphertext.is_not(None))
        )
        decrypted = sorted(ring.decrypt(t) for t in tokens if t)
    plain = {value for _, _, value in _plain_secrets(original)}
    assert set(decrypted) == plain


def test_an_inline_key_decrypts_to_the_pasted_value(ring: KeyRing, admin: Actor, db_url: str) -> None:
    _import((CORPUS_DIR / "01_openai_inline_key.yaml").read_text(), admin=admin, ring=ring)
    with db.Session.begin() as session:
        provider = session.scalars(select(Provider)).one()
        credential = provider.credential("api_key")
        assert credential is not None and credential.ciphertext and credential.env_var is None
        assert ring.decrypt(credential.ciphertext) == "sk-proj-corpus01Hq7tV2xWb9LmN4pR6sT8uY0zA3cE5gJ"
        assert sorted(m.alias for m in provider.models) == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]


def test_environment_references_stay_environment_sourced(ring: KeyRing, admin: Actor, db_url: str) -> None:
    _import((CORPUS_DIR / "05_bedrock.yaml").read_text(), admin=admin, ring=ring)
    with db.Session.begin() as session:
        rows = session.execute(
            select(ProviderCredential.field, ProviderCredential.env_var, ProviderCredential.ciphertext)
        )
        sources = sorted({(field, env, token) for field, env, token in rows})
    assert sources == [
        ("aws_access_key_id", "AWS_ACCESS_KEY_ID", None),
        ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", None),
        ("aws_session_token", "AWS_SESSION_TOKEN", None),
    ]


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_inline_key_gets_a_warning_to_remove_it_from_the_old_file(
    path: Path, ring: KeyRing, admin: Actor, db_url: str
) -> None:
    original = yaml.safe_load(path.read_text())
    report = _import(path.read_text(), admin=admin, ring=ring)
    removal = [w for w in report.warnings if "Remove it from the old file" in w]
    assert sorted(removal) == sorted(
        f"model_list[{index}] ({original['model_list'][index]['model_name']}): {field} was in plain text; "
        "it is now stored encrypted. Remove it from the old file (and rotate it if that file was shared)."
        for index, field, _ in _plain_secrets(original)
    )
    for _, _, value in _plain_secrets(original):
        assert value not in "\n".join(report.warnings)


def test_a_plain_master_key_is_replaced_by_a_reference_with_a_warning(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    text = (CORPUS_DIR / "11_settings_heavy.yaml").read_text()
    report = _import(text, admin=admin, ring=ring)
    [warning] = [w for w in report.warnings if "master_key" in w]
    assert "os.environ/LITELLM_MASTER_KEY" in warning and "remove the key from the old file" in warning
    assert "sk-corpus11-MasterKeyPlainText-7Yh3Kd9" not in warning
    rendered = _render(settings, ring, yaml.safe_load(text))
    assert rendered["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    with db.Session.begin() as session:
        assert "master_key" not in session.get(ConfigSettings, 1).general_settings


def test_plain_environment_variables_are_left_out_with_a_warning_naming_them(
    settings: Settings, ring: KeyRing, admin: Actor
) -> None:
    text = (CORPUS_DIR / "14_environment_variables.yaml").read_text()
    report = _import(text, admin=admin, ring=ring)
    [warning] = [w for w in report.warnings if "environment_variables" in w]
    assert warning.startswith(
        "environment_variables LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, REDIS_HOST were"
    )
    assert "sk-lf-corpus14-Secret8Hg6Fd4" not in warning
    rendered = _render(settings, ring, yaml.safe_load(text))
    assert rendered["environment_variables"] == {"LANGFUSE_HOST": "os.environ/LANGFUSE_HOST_URL"}


# --- a file that is not a LiteLLM config ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["model_list: gpt-4o\n", "- model_name: gpt-4o\n", ""],
    ids=["model-list-not-a-list", "a-bare-list", "empty"],
)
def test_a_file_that_is_not_a_litellm_config_is_refused_and_nothing_is_stored(
    text: str, ring: KeyRing, admin: Actor, db_url: str
) -> None:
    with pytest.raises(config.ConfigInvalid) as err:
        _import(text, admin=admin, ring=ring)
    assert err.value.problems == [
        "the file is not a LiteLLM config: it needs to be a mapping, its model_list a list"
    ]
    assert "nothing was written" in str(err.value)
    with db.Session.begin() as session:
        for table in (Provider, Model, ProviderCredential, AuditEntry):
            assert session.scalar(select(func.count()).select_from(table)) == 0
        row = session.get(ConfigSettings, 1)
        assert row is None or (row.router_settings, row.litellm_settings, row.general_settings) == (
            {},
            {},
            {},
        )


def test_a_bad_deployment_lists_every_problem_and_stores_nothing(
    ring: KeyRing, admin: Actor, db_url: str
) -> None:
    text = yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "ok",
                    "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-inline-bad-1"},
                },
                {"model_name": "no-model", "litellm_params": {"api_key": "os.environ/X"}},
                {"litellm_params": {"model": "openai/gpt-4o-mini"}},
                "gpt-4o",
            ]
        }
    )
    with pytest.raises(config.ConfigInvalid) as err:
        _import(text, admin=admin, ring=ring)
    assert err.value.problems == [
        "model_list[1]: needs model_name and litellm_params.model",
        "model_list[2]: needs model_name and litellm_params.model",
        "model_list[3]: needs model_name and litellm_params",
    ]
    assert "sk-inline-bad-1" not in str(err.value)
    with db.Session.begin() as session:
        assert session.scalar(select(func.count()).select_from(Provider)) == 0
        assert session.scalar(select(func.count()).select_from(ProviderCredential)) == 0


def test_a_plain_secret_under_a_key_llm_admin_does_not_model_is_refused(
    ring: KeyRing, admin: Actor, db_url: str
) -> None:
    """Azure AD's client_secret would be kept as an unmodelled param, i.e. stored and rendered in plain."""
    text = yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o",
                    "litellm_params": {
                        "model": "azure/gpt-4o",
                        "api_base": "https://acme.openai.azure.com",
                        "tenant_id": "3f0c5a52-0000-4000-8000-000000000001",
                        "client_id": "9d1e7a44-0000-4000-8000-000000000002",
                        "client_secret": "azure-ad-plain-secret-Qw3Er5Ty7",
                    },
                }
            ]
        }
    )
    with pytest.raises(config.ConfigInvalid) as err:
        _import(text, admin=admin, ring=ring)
    assert err.value.problems == [
        "model_list[0] (gpt-4o): litellm_params.client_secret is a plain-text secret llm-admin cannot store "
        "encrypted; make it client_secret: os.environ/NAME, export NAME for the proxy, and import again"
    ]
    assert "azure-ad-plain-secret" not in str(err.value)
    with db.Session.begin() as session:
        assert session.scalar(select(func.count()).select_from(Provider)) == 0


def test_plain_secrets_nested_in_params_or_settings_are_refused_all_at_once(
    ring: KeyRing, admin: Actor, db_url: str
) -> None:
    """They would be stored (unencrypted) and rendered as they are, and every apply would refuse them."""
    text = yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o",
                    "litellm_params": {
                        "model": "openai/gpt-4o",
                        "api_key": "os.environ/OPENAI_API_KEY",
                        "extra_headers": {"Authorization": "Bearer hdr-plain-Zx81", "X-Team": "ml"},
                    },
                },
                {
                    "model_name": "local",
                    "litellm_params": {
                        "model": "openai/llama",
                        "api_base": "https://bob:url-plain-Qa7@gpu.internal/v1",
                    },
                },
            ],
            "litellm_settings": {"cache_params": {"type": "redis", "password": "redis-plain-Yt5"}},
            "general_settings": {
                "database_url": "postgresql://llm:db-plain-Rk2@db.internal/litellm",
                "alerting_url": "os.environ/SLACK_WEBHOOK_URL",
            },
        }
    )
    with pytest.raises(config.ConfigInvalid) as err:
        _import(text, admin=admin, ring=ring)
    fix = "is a plain-text secret llm-admin cannot store encrypted; make it {}: os.environ/NAME, export NAME "
    fix += "for the proxy, and import again"
    assert err.value.problems == [
        "model_list[0] (gpt-4o): litellm_params.extra_headers.Authorization " + fix.format("Authorization"),
        "model_list[1] (local): litellm_params.api_base " + fix.format("api_base"),
        "general_settings.database_url " + fix.format("database_url"),
        "litellm_settings.cache_params.password " + fix.format("password"),
    ]
    for secret in ("hdr-plain-Zx81", "url-plain-Qa7", "redis-plain-Yt5", "db-plain-Rk2"):
        assert secret not in str(err.value)
    with db.Session.begin() as session:
        for table in (Provider, Model, ProviderCredential, AuditEntry):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def test_keys_next_to_litellm_params_are_named_in_a_warning(ring: KeyRing, admin: Actor, db_url: str) -> None:
    text = (
        "model_list:\n"
        "  - model_name: gpt-4o\n"
        "    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}\n"
        "    tpm: 1000\n"
        "    team: research\n"
        "general_settings:\n"
        "  master_key: os.environ/PROXY_MASTER_KEY\n"
    )
    report = _import(text, admin=admin, ring=ring)
    assert report.warnings == [
        "model_list[0]: 'team' next to litellm_params is not a LiteLLM key; not imported",
        "general_settings.master_key read os.environ/PROXY_MASTER_KEY; the config now reads "
        "os.environ/LITELLM_MASTER_KEY: export that for the proxy",
    ]
    with db.Session.begin() as session:
        assert session.scalars(select(Provider.tpm)).one() == 1000
