"""reminders, snoozes and stops

The running-compute reminders (services/store/reminders_tables.py): reminders sent, snoozes, the one stop a
reminder's button may start per compute.
Written while these tables were in development (databases made by `create_all` may have them), so, like
0001, it creates only what is missing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_snoozes",
        sa.Column("workspace_key", sa.String(length=400), nullable=False),
        sa.Column("compute_key", sa.String(length=255), nullable=False),
        sa.Column("compute", sa.String(length=255), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("reminder_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_key", "compute_key", name=op.f("pk_reminder_snoozes")),
        if_not_exists=True,
    )
    op.create_index("ix_reminder_snoozes_until", "reminder_snoozes", ["until"], if_not_exists=True)

    op.create_table(
        "reminders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("items", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("channel", "slot", name=op.f("uq_reminders_channel_slot")),
        if_not_exists=True,
    )
    op.create_index("ix_reminders_created_at", "reminders", ["created_at"], if_not_exists=True)

    op.create_table(
        "reminder_stops",
        sa.Column("reminder_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("compute_key", sa.String(length=255), nullable=False),
        sa.Column("compute", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reminder_id"], ["reminders.id"], name=op.f("fk_reminder_stops_reminder_id_reminders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("reminder_id", "compute_key", name=op.f("pk_reminder_stops")),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("reminder_stops")
    op.drop_table("reminders")
    op.drop_table("reminder_snoozes")
