"""leader election epochs

The leader's fencing table (services/store/leader_tables.py): one row per election and its current epoch.
Written while these tables were in development (databases made by `create_all` may have them), so, like
0001, it creates only what is missing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_epochs",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leader_epochs")),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("leader_epochs")
