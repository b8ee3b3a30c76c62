"""The FastAPI application: routers, error bodies, request IDs and the OpenAPI docs (served from
files on this machine: the docs page fetches nothing from the internet)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import db
from app.api import routers
from app.api.common import Unauthorized
from app.errors import (
    ConflictError,
    LlmAdminError,
    NotFoundError,
    PermissionDenied,
    SecretKeyError,
    ValidationError,
)
from app.services.config import ConfigInvalid
from app.settings import Settings, load_settings

log = logging.getLogger("llm_admin.api")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# LiteLLM ships Swagger UI's files with its proxy; found without importing LiteLLM
_SWAGGER = Path(find_spec("litellm").origin or ".").parent / "proxy" / "swagger"  # type: ignore[union-attr]

STATUS: list[tuple[type[LlmAdminError], int]] = [
    (Unauthorized, 401),
    (PermissionDenied, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
    (ConfigInvalid, 422),
    (SecretKeyError, 409),
    (LlmAdminError, 400),
]


def _error(
    request: Request, status: int, message: str, errors: list[dict[str, str]] | None = None
) -> Response:
    body: dict[str, Any] = {"error": message, "request_id": request.state.request_id}
    if errors is not None:
        body["errors"] = errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LlmAdminError)
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    if isinstance(exc, ValidationError):
        return _error(
            request, status, str(exc), [{"field": e.field, "message": e.message} for e in exc.errors]
        )
    if isinstance(exc, ConfigInvalid):
        return _error(request, status, str(exc), [{"field": "config", "message": p} for p in exc.problems])
    return _error(request, status, str(exc))


def _field(loc: tuple[Any, ...]) -> str:
    # ("body", "rpm") → rpm; ("query", "limit") → limit; ("header", "if-match") → if-match
    parts = [str(p) for p in loc[1:]] or [str(p) for p in loc]
    return ".".join(parts)


def _body_fields(request: Request) -> list[str]:
    """The fields the endpoint's JSON body takes (for an unknown field's message)."""
    body = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body, "field_info", None), "annotation", None)
    return sorted(getattr(model, "model_fields", {}))


def _problem(request: Request, error: dict[str, Any]) -> dict[str, str]:
    """One of FastAPI's input errors as {field, message}, the message saying what to send."""
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "json_invalid":  # the position in the text is no field
        return {
            "field": "body",
            "message": f"is not valid JSON ({error.get('ctx', {}).get('error', 'invalid')})",
        }
    field = _field(loc)
    if kind == "extra_forbidden":
        known = ", ".join(_body_fields(request)) or "see /api/docs"
        return {"field": field, "message": f"is not a field of this request; known: {known}"}
    if kind == "missing":
        return {"field": field, "message": "is required"}
    return {"field": field, "message": error["msg"]}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such endpoint, a method it does not take) in the same shape."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no endpoint {request.method} {request.url.path}; /api/docs lists them"
    elif exc.status_code == 405:
        message = f"{request.url.path} does not take {request.method}; /api/docs lists what it takes"
    else:
        message = str(exc.detail)
    response = _error(request, exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


async def _request_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own input checks (a wrong type, an unknown field) in the same shape, every one listed."""
    assert isinstance(exc, RequestValidationError)
    errors = [_problem(request, e) for e in exc.errors()]
    return _error(request, 422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)


def create_app(settings: Settings | None = None) -> FastAPI:
    current = settings or load_settings()
    db.init(current.database_url)
    api = FastAPI(
        title="llm-admin API",
        summary="Manage providers, models, routes, budgets, caller keys and the LiteLLM config.",
        description=(
            "Authenticate with `Authorization: Bearer <token>` (`llm-admin token create`, or the Users "
            "page). Each request acts with the token's user and role, as the dashboard does. Errors are "
            "`{error, errors?, request_id}`; lists are `{items, total, limit, offset, next_offset}`."
        ),
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    api.state.settings = current
    api.add_exception_handler(LlmAdminError, _service_error)
    api.add_exception_handler(RequestValidationError, _request_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    if _SWAGGER.is_dir():
        api.mount("/api/docs/static", StaticFiles(directory=_SWAGGER), name="swagger")

    @api.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="llm-admin API",
            swagger_js_url="/api/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/static/swagger-ui.css",
            swagger_favicon_url="data:,",
            # Swagger UI would send the document's URL to validator.swagger.io from any host but
            # localhost: the docs page asks nothing of the internet
            swagger_ui_parameters={"validatorUrl": None},
        )

    @api.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request.state.actor = "-"
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # a bug: the log has the traceback under the request ID, the client only the ID
            log.exception(
                "request_id=%s %s %s failed", request.state.request_id, request.method, request.url.path
            )
            response = _error(
                request,
                500,
                f"internal error; the API's log has the details under request_id={request.state.request_id}",
            )
        response.headers["X-Request-ID"] = request.state.request_id
        log.info(
            "request_id=%s %s %s %d %.1fms actor=%s",
            request.state.request_id,
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            request.state.actor,
        )
        return response

    for router in routers.ALL:
        api.include_router(router)
    return api
