"""usage journal marks: the last journalled usage event of each proxy worker that reached the database

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_journal_marks",
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_usage_journal_marks")),
    )
    op.create_index(op.f("ix_usage_journal_marks_updated_at"), "usage_journal_marks", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_usage_journal_marks_updated_at"), table_name="usage_journal_marks")
    op.drop_table("usage_journal_marks")
