"""users.must_change_password (a one-time or reset password is changed at the next sign-in) and
models.display_name (what people read, beside the alias callers send)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("display_name")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
