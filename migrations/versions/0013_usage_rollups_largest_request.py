"""usage_rollups.largest_request: the most tokens one successful request took, per rollup row (the
context window a route needs, read by the cheaper-model recommendations instead of every event)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:45:00.000000

The upgrade fills it from the usage events already stored: the finest grain from the events, the
coarser ones from those rows (SQL frozen here, as in 0005).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

DIMS = {"provider": 1, "model_group": 2, "route": 4}


def upgrade() -> None:
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("largest_request", sa.BigInteger(), server_default="0", nullable=False))
    conn = op.get_bind()
    day = "CAST(timezone('UTC', at) AS DATE)" if conn.dialect.name == "postgresql" else "date(at)"
    match = " AND ".join(f"usage_rollups.{name} = m.{name}" for name in ["day", *DIMS])
    conn.execute(
        sa.text(
            f"""
            UPDATE usage_rollups SET largest_request = m.largest
            FROM (SELECT {day} AS day, coalesce(provider, '') AS provider,
                         coalesce(model_group, '') AS model_group, coalesce(route, '') AS route,
                         max(prompt_tokens + completion_tokens) AS largest
                  FROM usage_events WHERE status = 'success'
                  GROUP BY 1, 2, 3, 4) m
            WHERE usage_rollups.grain = 7 AND {match}
            """
        )
    )
    for grain in range(7):
        kept = [name for name, bit in DIMS.items() if grain & bit]
        group = ", ".join(["day", *kept])
        on = " AND ".join(f"usage_rollups.{name} = m.{name}" for name in ["day", *kept])
        conn.execute(
            sa.text(
                f"""
                UPDATE usage_rollups SET largest_request = m.largest
                FROM (SELECT {group}, max(largest_request) AS largest
                      FROM usage_rollups WHERE grain = 7 GROUP BY {group}) m
                WHERE usage_rollups.grain = {grain} AND {on}
                """
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.drop_column("largest_request")
