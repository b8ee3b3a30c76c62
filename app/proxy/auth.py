"""Caller-key authentication inside the proxy: LiteLLM's `general_settings.custom_auth`.

Every request LiteLLM authenticates comes here. The master key (ops) passes as the proxy's admin.
A caller key is judged from an in-process snapshot of every key's verdict, re-read from our database
every REFRESH_SECONDS by a thread, so the request path never waits on the database and keeps serving
while it is down; a key the snapshot does not know yet is looked up once (a new key works at once).
A revoked, disabled or expired key is refused within REFRESH_SECONDS (plus one query) while the
database answers. Caller keys reach only the model-calling routes, within their scope; their rpm/tpm
limits are handed to LiteLLM's own rate limiter (which answers 429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from app import db
from app.runtime import budgets, caller_keys
from app.runtime.caller_keys import Verdict
from app.settings import load_settings

log = logging.getLogger("llm_admin.auth")
REFRESH_SECONDS = 2.0
UNKNOWN_SECONDS = 2.0  # an unknown key is not looked up again for this long
APPLICATION_KEY = "llm_admin_application"  # in UserAPIKeyAuth.metadata: the usage rows read it
# what a caller key may reach: the model-calling routes, with and without /v1
MODEL_ROUTES = frozenset(
    f"{prefix}/{path}"
    for prefix in ("", "/v1")
    for path in ("chat/completions", "completions", "embeddings", "models")
)
MODEL_ROUTES_TEXT = "/v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models"


class CallerRefused(HTTPException):
    """A request refused by its caller key (auth, scope, limits, budget): the caller's, not a provider's."""

    def __init__(self, status_code: int, message: str, *, application: str | None = None, **kw: Any):
        super().__init__(status_code=status_code, detail=message, **kw)
        self.application = application


class KeyVerdicts:
    """The snapshot of every caller key's verdict and the applications whose enforced budget is spent."""

    def __init__(self) -> None:
        self.by_hash: dict[str, Verdict] = {}
        self.spent: dict[str, str] = {}  # application → budget label
        self.unknown: dict[str, float] = {}  # key hash → when it was found unknown
        self.refreshed_at = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self.refresh()
                    self._thread = threading.Thread(target=self._run, name="llm-admin-keys", daemon=True)
                    self._thread.start()

    def refresh(self) -> bool:
        try:
            db.ensure_init(load_settings().database_url)
            with db.Session() as session:
                by_hash = caller_keys.verdicts(session)
                spent = budgets.exhausted_applications(session)
        except Exception as exc:  # the database is down: keep the last verdicts, try again soon
            log.warning("caller keys not refreshed (%s); serving the last verdicts", type(exc).__name__)
            return False
        self.by_hash, self.spent, self.unknown = by_hash, spent, {}
        self.refreshed_at = time.monotonic()
        return True

    def _run(self) -> None:
        while True:
            time.sleep(REFRESH_SECONDS)
            self.refresh()

    def _lookup(self, key_hash: str) -> Verdict | None:
        db.ensure_init(load_settings().database_url)
        with db.Session() as session:
            return caller_keys.verdict_for(session, key_hash)

    async def get(self, key_hash: str) -> Verdict | None:
        """The key's verdict: from the snapshot, else (once per UNKNOWN_SECONDS) from the database."""
        self.start()
        verdict = self.by_hash.get(key_hash)
        if verdict is not None:
            return verdict
        seen = self.unknown.get(key_hash)
        if seen is not None and time.monotonic() - seen < UNKNOWN_SECONDS:
            return None
        try:
            verdict = await asyncio.to_thread(self._lookup, key_hash)
        except Exception as exc:
            log.warning("caller key not looked up (%s)", type(exc).__name__)
            return None
        if verdict is None:
            if len(self.unknown) > 10_000:  # a flood of made-up keys cannot grow this without bound
                self.unknown.clear()
            self.unknown[key_hash] = time.monotonic()
        else:
            self.by_hash = {**self.by_hash, key_hash: verdict}
        return verdict


verdicts = KeyVerdicts()


def _workers() -> int:
    try:
        return max(1, int(os.environ.get("LLM_ADMIN_PROXY_WORKERS", "1")))
    except ValueError:
        return 1


def per_worker(limit: int | None) -> int | None:
    """LiteLLM counts limits in each worker's memory: each of N workers allows 1/N of the limit, so
    together they never allow more than it."""
    return None if limit is None else max(1, math.ceil(limit / _workers()))


def _master_key() -> str:
    from litellm.proxy import proxy_server

    return str(proxy_server.master_key or "")


async def _requested_model(request: Request) -> str | None:
    from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

    if request.method != "POST":
        return None
    body = await _read_request_body(request)
    model = body.get("model") if isinstance(body, dict) else None
    return str(model) if model else None


def _route(request: Request) -> str:
    root = request.scope.get("root_path") or ""
    path = request.url.path
    return path[len(root) :] if root and path.startswith(root) else path


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """LiteLLM's custom_auth: the master key is the admin; a caller key is judged and scoped."""
    key = (api_key or "").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    master = _master_key()
    if master and hmac.compare_digest(key.encode(), master.encode()):
        return UserAPIKeyAuth(api_key=master, user_role=LitellmUserRoles.PROXY_ADMIN)
    if not key:
        raise CallerRefused(
            401,
            "no caller key: send `Authorization: Bearer <your caller key>`; an admin makes one with "
            "`llm-admin key create --application NAME`",
        )
    if not caller_keys.looks_like_caller_key(key):
        raise CallerRefused(401, "unknown key: caller keys start with llmk_; check the key you were given")
    key_hash = caller_keys.hash_key(key)
    verdict = await verdicts.get(key_hash)
    if verdict is None:
        raise CallerRefused(
            401, f"unknown caller key {key[: caller_keys.VISIBLE]}…; check the key you were given"
        )
    application = verdict.application
    refusal = verdict.refusal(datetime.now(UTC))
    if refusal:
        raise CallerRefused(401, refusal, application=application)
    route = _route(request)
    if route not in MODEL_ROUTES:
        raise CallerRefused(
            403,
            f"the caller key of {application} may call only {MODEL_ROUTES_TEXT}; {route} is for the "
            "proxy's operators",
            application=application,
        )
    model = await _requested_model(request)
    if model is not None and not verdict.allows(model):
        raise CallerRefused(
            403,
            f"the caller key of {application} may call {caller_keys.scope_text(verdict.models)}; not "
            f"{model}. Ask an admin to widen its scope (`llm-admin key show {application}`)",
            application=application,
        )
    budget = verdicts.spent.get(application)
    if budget is not None and model is not None:
        raise CallerRefused(
            429,
            f"the budget of application {application}, {budget}, is spent for this period: its "
            "requests are refused until it resets or an admin raises it (`llm-admin budget list`)",
            application=application,
        )
    return UserAPIKeyAuth(
        api_key=f"llmk-sha256-{key_hash}",
        key_alias=application,
        key_name=f"{application} caller key",
        user_role=LitellmUserRoles.INTERNAL_USER,
        models=list(verdict.models),
        rpm_limit=per_worker(verdict.rpm),
        tpm_limit=per_worker(verdict.tpm),
        metadata={APPLICATION_KEY: application},
    )
