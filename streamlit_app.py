"""Dashboard entry point: the login gate, then st.navigation over pages/."""

from __future__ import annotations

import time

import streamlit as st

from app import db, ui
from app.services import users
from app.services.access import Actor, login_source
from app.services.login_throttle import LoginThrottled

st.set_page_config(page_title="llm-admin", page_icon=":material/hub:", layout="wide")
ui.settings()


def login() -> None:
    """The only page an anonymous session can see."""
    st.title("llm-admin")
    st.caption("Sign in to manage providers, models and routing for the LiteLLM proxy.")
    with st.form("login"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        source = login_source(
            st.context.ip_address,
            st.context.headers.get("X-Forwarded-For"),
            trust_forwarded=ui.settings().trust_forwarded_for,
        )
        try:
            with db.Session.begin() as session:
                user = users.authenticate(session, username=username, password=password, source=source)
                actor = Actor(user.username, user.role) if user else None
        except LoginThrottled as exc:
            st.error(f"Too many failed sign-ins from here: try again in {exc.retry_after} s.")
            return
        if actor is None:
            st.error("Wrong username or password (after 5 failures, each try from here waits longer).")
        else:
            st.session_state.actor = actor
            st.session_state.last_seen = time.time()
            st.rerun()


def _must_change(actor: Actor) -> bool:
    with db.Session.begin() as session:
        return users.must_change_password(session, username=actor.name)


def _expired() -> bool:
    last_seen = st.session_state.get("last_seen", 0.0)
    return time.time() - last_seen > ui.IDLE_TIMEOUT_SECONDS


actor: Actor | None = st.session_state.get("actor")
if actor is not None and _expired():
    st.session_state.clear()
    actor = None
    st.info("You were signed out after 30 minutes without activity.")

if actor is not None:  # every action re-reads the role and the enabled flag
    with db.Session.begin() as session:
        fresh = users.current_actor(session, username=actor.name)
    if fresh is None:
        st.session_state.clear()
        actor = None
        st.info("You were signed out: your account was disabled or removed.")
    else:
        actor = st.session_state.actor = fresh

if actor is not None and st.sidebar.button("Sign out", key="logout"):
    st.session_state.clear()
    st.rerun()

ACCOUNT = "pages/account.py"
if actor is None:
    page = st.navigation([st.Page(login, title="Sign in", icon=":material/login:")])
elif _must_change(actor):
    # a one-time or reset password: nothing else until the user has chosen their own
    page = st.navigation(
        [st.Page(ACCOUNT, title="New password", icon=":material/password:", url_path="my-account")]
    )
else:
    st.session_state.last_seen = time.time()
    st.sidebar.write(f"Signed in as **{ui.text(actor.name)}** ({actor.role})")
    # url_path must differ from the file's stem: AppTest otherwise runs pages/<stem>.py on its own,
    # as if this were a pages/-directory app, skipping this gate.
    pages = [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", url_path="home", default=True),
        st.Page("pages/providers.py", title="Providers", icon=":material/power:", url_path="provider-list"),
        st.Page("pages/models.py", title="Models", icon=":material/neurology:", url_path="model-list"),
        st.Page("pages/routing.py", title="Routing", icon=":material/alt_route:", url_path="routes"),
        st.Page("pages/config.py", title="Config", icon=":material/description:", url_path="config-apply"),
        st.Page(
            "pages/health.py",
            title="Health and alerts",
            icon=":material/monitor_heart:",
            url_path="health-alerts",
        ),
        st.Page(
            "pages/usage.py", title="Usage and costs", icon=":material/payments:", url_path="usage-costs"
        ),
        st.Page("pages/budgets.py", title="Budgets", icon=":material/savings:", url_path="spend-limits"),
        st.Page("pages/keys.py", title="Caller keys", icon=":material/key:", url_path="caller-keys"),
        st.Page("pages/audit.py", title="Audit", icon=":material/history:", url_path="audit-log"),
    ]
    if actor.can("manage_users"):
        pages.append(st.Page("pages/users.py", title="Users", icon=":material/group:", url_path="user-admin"))
    pages.append(st.Page(ACCOUNT, title="My account", icon=":material/person:", url_path="my-account"))
    page = st.navigation(pages)
page.run()
