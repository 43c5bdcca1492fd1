"""The approval data model: a request's states, its votes, and what a decision, an execution or a sweep did.

How the states move, and why each move happens once, is explained in services.approvals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from services.roles import COMPUTE_DELETE, STORAGE_DELETE, TEARDOWN_RG, TEARDOWN_WORKSPACE


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTING = "executing"
    DONE = "done"
    FAILED = "failed"


P, A, R, E, X, D, F = (
    ApprovalState.PENDING,
    ApprovalState.APPROVED,
    ApprovalState.REJECTED,
    ApprovalState.EXPIRED,
    ApprovalState.EXECUTING,
    ApprovalState.DONE,
    ApprovalState.FAILED,
)

# What each action deletes, in words: "workspace `ws1`".
TARGET_NOUNS: Mapping[str, str] = {
    TEARDOWN_WORKSPACE: "workspace",
    TEARDOWN_RG: "resource group",
    COMPUTE_DELETE: "compute",
    STORAGE_DELETE: "storage account",
}


def message_ref(request_id: int) -> str:
    """The outbox ref of a request's message (its thread holds progress and results)."""
    return f"approval:{request_id}"


@dataclass(frozen=True)
class Vote:
    user: str
    approve: bool
    role: str
    channel: str | None
    at: datetime


@dataclass(frozen=True)
class ApprovalRequest:
    id: int
    action: str
    target: str
    details: Mapping[str, Any]
    requester: str
    channel: str
    reason: str | None
    needed: int
    state: ApprovalState
    version: int
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    exec_token: str | None
    exec_started_at: datetime | None
    lease_until: datetime | None
    finished_at: datetime | None
    result: str | None
    error: str | None
    votes: tuple[Vote, ...] = ()

    @classmethod
    def from_row(cls, row: Row[Any], votes: Sequence[Vote] = ()) -> ApprovalRequest:
        m = dict(row._mapping)
        m["state"] = ApprovalState(m["state"])
        m["details"] = m["details"] or {}
        names = [n for n in cls.__dataclass_fields__ if n != "votes"]
        return cls(**{n: m[n] for n in names}, votes=tuple(votes))

    @property
    def ref(self) -> str:
        return message_ref(self.id)

    @property
    def is_pending(self) -> bool:
        return self.state is P

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(v.user for v in self.votes if v.approve)

    @property
    def rejecters(self) -> tuple[str, ...]:
        return tuple(v.user for v in self.votes if not v.approve)

    @property
    def what(self) -> str:
        """What is deleted, in words: workspace `ws1`."""
        return f"{TARGET_NOUNS.get(self.action, self.action)} `{self.target}`"


@dataclass(frozen=True)
class Execution:
    """The one run of a request's executor."""

    request_id: int
    state: ApprovalState  # DONE or FAILED
    result: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.state is D


class DecisionOutcome(StrEnum):
    RECORDED = "recorded"  # an approval counted; more are needed
    APPROVED = "approved"  # the last approval needed: the request is approved (and executed, see `execution`)
    REJECTED = "rejected"  # rejected (or withdrawn by the requester): closed, nothing deleted
    CLOSED = "closed"  # the request was already closed, or has just expired: nothing changed
    ALREADY_VOTED = "already_voted"  # this person decided before: nothing changed
    SELF_APPROVAL = "self_approval"  # the requester cannot approve their own request: nothing changed
    FORBIDDEN = "forbidden"  # the clicker lacks the role: nothing changed (the message names role and holders)
    NOT_FOUND = "not_found"


_CHANGED = frozenset({DecisionOutcome.RECORDED, DecisionOutcome.APPROVED, DecisionOutcome.REJECTED})


@dataclass(frozen=True)
class Decision:
    """What a click did; `message` is the plain-words answer for the clicker (the bot sends it ephemerally)."""

    outcome: DecisionOutcome
    message: str
    request: ApprovalRequest | None
    execution: Execution | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in _CHANGED


@dataclass(frozen=True)
class SweepReport:
    expired: int = 0
    resumed: int = 0  # approved requests claimed and run after their decider died
    interrupted: int = 0  # executions whose lease lapsed: closed as failed, not run again
