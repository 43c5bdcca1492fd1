"""Accepted slow commands, kept in the store until they end with a final message, also across a restart.

The ack path writes one row (`enqueue`: a single INSERT; a Slack retry of the same trigger_id inserts nothing).
Any replica's workers then claim rows and run them:

    queued ──claim (owner + lease)──▶ running ──finish──▶ done
                                         └──lease lapsed (its process died)──▶ interrupted (the person is told)

Claims. `claim` moves the oldest queued rows to `running` in one UPDATE whose ids come from a CTE that takes
them `FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent claimers (threads or replicas) never get the same
row and never wait for each other. SQLite has no row locks (the clause is not rendered there): every
transaction starts with BEGIN IMMEDIATE (services.store.engine), which serialises writers, and the UPDATE's
own `state = queued` guard does the rest.

Leases. A claim holds the row until `lease_until`; while the work runs, a `Heartbeat` thread renews it
every third of the lease. A queued row is never lost: whichever replica claims it first runs it, however long
ago it was accepted and whichever process accepted it.

Take-over. A running row whose lease lapsed belonged to a process that died (or stopped renewing). It may have
half-done Azure changes, so it is NEVER run again: `take_over_lapsed` marks it `interrupted` (a compare-and-set:
of two replicas taking over at once, one wins) and tells the person through the command's response_url that
the outcome is unknown and what to check. The notice is claimed with a lease too: if the notifier itself dies
before recording that the notice went out, the notice is sent again after that lease (the one case where a
person may read it twice; losing it would be worse). If the run was in fact alive and finishes later, its
reply is still posted (by the worker) but the row stays interrupted.

The response_url is a capability URL: it is stored because a worker needs it, and it is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, Update, bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from services.heartbeat import Heartbeat
from services.store.clock import Clock, utc_now
from services.store.command_tables import command_queue
from services.store.group_commit import GroupCommit, NotWritten
from services.store.sql import insert_ignore

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
INTERRUPTED = "interrupted"

# Outcomes recorded when a command ends (plain words, for whoever reads the table).
REPLIED = "replied"
SPOKE_IN_CHANNEL = "no reply: the work posted in the channel itself"
UNDELIVERED = "reply undelivered"
CRASHED = "crashed"

_TYPED_LIMIT = 200


class QueueUnavailable(Exception):
    """The store could not accept a command (the message names the failure, never the command's secrets)."""


@dataclass(frozen=True)
class CommandRequest:
    """An accepted `/aml …` as the queue keeps it: enough to run it again from the row and to answer the person."""

    command: str
    text: str
    user_id: str
    channel_id: str
    response_url: str = field(repr=False)  # a secret: kept out of reprs (and so out of logs)
    team_id: str | None = None
    delivery_key: str | None = None  # Slack's trigger_id

    @property
    def typed(self) -> str:
        """What the person typed, as they would recognise it: `/aml job submit train`."""
        return f"{self.command} {self.text}".strip()


@dataclass(frozen=True)
class QueuedCommand:
    """One row of the queue."""

    id: int
    request: CommandRequest
    state: str
    owner: str | None
    lease_until: datetime | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> QueuedCommand:
        m = row._mapping
        request = CommandRequest(
            command=m["command"],
            text=m["text"],
            user_id=m["user_id"],
            channel_id=m["channel_id"],
            response_url=m["response_url"],
            team_id=m["team_id"],
            delivery_key=m["delivery_key"],
        )
        return cls(
            id=m["id"],
            request=request,
            **{name: m[name] for name in cls.__dataclass_fields__ if name not in ("id", "request")},
        )


# Posts a final message to a command's response_url; raises when it could not be delivered.
Notify = Callable[[CommandRequest, str], None]
# The command a person should run to see where an interrupted command got to: `/aml job list`.
CheckHint = Callable[[CommandRequest], str]
# Whether a command may run again after its runner died mid-way (it would create nothing twice).
RetrySafe = Callable[[CommandRequest], bool]
# More to write in a transaction of the queue's (the command's audit row).
InTransaction = Callable[[Connection], object]
# A retry-safe command runs at most this many times (a claim counts one attempt).
RETRY_ATTEMPTS = 2


class CommandQueue:
    """The durable queue of accepted slow commands; safe to use from several threads and replicas at once."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utc_now,
        lease_seconds: float = 60.0,
        renew_seconds: float | None = None,
        enqueue_engine: Engine | None = None,
        enqueue_budget: float = 0.25,
    ) -> None:
        self.engine = engine
        # The ack path's INSERT gets connections of its own: it must never wait behind busy worker threads.
        self.enqueue_engine = enqueue_engine or engine
        # On SQLite (one writer at a time), commands accepted at the same moment are written together; the ack
        # path waits at most the budget. PostgreSQL takes concurrent INSERTs as they come.
        self._accepting: GroupCommit[dict[str, Any], bool] | None = (
            GroupCommit(self._insert_batch) if self.enqueue_engine.dialect.name == "sqlite" else None
        )
        self.enqueue_budget = enqueue_budget
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        # Real seconds between lease renewals of a running command: well inside the lease.
        self.renew_seconds = renew_seconds if renew_seconds is not None else lease_seconds / 3

    # ---------------------------------------------------------------- the ack path

    def enqueue(self, request: CommandRequest) -> bool:
        """Accept a command (one INSERT, with those accepted at the same moment); False when its delivery key was
        accepted before (a Slack retry).

        Raises QueueUnavailable when the store cannot take it (within `enqueue_budget` while others are written).
        """
        row = {
            "delivery_key": request.delivery_key,
            "command": request.command,
            "text": request.text,
            "user_id": request.user_id,
            "channel_id": request.channel_id,
            "team_id": request.team_id,
            "response_url": request.response_url,
            "state": QUEUED,
            "attempts": 0,
            "created_at": self.clock(),
        }
        try:
            if self._accepting is None:
                return self._insert_batch([row])[0]
            return self._accepting.submit(row, self.enqueue_budget)
        except NotWritten:
            raise QueueUnavailable("the store could not accept the command in time") from None
        except SQLAlchemyError as err:
            # The error's text carries the statement's parameters, response_url included: none of it goes on.
            raise QueueUnavailable(f"the store could not accept the command ({type(err).__name__})") from None

    def _insert_batch(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Accepted commands that arrived together, in one transaction (one turn at the store's write lock)."""
        with self.enqueue_engine.begin() as conn:
            return [insert_ignore(conn, command_queue, row, ["delivery_key"]) for row in rows]

    # ---------------------------------------------------------------- workers

    def claim(self, owner: str, limit: int = 1) -> list[QueuedCommand]:
        """Take up to `limit` of the oldest queued commands for `owner` to run (none that anyone else holds)."""
        now = self.clock()
        params = {"p_owner": owner, "p_lease_until": now + self.lease, "p_now": now}
        with self.engine.begin() as conn:
            rows = conn.execute(_claim_statement(limit), params).all()
        return sorted((QueuedCommand.from_row(row) for row in rows), key=lambda c: c.id)

    def renew(self, command_id: int, owner: str) -> bool:
        """Extend the lease of a command `owner` runs; False when it is no longer theirs (taken over)."""
        params = {"p_command_id": command_id, "p_owner": owner, "p_lease_until": self.clock() + self.lease}
        with self.engine.begin() as conn:
            result = conn.execute(_RENEW, params)
        return bool(result.rowcount == 1)

    def keep_lease(self, command_id: int, owner: str) -> Heartbeat:
        """A context manager renewing the command's lease while the block runs."""
        return Heartbeat(f"command {command_id}", self.renew_seconds, lambda: self.renew(command_id, owner))

    def finish(self, command_id: int, owner: str, outcome: str, *, also: InTransaction | None = None) -> bool:
        """Record how a command ended; False when its lease had lapsed and it was reported interrupted meanwhile.

        `also` writes more in the same transaction (the command's audit row).
        """
        finished, _ = self._finish(command_id, owner, outcome, also, claim_next=False)
        return finished

    def finish_and_claim(
        self, command_id: int, owner: str, outcome: str, *, also: InTransaction | None = None
    ) -> tuple[bool, QueuedCommand | None]:
        """`finish`, and claim the oldest queued command for `owner` in the same transaction (a busy runner
        pays one transaction per command, not two); returns whether it finished, and the next command if any."""
        return self._finish(command_id, owner, outcome, also, claim_next=True)

    def _finish(
        self, command_id: int, owner: str, outcome: str, also: InTransaction | None, *, claim_next: bool
    ) -> tuple[bool, QueuedCommand | None]:
        now = self.clock()
        params = {"p_command_id": command_id, "p_owner": owner, "p_outcome": outcome, "p_now": now}
        claim = {"p_owner": owner, "p_lease_until": now + self.lease, "p_now": now}
        with self.engine.begin() as conn:
            finished = conn.execute(_FINISH, params).rowcount == 1
            if also is not None:
                also(conn)
            row = conn.execute(_claim_statement(1), claim).first() if claim_next else None
        return finished, QueuedCommand.from_row(row) if row is not None else None

    def take_over_lapsed(
        self,
        owner: str,
        notify: Notify,
        *,
        check: CheckHint | None = None,
        now: datetime | None = None,
        limit: int = 20,
        retry_safe: RetrySafe | None = None,
    ) -> list[QueuedCommand]:
        """Close commands whose runner died as `interrupted` and tell each person once; returns those taken over.

        They are never run again — a person checks (`check` names the command to do it with) and asks again —
        except those `retry_safe` says may run twice (a job submit names its job after the request): they go
        back to the queue, once; interrupted again, they are closed like the others.
        """
        now = now or self.clock()
        if retry_safe is not None:
            self._requeue_retry_safe(retry_safe, now, limit)
        cq = command_queue
        held = (cq.c.state.in_((RUNNING, INTERRUPTED)), cq.c.lease_until < now)
        take = (
            update(cq)
            .where(cq.c.id.in_(_locked_oldest(limit, *held)), *held)
            .values(
                state=INTERRUPTED,
                owner=owner,
                lease_until=now + self.lease,  # the notice's own claim
                attempts=cq.c.attempts + 1,
                outcome=INTERRUPTED,
            )
            .returning(cq)
        )
        with self.engine.begin() as conn:
            taken = sorted((QueuedCommand.from_row(row) for row in conn.execute(take).all()), key=lambda c: c.id)
        for command in taken:
            request = command.request
            text = interrupted_message(request, check(request) if check is not None else f"{request.command} help")
            outcome = INTERRUPTED
            try:
                notify(request, text)
            except Exception as err:  # a response_url past its 30 minutes or 5 uses cannot be answered any more
                reason = _without(str(err) or type(err).__name__, request.response_url)
                log.warning("command %s was interrupted and its notice could not be delivered: %s", command.id, reason)
                outcome = f"{INTERRUPTED}; notice undelivered: {reason}"[:500]
            self._settle_notice(command.id, owner, outcome)
        return taken

    def _requeue_retry_safe(self, retry_safe: RetrySafe, now: datetime, limit: int) -> int:
        """Put lapsed commands that may run again back in the queue (first interruption only)."""
        cq = command_queue
        lapsed = (cq.c.state == RUNNING, cq.c.lease_until < now, cq.c.attempts < RETRY_ATTEMPTS)
        with self.engine.begin() as conn:
            rows = conn.execute(select(cq).where(cq.c.id.in_(_locked_oldest(limit, *lapsed)))).all()
            ids = [row.id for row in rows if retry_safe(QueuedCommand.from_row(row).request)]
            if ids:
                conn.execute(
                    update(cq)
                    .where(cq.c.id.in_(ids), *lapsed)
                    .values(state=QUEUED, owner=None, lease_until=None, started_at=None)
                )
        if ids:
            log.info("commands %s: their runner died; they are safe to run again and were queued again", ids)
        return len(ids)

    def _settle_notice(self, command_id: int, owner: str, outcome: str) -> None:
        cq = command_queue
        with self.engine.begin() as conn:
            conn.execute(
                update(cq)
                .where(cq.c.id == command_id, cq.c.owner == owner, cq.c.state == INTERRUPTED)
                .values(outcome=outcome, finished_at=self.clock(), lease_until=None)
            )

    # ---------------------------------------------------------------- inspection and housekeeping

    def count_queued(self, cap: int) -> int:
        """How many commands wait to be claimed, counting no further than `cap` (cheap on a long queue)."""
        cq = command_queue
        waiting = select(cq.c.id).where(cq.c.state == QUEUED).limit(max(0, cap)).subquery()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(waiting)).scalar_one())

    def get(self, command_id: int) -> QueuedCommand | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(command_queue).where(command_queue.c.id == command_id)).first()
        return QueuedCommand.from_row(row) if row else None

    def find(self, delivery_key: str) -> QueuedCommand | None:
        """The command accepted under a delivery key (Slack's trigger_id), if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(command_queue).where(command_queue.c.delivery_key == delivery_key)).first()
        return QueuedCommand.from_row(row) if row else None

    def prune(self, *, older_than: datetime) -> int:
        """Delete commands that ended before `older_than` (their delivery keys are long past any Slack retry)."""
        cq = command_queue
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(cq).where(
                    cq.c.state.in_((DONE, INTERRUPTED)), cq.c.finished_at.is_not(None), cq.c.finished_at < older_than
                )
            )
        return int(result.rowcount)


# The statements every command runs, built once (see services/store/sql.py) and executed with parameters.
_cq = command_queue
_RENEW = (
    update(_cq)
    .where(_cq.c.id == bindparam("p_command_id"), _cq.c.owner == bindparam("p_owner"), _cq.c.state == RUNNING)
    .values(lease_until=bindparam("p_lease_until"))
)
_FINISH = (
    update(_cq)
    .where(_cq.c.id == bindparam("p_command_id"), _cq.c.owner == bindparam("p_owner"), _cq.c.state == RUNNING)
    .values(state=DONE, outcome=bindparam("p_outcome"), finished_at=bindparam("p_now"), lease_until=None)
)


@lru_cache(maxsize=8)
def _claim_statement(limit: int) -> Update:
    return (
        update(_cq)
        .where(_cq.c.id.in_(_locked_oldest(limit, _cq.c.state == QUEUED)), _cq.c.state == QUEUED)
        .values(
            state=RUNNING,
            owner=bindparam("p_owner"),
            lease_until=bindparam("p_lease_until"),
            attempts=_cq.c.attempts + 1,
            started_at=bindparam("p_now"),
        )
        .returning(_cq)
    )


def _locked_oldest(limit: int, *where: ColumnElement[bool]) -> Select[tuple[int]]:
    """Ids of the oldest rows matching `where`, locked FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite ignores it).

    The CTE is MATERIALIZED: as a plain `IN (subquery)` PostgreSQL may run the subquery again per row, and each
    run, skipping the rows this very statement already locked, picks more: `limit` would not hold.
    """
    cq = command_queue
    picked = (
        select(cq.c.id)
        .where(*where)
        .order_by(cq.c.id)
        .limit(max(1, limit))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return select(picked.c.id)


def interrupted_message(request: CommandRequest, check: str) -> str:
    """What the person reads when the process running their command died."""
    typed = request.typed.replace("`", "'")
    if len(typed) > _TYPED_LIMIT:
        typed = typed[: _TYPED_LIMIT - 1] + "…"
    return (
        f"The bot restarted while running `{typed}`; it may or may not have completed. "
        f"Check with `{check}` before trying again."
    )


def _without(text: str, secret: str) -> str:
    """`text` with the response_url cut out (an HTTP library may put the URL in its error)."""
    return text.replace(secret, "[response_url]") if secret else text
