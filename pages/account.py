"""My account: change my own password (required first, after a one-time or reset password)."""

from __future__ import annotations

import streamlit as st

from app import db, ui
from app.errors import LlmAdminError, ValidationError
from app.services import users
from app.services.access import Actor

actor: Actor = st.session_state.actor
state = st.session_state
LABELS = {"current": "Current password", "password": "New password", "again": "New password again"}


def _change() -> None:
    if state.account_new != state.account_again:
        state.account_errors = {"again": "does not match the new password; type it again"}
        return
    try:
        with db.Session.begin() as session:
            users.change_own_password(
                session,
                actor=actor,
                current=state.account_current,
                password=state.account_new,
                keep_session=state.get("session_id"),
            )
    except ValidationError as exc:
        state.account_errors = {e.field: e.message for e in exc.errors}
        return
    except LlmAdminError as exc:
        state.account_errors = {"form": str(exc)}
        return
    state.account_errors = {}
    state.account_current = state.account_new = state.account_again = ""
    state.account_flash = "Password changed."


def _error(field: str) -> None:
    message = state.get("account_errors", {}).get(field)
    if message:
        st.error(f"**{LABELS.get(field, 'Password')}**: {ui.text(message)}", icon="⚠️")


with db.Session.begin() as session:
    forced = users.must_change_password(session, username=actor.name)

st.title("Choose a new password" if forced else "My account")
if forced:
    st.warning("You signed in with a one-time password. Choose your own before you go on.")
else:
    st.caption(f"Signed in as {ui.text(actor.name)} ({actor.role}).")
flash = state.pop("account_flash", None)
if flash and state.pop("account_was_forced", False):
    state.overview_flash = flash
    st.switch_page("pages/overview.py")  # the whole dashboard, now that the password is their own
if flash:
    st.success(flash)
st.text_input("Current password", type="password", key="account_current")
_error("current")
st.text_input("New password", type="password", key="account_new", help="At least 10 characters.")
_error("password")
st.text_input("New password again", type="password", key="account_again")
_error("again")
state.account_was_forced = forced
st.button("Change password", key="account_change", type="primary", on_click=_change)
_error("form")
