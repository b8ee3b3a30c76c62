"""What the API tests read straight from the database (the server runs in this process, on the
test's database): every stored row, the audit log, and a few rows made through the services."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from app import db
from app.crypto import KeyRing, load_key_ring
from app.models import AuditEntry, Base
from app.services import models, providers
from app.services.access import Actor
from tests.api.conftest import Api

# real-looking keys: each must never come back in a response body
OPENAI_KEY = "sk-proj-Zq4mN8vR2xL6tY1wB9cK3hJ7pD5sF0gA"
ANTHROPIC_KEY = "sk-ant-api03-Hk2Lm9Np4Qr7St1Uv6Wx3Yz8Ab5Cd0Ef"
ALICE = Actor("alice", "admin")


def stored() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted; an API token's `last_used_at` (touched by any request,
    refused or not, at most once a minute) is left out."""

    def plain(value: Any) -> Any:
        return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value

    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.Session() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) != ("api_tokens", "last_used_at")]
            rows = [tuple(plain(v) for v in row) for row in session.execute(select(*columns))]
            out[table.name] = sorted(rows, key=repr)
    return out


@dataclass(frozen=True)
class Entry:
    actor: str
    action: str
    target_name: str | None
    details: dict[str, Any]


def audit_mark() -> int:
    """The newest audit entry's id now: `audit_after(mark)` gives what came later."""
    with db.Session() as session:
        return max(session.scalars(select(AuditEntry.id)), default=0)


def audit_after(mark: int) -> list[Entry]:
    with db.Session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.id > mark).order_by(AuditEntry.id))
        return [Entry(r.actor, r.action, r.target_name, dict(r.details or {})) for r in rows]


def provider_body(name: str = "OpenAI Prod", key: str = OPENAI_KEY, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "openai", "secrets": {"api_key": key}, **extra}


def create_provider(client: httpx.Client, name: str = "OpenAI Prod", **extra: Any) -> dict[str, Any]:
    """A provider made through the API (201), as its JSON."""
    made = client.post("/api/providers", json=provider_body(name, **extra))
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def seed_provider_and_model(api: Api, base_url: str | None = None) -> tuple[int, int]:
    """An OpenAI provider with one enabled model, made through the services: (provider, model)."""
    with db.Session.begin() as session:
        provider = providers.create_provider(
            session,
            actor=ALICE,
            ring=ring_of(api),
            name="OpenAI Prod",
            type="openai",
            secrets={"api_key": OPENAI_KEY},
            base_url=base_url,
        )
        model = models.create_model(
            session, actor=ALICE, provider_id=provider.id, identifier="gpt-4o-mini", enabled=True
        )
        return provider.id, model.id


def ring_of(api: Api) -> KeyRing:
    return load_key_ring(api.settings)
