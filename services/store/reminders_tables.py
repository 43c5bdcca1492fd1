"""Tables of the running-compute reminders (on the store's one MetaData): reminders sent, snoozes, stops.

Importing this module registers them; `services.store.schema.all_tables()` imports every table module, so
`create_schema` and the migrations always see them.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from services.store.tables import Id, Json, UtcDateTime, metadata

# One row per reminder message: a channel (or a person's DM) and the schedule slot it was sent for.
# (channel, slot) is unique, so a sweep repeated for the same slot sends nothing twice.
reminders = Table(
    "reminders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("slot", String(64), nullable=False),  # the fire time it belongs to (ISO), or "manual:<…>"
    Column("items", Json, nullable=False),  # the snapshot of every compute listed (see services.reminders)
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("channel", "slot"),
    Index(None, "created_at"),
)

# A compute whose reminders are held back until `until` (Snooze, Keep until tomorrow, /aml remind snooze).
reminder_snoozes = Table(
    "reminder_snoozes",
    metadata,
    Column("workspace_key", String(400), primary_key=True),  # services.store.watching.workspace_key
    Column("compute_key", String(255), primary_key=True),  # the compute's name, lower case (Azure ignores case)
    Column("compute", String(255), nullable=False),
    Column("until", UtcDateTime(), nullable=False),
    Column("kind", String(16), nullable=False),  # snooze | keep
    Column("by", String(64), nullable=False),
    Column("channel", String(64)),
    Column("reminder_id", Id),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "until"),
)

# The one stop (or scale to zero) a reminder's button may start per compute: the insert is the claim.
# state: running → done | failed. A row left `running` by a crash is never run again.
reminder_stops = Table(
    "reminder_stops",
    metadata,
    Column("reminder_id", Id, ForeignKey("reminders.id", ondelete="CASCADE"), primary_key=True),
    Column("compute_key", String(255), primary_key=True),
    Column("compute", String(255), nullable=False),
    Column("action", String(16), nullable=False),  # stop | scale_to_zero
    Column("state", String(16), nullable=False),
    Column("by", String(64), nullable=False),
    Column("token", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("result", Text),  # plain words: what happened
    Column("error", Text),  # plain words: why it did not
)
