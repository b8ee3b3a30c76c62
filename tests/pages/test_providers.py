"""Providers page: table and status, add/edit from templates, test, sync, reveal, delete, restore, roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from app import catalog, db, ui
from app.crypto import generate_key
from app.models import AuditEntry, Model, Provider, ProviderHealth, ProviderTemplate, UsageEvent, utcnow
from app.services import providers
from app.services.access import Actor
from tests.pages.helpers import plain
from tests.upstream import FakeUpstream

KEY = "sk-test-0123456789abcdefXYZ"
BOB = Actor("bob", "admin")


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite for every test here; the one PostgreSQL run overrides it."""
    return str(request.param)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(models=("gpt-4o-mini", "gpt-4o", "team-finetune"), api_key=KEY).start()
    yield server
    server.stop()


def open_page(signed_in: Callable[[str], AppTest], role: str) -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/providers.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Providers"]
    return at


def add_provider(name: str = "OpenAI Prod", base_url: str | None = None, key: str = KEY) -> int:
    with db.Session.begin() as session:
        provider = providers.create_provider(
            session,
            actor=BOB,
            ring=ui.key_ring(),
            name=name,
            type="openai",
            base_url=base_url,
            secrets={"api_key": key},
            default_model="gpt-4o-mini",
        )
        return provider.id


def table(at: AppTest) -> list[dict[str, object]]:
    frame = at.dataframe[0].value
    return frame.to_dict("records")  # type: ignore[no-any-return]


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def button_keys(at: AppTest) -> set[str]:
    return {str(b.key) for b in at.button}


def stored_id(name: str) -> int:
    with db.Session.begin() as session:
        return session.scalars(select(Provider.id).where(Provider.name == name)).one()


def stored(provider_id: int) -> Provider:
    with db.Session.begin() as session:
        provider = session.get(Provider, provider_id)
        assert provider is not None
        session.expunge(provider)
        return provider


# --- the table ------------------------------------------------------------------------------


def test_table_shows_status_last_test_models_and_last_24h_usage(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    other = add_provider("Backup", key="sk-other-0123456789abcdef")
    now = utcnow()
    with db.Session.begin() as session:
        providers.record_test_result(
            session, actor=BOB, provider_id=pid, ok=True, latency_ms=40, message="ok"
        )
        session.get(Provider, other).last_test_at = now - timedelta(minutes=30)  # type: ignore[union-attr]
        session.get(Provider, other).last_test_ok = False  # type: ignore[union-attr]
        for cost, status in ((0.10, "success"), (0.15, "success"), (0.05, "failure")):
            session.add(UsageEvent(provider="OpenAI Prod", cost_usd=cost, status=status, at=now))
        session.add(
            UsageEvent(provider="OpenAI Prod", cost_usd=9.0, status="success", at=now - timedelta(days=2))
        )
    at = open_page(signed_in, "viewer")
    rows = {r["Name"]: r for r in table(at)}
    assert rows["OpenAI Prod"] == {
        "Name": "OpenAI Prod",
        "Type": "openai",
        "Status": "🟢 connected",
        "Tested": "tested just now",
        "Default model": "gpt-4o-mini",
        "Enabled models": "0 of 0",
        "Requests (24 h)": 3,
        "Cost (24 h)": "$0.30",
        "Error rate (24 h)": "33.3%",
    }
    assert rows["Backup"]["Status"] == "🔴 disconnected"
    assert rows["Backup"]["Tested"] == "tested 30 minutes ago"
    assert rows["Backup"]["Requests (24 h)"] == 0
    assert rows["Backup"]["Error rate (24 h)"] == "—"


def test_a_provider_the_monitor_finds_degraded_shows_a_warning(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    with db.Session.begin() as session:
        session.add(
            ProviderHealth(provider_id=pid, status="degraded", consecutive_failures=0, checked_at=utcnow())
        )
    at = open_page(signed_in, "viewer")
    assert table(at)[0]["Status"] == "🟡 warning"
    assert table(at)[0]["Tested"] == "tested just now"


# --- add ------------------------------------------------------------------------------------


def test_admin_adds_a_provider_from_a_template_then_tests_it(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream
) -> None:
    at = open_page(signed_in, "admin")
    assert at.selectbox(key="add_template").value == "system:openai"
    assert at.text_input(key="add_openai_base_url").value == "https://api.openai.com/v1"
    secret = at.text_input(key="add_openai_secret_api_key")
    assert secret.proto.type == secret.proto.PASSWORD
    at.text_input(key="add_openai_name").input("OpenAI Prod")
    at.text_input(key="add_openai_base_url").input(f"{upstream.base_url}/v1")
    secret.input(KEY)
    button(at, "Add provider").click().run()
    assert not at.exception
    # added, selected and tested at once: no second click
    assert at.selectbox(key="provider_pick").value == stored_id("OpenAI Prod")
    assert [plain(s.value) for s in at.success] == ["Added OpenAI Prod.", "connected; 3 models listed"]
    row = table(at)[0]
    assert (row["Name"], row["Status"], row["Tested"]) == ("OpenAI Prod", "🟢 connected", "tested just now")
    assert (row["Default model"], row["Enabled models"]) == ("gpt-4o-mini", "1 of 2")
    assert "`sk-…XYZ`" in " ".join(c.value for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Models listed"] == "3"
    assert metrics["Tokens used"] == "0"
    assert metrics["Response time"].endswith(" ms")
    assert at.status[0].label == "OpenAI Prod: connected"
    with db.Session.begin() as session:
        provider = session.scalars(select(Provider)).one()
        assert (provider.last_test_ok, provider.last_test_message) == (True, "connected; 3 models listed")
        assert provider.credentials[0].ciphertext and KEY not in provider.credentials[0].ciphertext
    assert upstream.seen[-1].headers["authorization"] == f"Bearer {KEY}"


def test_the_form_shows_only_the_fields_the_type_needs(signed_in: Callable[[str], AppTest]) -> None:
    at = open_page(signed_in, "admin")
    at.selectbox(key="add_template").select("system:bedrock").run()
    keys = {str(t.key) for t in at.text_input if str(t.key).startswith("add_bedrock")}
    assert keys == {
        "add_bedrock_name",
        "add_bedrock_secret_aws_access_key_id",
        "add_bedrock_env_aws_access_key_id",
        "add_bedrock_secret_aws_secret_access_key",
        "add_bedrock_env_aws_secret_access_key",
        "add_bedrock_secret_aws_session_token",
        "add_bedrock_env_aws_session_token",
        "add_bedrock_param_aws_region_name",
        "add_bedrock_param_aws_bedrock_runtime_endpoint",  # its endpoint override (a VPC endpoint)
        *(f"add_bedrock_{limit}" for limit in ("rpm", "tpm", "timeout_seconds")),  # every type has them
    }
    default = at.selectbox(key="add_bedrock_default")  # picked from the type's models, not typed
    assert default.value == default.options[1] and default.options[0] == "(none)"
    assert at.text_input(key="add_bedrock_param_aws_region_name").value == "us-east-1"
    at.selectbox(key="add_template").select("system:ollama").run()
    keys = {str(t.key) for t in at.text_input if str(t.key).startswith("add_ollama")}
    assert keys == {"add_ollama_name", "add_ollama_base_url"} | {
        f"add_ollama_{limit}" for limit in ("rpm", "tpm", "timeout_seconds")
    }
    assert at.text_input(key="add_ollama_base_url").value == "http://localhost:11434"


def test_add_form_errors_name_each_field_and_store_nothing(signed_in: Callable[[str], AppTest]) -> None:
    at = open_page(signed_in, "admin")
    at.selectbox(key="add_template").select("system:azure_openai").run()
    at.text_input(key="add_azure_openai_base_url").input("ftp://example.com")
    button(at, "Add provider").click().run()
    assert not at.exception
    errors = [plain(e.value) for e in at.error]
    assert "**Name** (`name`): is required; enter a name such as 'openai-prod'" in errors
    assert "**Base URL** (`base_url`): must start with http:// or https:// (got ftp:)" in errors
    assert at.text_input(key="add_azure_openai_param_api_version").value == "2024-10-21"
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Provider.id))) == 0


def test_a_missing_key_is_named_and_nothing_is_stored(signed_in: Callable[[str], AppTest]) -> None:
    at = open_page(signed_in, "admin")
    at.text_input(key="add_openai_name").input("No Key")
    button(at, "Add provider").click().run()
    errors = [plain(e.value) for e in at.error]
    assert errors == [
        "**API key** (`api_key`): is required for OpenAI; paste it or give an environment variable"
    ]
    with db.Session.begin() as session:
        assert session.scalar(select(func.count(Provider.id))) == 0


# --- test connection and sync ---------------------------------------------------------------


def test_a_refused_key_shows_the_actionable_error_and_is_recorded(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream
) -> None:
    pid = add_provider(base_url=f"{upstream.base_url}/v1", key="sk-wrong-0000000000000000")
    at = open_page(signed_in, "admin")
    at.button(key="provider_test").click().run()
    assert not at.exception
    assert plain(at.error[0].value).startswith("HTTP 401: the key was refused; check the API key")
    assert at.status[0].state == "error"
    assert table(at)[0]["Status"] == "🔴 disconnected"
    assert stored(pid).last_test_ok is False


def test_sync_adds_listed_models_disabled_with_litellm_prices(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream
) -> None:
    pid = add_provider(base_url=f"{upstream.base_url}/v1")
    at = open_page(signed_in, "admin")
    at.button(key="provider_sync").click().run()
    assert not at.exception
    assert any(
        s.value.startswith("Sync models: 3 added (disabled; 2 priced from LiteLLM's cost map, the others")
        for s in at.success
    )
    with db.Session.begin() as session:
        rows = {m.identifier: m for m in session.scalars(select(Model).where(Model.provider_id == pid))}
        assert sorted(rows) == ["gpt-4o", "gpt-4o-mini", "team-finetune"]
        assert not any(m.enabled for m in rows.values())
        known = catalog.model_defaults("openai", "gpt-4o-mini")
        assert known.input_cost_per_1m is not None
        assert rows["gpt-4o-mini"].input_cost_per_1m == known.input_cost_per_1m
        assert rows["gpt-4o-mini"].context_window == known.context_window
        assert rows["team-finetune"].input_cost_per_1m is None
    assert table(at)[0]["Enabled models"] == "0 of 3"
    at.button(key="provider_sync").click().run()
    assert any(
        s.value.startswith("Sync models: 0 added (disabled") and "3 already present" in s.value
        for s in at.success
    )


# --- edit, reveal, delete, restore ----------------------------------------------------------


def test_admin_edits_a_provider(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    at = open_page(signed_in, "admin")
    at.text_input(key=f"edit_{pid}_1_name").input("OpenAI Main")
    at.text_input(key=f"edit_{pid}_1_param_organization").input("org-42")
    button(at, "Save changes").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Saved OpenAI Main."]
    provider = stored(pid)
    assert (provider.name, provider.params, provider.version) == (
        "OpenAI Main",
        {"organization": "org-42"},
        2,
    )
    assert table(at)[0]["Name"] == "OpenAI Main"
    with db.Session.begin() as session:
        cred = session.scalars(select(Provider)).one().credentials[0]
        assert ui.key_ring().decrypt(cred.ciphertext or "") == KEY  # an empty key input keeps the key


def test_edit_errors_are_shown_inline_and_nothing_changes(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    at = open_page(signed_in, "admin")
    at.text_input(key=f"edit_{pid}_1_base_url").input("https://user:pw@example.com")
    at.text_input(key=f"edit_{pid}_1_env_api_key").input("1-not-a-name")
    button(at, "Save changes").click().run()
    errors = [plain(e.value) for e in at.error]
    assert (
        "**Base URL** (`base_url`): must not contain credentials; put the key in the API key field" in errors
    )
    assert (
        "**API key (environment variable)** (`api_key_env`): must be an environment variable name like "
        "OPENAI_API_KEY" in errors
    )
    assert stored(pid).version == 1


def test_a_save_over_someone_elses_change_is_a_conflict(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    at = open_page(signed_in, "admin")  # the edit form opens at version 1
    with db.Session.begin() as session:
        providers.update_provider(
            session, actor=BOB, ring=ui.key_ring(), provider_id=pid, expected_version=1, name="Bob's name"
        )
    at.text_input(key=f"edit_{pid}_1_name").input("Mine")
    button(at, "Save changes").click().run()
    assert not at.exception
    assert "was changed by bob at" in at.error[0].value
    assert stored(pid).name == "Bob's name"
    at.button(key=f"provider_reload_{pid}").click().run()
    assert at.text_input(key=f"edit_{pid}_2_name").value == "Bob's name"


def test_admin_reveals_a_key_and_the_reveal_is_audited(signed_in: Callable[[str], AppTest]) -> None:
    add_provider()
    at = open_page(signed_in, "admin")
    assert not at.code
    assert at.button(key="reveal_api_key").label == "Reveal API key"
    at.button(key="reveal_api_key").click().run()
    assert [c.value for c in at.code] == [KEY]
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "provider.reveal_key")).one()
        assert (entry.actor, entry.target_name) == ("admin", "OpenAI Prod")
    at.run()
    assert not at.code  # shown once, for the click that asked


def test_delete_asks_first_then_restore_brings_it_back(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    at = open_page(signed_in, "admin")
    at.button(key="provider_delete").click().run()
    assert at.warning[0].value.startswith("Delete OpenAI Prod?")
    assert stored(pid).deleted_at is None
    at.button(key="provider_delete_cancel").click().run()
    assert not at.warning and stored(pid).deleted_at is None
    at.button(key="provider_delete").click().run()
    at.button(key="provider_delete_confirm").click().run()
    assert not at.exception
    assert stored(pid).deleted_at is not None
    assert [s.value for s in at.subheader] == ["Deleted providers"]
    assert "Every provider is deleted" in at.info[0].value
    at.button(key=f"restore_{pid}").click().run()
    assert stored(pid).deleted_at is None
    assert table(at)[0]["Name"] == "OpenAI Prod"


# --- roles ----------------------------------------------------------------------------------


def test_viewer_sees_the_table_but_no_controls(signed_in: Callable[[str], AppTest]) -> None:
    add_provider()
    at = open_page(signed_in, "viewer")
    assert table(at)[0]["Name"] == "OpenAI Prod"
    assert button_keys(at) == {"logout"}
    assert not at.text_input
    assert "Add a provider" not in [e.label for e in at.expander]


def test_operator_can_test_but_not_reveal_edit_sync_or_delete(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream
) -> None:
    pid = add_provider(base_url=f"{upstream.base_url}/v1")
    with db.Session.begin() as session:
        providers.delete_provider(
            session, actor=BOB, provider_id=add_provider("Old", key="sk-old-0123456789abcd")
        )
    at = open_page(signed_in, "operator")
    assert button_keys(at) == {"provider_test", "logout"}
    assert not at.text_input
    at.button(key="provider_test").click().run()
    assert not at.exception
    assert stored(pid).last_test_ok is True
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "provider.test")).one()
        assert entry.actor == "operator"


def test_admin_sees_every_control(signed_in: Callable[[str], AppTest]) -> None:
    add_provider()
    at = open_page(signed_in, "admin")
    assert {"provider_test", "provider_sync", "provider_delete", "reveal_api_key"} <= button_keys(at)
    assert {"Add a provider", "Edit OpenAI Prod"} <= {e.label for e in at.expander}


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_add_and_test_on_postgresql(
    signed_in: Callable[[str], AppTest], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", generate_key())  # no key file outside embedded mode
    at = open_page(signed_in, "admin")
    at.text_input(key="add_openai_name").input("OpenAI Prod")
    at.text_input(key="add_openai_base_url").input(f"{upstream.base_url}/v1")
    at.text_input(key="add_openai_secret_api_key").input(KEY)
    button(at, "Add provider").click().run()
    at.button(key="provider_test").click().run()
    assert not at.exception
    assert table(at)[0]["Status"] == "🟢 connected"
    assert {m.label: m.value for m in at.metric}["Models listed"] == "3"


# --- rate limits and timeout ----------------------------------------------------------------


def test_limits_set_on_add_are_stored_and_shown_again_on_edit(signed_in: Callable[[str], AppTest]) -> None:
    at = open_page(signed_in, "admin")
    at.selectbox(key="add_template").select("system:openai").run()
    at.text_input(key="add_openai_name").input("limited")
    at.text_input(key="add_openai_secret_api_key").input(KEY)
    at.text_input(key="add_openai_rpm").input("600")
    at.text_input(key="add_openai_tpm").input("90000")
    at.text_input(key="add_openai_timeout_seconds").input("12.5")
    button(at, "Add provider").click().run()
    assert not at.exception
    with db.Session.begin() as session:
        provider = session.scalars(select(Provider)).one()
        assert (provider.rpm, provider.tpm, provider.timeout_seconds) == (600, 90000, 12.5)
        pid = provider.id
    at.run()
    assert at.text_input(key=f"edit_{pid}_1_rpm").value == "600"
    assert at.text_input(key=f"edit_{pid}_1_timeout_seconds").value == "12.5"


def test_bad_limits_are_named_and_an_emptied_limit_is_cleared(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    at = open_page(signed_in, "admin")
    at.text_input(key=f"edit_{pid}_1_rpm").input("lots")
    at.text_input(key=f"edit_{pid}_1_timeout_seconds").input("0")
    button(at, "Save changes").click().run()
    errors = [plain(e.value) for e in at.error]
    assert any(e.startswith("**Requests per minute** (`rpm`): must be a whole number") for e in errors)
    assert any(e.startswith("**Timeout (seconds)** (`timeout_seconds`): must be seconds") for e in errors)
    assert stored(pid).version == 1
    at.text_input(key=f"edit_{pid}_1_rpm").input("100")
    at.text_input(key=f"edit_{pid}_1_timeout_seconds").input("")
    button(at, "Save changes").click().run()
    assert (stored(pid).rpm, stored(pid).timeout_seconds) == (100, None)
    at.text_input(key=f"edit_{pid}_2_rpm").input("")
    button(at, "Save changes").click().run()
    assert stored(pid).rpm is None


# --- save as template -----------------------------------------------------------------------


def test_a_provider_saved_as_a_template_is_offered_when_adding_without_its_key(
    signed_in: Callable[[str], AppTest],
) -> None:
    pid = add_provider()
    at = open_page(signed_in, "admin")
    at.text_input(key=f"template_{pid}_name").input("Team OpenAI")
    button(at, "Save template").click().run()
    assert not at.exception
    assert "Saved template Team OpenAI" in plain(at.success[0].value)
    options = at.selectbox(key="add_template").options
    assert any("Team OpenAI (custom, openai)" in option for option in options)
    with db.Session.begin() as session:
        saved = session.scalars(select(ProviderTemplate).where(ProviderTemplate.name == "Team OpenAI")).one()
        assert KEY not in str(saved.params) + str(saved.settings)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.target_type == "template")).one()
        assert entry.actor == "admin"


def test_a_template_name_already_taken_is_refused_inline(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()
    at = open_page(signed_in, "admin")
    for _ in range(2):
        at.text_input(key=f"template_{pid}_name").input("Team OpenAI")
        button(at, "Save template").click().run()
    assert any(plain(e.value).startswith("**Template name**:") for e in at.error)
    with db.Session.begin() as session:
        assert (
            session.scalar(select(func.count(ProviderTemplate.id)).where(ProviderTemplate.kind == "custom"))
            == 1
        )


def test_sync_does_not_claim_prices_it_did_not_find(signed_in: Callable[[str], AppTest]) -> None:
    server = FakeUpstream(models=("team-a", "team-b"), api_key=KEY).start()
    try:
        add_provider(base_url=f"{server.base_url}/v1")
        at = open_page(signed_in, "admin")
        at.button(key="provider_sync").click().run()
    finally:
        server.stop()
    [done] = [s.value for s in at.success if s.value.startswith("Sync models")]
    assert "LiteLLM's cost map has no price for them" in done and "priced from" not in done


def test_what_a_provider_answers_is_shown_as_text_not_markdown(signed_in: Callable[[str], AppTest]) -> None:
    from markdown_it import MarkdownIt

    hostile = "![p](http://198.51.100.7/pixel.png)"
    server = FakeUpstream(models=(hostile, "gpt-4o-mini"), api_key=KEY).start()
    try:
        add_provider(base_url=f"{server.base_url}/v1")
        at = open_page(signed_in, "admin")
        at.button(key="provider_test").click().run()
    finally:
        server.stop()
    assert not at.exception
    bodies = [str(e.value) for kind in ("caption", "success", "error", "markdown") for e in at.get(kind)]
    html = "\n".join(MarkdownIt("commonmark").render(body) for body in bodies)
    assert "![p](http://198.51.100.7/pixel.png)" in html  # shown, as the characters it is
    assert "<img" not in html and "<a " not in html  # never fetched or linked


def test_the_default_model_is_picked_from_the_providers_models(signed_in: Callable[[str], AppTest]) -> None:
    pid = add_provider()  # default gpt-4o-mini, models gpt-4o-mini and gpt-4o from the template
    with db.Session.begin() as session:
        for identifier in ("gpt-4o", "team-finetune"):
            if not session.scalar(
                select(Model.id).where(Model.provider_id == pid, Model.identifier == identifier)
            ):
                session.add(
                    Model(
                        provider_id=pid,
                        identifier=identifier,
                        alias=identifier,
                        created_by="t",
                        updated_by="t",
                    )
                )
    at = open_page(signed_in, "admin")
    picker = at.selectbox(key=f"edit_{pid}_1_default")
    assert picker.value == "gpt-4o-mini"
    assert {"gpt-4o", "gpt-4o-mini", "team-finetune"} <= set(picker.options)
    picker.select("team-finetune")
    button(at, "Save changes").click().run()
    assert not at.exception
    assert stored(pid).default_model == "team-finetune"
