"""config settings and revisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 02:10:25.576624
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("backup_path", sa.String(length=1024), nullable=True),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_revisions")),
        sa.UniqueConstraint("number", name=op.f("uq_config_revisions_number")),
    )
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_config_revisions_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_config_revisions_status"), ["status"], unique=False)

    op.create_table(
        "config_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("router_settings", sa.JSON(), nullable=False),
        sa.Column("litellm_settings", sa.JSON(), nullable=False),
        sa.Column("general_settings", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_settings")),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extra_params", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("extra_model_info", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("extra_model_info")
        batch_op.drop_column("extra_params")

    op.drop_table("config_settings")
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_revisions_status"))
        batch_op.drop_index(batch_op.f("ix_config_revisions_created_at"))

    op.drop_table("config_revisions")
