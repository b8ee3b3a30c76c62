"""Enforced budgets inside the proxy: what is blocked now, read from the database off the request path.

The monitor marks a budget exhausted (`budgets.evaluate`); a thread here re-reads the blocked providers
and routes every few seconds, so the request path only looks at two in-memory sets.
"""

from __future__ import annotations

import logging
import threading
import time

from app import db
from app.runtime import budgets
from app.settings import load_settings

log = logging.getLogger("llm_admin.hooks")
REFRESH_SECONDS = 2.0


class BudgetGate:
    def __init__(self) -> None:
        self.providers: frozenset[str] = frozenset()
        self.routes: frozenset[str] = frozenset()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def blocked(self) -> tuple[frozenset[str], frozenset[str]]:
        """(provider names, agent types) whose enforced budget is spent; starts the refresher."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self.refresh()
                    self._thread = threading.Thread(target=self._run, name="llm-admin-budgets", daemon=True)
                    self._thread.start()
        return self.providers, self.routes

    def refresh(self) -> None:
        try:
            db.ensure_init(load_settings().database_url)
            with db.Session() as session:
                providers, routes = budgets.exhausted_targets(session)
            self.providers, self.routes = frozenset(providers), frozenset(routes)
        except Exception as exc:  # the database is down: keep the last verdict, try again soon
            log.warning("budget state not refreshed (%s)", type(exc).__name__)

    def _run(self) -> None:
        while True:
            time.sleep(REFRESH_SECONDS)
            self.refresh()
