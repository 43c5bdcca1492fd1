"""The table of accepted slow commands (on the store's one MetaData): claimed by any replica's workers with leases.

Importing this module registers it; `services.command_queue` imports it, so `create_schema` after that import
builds it (and `services.store.schema.all_tables` finds it on its own).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint

from services.store.tables import Id, UtcDateTime, metadata

# One row per accepted slow `/aml …`. `state` moves only by compare-and-set:
# queued → running (a claim: owner + lease) → done, or running → interrupted (its lease lapsed: never run again;
# the person is told once). While the interrupted notice is being sent, `lease_until` holds the notifier's claim;
# it is cleared (with `finished_at`) once the notice is settled.
command_queue = Table(
    "command_queue",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # Slack's trigger_id: a retried delivery of the same command inserts nothing (NULL: no key, never deduped).
    Column("delivery_key", String(255)),
    Column("command", String(64), nullable=False),  # "/aml"
    Column("text", Text, nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("team_id", String(64)),
    # A capability URL (30 minutes, 5 posts): a secret. Never logged, never shown.
    Column("response_url", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("owner", String(64)),  # the worker that runs it (or, once interrupted, that tells the person)
    Column("lease_until", UtcDateTime()),
    Column("attempts", Integer, nullable=False, default=0),  # claims, running or notifying
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("outcome", Text),  # plain words: replied, no reply, reply undelivered, crashed, interrupted …
    UniqueConstraint("delivery_key"),
    Index(None, "state", "id"),  # the claim: oldest queued first
    Index(None, "state", "lease_until"),  # the take-over: lapsed leases
)
