"""The Stop / Scale to zero button of a reminder: authorised, run exactly once, its outcome posted in the thread.

Exactly once per reminder and compute: inserting the `reminder_stops` row (INSERT … ON CONFLICT DO NOTHING) is
the claim, committed with a "on it…" reply before the backend is called; a second click, thread or replica
inserts nothing and is told who asked and when. The outcome is recorded on the row (state running → done |
failed, matched on the claim's token) together with the reply that tells it. A claim left `running` by a crash
is never run again: the compute shows up in the next reminder, whose own Stop works.

Instances: `computes.begin_stop`, waited for up to `stop_wait`. Clusters: the Computes port has no way to change
a cluster's minimum nodes, so unless the adapter also implements `ClusterScaler`, "Scale to zero" says what the
cluster does by itself (minimum 0: idle nodes go away) or what to do (minimum above 0: set it to 0 in the studio
or with the CLI).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, Engine, select, update

from services.approvals import plain_error
from services.audit import AZURE_MUTATION, AuditLog
from services.errors import ServiceError
from services.models import ComputeInfo, WorkspaceScope
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


@runtime_checkable
class ClusterScaler(Protocol):
    """What a Computes adapter may add so that "Scale to zero" acts: set the cluster's minimum nodes to 0."""

    def begin_scale_to_zero(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[ComputeInfo]: ...


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
            if isinstance(computes, ClusterScaler):
                operation = computes.begin_scale_to_zero(name, scope=scope)
                scaled = f"`{name}` now scales to zero: its nodes go away once idle."
                return self._wait(operation, name, "scaling down", scaled), None
            return cluster_advice(item)
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


def cluster_advice(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """What to do about a cluster when the backend cannot change its minimum nodes (the Computes port can't)."""
    name, min_nodes, running = item["name"], int(item.get("min_nodes") or 0), item.get("jobs_running") or 0
    if min_nodes == 0:
        busy = f"; {running} job(s) keep its nodes busy now (`/aml job cancel <job>` frees them)" if running else ""
        return f"`{name}` already scales to zero by itself (minimum 0 nodes): idle nodes go away{busy}.", None
    return None, (
        f"I can't change a cluster's minimum nodes yet, so `{name}` keeps {min_nodes} node(s) "
        f"({money(item.get('per_hour'), item.get('currency'))}/h). Set its minimum to 0 in Azure ML studio "
        f"(Compute → Compute clusters → {name} → Edit) or with `az ml compute update --name {name} --min-instances 0`."
    )
