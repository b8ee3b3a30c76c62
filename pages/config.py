"""Config: the revision the proxy serves against the latest one written; validate, diff, apply, roll back."""

from __future__ import annotations

import os
from collections.abc import Callable

import streamlit as st

from app import db, ui
from app.errors import LlmAdminError
from app.services import config, golive
from app.services.access import Actor
from generator.diff import mask_secrets

actor: Actor = st.session_state.actor
can_operate = actor.can("operate")
settings = ui.settings()
state = st.session_state


def _plan(*, deep: bool) -> config.Plan:
    with db.Session.begin() as session:
        return config.plan(
            session,
            settings=settings,
            ring=ui.key_ring(),
            environ=dict(os.environ),
            author=actor.name,
            deep=deep,
        )


def _show_problems(problems: list[str]) -> None:
    st.error(
        f"The config has {len(problems)} problem(s); nothing was written:\n\n"
        + "\n".join(f"- {ui.text(p)}" for p in problems)
    )


def _show_go_live(result: golive.GoLive) -> None:
    message = ui.text(result.message[:1].upper() + result.message[1:])
    if result.outcome == "live":
        st.success(f"{message}.")
    elif result.outcome == "waiting_restart":
        st.warning(message)
        st.code(result.command or golive.STOCK_RESTART, language="bash")
    elif result.outcome == "starting":
        st.info(f"{message}.")
    elif result.outcome == "failed":
        st.error(
            f"{message}. The proxy rolled back to the last good revision; fix the cause and apply again."
        )
    else:
        st.error(message)


def _write(label: str, write: Callable[[], config.Applied | None]) -> None:
    """Run an apply or a rollback with progress; the page then reloads and shows what the proxy did."""
    with st.status(label, expanded=True) as box:
        try:
            st.write("Checking the config and writing the file (with a backup of the current one)…")
            applied = write()
        except config.ConfigInvalid as exc:
            box.update(label=f"{label}: refused", state="error")
            _show_problems(exc.problems)
            return
        except LlmAdminError as exc:
            box.update(label=f"{label}: failed", state="error")
            st.error(ui.text(exc))
            return
        if applied is None:
            box.update(label=f"{label}: nothing to apply", state="complete")
            return
        st.write(
            f"Revision {applied.number} written to {ui.text(settings.config_path)} "
            f"({ui.text(applied.summary)})."
        )
        if not golive.needs_restart(settings):
            st.write("Waiting for the supervisor to reload the proxy and verify the new revision…")
        result = golive.go_live(settings, applied.number, notify=lambda line: st.write(ui.text(line)))
        box.update(label=f"{label}: {result.outcome.replace('_', ' ')}", state="complete")
    state.config_result = result
    state.config_pick_next = applied.number  # the revision picker moves to it on the rerun
    st.rerun()  # the status and history above were read before the write


st.title("Config")
st.caption(
    "The database is the source of truth; the proxy's litellm-config.yaml is rendered from it. "
    "Secrets never appear in the file: it names them as os.environ/… references."
)

overview = st.container()  # filled last, so it shows what an apply or rollback below just did

st.subheader("Next revision")
buttons = st.columns(3)
validate_clicked = buttons[0].button("Validate", key="config_validate")
diff_clicked = buttons[1].button("Diff", key="config_diff")
apply_clicked = can_operate and buttons[2].button("Apply…", key="config_apply", type="primary")

try:
    if validate_clicked:
        with st.spinner("Validating with our checks and LiteLLM's…"):
            plan = _plan(deep=True)
        if plan.problems:
            _show_problems(plan.problems)
        else:
            st.success(
                f"Valid: revision {plan.number} would serve {len(plan.config['model_list'])} deployment(s)."
            )
        for warning in plan.warnings:
            st.warning(ui.text(warning))
    if diff_clicked:
        plan = _plan(deep=False)
        st.info(f"Changes: {ui.text(plan.summary)}")
        for problem in plan.problems:
            st.error(ui.text(problem))
        if plan.diff:
            st.code(plan.diff, language="diff")
    if apply_clicked:
        plan = _plan(deep=False)
        state.config_confirm_rollback = None
        if plan.problems:
            _show_problems(plan.problems)
        elif config.unchanged(plan, settings):
            st.info("Nothing to apply: the file already matches the database.")
        else:
            state.config_confirm_apply = (plan.number, plan.summary)
            for warning in plan.warnings:
                st.warning(ui.text(warning))
except LlmAdminError as exc:
    st.error(ui.text(exc))

pending = state.get("config_confirm_apply")
if can_operate and pending:
    number, summary = pending
    st.warning(f"Apply revision {number} to {ui.text(settings.config_path)}? Changes: {ui.text(summary)}")
    yes, no = st.columns(2)
    if yes.button("Yes, apply", key="config_apply_confirm", type="primary"):
        state.config_confirm_apply = None
        _write(
            f"Applying revision {number}",
            lambda: config.apply(
                actor=actor, settings=settings, ring=ui.key_ring(), environ=dict(os.environ)
            ),
        )
    elif no.button("Cancel", key="config_apply_cancel"):
        state.config_confirm_apply = None
        st.rerun()

with db.Session.begin() as session:
    revisions = config.history(session)
status = golive.proxy_status(settings)
latest = revisions[0] if revisions else None
restart_needed = golive.restart_loads(settings, status)

with overview:
    done = state.pop("config_result", None)
    if done is not None:
        _show_go_live(done)
    live_col, latest_col, mode_col = st.columns(3)
    live_col.metric(
        "Live on the proxy", "unknown" if status.live_revision is None else f"revision {status.live_revision}"
    )
    latest_col.metric(
        "Latest rendered", "none yet" if latest is None else f"revision {latest.number} ({latest.status})"
    )
    proxy_mode = "reloads on apply" if status.supervised else "not running"
    mode_col.metric("Proxy", "restart to load" if restart_needed else proxy_mode)
    st.caption(ui.text(status.detail))
    if latest is not None and latest.number != status.live_revision:
        if latest.status == "failed":
            st.error(f"Revision {latest.number} failed: {ui.text(latest.message or 'see the proxy log')}")
        elif restart_needed:
            st.warning(f"Revision {latest.number} is written, but the proxy has not loaded it yet.")
    if not status.supervised and not restart_needed:
        st.info(
            "The proxy is not running: `llm-admin proxy run` (or `make run`) starts it on the latest file."
        )
    if restart_needed:
        st.markdown("**Restart command.** This proxy loads a new revision only when it restarts:")
        st.code(golive.restart_advice(settings), language="bash")

st.subheader("History")
if not revisions:
    st.info("No revision yet: apply the config to write the first one.")
    st.stop()
st.dataframe(
    [
        {
            "Revision": r.number,
            "Time (UTC)": f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            "Author": r.author,
            "Status": r.status,
            "Summary": r.summary,
            "Message": r.message or "",
        }
        for r in revisions
    ],
    hide_index=True,
    key="config_history",
)
by_number = {r.number: r for r in revisions}
if state.get("config_pick_next") in by_number:
    state.config_revision_pick = state.pop("config_pick_next")
picked = st.selectbox("Revision", list(by_number), key="config_revision_pick")
with st.expander(f"Revision {picked}'s YAML"):
    st.code(mask_secrets(by_number[picked].yaml_text), language="yaml")

if can_operate:
    if st.button(f"Roll back to revision {picked}…", key="config_rollback"):
        state.config_confirm_rollback = picked
        state.config_confirm_apply = None
    if state.get("config_confirm_rollback") == picked:
        st.warning(
            f"Write revision {picked}'s config as a new revision and make it live? "
            "The database rows are not changed: the next apply renders them again."
        )
        yes, no = st.columns(2)
        if yes.button("Yes, roll back", key="config_rollback_confirm", type="primary"):
            state.config_confirm_rollback = None
            _write(
                f"Rolling back to revision {picked}",
                lambda: config.rollback(actor=actor, settings=settings, number=picked),
            )
        elif no.button("Cancel", key="config_rollback_cancel"):
            state.config_confirm_rollback = None
            st.rerun()
