"""Users (admins only): add, disable or enable, reset a password, change a role; API tokens."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlalchemy.orm import Session

from app import db, ui
from app.errors import LlmAdminError, ValidationError
from app.models import User, as_utc
from app.services import api_tokens, users
from app.services.access import ROLES, Actor

actor: Actor = st.session_state.actor
state = st.session_state

st.title("Users")
if not actor.can("manage_users"):
    # the navigation hides this page from other roles; a direct link gets no further
    st.error("Only admins manage users.")
    st.stop()


def _errors(scope: str, field: str | None = None) -> None:
    """The errors of the last `scope` action (those of one field, or all) shown where they belong."""
    for name, message in state.get(f"{scope}_errors", {}).items():
        if field is None or name == field:
            st.error(ui.text(message), icon="⚠️")


def _run(scope: str, done: str, change: Callable[[Session], User]) -> None:
    """One users service call in one transaction; its errors are kept for the page to show inline."""
    try:
        with db.Session.begin() as session:
            name = change(session).username
    except ValidationError as exc:
        state[f"{scope}_errors"] = {e.field: e.message for e in exc.errors}
        return
    except LlmAdminError as exc:
        state[f"{scope}_errors"] = {"form": str(exc)}
        return
    state[f"{scope}_errors"] = {}
    state.users_flash = f"{ui.text(name)}: {done}."


def _add() -> None:
    _run(
        "users_add",
        f"added as {state.users_new_role}",
        lambda s: users.create_user(
            s,
            actor=state.actor,
            username=state.users_new_name,
            password=state.users_new_password,
            role=state.users_new_role,
        ),
    )
    if not state.users_add_errors:
        state.users_new_name = state.users_new_password = ""


def _set_role(user_id: int) -> None:
    role = state.users_role
    _run(
        "users_role",
        f"role changed to {role}",
        lambda s: users.set_role(s, actor=state.actor, user_id=user_id, role=role),
    )


def _set_disabled(user_id: int, disabled: bool) -> None:
    _run(
        "users_disable",
        "disabled" if disabled else "enabled",
        lambda s: users.set_disabled(s, actor=state.actor, user_id=user_id, disabled=disabled),
    )
    state.users_confirm_disable = None


def _reset(user_id: int) -> None:
    password = state.users_reset_password
    _run(
        "users_reset",
        "password reset; give it to them through a safe channel: their next sign-in asks for a new one",
        lambda s: users.change_password(s, actor=state.actor, user_id=user_id, password=password),
    )
    if not state.users_reset_errors:
        state.users_reset_password = ""


with db.Session.begin() as session:
    people = users.list_users(session)

flash = state.pop("users_flash", None)
if flash:
    st.success(flash)

st.dataframe(
    [
        {
            "Username": u.username,
            "Role": u.role,
            "Status": "disabled" if u.disabled else "active",
            "Last sign-in (UTC)": "never"
            if u.last_login_at is None
            else f"{as_utc(u.last_login_at):%Y-%m-%d %H:%M}",
            "Created (UTC)": f"{as_utc(u.created_at):%Y-%m-%d %H:%M}",
        }
        for u in people
    ],
    hide_index=True,
    key="users_table",
)

st.subheader("Add a user")
with st.form("users_add_form"):
    st.text_input("Username", key="users_new_name")
    _errors("users_add", "username")
    st.text_input("Password", type="password", key="users_new_password", help="At least 10 characters.")
    _errors("users_add", "password")
    st.selectbox("Role", ROLES, key="users_new_role", index=2)
    _errors("users_add", "role")
    st.form_submit_button("Add user", key="users_add", type="primary", on_click=_add)

st.subheader("Change a user")
by_id = {u.id: u for u in people}
picked = st.selectbox(
    "User", list(by_id), key="users_pick", format_func=lambda i: f"{by_id[i].username} ({by_id[i].role})"
)
person = by_id[picked]
if state.get("users_role_for") != picked:
    state.users_role = person.role
    state.users_role_for = picked
    for scope in ("users_role", "users_reset", "users_disable"):
        state[f"{scope}_errors"] = {}
    state.users_confirm_disable = None

st.selectbox("Role", ROLES, key="users_role")
_errors("users_role")
st.button("Change role", key="users_role_save", on_click=_set_role, args=(picked,))

st.text_input("New password", type="password", key="users_reset_password", help="At least 10 characters.")
_errors("users_reset")
st.button("Reset password", key="users_reset", on_click=_reset, args=(picked,))

if person.disabled:
    st.button("Enable", key="users_enable", on_click=_set_disabled, args=(picked, False))
else:
    if st.button(f"Disable {ui.text(person.username)}…", key="users_disable"):
        state.users_confirm_disable = picked
    if state.get("users_confirm_disable") == picked:
        st.warning(f"Disable {ui.text(person.username)}? They can no longer sign in until enabled again.")
        yes, no = st.columns(2)
        yes.button(
            "Yes, disable",
            key="users_disable_confirm",
            type="primary",
            on_click=_set_disabled,
            args=(picked, True),
        )
        if no.button("Cancel", key="users_disable_cancel"):
            state.users_confirm_disable = None
            st.rerun()
_errors("users_disable")


def _create_token() -> None:
    try:
        with db.Session.begin() as session:
            info, token = api_tokens.create_token(
                session,
                actor=state.actor,
                name=state.tokens_new_name,
                username=by_id[state.tokens_new_user].username,
                days=int(state.tokens_new_days),
            )
    except ValidationError as exc:
        state.tokens_errors = {e.field: e.message for e in exc.errors}
        return
    except LlmAdminError as exc:
        state.tokens_errors = {"form": str(exc)}
        return
    state.tokens_errors = {}
    state.tokens_new_name = ""
    state.tokens_shown = (info.username, info.name, token)


def _revoke_token(token_id: int) -> None:
    try:
        with db.Session.begin() as session:
            info = api_tokens.revoke_token(session, actor=state.actor, token_id=token_id)
    except LlmAdminError as exc:
        state.tokens_errors = {"form": str(exc)}
        return
    state.tokens_errors = {}
    state.tokens_confirm_revoke = None
    state.users_flash = f"API token {ui.text(info.prefix)}… of {ui.text(info.username)}: revoked."


st.subheader("API tokens")
st.caption(
    "A token lets automation use the HTTP API as its user, with that user's role; it is stored only as "
    "a hash and shown once, when created."
)
with db.Session.begin() as session:
    tokens = api_tokens.list_tokens(session, actor=actor)
shown = state.pop("tokens_shown", None)
if shown:
    owner, label, token = shown
    st.success(f"Token for {ui.text(owner)} ({ui.text(label)}). Copy it now: it is not shown again.")
    st.code(token, language=None)
if tokens:
    st.dataframe(
        [
            {
                "User": t.username,
                "Name": t.name,
                "Token": f"{t.prefix}…",
                "State": t.state,
                "Expires (UTC)": f"{t.expires_at:%Y-%m-%d %H:%M}",
                "Last used (UTC)": f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            }
            for t in tokens
        ],
        hide_index=True,
        key="tokens_table",
    )
with st.form("tokens_add_form"):
    st.selectbox(
        "For user",
        list(by_id),
        key="tokens_new_user",
        format_func=lambda i: f"{by_id[i].username} ({by_id[i].role})",
    )
    st.text_input("Name", key="tokens_new_name", placeholder="e.g. ci-pipeline")
    _errors("tokens", "name")
    st.number_input(
        "Days until it expires",
        min_value=1,
        max_value=api_tokens.MAX_DAYS,
        value=api_tokens.DEFAULT_DAYS,
        key="tokens_new_days",
    )
    _errors("tokens", "days")
    st.form_submit_button("Create token", key="tokens_add", on_click=_create_token)
_errors("tokens", "username")
_errors("tokens", "form")
active = {t.id: t for t in tokens if t.state == "active"}
if active:
    revoking = st.selectbox(
        "Token to revoke",
        list(active),
        key="tokens_pick",
        format_func=lambda i: f"{active[i].prefix}… {active[i].username} ({active[i].name})",
    )
    if st.button("Revoke…", key="tokens_revoke"):
        state.tokens_confirm_revoke = revoking
    if state.get("tokens_confirm_revoke") in active:
        doomed = active[state.tokens_confirm_revoke]
        st.warning(f"Revoke {ui.text(doomed.prefix)}…? Requests with it are refused at once.")
        yes, no = st.columns(2)
        yes.button(
            "Yes, revoke",
            key="tokens_revoke_confirm",
            type="primary",
            on_click=_revoke_token,
            args=(doomed.id,),
        )
        if no.button("Cancel", key="tokens_revoke_cancel"):
            state.tokens_confirm_revoke = None
            st.rerun()
