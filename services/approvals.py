"""Destructive actions behind approval requests: nothing is deleted until enough other people approve, and then
the deletion runs exactly once, however many clicks, threads or replicas race for it.

A request is a row in `approval_requests`; its `state` only moves by compare-and-set
(`UPDATE … WHERE id = :id AND state = :expected`), and every decision first locks the row
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers):

    pending ──approve (n-th distinct approver)──▶ approved ──claim──▶ executing ──▶ done | failed
       ├──reject (any approver, or the requester withdrawing)──▶ rejected
       └──expires_at passed (swept, or noticed by a late click)──▶ expired

Exactly once: the deletion runs only in the process whose claim (`approved → executing`, with a fresh
`exec_token`) updated one row; the claim commits before `executor` is called, outside any transaction, and
every other claimer (a second click, another replica, the sweeper) updates nothing and runs nothing. Votes are
keyed (request, user), so a person counts once; the row lock makes concurrent votes count one after the other,
so the n-th approval is seen by exactly one decision.

Restarts: every fact is in the store, so any ApprovalService on the same database carries on. A request left
`approved` (the process died between the approval and the claim) was never started: `resume_approved` claims and
runs it. A request left `executing` may or may not have been deleted: it is NOT run again. While the executor
runs, its claim's lease is renewed; once the lease has lapsed (`report_interrupted`, part of `sweep`) the
request is closed as failed ("interrupted") and the thread says plainly that the outcome is unknown and what to
check. If that run was in fact still alive and finishes later, its real result is recorded and posted then.

Messages go through the outbox in the same transaction as the state change: the request is posted
(`approval.request`, creates_ref "approval:<id>"); every change edits it (`approval.status`: the buttons are
replaced by the decision, who and when); progress, result and failure are replies in its thread
(`approval.progress`).

Modules: approval_models (states, requests, votes, outcomes), approval_texts (payloads and the words people see).
Their public names are re-exported here.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, func, insert, select, update

from services.approval_models import (
    TARGET_NOUNS,
    A,
    ApprovalRequest,
    ApprovalState,
    D,
    Decision,
    DecisionOutcome,
    E,
    Execution,
    F,
    P,
    R,
    SweepReport,
    Vote,
    X,
    message_ref,
)
from services.approval_texts import (
    KIND_PROGRESS,
    KIND_REQUEST,
    KIND_STATUS,
    audit_details,
    closed_message,
    counted,
    decision_text,
    mentions,
    plain_error,
    request_payload,
    when,
)
from services.audit import APPROVAL_DECISION, APPROVAL_REQUEST, AZURE_MUTATION, AuditLog
from services.errors import Forbidden, InvalidInput, ServiceError
from services.heartbeat import Heartbeat
from services.leader import unfenced
from services.outbox import Outbox, jsonable
from services.rbac import Authorizer, approve_action
from services.store.approvals_tables import approval_requests, approval_votes
from services.store.clock import Clock, utc_now
from services.store.sql import insert_ignore

__all__ = [
    "DEFAULT_TTL",
    "KIND_PROGRESS",
    "KIND_REQUEST",
    "KIND_STATUS",
    "TARGET_NOUNS",
    "ApprovalRequest",
    "ApprovalService",
    "ApprovalState",
    "Decision",
    "DecisionOutcome",
    "Execution",
    "Executor",
    "SweepReport",
    "Vote",
    "closed_message",
    "decision_text",
    "message_ref",
    "plain_error",
    "request_payload",
]

log = logging.getLogger(__name__)
Method = TypeVar("Method", bound=Callable[..., Any])

DEFAULT_TTL = timedelta(hours=24)

Executor = Callable[[ApprovalRequest], str]


def _wakes_delivery(method: Method) -> Method:
    """After a method that may have queued messages (whatever it returned or raised), wake their delivery."""

    @functools.wraps(method)
    def wrapper(self: ApprovalService, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self.on_enqueued()

    return cast(Method, wrapper)


class ApprovalService:
    """Approval requests for destructive actions. Thread-safe, and safe with several replicas on one database.

    `executor(request)` performs the deletion and returns what it did in plain words; it raises (a
    ServiceError, ideally) when it fails. It is called at most once per request, outside any transaction.
    """

    def __init__(
        self,
        engine: Engine,
        outbox: Outbox,
        authorizer: Authorizer,
        clock: Clock = utc_now,
        *,
        executor: Executor,
        default_ttl: timedelta = DEFAULT_TTL,
        audit: AuditLog | None = None,
        execution_lease: timedelta = timedelta(minutes=5),
        resume_grace: timedelta = timedelta(minutes=1),
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.authorizer = authorizer
        self.clock = clock
        self.executor = executor
        self.default_ttl = default_ttl
        self.audit = audit or AuditLog(engine, clock)
        self.execution_lease = execution_lease
        self.resume_grace = resume_grace
        self.on_enqueued = on_enqueued  # wakes the outbox delivery so a change shows without waiting for its poll

    # ---------------------------------------------------------------- reading

    def get(self, request_id: int) -> ApprovalRequest | None:
        with self.engine.connect() as conn:
            return self._load(conn, request_id)

    def requests(self, *, state: ApprovalState | None = None, channel: str | None = None) -> list[ApprovalRequest]:
        query = select(approval_requests).order_by(approval_requests.c.id)
        if state is not None:
            query = query.where(approval_requests.c.state == state.value)
        if channel is not None:
            query = query.where(approval_requests.c.channel == channel)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            return [ApprovalRequest.from_row(row, self._votes(conn, row.id)) for row in rows]

    # ---------------------------------------------------------------- asking

    @_wakes_delivery
    def request(
        self,
        action: str,
        target: str,
        details: Mapping[str, Any] | None,
        requester: str,
        channel: str,
        reason: str | None = None,
        needed: int | None = None,
        *,
        ttl: timedelta | None = None,
    ) -> ApprovalRequest:
        """Open a request and queue its message (with the buttons). Nothing is deleted.

        `details` (JSON-able) says what will be deleted: by convention `resources` lists what goes with the
        target (a workspace's dependents unless kept, a resource group's contents), each a string or
        {"type", "name"}; anything else the executor needs (scope, options such as keep_dependents) may ride
        along. `needed`: distinct approvals required (default: the configured number for `action`, else 1).
        Raises Forbidden when `requester` may not ask for `action` here; InvalidInput on bad arguments.
        """
        if not target or not requester or not channel:
            raise InvalidInput("An approval request needs a target, a requester and a channel.")
        try:
            self.authorizer.check(requester, channel, action)
        except Forbidden as err:
            self.audit.record(
                APPROVAL_REQUEST,
                requester,
                channel,
                f"{action} {target}",
                "denied",
                {"reason": reason, "why": str(err)},
            )
            raise
        needed = self.authorizer.approvals_needed(action) if needed is None else needed
        if needed < 1:
            raise InvalidInput(f"An approval request needs at least one approval, not {needed}.")
        ttl = ttl or self.default_ttl
        if ttl <= timedelta(0):
            raise InvalidInput("An approval request must stay open for some time.")
        now = self.clock()
        data = jsonable(dict(details or {}))
        with self.engine.begin() as conn:
            request_id = int(
                conn.execute(
                    insert(approval_requests)
                    .values(
                        action=action,
                        target=target,
                        details=data,
                        requester=requester,
                        channel=channel,
                        reason=(reason or None),
                        needed=needed,
                        state=P.value,
                        version=0,
                        created_at=now,
                        expires_at=now + ttl,
                    )
                    .returning(approval_requests.c.id)
                ).scalar_one()
            )
            req = self._load(conn, request_id)
            assert req is not None
            self.outbox.enqueue(
                conn,
                channel=channel,
                kind=KIND_REQUEST,
                payload=request_payload(req),
                dedupe_key=f"{req.ref}:request",
                creates_ref=req.ref,
            )
            self.audit.record(
                APPROVAL_REQUEST,
                requester,
                channel,
                f"asked to delete {req.what}" + (f": {reason}" if reason else ""),
                "pending",
                audit_details(req),
                conn=conn,
            )
        return req

    # ---------------------------------------------------------------- deciding

    @_wakes_delivery
    def decide(
        self, request_id: int, user: str, channel: str | None, approve: bool, *, execute: bool = True
    ) -> Decision:
        """A click on Approve (`approve=True`) or Reject. Never raises for a refused click: the Decision says why.

        Checked here, on the server, at click time: the request is still pending and not expired; the requester
        does not approve their own request (they may reject it: a withdrawal); the clicker holds the role of
        "approve.<action>"; one vote per person. When the last approval needed arrives and `execute` is true,
        the deletion runs in this call (after the approval is committed) and `Decision.execution` holds its
        result; with `execute=False` call `execute(request_id)` yourself (e.g. in a worker).
        """
        word = "approve" if approve else "reject"
        req = self.get(request_id)
        if req is None:
            return Decision(DecisionOutcome.NOT_FOUND, "I can't find that approval request any more.", None)
        if not req.is_pending:
            self._audit_refusal(req, user, channel, word, "closed")
            return Decision(DecisionOutcome.CLOSED, closed_message(req), req)
        if approve and user == req.requester:
            self._audit_refusal(req, user, channel, word, "refused")
            return Decision(
                DecisionOutcome.SELF_APPROVAL,
                "You asked for this, so someone else must approve it. (You can still reject it to withdraw it.)",
                req,
            )
        withdrawing = not approve and user == req.requester
        if withdrawing:
            role = self.authorizer.role_of(user, channel)
        else:
            try:
                role = self.authorizer.authorize(user, channel, approve_action(req.action))
            except Forbidden as err:
                self._audit_refusal(req, user, channel, word, "denied")
                return Decision(DecisionOutcome.FORBIDDEN, str(err), req)

        now = self.clock()
        with self.engine.begin() as conn:
            locked = self._load(conn, request_id, lock=True)
            assert locked is not None  # requests are never deleted
            req = locked
            if not req.is_pending:
                outcome, message = DecisionOutcome.CLOSED, closed_message(req)
            elif req.expires_at <= now:
                req = self._close_expired(conn, req, now)
                outcome, message = DecisionOutcome.CLOSED, closed_message(req)
            elif not insert_ignore(
                conn,
                approval_votes,
                {
                    "request_id": req.id,
                    "user": user,
                    "approve": approve,
                    "role": role.label,
                    "channel": channel,
                    "at": now,
                },
                ["request_id", "user"],
            ):
                outcome = DecisionOutcome.ALREADY_VOTED
                message = "You already approved this request"  # a rejection would have closed it
                message += f"; it is waiting for {counted(req.needed - len(req.approvers), 'more approval')}."
            elif not approve:
                req = self._move(conn, req, P, R, decided_at=now, decided_by=user)
                self._announce(conn, req)
                outcome = DecisionOutcome.REJECTED
                message = (
                    f"You withdrew the request to delete {req.what}; nothing will be deleted."
                    if withdrawing
                    else f"Rejected: {req.what} will not be deleted."
                )
            else:
                approvals = int(
                    conn.execute(
                        select(func.count())
                        .select_from(approval_votes)
                        .where(approval_votes.c.request_id == req.id, approval_votes.c.approve.is_(True))
                    ).scalar_one()
                )
                if approvals < req.needed:
                    req = self._move(conn, req, P, P)  # the message shows who approved so far
                    self._announce(conn, req)
                    outcome = DecisionOutcome.RECORDED
                    message = (
                        f"Your approval is recorded ({approvals} of {req.needed}); "
                        f"waiting for {counted(req.needed - approvals, 'more approval')}."
                    )
                else:
                    req = self._move(conn, req, P, A, decided_at=now, decided_by=user)
                    self._announce(conn, req)
                    outcome = DecisionOutcome.APPROVED
                    message = f"Approved: deleting {req.what} now; progress is in the request's thread."
            audit_outcome = {
                DecisionOutcome.CLOSED: "closed",
                DecisionOutcome.ALREADY_VOTED: "duplicate",
                DecisionOutcome.REJECTED: "withdrawn" if withdrawing else "rejected",
                DecisionOutcome.RECORDED: "recorded",
                DecisionOutcome.APPROVED: "approved",
            }[outcome]
            self.audit.record(
                APPROVAL_DECISION,
                user,
                channel,
                f"{word} request #{req.id}: delete {req.what}",
                audit_outcome,
                {**audit_details(req), "role": role.label},
                conn=conn,
            )

        execution = None
        if outcome is DecisionOutcome.APPROVED and execute:
            execution = self.execute(request_id)
            if execution is not None:
                message = (
                    f"Approved. {execution.result}"
                    if execution.ok
                    else f"Approved, but deleting {req.what} failed: {execution.error}"
                )
                req = self.get(request_id) or req
        return Decision(outcome, message, req, execution)

    # ---------------------------------------------------------------- executing

    @_wakes_delivery
    def execute(self, request_id: int) -> Execution | None:
        """Claim an approved request and run its executor; None when there was nothing to claim (not approved,
        or already claimed by another call, thread or replica: the deletion then runs there, not here)."""
        token = uuid.uuid4().hex
        now = self.clock()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(approval_requests)
                .where(approval_requests.c.id == request_id, approval_requests.c.state == A.value)
                .values(
                    state=X.value,
                    exec_token=token,
                    exec_started_at=now,
                    lease_until=now + self.execution_lease,
                    version=approval_requests.c.version + 1,
                )
            )
            if claimed.rowcount != 1:
                return None
            req = self._load(conn, request_id)
            assert req is not None
            self._announce(conn, req)
            self._progress(conn, req, "executing", f"Approved by {mentions(req.approvers)}. Deleting {req.what}…")
            self.audit.record(
                AZURE_MUTATION,
                req.requester,
                req.channel,
                f"delete {req.what}",
                "started",
                audit_details(req),
                conn=conn,
            )

        result: str | None = None
        error: str | None = None
        lease = self.execution_lease
        with Heartbeat(f"approval {request_id}", lease.total_seconds() / 3, lambda: self._renew(request_id, token)):
            try:
                result = self.executor(req) or f"Deleted {req.what}."
            except Exception as err:  # a BaseException (the process dying) leaves the claim for report_interrupted
                log.warning("approval %s: executor failed", request_id, exc_info=True)
                error = plain_error(err)
        return self._finish(req, token, result, error)

    def _finish(self, req: ApprovalRequest, token: str, result: str | None, error: str | None) -> Execution:
        state = D if error is None else F
        now = self.clock()
        # A run claimed under the fence records its result even if leadership moved (exec_token guards it).
        with unfenced(), self.engine.begin() as conn:
            moved = conn.execute(
                update(approval_requests)
                .where(
                    approval_requests.c.id == req.id,
                    approval_requests.c.exec_token == token,
                    # FAILED only when report_interrupted gave this run up for dead: its real result wins
                    approval_requests.c.state.in_((X.value, F.value)),
                )
                .values(
                    state=state.value,
                    finished_at=now,
                    result=result,
                    error=error,
                    lease_until=None,
                    version=approval_requests.c.version + 1,
                )
            )
            if moved.rowcount != 1:  # cannot happen: only this claim's holder writes a row with its token
                log.error("approval %s: the claim %s vanished before its result was recorded", req.id, token)
            done = self._load(conn, req.id)
            assert done is not None
            self._announce(conn, done)
            if error is None:
                self._progress(conn, done, "done", f"Done. {result}")
            else:
                self._progress(
                    conn,
                    done,
                    "failed",
                    f"Deleting {req.what} failed: {error}\nIt is not retried automatically: "
                    f"fix the cause, then ask again.",
                )
            self.audit.record(
                AZURE_MUTATION,
                req.requester,
                req.channel,
                f"delete {req.what}",
                state.value,
                {**audit_details(done), "result": result, "error": error},
                conn=conn,
            )
        return Execution(req.id, state, result, error)

    # ---------------------------------------------------------------- the scheduler's sweep

    def expire_due(self, now: datetime | None = None) -> int:
        """Close every pending request whose time is up (buttons replaced by "expired"); returns how many."""
        now = now or self.clock()
        with self.engine.connect() as conn:
            ids = (
                conn.execute(
                    select(approval_requests.c.id)
                    .where(approval_requests.c.state == P.value, approval_requests.c.expires_at <= now)
                    .order_by(approval_requests.c.id)
                )
                .scalars()
                .all()
            )
        closed = 0
        for request_id in ids:
            with self.engine.begin() as conn:
                req = self._load(conn, request_id, lock=True)
                if req is not None and req.is_pending and req.expires_at <= now:
                    self._close_expired(conn, req, now)
                    closed += 1
        return closed

    def resume_approved(self, now: datetime | None = None) -> int:
        """Run requests approved more than `resume_grace` ago and never claimed (their decider died before the
        claim; the deletion never started, so running it now is its first and only run). Returns how many ran."""
        now = now or self.clock()
        with self.engine.connect() as conn:
            ids = (
                conn.execute(
                    select(approval_requests.c.id)
                    .where(
                        approval_requests.c.state == A.value, approval_requests.c.decided_at <= now - self.resume_grace
                    )
                    .order_by(approval_requests.c.id)
                )
                .scalars()
                .all()
            )
        return sum(1 for request_id in ids if self.execute(request_id) is not None)

    def report_interrupted(self, now: datetime | None = None) -> int:
        """Close executions whose lease lapsed (the process running them died) as failed, saying plainly that the
        outcome is unknown. They are never run again blindly: a person checks Azure and asks again if needed."""
        now = now or self.clock()
        with self.engine.connect() as conn:
            ids = (
                conn.execute(
                    select(approval_requests.c.id)
                    .where(approval_requests.c.state == X.value, approval_requests.c.lease_until < now)
                    .order_by(approval_requests.c.id)
                )
                .scalars()
                .all()
            )
        reported = 0
        for request_id in ids:
            with self.engine.begin() as conn:
                req = self._load(conn, request_id, lock=True)
                if req is None or req.state is not X or req.lease_until is None or req.lease_until >= now:
                    continue  # finished, or its heartbeat came back meanwhile
                error = (
                    f"interrupted: the bot stopped while deleting {req.what} "
                    f"(started {when(req.exec_started_at)}), so whether it was deleted is unknown"
                )
                req = self._move(conn, req, X, F, finished_at=now, error=error)
                self._announce(conn, req)
                self._progress(
                    conn,
                    req,
                    "interrupted",
                    f"The bot stopped while deleting {req.what}, so I don't know whether it was deleted. "
                    f"I will not retry it on my own: check it in the Azure portal, and if it is still there, "
                    f"ask again.",
                )
                self.audit.record(
                    AZURE_MUTATION,
                    req.requester,
                    req.channel,
                    f"delete {req.what}",
                    "interrupted",
                    audit_details(req),
                    conn=conn,
                )
                reported += 1
        return reported

    @_wakes_delivery
    def sweep(self, now: datetime | None = None) -> SweepReport:
        """Everything the scheduler runs periodically (every minute or so), on any replica."""
        now = now or self.clock()
        return SweepReport(
            expired=self.expire_due(now),
            resumed=self.resume_approved(now),
            interrupted=self.report_interrupted(now),
        )

    # ---------------------------------------------------------------- internals

    def _load(self, conn: Connection, request_id: int, *, lock: bool = False) -> ApprovalRequest | None:
        query = select(approval_requests).where(approval_requests.c.id == request_id)
        if lock:
            query = query.with_for_update()  # PostgreSQL; SQLite transactions are already exclusive
        row = conn.execute(query).first()
        return ApprovalRequest.from_row(row, self._votes(conn, request_id)) if row else None

    @staticmethod
    def _votes(conn: Connection, request_id: int) -> list[Vote]:
        v = approval_votes
        rows = conn.execute(select(v).where(v.c.request_id == request_id).order_by(v.c.at, v.c.user)).all()
        return [Vote(r.user, r.approve, r.role, r.channel, r.at) for r in rows]

    def _move(
        self, conn: Connection, req: ApprovalRequest, expect: ApprovalState, to: ApprovalState, **values: Any
    ) -> ApprovalRequest:
        """Compare-and-set `expect → to` (the caller holds the row lock, so it cannot miss)."""
        result = conn.execute(
            update(approval_requests)
            .where(approval_requests.c.id == req.id, approval_requests.c.state == expect.value)
            .values(state=to.value, version=approval_requests.c.version + 1, **values)
        )
        if result.rowcount != 1:
            raise ServiceError(f"Approval request #{req.id} changed while it was being decided; try again.")
        moved = self._load(conn, req.id)
        assert moved is not None
        return moved

    def _close_expired(self, conn: Connection, req: ApprovalRequest, now: datetime) -> ApprovalRequest:
        req = self._move(conn, req, P, E, decided_at=now)
        self._announce(conn, req)
        self.audit.record(
            APPROVAL_DECISION,
            None,
            req.channel,
            f"request #{req.id} to delete {req.what} expired",
            "expired",
            audit_details(req),
            conn=conn,
        )
        return req

    def _announce(self, conn: Connection, req: ApprovalRequest) -> None:
        """Edit the request message to its current state (each version once; older edits are superseded)."""
        self.outbox.enqueue(
            conn,
            channel=req.channel,
            kind=KIND_STATUS,
            payload=request_payload(req),
            dedupe_key=f"{req.ref}:v{req.version}",
            updates_ref=req.ref,
        )

    def _progress(self, conn: Connection, req: ApprovalRequest, stage: str, text: str) -> None:
        self.outbox.enqueue(
            conn,
            channel=req.channel,
            kind=KIND_PROGRESS,
            payload={"request_id": req.id, "stage": stage, "state": req.state.value, "text": text},
            dedupe_key=f"{req.ref}:{stage}",
            thread_ref=req.ref,
        )

    def _renew(self, request_id: int, token: str) -> bool:
        """Extend a running execution's lease; False once the run is no longer this token's."""
        t = approval_requests
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(t)
                .where(t.c.id == request_id, t.c.exec_token == token, t.c.state == X.value)
                .values(lease_until=self.clock() + self.execution_lease)
            )
        return bool(moved.rowcount)

    def _audit_refusal(self, req: ApprovalRequest, user: str, channel: str | None, word: str, outcome: str) -> None:
        self.audit.record(
            APPROVAL_DECISION,
            user,
            channel,
            f"{word} request #{req.id}: delete {req.what}",
            outcome,
            audit_details(req),
        )
