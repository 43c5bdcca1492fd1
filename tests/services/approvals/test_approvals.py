"""ApprovalService on SQLite and PostgreSQL: who may decide, exactly one execution across clicks, threads and
replicas, expiry, restarts, and the messages and audit rows each step leaves."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from services.approvals import (
    KIND_PROGRESS,
    KIND_REQUEST,
    KIND_STATUS,
    ApprovalRequest,
    ApprovalService,
    ApprovalState,
    Decision,
    DecisionOutcome,
    SweepReport,
)
from services.audit import AuditLog
from services.chat import TextRenderer
from services.errors import Forbidden, InvalidInput
from services.outbox import Outbox, OutboxDelivery, OutboxItem
from tests.services.approvals.approval_fakes import RecordingExecutor
from tests.services.store.store_fakes import FakeChat, FakeClock, SimulatedCrash, drain

Factory = Callable[..., ApprovalService]
T = TypeVar("T")
WS_DETAILS = {
    "resources": [{"type": "storage account", "name": "stws1"}, {"type": "key vault", "name": "kv-ws1"}],
    "resource_group": "rg-ml",
}


def ask(
    service: ApprovalService, action: str = "teardown.workspace", target: str = "ws1", **kw: object
) -> ApprovalRequest:
    return service.request(action, target, WS_DETAILS, "U_REQ", "C_ML", "project over", **kw)  # type: ignore[arg-type]


def fetch(service: ApprovalService, request_id: int) -> ApprovalRequest:
    req = service.get(request_id)
    assert req is not None
    return req


def items(engine: Engine, kind: str | None = None) -> list[OutboxItem]:
    with engine.connect() as conn:
        return [i for i in Outbox.items(conn) if kind is None or i.kind == kind]


class Renderer(TextRenderer):
    """Draws approval payloads from their plain-words `text` (the bot's Block Kit renderer comes later)."""

    def _approval_request(self, p: Mapping[str, Any]) -> str:
        return str(p["text"])

    _approval_status = _approval_request
    _approval_progress = _approval_request


def audit_outcomes(engine: Engine, clock: FakeClock) -> list[tuple[str, str | None, str]]:
    """(kind, user, outcome) of every audit row, oldest first."""
    return [(e.kind, e.user, e.outcome) for e in reversed(AuditLog(engine, clock).recent(limit=200))]


def test_a_request_is_posted_with_what_who_why_and_expiry_and_deletes_nothing(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock, chat: FakeChat
) -> None:
    req = ask(service)
    assert req.state is ApprovalState.PENDING and req.needed == 1
    assert req.expires_at == clock() + timedelta(hours=24)
    [posted] = items(engine)
    assert (posted.kind, posted.creates_ref, posted.channel) == (KIND_REQUEST, f"approval:{req.id}", "C_ML")
    p = posted.payload
    assert p["request_id"] == req.id and p["pending"] is True and p["requester"] == "U_REQ"
    assert p["reason"] == "project over" and p["expires_at"] == req.expires_at.isoformat()
    assert p["resources"] == ["storage account `stws1`", "key vault `kv-ws1`"]
    assert "workspace `ws1`" in p["text"] and "stws1" in p["text"] and "Expires 2026-01-06 09:00 UTC" in p["text"]
    assert executor.runs == []
    assert audit_outcomes(engine, clock) == [("approval.request", "U_REQ", "pending")]
    # the rows render and deliver as one message in the channel
    drain(engine, OutboxDelivery(engine, chat, Renderer(), clock), clock)
    assert [m.channel for m in chat.roots()] == ["C_ML"]


def test_asking_needs_the_actions_role(engine: Engine, service: ApprovalService, clock: FakeClock) -> None:
    with pytest.raises(Forbidden, match="Requesting a storage account deletion needs the admin role"):
        service.request("storage.delete", "st1", {}, "U_REQ", "C_ML", None)
    assert items(engine) == []
    assert audit_outcomes(engine, clock) == [("approval.request", "U_REQ", "denied")]


def test_the_requester_cannot_approve_their_own_request(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock
) -> None:
    req = ask(service)
    decision = service.decide(req.id, "U_REQ", "C_ML", approve=True)
    assert decision.outcome is DecisionOutcome.SELF_APPROVAL and not decision.changed
    assert "someone else must approve" in decision.message
    assert fetch(service, req.id).state is ApprovalState.PENDING
    assert executor.runs == [] and len(items(engine)) == 1
    assert audit_outcomes(engine, clock)[-1] == ("approval.decision", "U_REQ", "refused")
    # an admin who asks cannot approve either
    own = service.request("storage.delete", "st1", {}, "U_ROOT", "C_ML", None)
    assert service.decide(own.id, "U_ROOT", "C_ML", approve=True).outcome is DecisionOutcome.SELF_APPROVAL
    # but the requester may withdraw
    withdrawn = service.decide(req.id, "U_REQ", "C_ML", approve=False)
    assert withdrawn.outcome is DecisionOutcome.REJECTED and "withdrew" in withdrawn.message
    assert "Withdrawn by <@U_REQ>" in items(engine, KIND_STATUS)[-1].payload["decision"]


def test_a_viewers_click_is_refused_naming_the_role_and_its_holders(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock
) -> None:
    req = ask(service)
    for approve in (True, False):
        decision = service.decide(req.id, "U_VIEW", "C_ML", approve=approve)
        assert decision.outcome is DecisionOutcome.FORBIDDEN
        assert decision.message == (
            "Approving a workspace teardown needs the approver role; "
            "it is held by <@U_ALICE>, <@U_BOB>, <@U_ROOT> and @mlops."
        )
    assert fetch(service, req.id).state is ApprovalState.PENDING
    assert executor.runs == [] and len(items(engine)) == 1
    assert audit_outcomes(engine, clock)[-2:] == [("approval.decision", "U_VIEW", "denied")] * 2


def test_an_approver_approves_it_runs_once_and_the_thread_tells_the_story(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock, chat: FakeChat
) -> None:
    req = ask(service)
    clock.advance(60)
    decision = service.decide(req.id, "U_CAROL", "C_ML", approve=True)  # an approver through @mlops
    assert decision.outcome is DecisionOutcome.APPROVED and decision.changed
    assert decision.execution is not None and decision.execution.ok
    assert decision.message == "Approved. Deleted workspace `ws1`."
    assert executor.runs == [req.id]
    done = service.get(req.id)
    assert done is not None and done.state is ApprovalState.DONE and done.approvers == ("U_CAROL",)
    assert done.decided_by == "U_CAROL" and done.result == "Deleted workspace `ws1`."

    # a second click, by the same person or anyone else, changes nothing
    for user in ("U_CAROL", "U_ALICE"):
        again = service.decide(req.id, user, "C_ML", approve=True)
        assert again.outcome is DecisionOutcome.CLOSED and not again.changed
        assert again.message.startswith("This request is already closed. Approved by <@U_CAROL> at 2026-01-05 09:01")
    assert executor.runs == [req.id]

    statuses = items(engine, KIND_STATUS)
    assert [s.payload["state"] for s in statuses] == ["approved", "executing", "done"]
    assert all(s.updates_ref == req.ref and s.payload["pending"] is False for s in statuses)
    progress = items(engine, KIND_PROGRESS)
    assert [(p.payload["stage"], p.thread_ref) for p in progress] == [("executing", req.ref), ("done", req.ref)]
    assert audit_outcomes(engine, clock) == [
        ("approval.request", "U_REQ", "pending"),
        ("approval.decision", "U_CAROL", "approved"),
        ("azure.mutation", "U_REQ", "started"),
        ("azure.mutation", "U_REQ", "done"),
        ("approval.decision", "U_CAROL", "closed"),
        ("approval.decision", "U_ALICE", "closed"),
    ]

    # delivered: one message in the channel, edited to the decision, with the progress in its thread
    drain(engine, OutboxDelivery(engine, chat, Renderer(), clock), clock)
    [root] = chat.roots("C_ML")
    assert "Approved by <@U_CAROL> at 2026-01-05 09:01 UTC; done" in root.current
    assert [r.text for r in chat.replies(root)] == [
        "Approved by <@U_CAROL>. Deleting workspace `ws1`…",
        "Done. Deleted workspace `ws1`.",
    ]


def test_a_failed_deletion_is_reported_in_plain_words(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock
) -> None:
    executor.error = RuntimeError("ResourceGroupBeingDeleted")
    req = ask(service)
    decision = service.decide(req.id, "U_ALICE", "C_ML", approve=True)
    assert decision.execution is not None and not decision.execution.ok
    assert decision.message == (
        "Approved, but deleting workspace `ws1` failed: an unexpected error (RuntimeError: ResourceGroupBeingDeleted)"
    )
    failed = service.get(req.id)
    assert failed is not None and failed.state is ApprovalState.FAILED
    [reply] = [p for p in items(engine, KIND_PROGRESS) if p.payload["stage"] == "failed"]
    assert (
        "failed: an unexpected error" in reply.payload["text"] and "not retried automatically" in reply.payload["text"]
    )
    assert audit_outcomes(engine, clock)[-1] == ("azure.mutation", "U_REQ", "failed")
    assert service.decide(req.id, "U_BOB", "C_ML", approve=True).outcome is DecisionOutcome.CLOSED
    assert executor.runs == [req.id]


def test_a_rejection_closes_the_request_and_nothing_runs(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock
) -> None:
    req = ask(service, "teardown.rg", "rg-old")  # needs two approvals
    assert service.decide(req.id, "U_ALICE", "C_ML", approve=True).outcome is DecisionOutcome.RECORDED
    rejected = service.decide(req.id, "U_BOB", "C_ML", approve=False)
    assert rejected.outcome is DecisionOutcome.REJECTED
    late = service.decide(req.id, "U_ROOT", "C_ML", approve=True)
    assert late.outcome is DecisionOutcome.CLOSED and "Rejected by <@U_BOB>" in late.message
    assert fetch(service, req.id).state is ApprovalState.REJECTED
    assert executor.runs == []
    assert items(engine, KIND_STATUS)[-1].payload["decision"].startswith("Rejected by <@U_BOB> at 2026-01-05 09:00")
    assert ("approval.decision", "U_BOB", "rejected") in audit_outcomes(engine, clock)


def test_two_approvals_needed_waits_for_a_second_distinct_approver(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock
) -> None:
    req = ask(service, "teardown.rg", "rg-old")
    assert req.needed == 2  # from the configuration
    first = service.decide(req.id, "U_ALICE", "C_ML", approve=True)
    assert first.outcome is DecisionOutcome.RECORDED
    assert first.message == "Your approval is recorded (1 of 2); waiting for 1 more approval."
    again = service.decide(req.id, "U_ALICE", "C_ML", approve=True)  # the same person twice counts once
    assert again.outcome is DecisionOutcome.ALREADY_VOTED and not again.changed
    assert executor.runs == [] and fetch(service, req.id).state is ApprovalState.PENDING
    pending = items(engine, KIND_STATUS)[-1].payload
    assert pending["pending"] is True and [a["user"] for a in pending["approvals"]] == ["U_ALICE"]
    assert "so far (1 of 2)" in pending["text"]

    second = service.decide(req.id, "U_BOB", "C_ML", approve=True)
    assert second.outcome is DecisionOutcome.APPROVED and second.execution is not None and second.execution.ok
    assert executor.runs == [req.id]
    assert fetch(service, req.id).approvers == ("U_ALICE", "U_BOB")
    assert [o for k, u, o in audit_outcomes(engine, clock) if k == "approval.decision"] == [
        "recorded",
        "duplicate",
        "approved",
    ]


def test_an_explicit_needed_count_overrides_the_configuration(service: ApprovalService) -> None:
    req = ask(service, needed=3, ttl=timedelta(hours=1))
    assert req.needed == 3 and req.expires_at - req.created_at == timedelta(hours=1)
    with pytest.raises(InvalidInput, match="at least one approval"):
        ask(service, needed=0)


def test_expired_requests_are_closed_and_never_run(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock
) -> None:
    swept = ask(service, target="ws-a")
    clicked_late = ask(service, target="ws-b")
    fresh_enough = ask(service, target="ws-c", ttl=timedelta(hours=48))
    clock.advance(24 * 3600)
    assert service.expire_due() == 2  # ws-a and ws-b are due; ws-c is not
    assert service.expire_due() == 0
    for req in (swept, clicked_late):
        closed = service.get(req.id)
        assert closed is not None and closed.state is ApprovalState.EXPIRED
        late = service.decide(req.id, "U_ALICE", "C_ML", approve=True)
        assert late.outcome is DecisionOutcome.CLOSED and "Expired at 2026-01-06 09:00 UTC" in late.message
    assert fetch(service, fresh_enough.id).state is ApprovalState.PENDING
    assert executor.runs == []
    statuses = [s.payload for s in items(engine, KIND_STATUS)]
    assert [s["target"] for s in statuses] == ["ws-a", "ws-b"] and all(s["state"] == "expired" for s in statuses)
    assert [(k, o) for k, u, o in audit_outcomes(engine, clock)].count(("approval.decision", "expired")) == 2


def test_a_click_after_expiry_but_before_the_sweep_expires_it_and_runs_nothing(
    engine: Engine, service: ApprovalService, executor: RecordingExecutor, clock: FakeClock
) -> None:
    req = ask(service)
    clock.advance(24 * 3600)
    decision = service.decide(req.id, "U_ALICE", "C_ML", approve=True)
    assert decision.outcome is DecisionOutcome.CLOSED and "Expired" in decision.message
    assert fetch(service, req.id).state is ApprovalState.EXPIRED
    assert service.expire_due() == 0 and executor.runs == []


def test_unknown_request(service: ApprovalService) -> None:
    decision = service.decide(424242, "U_ALICE", "C_ML", approve=True)
    assert decision.outcome is DecisionOutcome.NOT_FOUND and decision.request is None


# ------------------------------------------------------------------------------------------------ concurrency


def _race(n: int, click: Callable[[int], T]) -> list[T]:
    """Run click(0..n-1) in n threads released together; re-raise the first error."""
    barrier = threading.Barrier(n)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = click(i)
        except BaseException as err:  # noqa: B036 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return [results[i] for i in range(n)]


def test_simultaneous_clicks_in_two_replicas_execute_once(
    make_service: Factory, executor: RecordingExecutor, clock: FakeClock
) -> None:
    replicas = [make_service(), make_service()]  # two engines on one database, as two bot processes
    executor.delay = 0.05  # a slow deletion widens every window
    approvers = ["U_ALICE", "U_BOB", "U_ROOT", "U_CAROL"]
    for needed in (1, 2, 1):
        req = ask(replicas[0], needed=needed)
        # every approver clicks twice (a double click), each click on either replica

        def click(i: int, rid: int = req.id) -> Decision:
            return replicas[i % 2].decide(rid, approvers[i // 2], "C_ML", approve=True)

        outcomes = Counter(d.outcome for d in _race(8, click))
        assert outcomes[DecisionOutcome.APPROVED] == 1, outcomes
        assert executor.count(req.id) == 1
        final = replicas[1].get(req.id)
        assert final is not None and final.state is ApprovalState.DONE
        assert len(final.approvers) == needed  # votes after the approval find the request closed
        assert set(outcomes) <= {
            DecisionOutcome.APPROVED,
            DecisionOutcome.RECORDED,
            DecisionOutcome.CLOSED,
            DecisionOutcome.ALREADY_VOTED,
        }
        engine = replicas[0].engine
        assert [p.payload["stage"] for p in items(engine, KIND_PROGRESS) if p.payload["request_id"] == req.id] == [
            "executing",
            "done",
        ]
        mutations = [e for e in AuditLog(engine, clock).recent(200, kind="azure.mutation")]
        assert sum(1 for e in mutations if e.details and e.details["request_id"] == req.id) == 2  # started, done


def test_concurrent_execute_calls_claim_once(make_service: Factory, executor: RecordingExecutor) -> None:
    replicas = [make_service(), make_service()]
    req = ask(replicas[0])
    approved = replicas[0].decide(req.id, "U_ALICE", "C_ML", approve=True, execute=False)
    assert approved.outcome is DecisionOutcome.APPROVED and approved.execution is None
    executor.delay = 0.05
    runs = _race(6, lambda i: replicas[i % 2].execute(req.id))
    assert sum(r is not None for r in runs) == 1 and executor.runs == [req.id]


# ------------------------------------------------------------------------------------------------ restarts


def test_a_new_service_on_the_same_database_carries_on(
    make_db_engine: Callable[[], Engine], make_service: Factory, executor: RecordingExecutor
) -> None:
    first_engine = make_db_engine()
    req = ask(make_service(first_engine), "teardown.rg", "rg-old")
    make_service(first_engine).decide(req.id, "U_ALICE", "C_ML", approve=True)
    first_engine.dispose()  # the process is gone

    restarted = make_service()  # a new engine and service
    assert fetch(restarted, req.id).approvers == ("U_ALICE",)
    decision = restarted.decide(req.id, "U_BOB", "C_ML", approve=True)
    assert decision.outcome is DecisionOutcome.APPROVED and executor.runs == [req.id]


def test_approved_but_never_claimed_is_run_by_the_sweep_once(
    make_service: Factory, executor: RecordingExecutor, clock: FakeClock
) -> None:
    """The decider died between committing the approval and claiming it: the deletion never started."""
    req = ask(make_service())
    make_service().decide(req.id, "U_ALICE", "C_ML", approve=True, execute=False)
    sweeper = make_service()
    assert sweeper.sweep().resumed == 0  # within the grace period the decider may still be about to claim it
    clock.advance(120)
    assert sweeper.sweep().resumed == 1
    assert sweeper.sweep().resumed == 0
    assert executor.runs == [req.id] and fetch(sweeper, req.id).state is ApprovalState.DONE


def test_a_crash_while_executing_is_reported_not_rerun(
    engine: Engine, make_service: Factory, executor: RecordingExecutor, clock: FakeClock
) -> None:
    service = make_service(engine)
    req = ask(service)
    executor.error = SimulatedCrash("kill -9")
    with pytest.raises(SimulatedCrash):
        service.decide(req.id, "U_ALICE", "C_ML", approve=True)
    assert fetch(service, req.id).state is ApprovalState.EXECUTING
    executor.error = None

    restarted = make_service()
    assert restarted.sweep() == SweepReport()  # nothing to do while the lease may still be live
    assert fetch(restarted, req.id).state is ApprovalState.EXECUTING
    assert restarted.decide(req.id, "U_BOB", "C_ML", approve=True).outcome is DecisionOutcome.CLOSED
    clock.advance(6 * 60)  # past the 5-minute lease nobody renewed
    report = restarted.sweep()
    assert report.interrupted == 1 and report.resumed == 0
    assert restarted.sweep().interrupted == 0
    failed = restarted.get(req.id)
    assert failed is not None and failed.state is ApprovalState.FAILED and "interrupted" in (failed.error or "")
    assert executor.runs == [req.id]  # never run a second time
    [reply] = [p for p in items(engine, KIND_PROGRESS) if p.payload["stage"] == "interrupted"]
    assert "don't know whether it was deleted" in reply.payload["text"] and "Azure portal" in reply.payload["text"]
    assert audit_outcomes(engine, clock)[-1] == ("azure.mutation", "U_REQ", "interrupted")
