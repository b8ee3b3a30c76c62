"""Providers: status table, add and edit from a template, Test Connection, Sync models, delete, restore."""

from __future__ import annotations

import json
import os
from typing import Any

import streamlit as st

from app import catalog, db, ui
from app.errors import ConflictError, LlmAdminError, ValidationError
from app.probes import ProbeResult
from app.services import discovery, models, onboarding, provider_forms, provider_status, providers, templates
from app.services.access import Actor
from app.services.discovery import SyncResult
from app.services.provider_status import ProviderRow

actor: Actor = st.session_state.actor
st.title("Providers")
st.caption("The LLM providers the proxy routes to. Secrets are stored encrypted and shown masked.")

try:
    ring = ui.key_ring()
except LlmAdminError as exc:
    st.error(f"The key ring is unusable, so secrets cannot be read or stored: {ui.text(exc)}")
    st.stop()


# the provider's limits LiteLLM enforces per deployment: field → label (empty: no limit)
LIMITS = {
    "rpm": "Requests per minute",
    "tpm": "Tokens per minute",
    "timeout_seconds": "Timeout (seconds)",
}


def limit_inputs(prefix: str, current: providers.ProviderView | None) -> dict[str, str]:
    """One text input per limit, in a row; the service checks the values (whole numbers, seconds)."""
    columns = st.columns(len(LIMITS))
    values = {}
    for column, (field, label) in zip(columns, LIMITS.items(), strict=True):
        shown = getattr(current, field) if current is not None else None
        values[field] = column.text_input(
            label,
            value="" if shown is None else f"{shown:g}",
            key=f"{prefix}_{field}",
            help="Empty: no limit." if field != "timeout_seconds" else "Empty: LiteLLM's default.",
        )
    return values


def default_model_input(prefix: str, choices: list[str], current: str | None) -> str:
    """The default model, picked from the provider's models; typed only when it has none listed yet."""
    if not choices:
        return st.text_input("Default model", value=current or "", key=f"{prefix}_default")
    options = choices if not current or current in choices else [current, *choices]
    picked = st.selectbox(
        "Default model",
        ["", *options],
        index=options.index(current) + 1 if current in options else (1 if not current else 0),
        format_func=lambda m: m or "(none)",
        key=f"{prefix}_default",
    )
    return str(picked)


def field_label(type_id: str | None, name: str) -> str:
    """The form label of a field a service named, e.g. 'params.api_version' → 'API version'."""
    base = name.removeprefix("params.").removesuffix("_env")
    spec = catalog.PROVIDER_TYPES[type_id].field(base) if type_id in catalog.PROVIDER_TYPES else None
    labels = {
        "name": "Name",
        "base_url": "Base URL",
        "type": "Type",
        "default_model": "Default model",
        **LIMITS,
    }
    label = spec.label if spec else labels.get(base, base)
    return f"{label} (environment variable)" if name.endswith("_env") else label


def show_field_errors(err: ValidationError, type_id: str | None) -> None:
    for problem in err.errors:
        st.error(f"**{field_label(type_id, problem.field)}** (`{problem.field}`): {ui.text(problem.message)}")


def run_test(provider_id: int, name: str, *, sync: bool = False, enable_default: bool = False) -> None:
    """Test Connection (and Sync models) with progress, then keep the outcome to show after the rerun."""
    outcome: dict[str, Any] = {"provider_id": provider_id, "name": name}
    try:
        with st.status(f"Testing {ui.text(name)}…", expanded=True) as status:
            checked = discovery.check_connection(
                actor=actor,
                ring=ring,
                provider_id=provider_id,
                environ=os.environ,
                sync=sync,
                enable_default=enable_default,
                notify=lambda step: st.write(ui.text(step)),
            )
            outcome.update(test=checked.test, sync=checked.sync, enabled=checked.enabled)
            status.update(state="complete" if checked.test.ok else "error")
    except LlmAdminError as exc:
        outcome["error"] = str(exc)
    st.session_state.provider_outcome = outcome
    st.session_state.provider_focus = provider_id
    st.rerun()


def _priced(synced: SyncResult) -> str:
    """How the added models were priced: "from LiteLLM's cost map" only of those it priced."""
    if not synced.added:
        return ""
    if not synced.priced:
        return "; LiteLLM's cost map has no price for them: set prices on the Models page"
    if len(synced.priced) < len(synced.added):
        return f"; {len(synced.priced)} priced from LiteLLM's cost map, the others have no price yet"
    return ", priced from LiteLLM's cost map"


def show_outcome(outcome: dict[str, Any]) -> None:
    """The last Test Connection / Sync models: response time, tokens, models, success or the fix."""
    if "error" in outcome:
        st.error(f"{ui.text(outcome['name'])}: {ui.text(outcome['error'])}")
        return
    result: ProbeResult = outcome["test"]
    verdict = "connected" if result.ok else "failed"
    with st.status(
        f"{ui.text(outcome['name'])}: {verdict}", state="complete" if result.ok else "error", expanded=True
    ):
        left, middle, right = st.columns(3)
        left.metric("Response time", f"{result.latency_ms:.0f} ms")
        middle.metric("Tokens used", result.tokens_used)
        right.metric("Models listed", len(result.models))
        if result.ok:
            st.success(ui.text(result.message))
        else:
            st.error(ui.text(result.message))
        if result.models:
            listed = ", ".join(result.models[:100]) + (" …" if len(result.models) > 100 else "")
            st.caption("Listed: " + ui.text(listed))
    synced: SyncResult | None = outcome.get("sync")
    if synced is not None:
        st.success(
            f"Sync models: {len(synced.added)} added (disabled{_priced(synced)}), "
            f"{len(synced.existing)} already present. Enable them on the Models page."
        )
        for problem in synced.skipped:
            st.warning(f"Skipped `{problem.field}`: {ui.text(problem.message)}")
    if outcome.get("enabled"):
        st.info(f"Enabled {ui.text(outcome['enabled'])} as the default model.")


# --- first run ------------------------------------------------------------------------------


def onboarding_section(*, first: bool) -> None:
    """First run: what was found on this machine, each added in one click, tested, models synced."""
    with db.Session.begin() as session:
        candidates = onboarding.detect(session, environ=os.environ)
    if not candidates and not first:
        st.session_state.pop("onboarding", None)
        return
    st.subheader("Get started")
    if not candidates:
        st.info(
            "No providers yet, no provider keys in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, …) "
            "and no local server on Ollama's port 11434 or LocalAI's 8080. Add a provider below."
        )
        return
    st.write("Found on this machine; add each in one click (it is tested and its models are synced):")
    for candidate in candidates:
        with st.container(border=True):
            st.markdown(f"**{ui.text(candidate.name)}** ({candidate.type}): {ui.text(candidate.found)}")
            if candidate.secret_envs:
                refs = ", ".join(f"{f} from ${v}" for f, v in candidate.secret_envs.items())
                st.caption(
                    f"Kept as a reference to the environment ({ui.text(refs)}), not a copy of the key."
                )
            if candidate.missing:
                st.warning(f"Cannot add it yet: {ui.text(candidate.missing)}.")
            elif actor.can("edit") and st.button(
                f"Add {ui.text(candidate.name)}", key=f"onboard_{candidate.key}"
            ):
                try:
                    with db.Session.begin() as session:
                        provider = onboarding.add_candidate(
                            session, actor=actor, ring=ring, candidate=candidate
                        )
                        pid, name = provider.id, provider.name
                except ValidationError as err:
                    show_field_errors(err, candidate.type)
                else:
                    run_test(pid, name, sync=True, enable_default=True)
    if not actor.can("edit"):
        st.info("Ask an admin to add them.")
    elif not first and st.button("Done", key="onboard_done"):
        st.session_state.pop("onboarding", None)
        st.rerun()


# --- forms ----------------------------------------------------------------------------------


def secret_inputs(
    ptype: catalog.ProviderType, prefix: str, current: dict[str, providers.CredentialView], *, editing: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """A password input for each secret field, or the environment variable it is read from instead."""
    secrets: dict[str, str] = {}
    envs: dict[str, str] = {}
    for spec in ptype.secret_fields:
        cred = current.get(spec.name)
        value = st.text_input(
            spec.label + (" *" if spec.required else ""), type="password", key=f"{prefix}_secret_{spec.name}"
        )
        if cred is not None and cred.masked:
            st.caption(f"{spec.label} stored: `{cred.masked}`; leave empty to keep it")
        old_env = cred.env_var or "" if cred is not None else ""
        env = st.text_input(
            f"…or read the {spec.label.lower()} from this environment variable",
            value=old_env,
            key=f"{prefix}_env_{spec.name}",
            placeholder=ptype.key_env if spec.name == "api_key" and ptype.key_env else "",
        ).strip()
        if value:
            secrets[spec.name] = value
        elif env and (env != old_env or not editing):
            envs[spec.name] = env
    return secrets, envs


def param_inputs(ptype: catalog.ProviderType, prefix: str, current: dict[str, Any]) -> dict[str, str]:
    """A text input for each plain parameter of the type (extra headers as JSON)."""
    params = {}
    for spec in ptype.param_fields:
        value = current.get(spec.name)
        shown = json.dumps(value) if isinstance(value, dict) else str(value or "")
        params[spec.name] = st.text_input(
            spec.label + (" *" if spec.required else ""),
            value=shown,
            key=f"{prefix}_param_{spec.name}",
            help=spec.help or None,
        )
    return {k: v for k, v in params.items() if v.strip()}


def add_form() -> None:
    with db.Session.begin() as session:
        choices = provider_forms.template_choices(session)
    by_key = {choice.key: choice for choice in choices}
    picked = st.selectbox(
        "Start from a template", list(by_key), format_func=lambda k: by_key[k].label, key="add_template"
    )
    template = by_key[picked]
    ptype = catalog.PROVIDER_TYPES[template.type]
    if ptype.notes:
        st.caption(ptype.notes)
    # per-template keys: switching templates starts from that template's values, not the last one's
    slug = "".join(ch if ch.isalnum() else "_" for ch in template.name.lower())
    prefix = f"add_{template.type}" if template.kind == "system" else f"add_custom_{slug}"
    with st.form("add_provider"):
        name = st.text_input("Name *", key=f"{prefix}_name", placeholder=f"e.g. {template.type}-prod")
        base_url = None
        if provider_forms.shows_base_url(template.type):
            base_url = st.text_input(
                "Base URL" + (" *" if ptype.base_url_required else ""),
                value=template.base_url or "",
                key=f"{prefix}_base_url",
            )
        current = {f: providers.CredentialView(f, None, v) for f, v in template.secret_envs.items()}
        secrets, envs = secret_inputs(ptype, prefix, current, editing=False)
        params = param_inputs(ptype, prefix, template.params)
        default_model = default_model_input(prefix, template.models, template.default_model)
        limits = limit_inputs(prefix, None)
        is_local = None
        if template.type == "custom":
            is_local = st.checkbox("Local (on-prem): local-only routes may use it", key=f"{prefix}_local")
        submitted = st.form_submit_button("Add provider")
    if not submitted:
        return
    fields: dict[str, Any] = dict(
        base_url=base_url or None,
        secrets=secrets,
        secret_envs=envs,
        params=params,
        default_model=default_model,
        **limits,
    )
    if is_local is not None:
        fields["is_local"] = is_local
    try:
        with db.Session.begin() as session:
            provider = provider_forms.create_from_template(
                session, actor=actor, ring=ring, template_name=template.name, name=name, **fields
            )
            created, created_id = provider.name, provider.id
    except ValidationError as err:
        show_field_errors(err, template.type)
        return
    except LlmAdminError as exc:
        st.error(ui.text(exc))
        return
    warning = catalog.key_format_warning(ptype, secrets)
    st.session_state.providers_flash = f"Added {ui.text(created)}." + (
        f" Note: {ui.text(warning)}." if warning else ""
    )
    run_test(created_id, created)  # auto-test on creation; the new provider is then the one shown


def edit_form(view: providers.ProviderView) -> None:
    """Edit a provider opened at a version; a newer change by someone else is a conflict, not lost."""
    opened_key = f"provider_opened_{view.id}"
    opened = st.session_state.setdefault(opened_key, view.version)
    ptype = catalog.PROVIDER_TYPES[view.type]
    prefix = f"edit_{view.id}_{opened}"
    current = {c.field: c for c in view.credentials}
    conflict_key = f"provider_conflict_{view.id}"
    if conflict_key in st.session_state:
        st.error(ui.text(st.session_state[conflict_key]))
        if st.button("Reload the provider", key=f"provider_reload_{view.id}"):
            st.session_state.pop(opened_key, None)
            st.session_state.pop(conflict_key, None)
            st.rerun()
    with db.Session.begin() as session:
        model_ids = [m.identifier for m in models.search_models(session, provider_id=view.id)]
    with st.form(f"edit_provider_{view.id}"):
        name = st.text_input("Name *", value=view.name, key=f"{prefix}_name")
        base_url = None
        if provider_forms.shows_base_url(view.type):
            base_url = st.text_input("Base URL", value=view.base_url or "", key=f"{prefix}_base_url")
        secrets, envs = secret_inputs(ptype, prefix, current, editing=True)
        params = param_inputs(ptype, prefix, view.params)
        default_model = default_model_input(prefix, model_ids, view.default_model)
        limits = limit_inputs(prefix, view)
        enabled = st.checkbox("Enabled", value=view.enabled, key=f"{prefix}_enabled")
        submitted = st.form_submit_button("Save changes")
    if not submitted:
        return
    changes: dict[str, Any] = dict(
        name=name,
        params=params,
        default_model=default_model,
        enabled=enabled,
        secrets=secrets,
        secret_envs=envs,
        **limits,
    )
    if base_url is not None:
        changes["base_url"] = base_url
    try:
        with db.Session.begin() as session:
            providers.update_provider(
                session, actor=actor, ring=ring, provider_id=view.id, expected_version=opened, **changes
            )
    except ValidationError as err:
        show_field_errors(err, view.type)
        return
    except ConflictError as exc:  # names who changed it and when; kept until the admin reloads
        st.session_state[conflict_key] = str(exc)
        st.rerun()
    except LlmAdminError as exc:
        st.error(ui.text(exc))
        return
    st.session_state.pop(opened_key, None)
    st.session_state.providers_flash = f"Saved {ui.text(name.strip())}."
    st.rerun()


# --- one provider ---------------------------------------------------------------------------


def provider_panel(row: ProviderRow) -> None:
    view = row.provider
    st.markdown(f"**{ui.text(view.name)}** · {view.type} · {ui.text(row.label)} · {ui.text(row.tested)}")
    if view.last_test_message:
        st.caption(f"Last test: {ui.text(view.last_test_message)}")
    for cred in view.credentials:
        shown = f"`{cred.masked}`" if cred.masked else f"from `${cred.env_var}`"
        label = field_label(view.type, cred.field)
        st.caption(f"{label}: {ui.text(shown)}")
        if cred.masked and actor.can("reveal") and st.button(f"Reveal {label}", key=f"reveal_{cred.field}"):
            try:
                with db.Session.begin() as session:
                    value = providers.reveal_secret(
                        session, actor=actor, ring=ring, provider_id=view.id, field=cred.field
                    )
                st.code(value, language=None)
                st.caption("This reveal was recorded in the audit log.")
            except LlmAdminError as exc:
                st.error(ui.text(exc))
    buttons = st.columns(4)
    if actor.can("operate") and buttons[0].button("Test connection", key="provider_test"):
        run_test(view.id, view.name)
    if actor.can("edit") and buttons[1].button("Sync models", key="provider_sync"):
        run_test(view.id, view.name, sync=True)
    if actor.can("edit") and buttons[2].button("Delete", key="provider_delete"):
        st.session_state.provider_confirm_delete = view.id
    outcome = st.session_state.get("provider_outcome")
    if outcome and outcome["provider_id"] == view.id:
        show_outcome(outcome)
    if st.session_state.get("provider_confirm_delete") == view.id:
        st.warning(
            f"Delete {ui.text(view.name)}? Its {view.enabled_model_count} enabled models stop serving after "
            "the next apply. It can be restored below."
        )
        yes, no = st.columns(2)
        if yes.button(f"Yes, delete {ui.text(view.name)}", key="provider_delete_confirm"):
            with db.Session.begin() as session:
                providers.delete_provider(session, actor=actor, provider_id=view.id)
            st.session_state.pop("provider_confirm_delete", None)
            st.session_state.providers_flash = (
                f"Deleted {ui.text(view.name)}; restore it from Deleted providers."
            )
            st.rerun()
        if no.button("Cancel", key="provider_delete_cancel"):
            st.session_state.pop("provider_confirm_delete", None)
            st.rerun()
    if actor.can("edit"):
        with st.expander(f"Edit {ui.text(view.name)}"):
            edit_form(view)
        with st.expander("Save as template"):
            template_form(view)


def template_form(view: providers.ProviderView) -> None:
    """Keep this provider's settings (never its keys) as a template offered when adding a provider."""
    st.caption("Its type, base URL, parameters, key variables and models; never a stored key.")
    with st.form(f"template_{view.id}"):
        name = st.text_input(
            "Template name *", key=f"template_{view.id}_name", placeholder="e.g. Team OpenAI"
        )
        submitted = st.form_submit_button("Save template")
    if not submitted:
        return
    try:
        with db.Session.begin() as session:
            saved = templates.save_template_from_provider(
                session, actor=actor, provider_id=view.id, name=name
            )
            saved_name = saved.name
    except ValidationError as err:
        for problem in err.errors:
            st.error(f"**Template name**: {ui.text(problem.message)}")
        return
    except LlmAdminError as exc:
        st.error(ui.text(exc))
        return
    st.session_state.providers_flash = (
        f"Saved template {ui.text(saved_name)}; it is offered under “Start from a template”."
    )
    st.rerun()


# --- the page -------------------------------------------------------------------------------

with db.Session.begin() as session:
    rows = provider_status.provider_rows(session, ring=ring, include_deleted=True)
active = [r for r in rows if not r.provider.deleted]
deleted = [r for r in rows if r.provider.deleted]

flash = st.session_state.pop("providers_flash", None)
if flash:
    st.success(flash)

if not rows:
    st.session_state.onboarding = True  # first run: keep offering what was found until each is added
if st.session_state.get("onboarding"):
    onboarding_section(first=not rows)

if active:
    st.dataframe(
        [
            {
                "Name": r.provider.name,
                "Type": r.provider.type,
                "Status": r.label,
                "Tested": r.tested,
                "Default model": r.provider.default_model or "",
                "Enabled models": f"{r.provider.enabled_model_count} of {r.provider.model_count}",
                "Requests (24 h)": r.usage.requests,
                "Cost (24 h)": ui.usd(r.usage.cost_usd),
                "Error rate (24 h)": "—" if r.usage.error_rate is None else f"{r.usage.error_rate:.1%}",
            }
            for r in active
        ],
        hide_index=True,
        key="providers_table",
    )
    by_id = {r.provider.id: r for r in active}
    if st.session_state.get("provider_focus") in by_id:
        st.session_state.provider_pick = st.session_state.pop("provider_focus")
    picked = st.selectbox(
        "Provider", list(by_id), format_func=lambda pid: by_id[pid].provider.name, key="provider_pick"
    )
    if picked is not None:
        provider_panel(by_id[picked])
elif rows:
    st.info("Every provider is deleted; restore one below or add a new one.")

if actor.can("edit"):
    with st.expander("Add a provider", expanded=not rows):
        add_form()

if deleted:
    st.subheader("Deleted providers")
    for r in deleted:
        left, right = st.columns([4, 1])
        left.write(f"{r.provider.name} ({r.provider.type}), deleted by {r.provider.updated_by}")
        if actor.can("edit") and right.button("Restore", key=f"restore_{r.provider.id}"):
            with db.Session.begin() as session:
                providers.restore_provider(session, actor=actor, provider_id=r.provider.id)
            st.session_state.providers_flash = (
                f"Restored {ui.text(r.provider.name)}; its models stay disabled."
            )
            st.rerun()
