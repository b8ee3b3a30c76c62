"""Rows the page tests start from, made through the services as an admin would."""

from __future__ import annotations

import re
from typing import Any

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Error

from app import db, ui
from app.services import models, providers
from app.services.access import Actor

SEEDER = Actor("seeder", "admin")


def seed_models() -> dict[str, int]:
    """A cloud provider (stored key) with fast and big, a local one with llama; fast is cheap, big dear."""
    ring = ui.key_ring()  # the dashboard's own key ring: config apply must read the stored key back
    with db.Session.begin() as session:
        cloud = providers.create_provider(
            session,
            actor=SEEDER,
            ring=ring,
            name="cloud",
            type="openai",
            secrets={"api_key": "sk-" + "a" * 24},
        )
        home = providers.create_provider(
            session, actor=SEEDER, ring=ring, name="home", type="ollama", base_url="http://127.0.0.1:11434"
        )
        for provider, alias, price in (
            (cloud, "fast", (1.0, 2.0)),
            (cloud, "big", (10.0, 30.0)),
            (home, "llama", (0.0, 0.0)),
        ):
            models.create_model(
                session,
                actor=SEEDER,
                provider_id=provider.id,
                identifier=f"{alias}-model",
                alias=alias,
                enabled=True,
                input_cost_per_1m=price[0],
                output_cost_per_1m=price[1],
                context_window=8_000,
            )
        return {"cloud": cloud.id, "home": home.id}


def inline_error(at: AppTest, key: str) -> str | None:
    """The error shown right under the widget with this key: "" when none, None when no such widget."""

    def walk(node: Any) -> str | None:
        children = list(getattr(node, "children", {}).values())
        for i, child in enumerate(children):
            if getattr(child, "key", None) == key:
                after = children[i + 1] if i + 1 < len(children) else None
                return str(after.value) if isinstance(after, Error) else ""
            found = walk(child)
            if found is not None:
                return found
        return None

    return walk(at.main)


def plain(markdown: object) -> str:
    """Markdown as a reader sees it: pages escape what came from a user, the environment or a provider."""
    return re.sub(r"\\(.)", r"\1", str(markdown))
