"""Models: an editable table of every provider's models; one Save applies all edits in one transaction."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import db, ui
from app.errors import LlmAdminError, ValidationError
from app.services import model_table, models
from app.services.access import Actor
from app.services.model_table import ModelFilter

actor: Actor = st.session_state.actor
can_edit = actor.can("edit")
st.title("Models")
st.caption(
    "Prices are USD per 1M tokens; unset ones came from LiteLLM's cost map when the model was added. "
    "Only enabled models are routed to after the next apply."
)

flash = st.session_state.pop("models_flash", None)
if flash:
    st.success(flash)

with db.Session.begin() as session:
    provider_names = model_table.provider_choices(session)

search_col, provider_col, enabled_col = st.columns([2, 1, 1])
query = search_col.text_input("Search", key="models_search", placeholder="model ID or alias")
provider_id = provider_col.selectbox(
    "Provider",
    [None, *provider_names],
    format_func=lambda pid: "All providers" if pid is None else provider_names[pid],
    key="models_provider",
)
shown = enabled_col.selectbox("Enabled", ["All", "Enabled", "Disabled"], key="models_enabled")
filters = ModelFilter(
    query=query.strip(),
    provider_id=provider_id,
    enabled={"All": None, "Enabled": True, "Disabled": False}[shown],
)

# The editor keeps the rows (and their versions) it was loaded with until Save, Reload or a new filter,
# so a save made on stale rows is caught as a conflict instead of silently overwriting.
snapshot = st.session_state.get("models_snapshot")
if snapshot is None or snapshot["filters"] != filters:
    with db.Session.begin() as session:
        rows = model_table.model_rows(session, filters=filters)
    snapshot = {"filters": filters, "rows": rows}
    st.session_state.models_snapshot = snapshot
    st.session_state.pop("models_editor", None)
rows = snapshot["rows"]

if not rows:
    st.info(
        "No models match. Add a provider and use Sync models on the Providers page, or clear the filters."
    )
    st.stop()

if len(rows) >= model_table.ROW_LIMIT:
    st.caption(f"Showing the first {model_table.ROW_LIMIT:,} matches; narrow the search to see the rest.")

frame = pd.DataFrame(rows).set_index("id")
columns = {
    "provider": st.column_config.TextColumn("Provider"),
    "model": st.column_config.TextColumn("Model"),
    "enabled": st.column_config.CheckboxColumn("Enabled"),
    "display_name": st.column_config.TextColumn("Display name", help="What people read; empty: the alias"),
    "alias": st.column_config.TextColumn("Alias", help="The model name callers ask the proxy for"),
    "mode": st.column_config.SelectboxColumn(
        "Mode", options=models.MODES, help="The endpoint it serves: chat, embedding, …"
    ),
    "input_cost_per_1m": st.column_config.NumberColumn("Input $/1M", min_value=0.0, format="%.4f"),
    "output_cost_per_1m": st.column_config.NumberColumn("Output $/1M", min_value=0.0, format="%.4f"),
    "context_window": st.column_config.NumberColumn(
        "Context window", min_value=1, step=1, format="localized"
    ),
    "supports_streaming": st.column_config.CheckboxColumn("Streaming"),
    "supports_tools": st.column_config.CheckboxColumn("Tools"),
    "supports_vision": st.column_config.CheckboxColumn("Vision"),
    "supports_audio": st.column_config.CheckboxColumn("Audio"),
    "supports_system_messages": st.column_config.CheckboxColumn("System messages"),
}
order = ["provider", "model", *model_table.EDITABLE_COLUMNS]

if not can_edit:
    st.dataframe(frame, column_order=order, column_config=columns, hide_index=True, key="models_table")
    st.caption(f"{len(rows)} models. Only admins can change them.")
    st.stop()

st.data_editor(
    frame,
    column_order=order,
    column_config=columns,
    disabled=["provider", "model"],
    hide_index=True,
    num_rows="fixed",
    key="models_editor",
)
pending = model_table.pending_edits(rows, st.session_state.get("models_editor", {}).get("edited_rows", {}))

save_col, reload_col, enable_col, disable_col = st.columns(4)
save = save_col.button(
    f"Save {len(pending)} change{'s' * (len(pending) != 1)}",
    key="models_save",
    type="primary",
    disabled=not pending,
)
reload = reload_col.button(
    "Reload", key="models_reload", help="Discard unsaved edits and read the table again"
)
matching = f"{len(rows):,}" + ("+" if len(rows) >= model_table.ROW_LIMIT else "")
enable_all = enable_col.button(f"Enable all {matching} matching", key="models_enable_all")
disable_all = disable_col.button(f"Disable all {matching} matching", key="models_disable_all")

if reload:
    st.session_state.pop("models_snapshot", None)
    st.rerun()

if save:
    try:
        with db.Session.begin() as session:
            saved = model_table.save_edits(session, actor=actor, edits=pending)
    except ValidationError as err:
        st.error("Nothing was saved. Fix these and save again:")
        for problem in err.errors:
            st.error(f"**{ui.text(problem.field)}**: {ui.text(problem.message)}")
    except LlmAdminError as exc:  # a conflict names who changed the row and when
        st.error(f"Nothing was saved: {ui.text(exc)}")
    else:
        st.session_state.pop("models_snapshot", None)
        st.session_state.models_flash = f"Saved {saved} model{'s' * (saved != 1)}."
        st.rerun()

if enable_all or disable_all:
    try:
        with db.Session.begin() as session:
            ids = model_table.matching_ids(session, filters=filters)
            models.set_models_enabled(session, actor=actor, model_ids=ids, enabled=enable_all)
    except LlmAdminError as exc:
        st.error(ui.text(exc))
    else:
        st.session_state.pop("models_snapshot", None)
        verb = "Enabled" if enable_all else "Disabled"
        st.session_state.models_flash = f"{verb} {len(ids)} model{'s' * (len(ids) != 1)}."
        st.rerun()
