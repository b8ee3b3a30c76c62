"""Rows the API tests stand on, made through the services (as an admin would in the dashboard)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import uvicorn
from sqlalchemy import func, select

from app import db
from app.api.app import create_app
from app.crypto import load_key_ring
from app.runtime import usage as usage_sink
from app.services import models, providers
from app.services.access import Actor
from app.settings import Settings
from tests.api.conftest import Api, _Server
from tests.pg import free_port

SETUP = Actor("setup", "admin")
# looks like a real OpenAI key: no response, YAML or diff may ever carry it
REAL_LOOKING_KEY = "sk-proj-Zq8vN3xTb5LmR2wK7pYc9HdF4gJ6sA1eU0iO"


def provider(
    settings: Settings,
    name: str,
    *,
    type: str = "openai",
    base_url: str | None = None,
    key: str | None = REAL_LOOKING_KEY,
    **values: Any,
) -> int:
    with db.Session.begin() as session:
        row = providers.create_provider(
            session,
            actor=SETUP,
            ring=load_key_ring(settings),
            name=name,
            type=type,
            base_url=base_url,
            secrets={"api_key": key} if key else None,
            **values,
        )
        return row.id


def model(provider_id: int, alias: str, *, price: tuple[float, float] = (1.0, 2.0), **values: Any) -> int:
    with db.Session.begin() as session:
        row = models.create_model(
            session,
            actor=SETUP,
            provider_id=provider_id,
            identifier=values.pop("identifier", f"{alias}-model"),
            alias=alias,
            enabled=True,
            input_cost_per_1m=price[0],
            output_cost_per_1m=price[1],
            context_window=8_000,
            **values,
        )
        return row.id


def cloud_and_home(settings: Settings) -> dict[str, int]:
    """'cloud' (OpenAI) serving fast and big, 'home' (local Ollama) serving llama."""
    cloud = provider(settings, "cloud")
    home = provider(settings, "home", type="ollama", base_url="http://127.0.0.1:11434", key=None)
    model(cloud, "fast", price=(1.0, 2.0))
    model(cloud, "big", price=(10.0, 30.0))
    model(home, "llama", price=(0.0, 0.0))
    return {"cloud": cloud, "home": home}


def usage(
    cost: float,
    *,
    at: datetime,
    provider: str = "cloud",
    model_group: str = "fast",
    route: str | None = None,
    application: str | None = None,
    status: str = "success",
    latency_ms: float | None = 100.0,
    prompt_tokens: int = 100,
    completion_tokens: int = 10,
) -> None:
    """One usage event, written as the proxy's event writer writes it (with its rollups)."""
    event: dict[str, Any] = {
        "at": at,
        "provider": provider,
        "model_group": route or model_group,
        "route": route,
        "application": application,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": cost,
        "status": status,
        "latency_ms": latency_ms,
    }
    with db.Session.begin() as session:
        usage_sink.record_events(session, [event])


def count(model_class: Any) -> int:
    with db.Session.begin() as session:
        return int(session.scalar(select(func.count()).select_from(model_class)) or 0)


@contextmanager
def served(api: Api, **changes: object) -> Iterator[Api]:
    """A second API server over the same database and users, with these settings changed."""
    settings = dataclasses.replace(api.settings, **changes)  # type: ignore[arg-type]
    port = free_port()
    server = _Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        thread.join(0.05)
    assert server.started, "the second API server did not start"
    other = Api(f"http://127.0.0.1:{port}", settings, api.tokens)
    try:
        yield other
    finally:
        other.close()
        server.should_exit = True
        thread.join(30)
