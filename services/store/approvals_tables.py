"""Tables of approval requests, their votes, and the audit log (on the store's one MetaData)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from services.store.tables import Id, Json, UtcDateTime, metadata

# One row per destructive request. `state` moves only by compare-and-set (UPDATE … WHERE state = <expected>):
# pending → approved | rejected | expired;  approved → executing (the claim: one winner) → done | failed.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("action", String(64), nullable=False),  # teardown.workspace | teardown.rg | compute.delete | …
    Column("target", String(255), nullable=False),
    Column("details", Json, nullable=False),  # what will be deleted (dependents, contents), scope, options
    Column("requester", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("reason", Text),
    Column("needed", Integer, nullable=False),  # distinct approvals needed
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False, default=0),  # +1 on every change (names the message updates)
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime()),  # when it left pending (approved, rejected, expired)
    Column("decided_by", String(64)),  # the approver whose vote completed it, or the rejecter
    Column("exec_token", String(64)),  # the claim of the one execution
    Column("exec_started_at", UtcDateTime()),
    Column("lease_until", UtcDateTime()),  # renewed while the executor runs; past it, the run is presumed dead
    Column("finished_at", UtcDateTime()),
    Column("result", Text),  # plain words: what the executor did
    Column("error", Text),  # plain words: why it failed
    Index(None, "state", "expires_at"),
)

approval_votes = Table(
    "approval_votes",
    metadata,
    Column("request_id", Id, ForeignKey("approval_requests.id", ondelete="CASCADE"), primary_key=True),
    Column("user", String(64), primary_key=True),  # one vote per person and request
    Column("approve", Boolean, nullable=False),
    Column("role", String(16), nullable=False),  # the voter's role when they voted
    Column("channel", String(64)),
    Column("at", UtcDateTime(), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),  # command | approval.request | approval.decision | azure.mutation
    Column("user", String(64)),
    Column("channel", String(64)),
    Column("text", Text, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("details", Json),
    Index(None, "user", "id"),
)
