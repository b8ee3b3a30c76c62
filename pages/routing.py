"""Routing: agent routes (callers ask for `agent/<type>`) and the YAML each one produces."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import db, ui
from app.errors import LlmAdminError, ValidationError
from app.services import routes
from app.services.access import Actor

NEW = "➕ New route"
LABELS = {
    "agent_type": "Agent type",
    "model": "Preferred model",
    "fallbacks": "Fallbacks",
    "max_cost_usd": "Max cost",
    "local_only": "Local only",
    "weights": "Weights",
}

actor: Actor = st.session_state.actor
can_edit = actor.can("edit")
state = st.session_state


def _errors() -> dict[str, str]:
    return state.setdefault("route_errors", {})


def _show_error(field: str) -> None:
    message = _errors().get(field)
    if message:
        st.error(ui.text(message), icon="⚠️")


def _clear_errors() -> None:
    state.route_errors = {}


def _weights_text(weights: dict[str, dict[str, float]]) -> str:
    return "\n".join(
        f"{alias}@{provider}={w:g}" for alias, each in weights.items() for provider, w in each.items()
    )


def _fill_form(route: Any) -> None:
    """Put a saved route (or a blank one) into the form's widgets."""
    state.route_agent_type = route.agent_type if route else ""
    state.route_model = route.model if route else None
    state.route_fallbacks = list(route.fallbacks or []) if route else []
    state.route_max_cost = route.max_cost_usd if route else None
    state.route_local_only = bool(route.local_only) if route else False
    state.route_weights = _weights_text(route.weights or {}) if route else ""
    state.route_version = route.version if route else None
    state.route_errors = {}


def _form_values() -> dict[str, Any]:
    """The route as the form holds it; raises ValidationError for unreadable weights."""
    return {
        "agent_type": state.route_agent_type or "",
        "model": state.route_model or "",
        "fallbacks": list(state.route_fallbacks or []),
        "max_cost_usd": state.route_max_cost,
        "local_only": bool(state.route_local_only),
        "weights": routes.parse_weights((state.route_weights or "").splitlines()),
    }


def _saved_values(route: Any) -> dict[str, Any]:
    return {
        "agent_type": route.agent_type,
        "model": route.model,
        "fallbacks": list(route.fallbacks or []),
        "max_cost_usd": route.max_cost_usd,
        "local_only": route.local_only,
        "weights": dict(route.weights or {}),
    }


def _save() -> None:
    editing = state.route_pick != NEW
    try:
        values = _form_values()
        with db.Session.begin() as session:
            route = routes.save_route(
                session,
                actor=state.actor,
                expected_version=state.route_version if editing else None,
                **values,
            )
            name = route.agent_type
    except ValidationError as exc:
        state.route_errors = {e.field: e.message for e in exc.errors}
        return
    except LlmAdminError as exc:  # a conflict with another editor, or a refusal
        state.route_errors = {"form": str(exc)}
        return
    state.route_flash = f"Route agent/{ui.text(name)} saved. It goes live with the next apply (Config page)."
    state.route_pick = name
    state.route_form_for = None  # reload the form from the saved row (its new version)


def _remove(agent_type: str) -> None:
    try:
        with db.Session.begin() as session:
            routes.remove_route(session, actor=state.actor, agent_type=agent_type)
    except LlmAdminError as exc:
        state.route_errors = {"form": str(exc)}
        return
    state.route_flash = f"Route agent/{ui.text(agent_type)} removed. Callers lose it with the next apply."
    state.route_pick = NEW
    state.route_form_for = None
    state.route_confirm_remove = None


def _save_defaults() -> None:
    try:
        with db.Session.begin() as session:
            saved = routes.set_default_fallbacks(session, actor=state.actor, aliases=state.route_defaults)
    except ValidationError as exc:
        state.route_defaults_errors = {e.field: e.message for e in exc.errors}
        return
    state.route_defaults_errors = {}
    state.route_flash = f"Default fallbacks saved: {ui.text(', '.join(saved) or 'none')}."


st.title("Routing")
st.caption(
    'Callers name a route instead of a model (`"model": "agent/summarizer"`): the preferred model '
    "first, then each fallback in order, within the route's cost limit; a local-only route never leaves "
    "local providers. Changes go live with the next config apply."
)

with db.Session.begin() as session:
    saved = {r.agent_type: r for r in routes.list_routes(session)}
    choices = routes.step_choices(session)
    defaults = routes.default_fallbacks(session)

flash = state.pop("route_flash", None)
if flash:
    st.success(flash)

if saved:
    st.dataframe(
        [
            {
                "Route": f"agent/{r.agent_type}",
                "Model → fallbacks": " → ".join([r.model, *(r.fallbacks or [])]),
                "Max cost (USD)": "" if r.max_cost_usd is None else f"${r.max_cost_usd:g}",
                "Local only": r.local_only,
                "Weights": _weights_text(r.weights or {}).replace("\n", ", "),
                "Enabled": r.enabled,
                "Updated by": r.updated_by,
            }
            for r in saved.values()
        ],
        hide_index=True,
        key="routes_table",
    )
else:
    st.info("No routes yet." + (" Add one below." if can_edit else ""))

with st.expander(f"Default fallbacks: {ui.text(', '.join(defaults) or 'none')}"):
    st.caption("Tried, in order, for any model (not a route) that has no fallbacks of its own.")
    if can_edit:
        if "route_defaults" not in state:
            state.route_defaults = list(defaults)
        default_options = sorted(set(choices) | set(state.route_defaults))
        st.multiselect("Default fallbacks", default_options, key="route_defaults")
        message = state.get("route_defaults_errors", {}).get("default_fallbacks")
        if message:
            st.error(ui.text(message), icon="⚠️")
        st.button("Save default fallbacks", key="route_defaults_save", on_click=_save_defaults)

st.subheader("Edit a route" if can_edit else "Routes")
options = ([NEW] if can_edit else []) + list(saved)
if not options:
    st.stop()
if state.get("route_pick") not in options:
    state.route_pick = options[0]
pick = st.selectbox("Route", options, key="route_pick", format_func=lambda o: o if o == NEW else f"agent/{o}")
route = saved.get(pick)

if can_edit:
    if state.get("route_form_for") != pick:
        _fill_form(route)
        state.route_form_for = pick
    aliases = sorted(set(choices) | {a for a in [state.route_model, *state.route_fallbacks] if a})
    if not choices:
        st.warning("No enabled models yet: enable a model on the Models page before adding a route.")
    with st.form("route_form"):
        st.text_input(
            "Agent type",
            key="route_agent_type",
            disabled=route is not None,
            help="Lowercase letters, digits, '-' and '_'; callers ask for agent/<type>.",
        )
        _show_error("agent_type")
        st.selectbox("Preferred model", aliases, key="route_model", index=None, placeholder="Pick a model")
        _show_error("model")
        st.multiselect(
            "Fallbacks, in order",
            aliases,
            key="route_fallbacks",
            help="Tried in the order you pick them when the model before fails.",
        )
        _show_error("fallbacks")
        st.number_input(
            "Max cost per request (USD)",
            key="route_max_cost",
            value=None,
            step=0.01,
            format="%.6f",
            help="Leave empty for no limit. Requests are priced at the dearest step of the route.",
        )
        _show_error("max_cost_usd")
        st.checkbox("Local only (only providers marked local may serve it)", key="route_local_only")
        _show_error("local_only")
        st.text_area(
            "Weights (optional)",
            key="route_weights",
            placeholder="gpt-4o-mini@Azure EU=3\ngpt-4o-mini@OpenAI Prod=1",
            help="One ALIAS@PROVIDER=WEIGHT per line: the share of a step's traffic each provider gets.",
        )
        _show_error("weights")
        left, right = st.columns(2)
        left.form_submit_button("Save route", key="route_save", type="primary", on_click=_save)
        right.form_submit_button("Preview YAML", key="route_preview", on_click=_clear_errors)
    _show_error("form")

    if route is not None:
        if st.button(f"Remove agent/{pick}…", key="route_remove"):
            state.route_confirm_remove = pick
        if state.get("route_confirm_remove") == pick:
            st.warning(
                f"Remove route agent/{ui.text(pick)}? Callers asking for it get an error after the next "
                "apply."
            )
            yes, no = st.columns(2)
            yes.button(
                "Yes, remove it", key="route_remove_confirm", type="primary", on_click=_remove, args=(pick,)
            )
            if no.button("Cancel", key="route_remove_cancel"):
                state.route_confirm_remove = None
                st.rerun()

st.subheader("YAML this route produces")
try:
    values = _form_values() if can_edit else _saved_values(saved[pick])
except ValidationError as exc:
    st.error("; ".join(f"{LABELS.get(e.field, e.field)}: {ui.text(e.message)}" for e in exc.errors))
else:
    if not values["model"]:
        st.caption("Pick a preferred model to see the YAML.")
    else:
        with db.Session.begin() as session:
            preview = routes.preview_route(session, **values)
        for error in preview.errors:
            st.error(f"{LABELS.get(error.field, error.field)}: {ui.text(error.message)}")
        if preview.text:
            st.code(preview.text, language="yaml")
