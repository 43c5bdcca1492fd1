"""Value types of the reminders and the helpers the sweep, snooze and stop code share (see services.reminders)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row

from services.errors import Forbidden
from services.outbox import Outbox
from services.rbac import Authorizer

KIND_REMINDER = "reminder"  # the grouped reminder, with its buttons (payload: reminder_sweep.reminder_payload)
KIND_PROGRESS = "reminder.progress"  # a reply in its thread: {reminder_id, compute, stage, text}
STOP_ACTION = "compute.stop"  # what Stop / Scale to zero needs (operator by default)
SNOOZE_ACTION = "remind.snooze"  # what Snooze / Keep until tomorrow need (operator by default)


def message_ref(reminder_id: int) -> str:
    """The outbox ref of a reminder's message (its thread holds stop results and snooze notes)."""
    return f"reminder:{reminder_id}"


@dataclass(frozen=True)
class Reminder:
    """One reminder sent: its channel, the schedule slot, and the snapshot of every compute it listed."""

    id: int
    channel: str
    slot: str
    items: tuple[Mapping[str, Any], ...]
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> Reminder:
        return cls(row.id, row.channel, row.slot, tuple(row.items or ()), row.created_at)

    def item(self, compute: str) -> Mapping[str, Any] | None:
        return next((i for i in self.items if str(i.get("name", "")).lower() == compute.strip().lower()), None)


@dataclass(frozen=True)
class Snooze:
    compute: str
    workspace_key: str
    until: datetime
    kind: str  # snooze | keep
    by: str
    channel: str | None


@dataclass(frozen=True)
class SentReminder:
    channel: str
    reminder_id: int
    computes: int


@dataclass
class SweepReport:
    """What one sweep did; `errors` are plain words (a workspace whose computes could not be listed)."""

    slot: str | None
    quiet: bool = False
    found: int = 0  # computes costing money, across the workspaces swept (snoozed ones included)
    snoozed: int = 0
    sent: list[SentReminder] = field(default_factory=list)
    repeated: int = 0  # channels already reminded for this slot
    errors: list[str] = field(default_factory=list)


class ActionOutcome(StrEnum):
    DONE = "done"
    ALREADY = "already"  # a stop of this compute was already started from this reminder
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    FAILED = "failed"


@dataclass(frozen=True)
class ActionResult:
    """What a button or command did; `message` is the plain-words answer for the person (sent ephemerally)."""

    outcome: ActionOutcome
    message: str

    @property
    def ok(self) -> bool:
        return self.outcome is ActionOutcome.DONE


@dataclass(frozen=True)
class ReminderStatus:
    """What `/aml remind status` shows; `text` is the whole answer in plain words."""

    schedule: str
    next_fires: tuple[datetime, ...]
    quiet_now: bool
    channels: tuple[str, ...]
    snoozes: tuple[Snooze, ...]
    text: str


def not_found(compute: str, reminder: Reminder | None) -> ActionResult:
    if reminder is None:
        return ActionResult(ActionOutcome.NOT_FOUND, "I can't find that reminder any more.")
    return ActionResult(ActionOutcome.NOT_FOUND, f"`{compute}` is not in that reminder.")


def refusal(
    authorizer: Authorizer | None, user: str, channel: str | None, action: str, item: Mapping[str, Any] | None
) -> str | None:
    """Why `user` may not do `action` (None: allowed). The compute's creator always may."""
    if authorizer is None or (item is not None and item.get("creator_slack_id") == user):
        return None
    try:
        authorizer.check(user, channel, action)
    except Forbidden as err:
        return f"{err} The compute's creator may do it too."
    return None


def post_progress(outbox: Outbox, conn: Connection, reminder: Reminder, compute: str, stage: str, text: str) -> None:
    """A reply in the reminder's thread (once per compute and stage)."""
    outbox.enqueue(
        conn,
        channel=reminder.channel,
        kind=KIND_PROGRESS,
        payload={"reminder_id": reminder.id, "compute": compute, "stage": stage, "text": text},
        dedupe_key=f"{message_ref(reminder.id)}:{compute.lower()}:{stage}",
        thread_ref=message_ref(reminder.id),
    )
