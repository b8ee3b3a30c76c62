"""LiteLLM custom secret manager: resolves os.environ/LLM_ADMIN_P<id>_<FIELD> from our encrypted rows."""

from __future__ import annotations

import threading
from typing import Any

from litellm.integrations.custom_secret_manager import CustomSecretManager

from app import db
from app.crypto import load_key_ring
from app.services.secrets import read_stored_secret
from app.settings import load_settings


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
                self._cache[name] = self._read(name)
            return self._cache[name]

    async def async_read_secret(
        self, secret_name: str, optional_params: dict[str, Any] | None = None, timeout: Any = None
    ) -> str | None:
        return self.sync_read_secret(secret_name, optional_params, timeout)

    @staticmethod
    def _read(name: str) -> str | None:
        settings = load_settings()
        ring = load_key_ring(settings, create=False)
        db.init(settings.database_url)
        with db.Session() as session:
            return read_stored_secret(session, ring=ring, name=name)
