"""initial schema

The store as it was when migrations arrived: watches, transitions, outbox, outbox_channels, message_refs,
seen_events, channel_settings, approval_requests, approval_votes, audit_log.

Every table and index is created only if missing: a database made by the bot's old `create_all` start-up (no
revision stamp) is adopted by running this revision over it; whatever it already has is kept as it is.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The store's column types as plain SQLAlchemy types (a revision never imports app code, which moves on).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_key", sa.String(length=400), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("subscription_id", sa.String(length=100), nullable=True),
        sa.Column("resource_group", sa.String(length=100), nullable=True),
        sa.Column("workspace", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("template", sa.String(length=255), nullable=True),
        sa.Column("root_ref", sa.String(length=255), nullable=False),
        sa.Column("last_status", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status_since", utc(), nullable=True),
        sa.Column("status_observed_at", utc(), nullable=True),
        sa.Column("last_seen_at", utc(), nullable=True),
        sa.Column("next_check_at", utc(), nullable=False),
        sa.Column("check_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("ended_at", utc(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_watches"),
        sa.UniqueConstraint("workspace_key", "job_name", name="uq_watches_workspace_key_job_name"),
        if_not_exists=True,
    )
    op.create_index("ix_watches_active_next_check_at", "watches", ["active", "next_check_at"], if_not_exists=True)
    op.create_index("ix_watches_job_name", "watches", ["job_name"], if_not_exists=True)

    op.create_table(
        "transitions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("watch_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("observed_at", utc(), nullable=False),
        sa.Column("recorded_at", utc(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["watch_id"], ["watches.id"], name="fk_transitions_watch_id_watches", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_transitions"),
        sa.UniqueConstraint("watch_id", "seq", name="uq_transitions_watch_id_seq"),
        if_not_exists=True,
    )

    op.create_table(
        "outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("thread_ref", sa.String(length=255), nullable=True),
        sa.Column("updates_ref", sa.String(length=255), nullable=True),
        sa.Column("creates_ref", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("maybe_sent", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", utc(), nullable=False),
        sa.Column("sending_at", utc(), nullable=True),
        sa.Column("sent_ts", sa.String(length=32), nullable=True),
        sa.Column("sent_at", utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        if_not_exists=True,
    )
    op.create_index("ix_outbox_channel_state_id", "outbox", ["channel", "state", "id"], if_not_exists=True)
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"], if_not_exists=True)
    op.create_index("ix_outbox_creates_ref", "outbox", ["creates_ref"], if_not_exists=True)

    op.create_table(
        "outbox_channels",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("ready_at", utc(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", utc(), nullable=True),
        sa.PrimaryKeyConstraint("channel", name="pk_outbox_channels"),
        if_not_exists=True,
    )

    op.create_table(
        "message_refs",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_message_refs"),
        if_not_exists=True,
    )

    op.create_table(
        "seen_events",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("received_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_seen_events"),
        if_not_exists=True,
    )
    op.create_index("ix_seen_events_received_at", "seen_events", ["received_at"], if_not_exists=True)

    op.create_table(
        "channel_settings",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "key", name="pk_channel_settings"),
        if_not_exists=True,
    )

    op.create_table(
        "approval_requests",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("decided_at", utc(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("exec_token", sa.String(length=64), nullable=True),
        sa.Column("exec_started_at", utc(), nullable=True),
        sa.Column("lease_until", utc(), nullable=True),
        sa.Column("finished_at", utc(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approval_requests"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_approval_requests_state_expires_at", "approval_requests", ["state", "expires_at"], if_not_exists=True
    )

    op.create_table(
        "approval_votes",
        sa.Column("request_id", ID, nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("approve", sa.Boolean(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("at", utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["approval_requests.id"],
            name="fk_approval_votes_request_id_approval_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "user", name="pk_approval_votes"),
        if_not_exists=True,
    )

    op.create_table(
        "audit_log",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("at", utc(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("details", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        if_not_exists=True,
    )
    op.create_index("ix_audit_log_user_id", "audit_log", ["user", "id"], if_not_exists=True)


def downgrade() -> None:
    # children before the tables their foreign keys point at
    for table in (
        "audit_log",
        "approval_votes",
        "approval_requests",
        "channel_settings",
        "seen_events",
        "message_refs",
        "outbox_channels",
        "outbox",
        "transitions",
        "watches",
    ):
        op.drop_table(table)
