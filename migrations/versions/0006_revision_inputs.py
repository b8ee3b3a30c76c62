"""revision inputs and the superseded status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:00:00.000000

Each config revision keeps the generator input it was rendered from (`inputs`, JSON: rows with secret
references, never secret values), so that the monitor's steering re-renders what an admin applied.
Revisions rendered before this have none; the monitor asks for one apply before it steers.
Only the newest revision marked live stays live; earlier ones become `superseded`.
A model's mode may be absent (an imported deployment without one, whose model LiteLLM's cost map
does not know): LiteLLM then decides by the endpoint called, and so does the rendered config.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

revisions = sa.table("config_revisions", sa.column("number", sa.Integer), sa.column("status", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.alter_column("mode", existing_type=sa.String(length=32), nullable=True)
    newest_live = sa.select(sa.func.max(revisions.c.number)).where(revisions.c.status == "live")
    op.execute(
        revisions.update()
        .where(revisions.c.status == "live", revisions.c.number < newest_live.scalar_subquery())
        .values(status="superseded")
    )


def downgrade() -> None:
    op.execute(revisions.update().where(revisions.c.status == "superseded").values(status="live"))
    op.execute("UPDATE models SET mode = 'chat' WHERE mode IS NULL")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.alter_column("mode", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.drop_column("inputs")
