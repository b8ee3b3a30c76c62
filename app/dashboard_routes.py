"""The two HTTP routes beside the dashboard that set and clear its session cookie (see
app.services.dashboard_sessions): GET /llm-admin/session?code=…&next=/page redeems a sign-in's
one-time code, sets the HttpOnly cookie and returns the browser to the page it was on;
GET /llm-admin/signout ends the cookie's session on the server and clears the cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from app import db, ui
from app.services import dashboard_sessions

SESSION_PATH = "/llm-admin/session"
SIGNOUT_PATH = "/llm-admin/signout"


def safe_next(value: str | None) -> str:
    """A path on this site to return to; anything else (another host, a scheme) becomes '/'."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _secure(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return ui.settings().trust_forwarded_for and forwarded.split(",")[0].strip() == "https"


def _redirect(to: str) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the code in this URL goes nowhere else
    return response


def _redeem(code: str) -> str | None:
    ui.settings()  # binds the database
    with db.Session.begin() as session:
        return dashboard_sessions.redeem(session, code)


def _end(token: str) -> None:
    ui.settings()
    with db.Session.begin() as session:
        dashboard_sessions.end(session, token=token)


async def start_session(request: Request) -> RedirectResponse:
    token = await run_in_threadpool(_redeem, request.query_params.get("code", ""))
    response = _redirect(safe_next(request.query_params.get("next")))
    if token is not None:
        response.set_cookie(
            dashboard_sessions.COOKIE,
            token,
            max_age=int(dashboard_sessions.ABSOLUTE.total_seconds()),
            path="/",
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )
    return response


async def sign_out(request: Request) -> RedirectResponse:
    token = request.cookies.get(dashboard_sessions.COOKIE)
    if token:
        await run_in_threadpool(_end, token)
    response = _redirect("/")
    response.delete_cookie(dashboard_sessions.COOKIE, path="/", httponly=True, samesite="lax")
    return response


routes = [Route(SESSION_PATH, start_session), Route(SIGNOUT_PATH, sign_out)]
