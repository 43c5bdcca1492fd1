"""The store's tables (SQLAlchemy Core). One MetaData; migrations in services/store/migrations keep databases in step.

Every timestamp is a tz-aware UTC datetime in Python. SQLite keeps it as naive UTC text (which sorts and compares
correctly because SQLAlchemy writes one fixed format); PostgreSQL keeps `timestamptz`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from services.store.clock import as_utc


class UtcDateTime(TypeDecorator[datetime]):
    """A datetime that goes in and comes out tz-aware UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use tz-aware UTC")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # defensive: SQLite rows written by hand
            value = datetime.fromisoformat(value)
        return as_utc(value)


# Autoincrementing 64-bit ids; SQLite only autoincrements INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

watches = Table(
    "watches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # "<subscription>/<resource group>/<workspace>", empty parts for the backend's defaults
    Column("workspace_key", String(400), nullable=False),
    Column("job_name", String(255), nullable=False),
    Column("subscription_id", String(100)),
    Column("resource_group", String(100)),
    Column("workspace", String(100)),
    Column("channel", String(64), nullable=False),
    Column("requested_by", String(64)),
    Column("template", String(255)),
    # message_refs key of the job's root message (edited in place; replies thread under it)
    Column("root_ref", String(255), nullable=False),
    # NULL until the watcher observed a non-terminal status (a job that was already over when watched)
    Column("last_status", String(32)),
    # compare-and-set counter: the number of transitions recorded so far
    Column("version", Integer, nullable=False, default=0),
    Column("status_since", UtcDateTime()),
    Column("status_observed_at", UtcDateTime()),
    Column("last_seen_at", UtcDateTime()),
    Column("next_check_at", UtcDateTime(), nullable=False),
    Column("check_failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Column("active", Boolean, nullable=False, default=True),
    # the job's service endpoints (JupyterLab, VS Code, TensorBoard) announced so far, as canonical JSON:
    # sorted [name, url] pairs; NULL until one is announced. Compare-and-set like `version`.
    Column("services_announced", Text),
    UniqueConstraint("workspace_key", "job_name"),
    Index(None, "active", "next_check_at"),
    Index(None, "job_name"),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("watch_id", Id, ForeignKey("watches.id", ondelete="CASCADE"), nullable=False),
    # 0 = the status the watch started with; n = the n-th announced change (= watches.version after it)
    Column("seq", Integer, nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32), nullable=False),
    Column("observed_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("source", String(16), nullable=False),  # watch | poll | event
    UniqueConstraint("watch_id", "seq"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("payload", Json, nullable=False),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("thread_ref", String(255)),  # reply in the thread of this message ref
    Column("updates_ref", String(255)),  # chat.update the message of this ref (instead of posting)
    Column("creates_ref", String(255)),  # once posted, this ref resolves to the new message
    Column("state", String(16), nullable=False, default="pending"),  # pending|sending|sent|dead|superseded
    Column("attempts", Integer, nullable=False, default=0),
    # a previous attempt may have reached Slack (crash while sending, timeout): look before posting again
    Column("maybe_sent", Boolean, nullable=False, default=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("sending_at", UtcDateTime()),
    Column("sent_ts", String(32)),
    Column("sent_at", UtcDateTime()),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "channel", "state", "id"),
    Index(None, "state", "next_attempt_at"),
    Index(None, "creates_ref"),
)

# One row per channel the outbox ever wrote to: pacing and the delivery lease (claimed FOR UPDATE SKIP LOCKED).
outbox_channels = Table(
    "outbox_channels",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("ready_at", UtcDateTime(), nullable=False),  # pacing / Retry-After: nothing is sent before this
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime()),
)

message_refs = Table(
    "message_refs",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

seen_events = Table(
    "seen_events",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Index(None, "received_at"),
)

channel_settings = Table(
    "channel_settings",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_by", String(64)),
    Column("updated_at", UtcDateTime(), nullable=False),
)
