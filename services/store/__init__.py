"""The store: SQLAlchemy Core tables and small repositories over SQLite (default) or PostgreSQL."""

from services.store import approvals_tables  # noqa: F401  (registers its tables on `metadata`)
from services.store.clock import Clock, as_utc, utc_now
from services.store.engine import create_schema, default_url, drop_schema, make_engine
from services.store.repos import ChannelSettings, MessageRef, MessageRefs, SeenEvents
from services.store.tables import (
    channel_settings,
    message_refs,
    metadata,
    outbox,
    outbox_channels,
    seen_events,
    transitions,
    watches,
)
from services.store.watching import TransitionRow, Watches, WatchRow, workspace_key

__all__ = [
    "ChannelSettings",
    "Clock",
    "MessageRef",
    "MessageRefs",
    "SeenEvents",
    "TransitionRow",
    "WatchRow",
    "Watches",
    "as_utc",
    "channel_settings",
    "create_schema",
    "default_url",
    "drop_schema",
    "make_engine",
    "message_refs",
    "metadata",
    "outbox",
    "outbox_channels",
    "seen_events",
    "transitions",
    "utc_now",
    "watches",
    "workspace_key",
]
