"""command queue

Accepted slow commands, claimed by any replica's workers with leases (services/store/command_tables.py).
Written while these tables were in development (databases made by `create_all` may have them), so, like
0001, it creates only what is missing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "command_queue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("delivery_key", sa.String(length=255), nullable=True),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("response_url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_queue")),
        sa.UniqueConstraint("delivery_key", name=op.f("uq_command_queue_delivery_key")),
        if_not_exists=True,
    )
    op.create_index("ix_command_queue_state_id", "command_queue", ["state", "id"], if_not_exists=True)
    op.create_index("ix_command_queue_state_lease_until", "command_queue", ["state", "lease_until"], if_not_exists=True)


def downgrade() -> None:
    op.drop_table("command_queue")
