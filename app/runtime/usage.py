"""The usage sink: usage events inserted with their daily rollups, in the caller's transaction.

The proxy's event writer and the services write usage through here; `app.services.usage` reads the
rollups back (see its docstring for what each rollup holds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import UsageApplicationRollup, UsageEvent, UsageLatencyRollup, UsageRollup, as_utc, utcnow

# grain bits: which dimensions a rollup row keeps
PROVIDER, MODEL_GROUP, ROUTE = 1, 2, 4
GRAINS = tuple(range(8))
LATENCY_GRAINS = (0, PROVIDER, ROUTE, PROVIDER | ROUTE)
# latency buckets: (GAMMA^(b-1), GAMMA^b] ms; the middle value is within 0.5% of any value in it
GAMMA = 1.01
LOG_GAMMA = math.log(GAMMA)
MIN_LATENCY_MS = 0.01
_CHUNK = 500
SUMS = ("requests", "failures", "fallbacks", "prompt_tokens", "completion_tokens", "cost_usd")
# each cube column and how two rows of it combine
CUBE = {**dict.fromkeys(SUMS, "sum"), "largest_request": "max"}


def latency_bucket(latency_ms: float) -> int:
    """The histogram bucket of a latency."""
    return math.ceil(math.log(max(latency_ms, MIN_LATENCY_MS)) / LOG_GAMMA)


def bucket_value(bucket: int) -> float:
    """The value a bucket stands for: within 0.5% of every latency in it."""
    return 2 * GAMMA**bucket / (GAMMA + 1)


def _day(moment: datetime) -> date:
    return as_utc(moment).astimezone(UTC).date()


def add_to_rollups(session: Session, events: Iterable[Mapping[str, Any]]) -> None:
    """Add usage events (UsageEvent column values, as the proxy hook builds them) to the rollups.

    Summed per key in Python first, then upserted with one statement per table, keys in a fixed
    order so that two writers adding to the same rows wait for each other instead of deadlocking.
    """
    cube: dict[tuple[int, date, str, str, str], list[Any]] = {}
    histogram: dict[tuple[int, date, str, str, int], list[Any]] = {}
    events_list = list(events)
    for event in events_list:
        day = _day(event.get("at") or utcnow())
        dims = (event.get("provider") or "", event.get("model_group") or "", event.get("route") or "")
        ok = event.get("status") == "success"
        prompt, completion = int(event.get("prompt_tokens") or 0), int(event.get("completion_tokens") or 0)
        values = (
            1,
            # a request refused by its caller key (auth, scope, limits, budget) is no provider's failure
            1 if event.get("status") == "failure" else 0,
            1 if event.get("fallback") else 0,
            prompt,
            completion,
            float(event.get("cost_usd") or 0.0),
        )
        largest = prompt + completion if ok else 0
        for grain in GRAINS:
            key = (grain, day, *_kept(grain, *dims))
            sums = cube.get(key)
            if sums is None:
                cube[key] = [*values, largest]
            else:
                for i, value in enumerate(values):
                    sums[i] += value
                sums[-1] = max(sums[-1], largest)
        latency = event.get("latency_ms")
        if ok and latency is not None:
            ms = float(latency)
            bucket = latency_bucket(ms)
            for grain in LATENCY_GRAINS:
                provider, _, route = _kept(grain, *dims)
                seen = histogram.setdefault((grain, day, provider, route, bucket), [0, ms, ms])
                seen[0] += 1
                seen[1], seen[2] = min(seen[1], ms), max(seen[2], ms)
    cube_rows = [
        dict(zip(("grain", "day", "provider", "model_group", "route", *CUBE), (*key, *sums), strict=True))
        for key, sums in sorted(cube.items())
    ]
    hist_rows = [
        {
            "grain": g,
            "day": d,
            "provider": p,
            "route": r,
            "bucket": b,
            "requests": n,
            "min_ms": lo,
            "max_ms": hi,
        }
        for (g, d, p, r, b), (n, lo, hi) in sorted(histogram.items())
    ]
    _upsert(session, UsageRollup, CUBE, cube_rows)
    _upsert(session, UsageLatencyRollup, {"requests": "sum", "min_ms": "min", "max_ms": "max"}, hist_rows)
    _add_application_rollups(session, events_list)


APP_SUMS = (
    "requests",
    "failures",
    "refused",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms_sum",
)


def _add_application_rollups(session: Session, events: Iterable[Mapping[str, Any]]) -> None:
    """Per day and caller application ("" for the master key): what the Keys page shows."""
    sums: dict[tuple[date, str], list[Any]] = {}
    for event in events:
        key = (_day(event.get("at") or utcnow()), event.get("application") or "")
        status = event.get("status")
        ok = status == "success"
        values = (
            1,
            1 if status == "failure" else 0,
            1 if status == "refused" else 0,
            int(event.get("prompt_tokens") or 0),
            int(event.get("completion_tokens") or 0),
            float(event.get("cost_usd") or 0.0),
            float(event.get("latency_ms") or 0.0) if ok else 0.0,
        )
        seen = sums.setdefault(key, [0] * len(values))
        for i, value in enumerate(values):
            seen[i] += value
    rows = [
        {"day": day, "application": app, **dict(zip(APP_SUMS, values, strict=True))}
        for (day, app), values in sorted(sums.items())
    ]
    _upsert(session, UsageApplicationRollup, dict.fromkeys(APP_SUMS, "sum"), rows)


def _kept(grain: int, provider: str, group: str, route: str) -> tuple[str, str, str]:
    """The dimensions a grain keeps; "" for those it sums over."""
    return (
        provider if grain & PROVIDER else "",
        group if grain & MODEL_GROUP else "",
        route if grain & ROUTE else "",
    )


def _upsert(session: Session, model: Any, combine: Mapping[str, str], rows: list[dict[str, Any]]) -> None:
    """Insert rows, or combine them with the rows already there ("sum", "min" or "max" per column)."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    upsert: Any
    if dialect == "postgresql":
        upsert, least, greatest = postgresql.insert, "least", "greatest"
    elif dialect == "sqlite":
        upsert, least, greatest = sqlite.insert, "min", "max"  # scalar when given two arguments
    else:  # pragma: no cover - the two backends we support
        raise NotImplementedError(f"usage rollups need SQLite or PostgreSQL, not {dialect}")
    how: dict[str, Callable[[Any, Any], Any]] = {
        "sum": lambda old, new: old + new,
        "min": getattr(func, least),
        "max": getattr(func, greatest),
    }
    if not rows:
        return
    stmt = upsert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: how[kind](table.c[name], stmt.excluded[name]) for name, kind in combine.items()},
    )
    # one statement, many parameter sets: compiled once (and cached), sent in batches by the driver
    session.execute(stmt, rows)


def record_events(session: Session, events: Sequence[Mapping[str, Any]]) -> None:
    """Insert usage events and add them to the rollups, in the caller's transaction."""
    for start in range(0, len(events), _CHUNK):
        session.execute(insert(UsageEvent), [dict(e) for e in events[start : start + _CHUNK]])
    add_to_rollups(session, events)
