"""What a revision was rendered from: the generator's input as JSON and back (pure).

A revision row keeps this snapshot so that an automatic re-render (the monitor steering around a
down provider) starts from what an admin applied, not from edits still pending. It holds secret
references (field names and environment variable names), never a secret's value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from generator.build import ConfigInput, GlobalRow, ModelRow, ProviderRow, SecretRow
from generator.routes import RouteRow

VERSION = 1


def dump_input(rows: ConfigInput) -> dict[str, Any]:
    """A JSON-ready dict of `rows`, without the health verdicts and Redis (both read at render time)."""
    return {
        "version": VERSION,
        "providers": [
            {**dataclasses.asdict(p), "secrets": [dataclasses.asdict(s) for s in p.secrets], "down": False}
            for p in rows.providers
        ],
        "models": [dataclasses.asdict(m) for m in rows.models],
        "settings": dataclasses.asdict(rows.settings),
        "routes": [{**dataclasses.asdict(r), "fallbacks": list(r.fallbacks)} for r in rows.routes],
    }


def load_input(data: dict[str, Any]) -> ConfigInput:
    """The ConfigInput `dump_input` wrote; every provider starts up (health is applied by the caller)."""
    if data.get("version") != VERSION:
        raise ValueError(f"config input snapshot version {data.get('version')!r}; expected {VERSION}")
    providers = tuple(
        ProviderRow(**{**p, "secrets": tuple(SecretRow(**s) for s in p["secrets"]), "down": False})
        for p in data["providers"]
    )
    return ConfigInput(
        providers=providers,
        models=tuple(ModelRow(**m) for m in data["models"]),
        settings=GlobalRow(**data["settings"]),
        routes=tuple(RouteRow(**{**r, "fallbacks": tuple(r["fallbacks"])}) for r in data["routes"]),
    )
