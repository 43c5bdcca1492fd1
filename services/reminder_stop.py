"""The Stop / Scale to zero button of a reminder: authorised, run exactly once, its outcome posted in the thread.

Exactly once per reminder and compute: inserting the `reminder_stops` row (INSERT … ON CONFLICT DO NOTHING) is
the claim, committed with a "on it…" reply before the backend is called; a second click, thread or replica
inserts nothing and is told who asked and when. The outcome is recorded on the row (state running → done |
failed, matched on the claim's token) together with the reply that tells it. A claim left `running` by a crash
is never run again: the compute shows up in the next reminder, whose own Stop works.

Instances: `computes.begin_stop`; clusters with a minimum above 0 nodes: `computes.begin_scale_to_zero` (running
jobs keep their nodes); each waited for up to `stop_wait`. A cluster the reminder showed at minimum 0 needs no
call: the reply says it scales down by itself once idle.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from services.approvals import plain_error
from services.audit import AZURE_MUTATION, AuditLog
from services.errors import ServiceError
from services.models import ComputeInfo
from services.outbox import Outbox
from services.ports import CloudBackend, Operation
from services.rbac import Authorizer
from services.reminder_models import (
    STOP_ACTION,
    ActionOutcome,
    ActionResult,
    Reminder,
    not_found,
    post_progress,
    refusal,
)
from services.reminder_sweep import ACTION_STOP, money, scope_of
from services.store.clock import Clock
from services.store.reminders_tables import reminder_stops
from services.store.sql import insert_ignore

log = logging.getLogger(__name__)


class ReminderStopper:
    """Runs the stop of one compute listed in a reminder (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        backend: CloudBackend,
        outbox: Outbox,
        clock: Clock,
        *,
        authorizer: Authorizer | None = None,
        audit: AuditLog | None = None,
        stop_wait: timedelta = timedelta(minutes=10),
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.outbox = outbox
        self.clock = clock
        self.authorizer = authorizer
        self.audit = audit
        self.stop_wait = stop_wait

    def stop(self, reminder: Reminder | None, compute: str, *, by: str, channel: str | None = None) -> ActionResult:
        item = reminder.item(compute) if reminder else None
        if reminder is None or item is None:
            return not_found(compute, reminder)
        name, key = str(item["name"]), str(item["key"])
        refused = refusal(self.authorizer, by, channel or reminder.channel, STOP_ACTION, item)
        if refused:
            return ActionResult(ActionOutcome.FORBIDDEN, refused)
        verb = "stop" if item.get("action") == ACTION_STOP else "scale to zero"
        what = f"{verb} {name} (reminder #{reminder.id})"
        token = uuid.uuid4().hex
        with self.engine.begin() as conn:
            claim = {
                "reminder_id": reminder.id,
                "compute_key": key,
                "compute": name,
                "action": str(item.get("action")),
                "state": "running",
                "by": by,
                "token": token,
                "started_at": self.clock(),
            }
            if not insert_ignore(conn, reminder_stops, claim, ["reminder_id", "compute_key"]):
                return self._already(conn, reminder.id, key, name, verb)
            asked = f"<@{by}> asked to {verb} `{name}`; on it…"
            post_progress(self.outbox, conn, reminder, name, "stop-started", asked)
            self._audit(conn, by, reminder, what, "started")

        result, error = self._execute(item)
        text = result if error is None else f"Could not {verb} `{name}`: {error}"
        state = "done" if error is None else "failed"
        with self.engine.begin() as conn:
            s = reminder_stops
            conn.execute(
                update(s)
                .where(s.c.reminder_id == reminder.id, s.c.compute_key == key, s.c.token == token)
                .values(state=state, finished_at=self.clock(), result=result, error=error)
            )
            post_progress(self.outbox, conn, reminder, name, "stop-finished", str(text))
            self._audit(conn, by, reminder, what, state)
        return ActionResult(ActionOutcome.DONE if error is None else ActionOutcome.FAILED, str(text))

    def _execute(self, item: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """Run the stop or scale-down: (what happened, None) or (None, why it failed), in plain words."""
        name, scope = str(item["name"]), scope_of(item)
        computes = self.backend.computes
        try:
            if item.get("action") == ACTION_STOP:
                stopped = f"Stopped `{name}`: its compute hours are no longer billed."
                return self._wait(computes.begin_stop(name, scope=scope), name, "stopping", stopped), None
            if int(item.get("min_nodes") or 0) == 0:
                return scales_by_itself(item), None
            operation = computes.begin_scale_to_zero(name, scope=scope)
            return self._wait(operation, name, "scaling down", scaled_to_zero(item)), None
        except ServiceError as err:
            return None, str(err)
        except Exception as err:  # a backend bug: say so plainly, keep the trace in the log
            log.exception("reminders: stopping %s failed", name)
            return None, plain_error(err)

    def _wait(self, operation: Operation[ComputeInfo], name: str, doing: str, done: str) -> str:
        try:
            operation.result(timeout=self.stop_wait.total_seconds())
        except TimeoutError:
            return f"Still {doing} `{name}` (it can take minutes); `/aml compute show {name}` tells when it is done."
        return done

    @staticmethod
    def _already(conn: Connection, reminder_id: int, key: str, name: str, verb: str) -> ActionResult:
        s = reminder_stops
        row = conn.execute(select(s).where(s.c.reminder_id == reminder_id, s.c.compute_key == key)).one()
        asked = f"<@{row.by}> already asked to {verb} `{name}` at {row.started_at:%H:%M} UTC"
        if row.state == "running":
            return ActionResult(ActionOutcome.ALREADY, f"{asked}; it is in progress (see the thread).")
        return ActionResult(ActionOutcome.ALREADY, f"{asked}: {row.result or row.error}")

    def _audit(self, conn: Connection, user: str, reminder: Reminder, text: str, outcome: str) -> None:
        if self.audit is not None:
            self.audit.record(AZURE_MUTATION, user, reminder.channel, text, outcome, conn=conn)


def _busy(item: Mapping[str, Any]) -> str:
    running = item.get("jobs_running") or 0
    return f"; {running} job(s) keep its nodes busy now (`/aml job cancel <job>` frees them)" if running else ""


def scales_by_itself(item: Mapping[str, Any]) -> str:
    """Why a cluster at minimum 0 needs nothing done: it releases idle nodes on its own."""
    return f"`{item['name']}` already scales to zero by itself (minimum 0 nodes): idle nodes go away{_busy(item)}."


def scaled_to_zero(item: Mapping[str, Any]) -> str:
    """What setting the minimum to 0 changed, and what it costs until the nodes are gone."""
    name, was, per_node = item["name"], int(item.get("min_nodes") or 0), item.get("per_node_hour")
    price = f" ({money(per_node, item.get('currency'))}/h each)" if per_node else ""
    return (
        f"`{name}` now scales to zero: its minimum went from {was} node(s) to 0, so its idle nodes{price} "
        f"go away after its scale-down delay{_busy(item)}."
    )
