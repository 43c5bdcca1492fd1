"""The queue of accepted slow commands: accepted once, claimed by one worker, never run twice, never lost.

Every test runs on SQLite and on PostgreSQL (AMLBOT_TEST_DATABASE_URL, see tests/services/store/db_fixtures.py);
a second `make_db_engine()` is a second replica on the same database.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, Engine

import tests.services.store.db_fixtures as db_fixtures  # noqa: E402
from services.audit import AuditLog
from services.command_queue import (
    DONE,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    CommandQueue,
    CommandRequest,
    QueueUnavailable,
)
from services.store.command_tables import command_queue
from tests.services.store.store_fakes import FakeClock, SimulatedCrash

clock = db_fixtures.clock
engine = db_fixtures.engine
make_db_engine = db_fixtures.make_db_engine

LEASE = 60.0
SECRET_URL = "https://hooks.slack.com/commands/T1/1234/s3cr3t-capability"


def request(key: str | None = "trigger-1", text: str = "job submit train", user: str = "U_ALICE") -> CommandRequest:
    return CommandRequest(
        command="/aml",
        text=text,
        user_id=user,
        channel_id="C_ML",
        response_url=f"{SECRET_URL}/{key}",
        team_id="T1",
        delivery_key=key,
    )


def make_queue(engine: Engine, clock: FakeClock, **options: float) -> CommandQueue:
    # renew_seconds: a heartbeat never fires in these tests unless one asks for it
    return CommandQueue(engine, clock=clock, lease_seconds=LEASE, **{"renew_seconds": 3600.0, **options})


class Notices:
    """The response_url port: records every final message, as the person would see them."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, req: CommandRequest, text: str) -> None:
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self.sent.append((req.response_url, text))


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_retried_delivery_is_accepted_once(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock)
    assert queue.enqueue(request("trigger-1"))
    assert not queue.enqueue(request("trigger-1"))  # Slack's retry of the same slash command
    claimed = queue.claim("worker-a", limit=10)
    assert [c.request.delivery_key for c in claimed] == ["trigger-1"]
    assert claimed[0].request == request("trigger-1")  # everything needed to run it and to answer


def test_commands_without_a_trigger_id_are_each_accepted(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock)
    assert queue.enqueue(request(None)) and queue.enqueue(request(None))
    assert len(queue.claim("worker-a", limit=10)) == 2


def test_commands_are_claimed_oldest_first_and_only_once(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock)
    for n in range(3):
        queue.enqueue(request(f"t{n}"))
    assert [c.request.delivery_key for c in queue.claim("a", limit=2)] == ["t0", "t1"]
    assert [c.request.delivery_key for c in queue.claim("b", limit=2)] == ["t2"]
    assert queue.claim("c", limit=2) == []
    assert queue.count_queued(10) == 0


def test_concurrent_claimers_on_two_replicas_never_get_the_same_command(
    make_db_engine: Callable[[], Engine], clock: FakeClock
) -> None:
    replicas = [make_queue(make_db_engine(), clock) for _ in range(2)]
    for n in range(60):
        replicas[0].enqueue(request(f"t{n}"))
    start = threading.Barrier(6)

    def drain(worker: int) -> list[int]:
        queue = replicas[worker % 2]
        start.wait()
        mine: list[int] = []
        while claimed := queue.claim(f"worker-{worker}", limit=3):
            mine.extend(c.id for c in claimed)
        return mine

    with ThreadPoolExecutor(6) as threads:
        results = list(threads.map(drain, range(6)))
    every = [command_id for mine in results for command_id in mine]
    assert len(every) == 60
    assert len(set(every)) == 60  # no command claimed twice
    assert sum(1 for mine in results if mine) > 1  # the work really was shared


def test_a_renewed_lease_keeps_a_long_command_owned(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock)
    queue.enqueue(request())
    (command,) = queue.claim("worker-a")
    notices = Notices()
    for _ in range(4):  # four minutes of work, well past one lease, renewed as it goes
        clock.advance(LEASE / 2)
        assert queue.renew(command.id, "worker-a")
        assert queue.take_over_lapsed("worker-b", notices) == []
    assert queue.finish(command.id, "worker-a", "replied")
    assert notices.sent == []
    done = queue.get(command.id)
    assert done is not None and (done.state, done.outcome, done.attempts) == (DONE, "replied", 1)


def test_the_heartbeat_renews_the_lease_while_the_work_runs(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock, renew_seconds=0.01)
    queue.enqueue(request())
    (command,) = queue.claim("worker-a")

    def lease_until() -> object:
        row = queue.get(command.id)
        return row.lease_until if row else None

    with queue.keep_lease(command.id, "worker-a"):
        for _ in range(3):  # well past the claim's own lease
            now = clock.advance(LEASE * 0.9)
            assert wait_for(lambda now=now: lease_until() == now + queue.lease)  # type: ignore[misc]
            assert queue.take_over_lapsed("worker-b", Notices()) == []
    assert queue.finish(command.id, "worker-a", "replied")


def test_a_lapsed_command_is_reported_once_and_never_run_again_even_with_two_replicas_taking_over(
    make_db_engine: Callable[[], Engine], clock: FakeClock
) -> None:
    dead, first, second = (make_queue(make_db_engine(), clock) for _ in range(3))
    dead.enqueue(request("t1", text="compute create gpu1"))
    (command,) = dead.claim("dead-replica")  # its process dies here: no renewals, no finish
    clock.advance(LEASE + 1)
    notices = Notices()
    start = threading.Barrier(4)

    def take_over(queue: CommandQueue, owner: str) -> int:
        start.wait()
        return len(queue.take_over_lapsed(owner, notices, check=lambda r: "/aml compute list"))

    with ThreadPoolExecutor(4) as threads:
        taken = list(threads.map(take_over, [first, second, first, second], ["b1", "c1", "b2", "c2"]))
    assert sum(taken) == 1
    assert notices.sent == [
        (
            request("t1").response_url,
            "The bot restarted while running `/aml compute create gpu1`; it may or may not have completed. "
            "Check with `/aml compute list` before trying again.",
        )
    ]
    interrupted = first.get(command.id)
    assert interrupted is not None
    assert (interrupted.state, interrupted.outcome, interrupted.lease_until) == (INTERRUPTED, INTERRUPTED, None)
    # Never again: not claimable, not reported again, and the dead run cannot pretend it finished.
    clock.advance(LEASE * 10)
    assert first.claim("b1", limit=10) == [] and second.claim("c1", limit=10) == []
    assert first.take_over_lapsed("b1", notices) == []
    assert not dead.finish(command.id, "dead-replica", "replied")
    assert len(notices.sent) == 1


def test_a_queued_command_left_by_a_dead_process_is_run_by_another(
    make_db_engine: Callable[[], Engine], clock: FakeClock
) -> None:
    accepted_by = make_queue(make_db_engine(), clock)
    assert accepted_by.enqueue(request("t1"))
    accepted_by.engine.dispose()  # the process that acked it dies before claiming
    clock.advance(600)
    survivor = make_queue(make_db_engine(), clock)
    assert survivor.take_over_lapsed("survivor", Notices()) == []  # never started: nothing to report
    (command,) = survivor.claim("survivor")
    assert command.request.delivery_key == "t1" and command.state == RUNNING
    assert survivor.finish(command.id, "survivor", "replied")


def test_an_undeliverable_notice_is_recorded_without_the_response_url(
    engine: Engine, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue(engine, clock)
    queue.enqueue(request("t1"))
    (command,) = queue.claim("dead-replica")
    clock.advance(LEASE + 1)
    expired = RuntimeError(f"404 expired_url from {request('t1').response_url}")
    with caplog.at_level(logging.DEBUG):
        assert len(queue.take_over_lapsed("survivor", Notices(fail=expired))) == 1
    row = queue.get(command.id)
    assert row is not None and row.state == INTERRUPTED and row.outcome is not None
    assert "notice undelivered" in row.outcome and "expired_url" in row.outcome
    assert SECRET_URL not in row.outcome and SECRET_URL not in caplog.text
    clock.advance(LEASE * 10)
    assert queue.take_over_lapsed("survivor", Notices()) == []  # an expired URL is not tried forever


def test_a_notifier_that_dies_mid_notice_is_replaced_after_its_lease(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock)
    queue.enqueue(request("t1"))
    queue.claim("dead-replica")
    clock.advance(LEASE + 1)
    with pytest.raises(SimulatedCrash):
        queue.take_over_lapsed("dies-too", Notices(fail=SimulatedCrash()))
    notices = Notices()
    assert queue.take_over_lapsed("survivor", notices) == []  # the dying notifier's claim still holds
    clock.advance(LEASE + 1)
    assert len(queue.take_over_lapsed("survivor", notices)) == 1
    assert len(notices.sent) == 1


def test_a_store_failure_on_enqueue_names_no_secret(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock)
    command_queue.drop(engine)
    with pytest.raises(QueueUnavailable) as raised:
        queue.enqueue(request("t1"))
    shown = "".join(traceback.format_exception(raised.value))
    assert SECRET_URL not in shown and "could not accept" in shown


def test_finished_commands_are_pruned_and_open_ones_kept(engine: Engine, clock: FakeClock) -> None:
    queue = make_queue(engine, clock)
    for key in ("done", "running", "queued"):
        queue.enqueue(request(key))
    done, running = queue.claim("a", limit=2)
    queue.finish(done.id, "a", "replied")
    clock.advance(3600)
    assert queue.prune(older_than=clock()) == 1
    assert queue.get(done.id) is None
    assert [queue.get(running.id).state] == [RUNNING]  # type: ignore[union-attr]
    queued = queue.find("queued")
    assert queued is not None and queued.state == QUEUED


def test_a_retry_safe_command_whose_runner_died_runs_again_once_then_is_reported(
    engine: Engine, clock: FakeClock
) -> None:
    queue = make_queue(engine, clock)
    queue.enqueue(request("t1", text="job submit train"))
    queue.enqueue(request("t2", text="compute create gpu1"))
    queue.claim("dead-replica", 2)  # its process dies: no renewals, no finish
    clock.advance(LEASE + 1)
    notices = Notices()

    def is_submit(req: CommandRequest) -> bool:
        return req.text.startswith("job submit")

    taken = queue.take_over_lapsed("replica-b", notices, retry_safe=is_submit)
    assert [c.request.delivery_key for c in taken] == ["t2"], "only the unsafe command is closed and reported"
    (again,) = queue.claim("replica-b")
    assert again.request.delivery_key == "t1" and again.attempts == 2, "the submit runs again, on a live replica"

    clock.advance(LEASE + 1)  # that replica dies too
    taken = queue.take_over_lapsed("replica-c", notices, retry_safe=is_submit)
    assert [c.request.delivery_key for c in taken] == ["t1"], "a second interruption is reported, not retried"
    assert len(notices.sent) == 2


def test_finishing_a_command_records_its_audit_row_and_claims_the_next_in_one_go(
    engine: Engine, clock: FakeClock
) -> None:
    queue = make_queue(engine, clock)
    audit = AuditLog(engine, clock=clock)
    for key in ("t1", "t2"):
        queue.enqueue(request(key))
    (first,) = queue.claim("worker-a")

    def row(conn: Connection) -> None:
        audit.record("command", "U_ALICE", "C_ML", "/aml job submit train", "ok", conn=conn)

    finished, following = queue.finish_and_claim(first.id, "worker-a", "replied", also=row)
    assert finished
    assert following is not None and following.request.delivery_key == "t2"
    assert (following.state, following.owner, following.attempts) == (RUNNING, "worker-a", 1)
    assert [(e.kind, e.text, e.outcome) for e in audit.recent()] == [("command", "/aml job submit train", "ok")]
    finished, following = queue.finish_and_claim(following.id, "worker-a", "replied")
    assert finished and following is None  # nothing left to claim
    assert queue.claim("worker-b") == []


def test_a_failing_extra_write_takes_the_finish_with_it_so_the_caller_can_finish_without_it(
    engine: Engine, clock: FakeClock
) -> None:
    queue = make_queue(engine, clock)
    queue.enqueue(request("t1"))
    (command,) = queue.claim("worker-a")

    def broken(conn: object) -> None:
        raise RuntimeError("the audit insert failed")

    with pytest.raises(RuntimeError):
        queue.finish(command.id, "worker-a", "replied", also=broken)
    still = queue.get(command.id)
    assert still is not None and still.state == RUNNING  # one transaction: nothing half-recorded
    assert queue.finish(command.id, "worker-a", "replied")
