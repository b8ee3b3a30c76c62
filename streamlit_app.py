"""Dashboard entry point: the login gate, then st.navigation over pages/."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import streamlit as st
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app import db, ui
from app.dashboard_routes import SESSION_PATH, SIGNOUT_PATH, safe_next
from app.services import dashboard_sessions, users
from app.services.access import Actor, login_source
from app.services.login_throttle import LoginThrottled

st.set_page_config(page_title="llm-admin", page_icon=":material/hub:", layout="wide")
ui.settings()


def _redirect(url: str) -> None:
    """Send the browser to `url` (a full page load), as st.login does: the script talks over a
    websocket, so an HttpOnly cookie can only be set by an HTTP response (app.dashboard_routes)."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        message = ForwardMsg()
        message.auth_redirect.url = url
        ctx.enqueue(message)


def _here() -> str:
    """The path the browser is on (a pasted page URL), to come back to after signing in."""
    url = urlsplit(st.context.url or "/")
    return url.path + (f"?{url.query}" if url.query else "")


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
                started = dashboard_sessions.start(session, user=user) if user else None
        except LoginThrottled as exc:
            st.error(f"Too many failed sign-ins from here: try again in {exc.retry_after} s.")
            return
        if started is None:
            st.error("Wrong username or password (after 5 failures, each try from here waits longer).")
            return
        session_id, code = started
        st.session_state.session_id = session_id
        # the browser swaps the one-time code for the session cookie and comes back here, signed in
        _redirect(f"{SESSION_PATH}?{urlencode({'code': code, 'next': safe_next(_here())})}")
        st.stop()  # not st.rerun: a new run would drop the redirect before it reaches the browser


def _resume() -> Actor | None:
    """The signed-in user, from the session cookie (a reload, a new tab) or this session's sign-in;
    every run re-reads the role and the enabled flag, and ends an idle or too-old session."""
    token = st.context.cookies.get(dashboard_sessions.COOKIE)
    token = token if isinstance(token, str) else None  # AppTest has no browser, hence no cookies
    session_id = st.session_state.get("session_id")
    if not token and session_id is None:
        return None
    with db.Session.begin() as session:
        resumed = dashboard_sessions.resume(session, token=token, session_id=session_id)
    if isinstance(resumed, str):
        st.session_state.clear()
        if resumed:
            st.info(resumed)
        return None
    st.session_state.session_id = resumed.session_id
    st.session_state.actor = resumed.actor
    return resumed.actor


def _must_change(actor: Actor) -> bool:
    with db.Session.begin() as session:
        return users.must_change_password(session, username=actor.name)


actor = _resume()
if actor is not None and st.sidebar.button("Sign out", key="logout"):
    with db.Session.begin() as session:
        dashboard_sessions.end(session, session_id=st.session_state.session_id)
    st.session_state.clear()
    _redirect(SIGNOUT_PATH)  # the browser goes on to clear the cookie; meanwhile the sign-in page
    actor = None

ACCOUNT = "pages/account.py"


def _pages(actor: Actor | None) -> list[st.Page]:
    """The navigation of a signed-in actor (None: every page there is, for their URLs)."""
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
    if actor is None or actor.can("manage_users"):
        pages.append(st.Page("pages/users.py", title="Users", icon=":material/group:", url_path="user-admin"))
    pages.append(st.Page(ACCOUNT, title="My account", icon=":material/person:", url_path="my-account"))
    return pages


if actor is None:
    # a pasted page URL shows the sign-in form too, and that page after signing in
    sign_in = [st.Page(login, title="Sign in", icon=":material/login:", default=True)]
    sign_in += [st.Page(login, title="Sign in", url_path=p.url_path) for p in _pages(None) if p.url_path]
    page = st.navigation(sign_in, position="hidden")
elif _must_change(actor):
    # a one-time or reset password: nothing else until the user has chosen their own
    page = st.navigation(
        [st.Page(ACCOUNT, title="New password", icon=":material/password:", url_path="my-account")]
    )
else:
    st.sidebar.write(f"Signed in as **{ui.text(actor.name)}** ({actor.role})")
    page = st.navigation(_pages(actor))
page.run()
