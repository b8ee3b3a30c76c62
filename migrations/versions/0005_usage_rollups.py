"""usage rollups: daily usage per provider, model group and route, and a latency histogram

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 05:00:46.538292

The upgrade fills both tables from the usage events already stored (the same sums as
`app.services.usage.rebuild_rollups`, frozen here so later code changes cannot change this step).
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# grain bits as in app/services/usage.py: provider 1, model group 2, route 4
SUMS = ("requests", "failures", "fallbacks", "prompt_tokens", "completion_tokens", "cost_usd")
LOG_GAMMA = math.log(1.01)
MIN_LATENCY_MS = 0.01


def upgrade() -> None:
    op.create_table(
        "usage_latency_rollups",
        sa.Column("grain", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("route", sa.String(length=255), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("min_ms", sa.Float(), nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain", "day", "provider", "route", "bucket", name=op.f("pk_usage_latency_rollups")
        ),
    )
    with op.batch_alter_table("usage_latency_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_usage_latency_rollups_provider", ["grain", "provider", "day"], unique=False)
        batch_op.create_index("ix_usage_latency_rollups_route", ["grain", "route", "day"], unique=False)

    op.create_table(
        "usage_rollups",
        sa.Column("grain", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model_group", sa.String(length=255), nullable=False),
        sa.Column("route", sa.String(length=255), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("fallbacks", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain", "day", "provider", "model_group", "route", name=op.f("pk_usage_rollups")
        ),
    )
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_usage_rollups_provider", ["grain", "provider", "day"], unique=False)
        batch_op.create_index("ix_usage_rollups_route", ["grain", "route", "day"], unique=False)

    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Roll up the events already stored: the finest grains from the events, the rest from those."""
    if conn.dialect.name == "postgresql":
        day = "CAST(timezone('UTC', at) AS DATE)"
    else:
        day = "date(at)"  # SQLite keeps UTC times as text
        try:
            conn.execute(sa.text("SELECT ceil(ln(2.0))"))
        except sa.exc.OperationalError:  # a SQLite built without its math functions
            raw = conn.connection.driver_connection
            raw.create_function("ln", 1, math.log, deterministic=True)
            raw.create_function("ceil", 1, math.ceil, deterministic=True)
    sums = ", ".join(SUMS)
    clamped = f"CASE WHEN latency_ms < {MIN_LATENCY_MS!r} THEN {MIN_LATENCY_MS!r} ELSE latency_ms END"
    conn.execute(
        sa.text(
            f"""
            INSERT INTO usage_rollups (grain, day, provider, model_group, route, {sums})
            SELECT 7, day, provider, model_group, route, count(*), sum(failed), sum(fell_back),
                   sum(prompt_tokens), sum(completion_tokens), sum(cost_usd)
            FROM (SELECT {day} AS day, coalesce(provider, '') AS provider,
                         coalesce(model_group, '') AS model_group, coalesce(route, '') AS route,
                         CASE WHEN status = 'success' THEN 0 ELSE 1 END AS failed,
                         CASE WHEN fallback THEN 1 ELSE 0 END AS fell_back,
                         prompt_tokens, completion_tokens, cost_usd
                  FROM usage_events) e
            GROUP BY day, provider, model_group, route
            """
        )
    )
    conn.execute(
        sa.text(
            f"""
            INSERT INTO usage_latency_rollups
                (grain, day, provider, route, bucket, requests, min_ms, max_ms)
            SELECT 5, day, provider, route, bucket, count(*), min(latency_ms), max(latency_ms)
            FROM (SELECT {day} AS day, coalesce(provider, '') AS provider, coalesce(route, '') AS route,
                         latency_ms, CAST(ceil(ln({clamped}) / {LOG_GAMMA!r}) AS INTEGER) AS bucket
                  FROM usage_events WHERE status = 'success' AND latency_ms IS NOT NULL) e
            GROUP BY day, provider, route, bucket
            """
        )
    )
    dims = {"provider": 1, "model_group": 2, "route": 4}
    for grain in range(7):
        kept = [name for name, bit in dims.items() if grain & bit]
        columns = ", ".join(name if name in kept else "''" for name in dims)
        group = ", ".join(["day", *kept])
        conn.execute(
            sa.text(
                f"""
                INSERT INTO usage_rollups (grain, day, provider, model_group, route, {sums})
                SELECT {grain}, day, {columns}, {", ".join(f"sum({s})" for s in SUMS)}
                FROM usage_rollups WHERE grain = 7 GROUP BY {group}
                """
            )
        )
    for grain in (0, 1, 4):
        kept = [name for name in ("provider", "route") if grain & dims[name]]
        columns = ", ".join(name if name in kept else "''" for name in ("provider", "route"))
        group = ", ".join(["day", *kept, "bucket"])
        conn.execute(
            sa.text(
                f"""
                INSERT INTO usage_latency_rollups
                    (grain, day, provider, route, bucket, requests, min_ms, max_ms)
                SELECT {grain}, day, {columns}, bucket, sum(requests), min(min_ms), max(max_ms)
                FROM usage_latency_rollups WHERE grain = 5 GROUP BY {group}
                """
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_rollups_route")
        batch_op.drop_index("ix_usage_rollups_provider")

    op.drop_table("usage_rollups")
    with op.batch_alter_table("usage_latency_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_latency_rollups_route")
        batch_op.drop_index("ix_usage_latency_rollups_provider")

    op.drop_table("usage_latency_rollups")
