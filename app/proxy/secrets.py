"""LiteLLM custom secret manager: resolves os.environ/LLM_ADMIN_P<id>_<FIELD> from our encrypted rows.

Our names are never looked up in the environment: the supervisor strips them from the proxy's
environment, and this manager never raises for them (LiteLLM falls back to os.environ when a custom
manager raises). When the database is unreachable a worker uses the values its gunicorn master holds
(sent by the supervisor from its last good pre-flight, see `held_from`); with none held it retries
for a while, and a name still unresolved is listed in `UNRESOLVED`: the worker then exits before it
accepts any request (worker.py) and gunicorn forks a new one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from litellm.integrations.custom_secret_manager import CustomSecretManager

from app import db
from app.crypto import load_key_ring
from app.runtime.secrets import read_stored_secret
from app.settings import load_settings
from generator.build import stored_secret_ref

log = logging.getLogger("llm_admin.secrets")
RETRY_SECONDS = 20.0  # how long a worker with nothing held waits for the database, per start
HELD: dict[str, str] = {}  # the supervisor's last resolved values, in the master's memory (inherited)
UNRESOLVED: set[str] = set()  # our names this process could not resolve
_held_buffer = bytearray()


def held_from(fd: int) -> None:
    """Take the newest complete snapshot (one JSON line each) the supervisor wrote to fd, if any."""
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        _held_buffer.extend(chunk)
    *lines, rest = bytes(_held_buffer).split(b"\n")
    _held_buffer[:] = rest
    for line in reversed(lines):
        if line.strip():
            HELD.clear()
            HELD.update(json.loads(line))
            return


def is_ours(name: str) -> bool:
    return stored_secret_ref(name) is not None


class LlmAdminSecretManager(CustomSecretManager):
    """Decrypts a provider's stored key on first use; cached for the life of the worker."""

    def __init__(self) -> None:
        super().__init__(secret_manager_name="llm-admin")
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def sync_read_secret(
        self, secret_name: str, optional_params: dict[str, Any] | None = None, timeout: Any = None
    ) -> str | None:
        name = secret_name.removeprefix("os.environ/")
        with self._lock:
            if name not in self._cache:
                value, final = self._resolve(name)
                if not final:
                    UNRESOLVED.add(name)
                    return None
                UNRESOLVED.discard(name)
                self._cache[name] = value
            return self._cache[name]

    async def async_read_secret(
        self, secret_name: str, optional_params: dict[str, Any] | None = None, timeout: Any = None
    ) -> str | None:
        return self.sync_read_secret(secret_name, optional_params, timeout)

    def _resolve(self, name: str) -> tuple[str | None, bool]:
        """(value, True) from the database, else from what the master holds; (None, False) if neither."""
        # one name already given up on: the database is down, do not wait again for every other name
        deadline = time.monotonic() + (0.0 if UNRESOLVED or name in HELD else RETRY_SECONDS)
        delay = 0.2
        while True:
            try:
                return self._read(name), True
            except Exception as exc:  # the database is down or refusing
                if name in HELD:
                    log.warning("%s from the supervisor's last good state (%s)", name, type(exc).__name__)
                    return HELD[name], True
                if time.monotonic() >= deadline:
                    log.error("%s unresolved: the database is unreachable (%s)", name, type(exc).__name__)
                    return None, False
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    @staticmethod
    def _read(name: str) -> str | None:
        if not is_ours(name):
            return None
        settings = load_settings()
        ring = load_key_ring(settings, create=False)
        db.init(settings.database_url)
        with db.Session() as session:
            return read_stored_secret(session, ring=ring, name=name)
