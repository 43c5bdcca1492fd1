"""JobWatcher: each job's story once (root, updates, replies, summary), across threads, replicas and restarts,
with batched reads."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

import tests.services.store.db_fixtures as db_fixtures  # noqa: E402
from services.chat import TextRenderer
from services.durations import format_duration
from services.errors import BackendUnavailable
from services.models import JobStatus, MetricPoint, ServiceEndpoint, WorkspaceScope
from services.outbox import Outbox, OutboxDelivery
from services.store import Watches, transitions, watches
from services.transitions import KIND_SERVICES, job_root_ref
from services.watch import IntervalPolicy, JobWatcher, RecordOutcome
from tests.services.store.store_fakes import FakeChat, FakeClock, FakeJobs, Message, drain, make_job  # noqa: E402

chat = db_fixtures.chat
clock = db_fixtures.clock
delivery = db_fixtures.delivery
engine = db_fixtures.engine
jobs = db_fixtures.jobs
make_db_engine = db_fixtures.make_db_engine
outbox = db_fixtures.outbox
watcher = db_fixtures.watcher

Q, R, C, F = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED
WS_A = WorkspaceScope(resource_group="rg", workspace="ws-a")
WS_B = WorkspaceScope(resource_group="rg", workspace="ws-b")


def story(chat: FakeChat, root: Message) -> list[str]:
    """The thread of a root as kinds: 't' transition reply, 's' summary, 'g' gone, 'l' service links."""
    kinds = []
    for reply in chat.replies(root):
        assert reply.dedupe_key is not None
        kinds.append(reply.dedupe_key.rsplit(":", 1)[-1][0])
    return kinds


def test_queued_running_completed_tells_the_story_exactly_once(
    engine: Engine,
    watcher: JobWatcher,
    jobs: FakeJobs,
    delivery: OutboxDelivery,
    chat: FakeChat,
    clock: FakeClock,
) -> None:
    job = jobs.add(make_job("train-1", Q))
    jobs.metric_points["train-1"] = [
        MetricPoint("loss", 0, 0.9),
        MetricPoint("loss", 1, 0.25),
        MetricPoint("accuracy", 1, 0.93),
    ]
    info = watcher.watch(None, job, channel="C1", requested_by="U1")
    assert info.created and info.root_ref == job_root_ref("train-1")
    drain(engine, delivery, clock)
    for status in (R, C):
        clock.advance(30)
        jobs.set_status("train-1", status)
        for _ in range(3):  # more sweeps than changes: nothing is said twice
            watcher.sweep()
            drain(engine, delivery, clock)
            clock.advance(15)

    (root,) = chat.roots("C1")
    assert root.text.startswith("Job train-1 display (train-1): Queued") and "<@U1>" in root.text
    assert [edit.split(": ", 1)[1].split(" ")[0] for edit in root.edits] == ["Running", "Completed"]
    replies = chat.replies(root)
    assert [m.text for m in replies[:2]] == ["train-1: Queued → Running", "train-1: Running → Completed"]
    assert story(chat, root) == ["t", "t", "s"]
    summary = replies[2].text
    done = jobs.get("train-1")
    assert done.started_at and done.ended_at
    took = format_duration((done.ended_at - done.started_at).total_seconds())
    assert "train-1 Completed · <@U1>" in summary and f"duration: {took}" in summary
    assert "accuracy=0.93" in summary and "loss=0.25" in summary and "compute: cpu-cluster" in summary
    assert "outputs: azureml://jobs/train-1/outputs" in summary
    assert set(chat.dedupe_counts().values()) == {1}

    watch = watcher.get_watch("train-1")
    assert watch is not None and not watch.active and watch.last_status == "Completed" and watch.version == 2
    with engine.connect() as conn:
        assert [(t.seq, t.from_status, t.to_status) for t in Watches.transitions_of(conn, watch.id)] == [
            (0, None, "Queued"),
            (1, "Queued", "Running"),
            (2, "Running", "Completed"),
        ]
    reads = jobs.reads()
    clock.advance(3600)
    assert watcher.sweep().due == 0 and jobs.reads() == reads  # an ended job costs no more reads


def test_a_failed_job_summary_has_the_error_and_the_log_tail(
    engine: Engine,
    watcher: JobWatcher,
    jobs: FakeJobs,
    delivery: OutboxDelivery,
    chat: FakeChat,
    clock: FakeClock,
) -> None:
    jobs.add(make_job("bad", R))
    watcher.watch(None, jobs.get("bad"), channel="C1", requested_by="U2")
    jobs.logs["bad"] = "step 3\nTraceback (most recent call last):\nValueError: nan loss"
    clock.advance(12)
    jobs.set_status("bad", F, error="UserError: the script exited with code 1")
    watcher.sweep()
    drain(engine, delivery, clock)
    (root,) = chat.roots()
    summary = chat.replies(root)[-1].text
    assert "bad Failed · <@U2>" in summary
    assert "error: UserError: the script exited with code 1" in summary
    assert "log tail:\nstep 3\nTraceback (most recent call last):\nValueError: nan loss" in summary
    assert jobs.calls["log_tail"] == 1


def test_a_summary_is_still_sent_when_metrics_cannot_be_read(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    jobs.add(make_job("m", R))
    watcher.watch(None, jobs.get("m"), channel="C1", requested_by="U1")
    jobs.fail["metrics"] = BackendUnavailable("mlflow is down")
    clock.advance(10)
    jobs.set_status("m", C)
    assert watcher.sweep().transitions == 1
    drain(engine, delivery, clock)
    assert "metrics unavailable: mlflow is down" in chat.replies(chat.roots()[0])[-1].text


@pytest.mark.parametrize("claim_seconds", [30.0, 0.0], ids=["claims", "no-claims-so-every-sweep-races"])
def test_two_replicas_sweeping_concurrently_announce_each_transition_once(
    make_db_engine: Callable[[], Engine],
    engine: Engine,
    jobs: FakeJobs,
    clock: FakeClock,
    chat: FakeChat,
    claim_seconds: float,
) -> None:
    names = [(f"job-{i:02d}", WS_A if i % 2 else WS_B) for i in range(16)]
    first = JobWatcher(make_db_engine(), jobs, Outbox(clock), clock, claim_seconds=claim_seconds)
    second = JobWatcher(make_db_engine(), jobs, Outbox(clock), clock, claim_seconds=claim_seconds)
    for name, scope in names:
        first.watch(None, jobs.add(make_job(name, Q), scope), channel="C1", requested_by="U1", scope=scope)
    errors: list[BaseException] = []
    for status in (JobStatus.PREPARING, R, JobStatus.FINALIZING, C):
        clock.advance(30)
        for name, scope in names:
            jobs.set_status(name, status, scope)
        barrier = threading.Barrier(2)

        def sweep(watcher: JobWatcher, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(10)
                for _ in range(2):
                    report = watcher.sweep()
                    errors.extend(RuntimeError(e) for e in report.errors)
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)

        threads = [threading.Thread(target=sweep, args=(w,)) for w in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    with engine.connect() as conn:
        per_watch = Counter(conn.execute(select(transitions.c.watch_id).where(transitions.c.seq > 0)).scalars())
        assert sorted(per_watch.values()) == [4] * 16
    drain(engine, OutboxDelivery(engine, chat, TextRenderer(), clock), clock)
    assert set(chat.dedupe_counts().values()) == {1}
    for root in chat.roots():
        assert story(chat, root) == ["t", "t", "t", "t", "s"]


def test_push_and_poll_of_one_status_announce_it_once(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock
) -> None:
    jobs.add(make_job("j", Q))
    watcher.watch(None, jobs.get("j"), channel="C1", requested_by="U1")
    clock.advance(5)
    jobs.set_status("j", R)
    outcomes: list[RecordOutcome] = []
    barrier = threading.Barrier(8)

    def push() -> None:
        barrier.wait(10)
        outcomes.append(watcher.record(jobs.get("j"), "event"))

    threads = [threading.Thread(target=push) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert Counter(outcomes) == {RecordOutcome.ANNOUNCED: 1, RecordOutcome.UNCHANGED: 7}
    clock.advance(10)
    report = watcher.sweep()  # the poll sees Running too
    assert (report.transitions, report.unchanged) == (0, 1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(transitions)).scalar_one() == 2  # Queued + Running
        keys = [i.dedupe_key for i in Outbox.items(conn)]
    assert len(keys) == 3  # root post, root update, one reply


def test_a_late_event_is_ignored_but_a_terminal_status_always_counts(
    watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock
) -> None:
    jobs.add(make_job("j", Q))
    watcher.watch(None, jobs.get("j"), channel="C1", requested_by="U1")
    queued_at = clock()
    clock.advance(20)
    jobs.set_status("j", R)
    assert watcher.record(jobs.get("j"), "poll") is RecordOutcome.ANNOUNCED
    # an event about an earlier moment (a delayed "Preparing") does not move the job back
    late = make_job("j", JobStatus.PREPARING)
    assert watcher.record(late, "event", observed_at=queued_at + timedelta(seconds=5)) is RecordOutcome.STALE
    # a terminal status is final, even when its timestamp lags the bot's clock
    done = make_job("j", C)
    assert watcher.record(done, "event", observed_at=queued_at) is RecordOutcome.ANNOUNCED
    assert watcher.record(done, "event") is RecordOutcome.INACTIVE
    assert watcher.record(make_job("unknown", R), "event") is RecordOutcome.NOT_WATCHED


def test_an_unknown_status_is_not_announced(watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock) -> None:
    jobs.add(make_job("j", R))
    watcher.watch(None, jobs.get("j"), channel="C1", requested_by="U1")
    clock.advance(10)
    jobs.set_status("j", JobStatus.UNKNOWN)
    report = watcher.sweep()
    assert (report.transitions, report.unchanged) == (0, 1)
    assert watcher.record(make_job("j", JobStatus.UNKNOWN), "event") is RecordOutcome.UNCHANGED


def test_restart_after_the_job_ended_announces_the_summary_once(
    make_db_engine: Callable[[], Engine], engine: Engine, jobs: FakeJobs, chat: FakeChat, clock: FakeClock
) -> None:
    watcher = JobWatcher(engine, jobs, Outbox(clock), clock)
    delivery = OutboxDelivery(engine, chat, TextRenderer(), clock)
    watcher.watch(None, jobs.add(make_job("a", R)), channel="C1", requested_by="U1")
    watcher.watch(None, jobs.add(make_job("b", R)), channel="C1", requested_by="U1")
    drain(engine, delivery, clock)
    # "b" ends and is recorded, but the bot dies before its messages are delivered
    clock.advance(10)
    jobs.set_status("b", C)
    watcher.record(jobs.get("b"), "event")
    # the bot is down for an hour; "a" ends meanwhile
    clock.advance(1800)
    jobs.set_status("a", C)
    clock.advance(1800)

    restarted_engine = make_db_engine()
    watcher2 = JobWatcher(restarted_engine, jobs, Outbox(clock), clock)
    delivery2 = OutboxDelivery(restarted_engine, chat, TextRenderer(), clock)
    assert watcher2.sweep().transitions == 1
    assert watcher2.sweep().due == 0
    drain(restarted_engine, delivery2, clock)
    clock.advance(60)
    assert watcher2.sweep().due == 0
    drain(restarted_engine, delivery2, clock)
    assert set(chat.dedupe_counts().values()) == {1}
    for root in chat.roots():
        assert story(chat, root) == ["t", "s"]
        assert root.edits[-1].split(": ", 1)[1].startswith("Completed")


def test_a_hundred_due_jobs_in_a_workspace_cost_one_list_call_per_sweep(
    watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock
) -> None:
    for i in range(100):
        job = jobs.add(make_job(f"j{i:03d}", R, created_at=clock() - timedelta(minutes=i)), WS_A)
        watcher.watch(None, job, channel="C1", requested_by="U1", scope=WS_A)
    for sweep in range(1, 6):
        clock.advance(12)
        report = watcher.sweep()
        assert report.due == 100 and report.unchanged == 100
        assert (jobs.calls["list"], jobs.calls["get"]) == (sweep, 0)
    assert min(limit or 0 for limit in jobs.list_limits) >= 100


def test_a_lone_job_is_read_with_get_and_one_missing_from_the_listing_too(
    watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock
) -> None:
    watcher.watch(None, jobs.add(make_job("alone", R), WS_A), channel="C1", requested_by="U1", scope=WS_A)
    for name in ("x", "y", "old"):
        watcher.watch(None, jobs.add(make_job(name, R), WS_B), channel="C1", requested_by="U1", scope=WS_B)
    jobs.unlisted.add("old")  # beyond the listing's limit
    clock.advance(10)
    jobs.set_status("old", C, WS_B)
    report = watcher.sweep()
    assert (report.due, report.list_calls, report.transitions) == (4, 1, 1)
    assert jobs.calls["list"] == 1 and jobs.calls["get"] == 2  # "alone" in ws-a, "old" in ws-b


def test_a_new_watch_falls_in_step_with_its_workspace(watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock) -> None:
    for i in range(3):
        watcher.watch(None, jobs.add(make_job(f"j{i}", R), WS_A), channel="C1", requested_by="U1", scope=WS_A)
        clock.advance(3)
    lists = []
    for _ in range(40):
        clock.advance(1)
        lists.append(watcher.sweep().list_calls)
    assert sum(lists) == 4  # one list per 10 s, not one per job


def test_watch_is_idempotent_and_a_rolled_back_submit_leaves_nothing(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock
) -> None:
    job = jobs.add(make_job("j", Q))
    assert watcher.watch(None, job, channel="C1", requested_by="U1").created
    again = watcher.watch(None, job, channel="C1", requested_by="U1")
    assert not again.created
    other = jobs.add(make_job("k", Q))
    with pytest.raises(RuntimeError), engine.begin() as conn:
        watcher.watch(conn, other, channel="C1", requested_by="U1")
        raise RuntimeError("the operation failed to commit")
    with engine.connect() as conn:
        assert [w.job_name for w in Watches.active(conn)] == ["j"]
        assert [i.kind for i in Outbox.items(conn)] == ["job.root"]


def test_a_placeholder_message_becomes_the_root(
    engine: Engine,
    watcher: JobWatcher,
    jobs: FakeJobs,
    outbox: Outbox,
    delivery: OutboxDelivery,
    chat: FakeChat,
    clock: FakeClock,
) -> None:
    with engine.begin() as conn:
        outbox.enqueue(
            conn,
            channel="C1",
            kind="op.result",
            payload={"text": "Submitting train…"},
            dedupe_key="op:req-1",
            creates_ref="op:req-1",
        )
    job = jobs.add(make_job("j", Q))
    with engine.begin() as conn:  # the submit use case: backend accepted → watch in its own transaction
        watcher.watch(conn, job, channel="C1", requested_by="U1", root_ref="op:req-1")
    clock.advance(10)
    jobs.set_status("j", R)
    watcher.sweep()
    drain(engine, delivery, clock)
    (root,) = chat.roots()
    assert root.text == "Submitting train…" and root.edits[-1].startswith("Job j display (j): Running")
    assert story(chat, root) == ["t"]


def test_a_job_already_over_when_watched_is_summarised_at_the_first_sweep(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    job = jobs.add(make_job("quick", C, started_at=clock(), ended_at=clock()))
    watcher.watch(None, job, channel="C1", requested_by="U1")
    assert watcher.sweep().transitions == 1
    drain(engine, delivery, clock)
    (root,) = chat.roots()
    assert story(chat, root) == ["t", "s"]
    assert chat.replies(root)[0].text == "quick: — → Completed"


def test_a_vanished_job_is_reported_once_then_unwatched(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    watcher.watch(None, jobs.add(make_job("gone", R)), channel="C1", requested_by="U1")
    del jobs.jobs[("//", "gone")]
    for _ in range(30):
        clock.advance(60)
        watcher.sweep()
    assert jobs.calls["get"] == 3
    drain(engine, delivery, clock)
    (root,) = chat.roots()
    assert story(chat, root) == ["g"] and "no longer found" in chat.replies(root)[0].text


def test_backend_errors_back_off_and_announce_nothing(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock
) -> None:
    for name in ("a", "b"):
        watcher.watch(None, jobs.add(make_job(name, R)), channel="C1", requested_by="U1")
    jobs.fail["list"] = BackendUnavailable("Azure ML is unavailable")
    clock.advance(10)
    report = watcher.sweep()
    assert report.errors and report.transitions == 0
    clock.advance(10)
    assert watcher.sweep().due == 0  # backed off (15 s after the first failure)
    clock.advance(5)
    assert watcher.sweep().list_calls == 1
    assert jobs.calls["list"] == 2
    del jobs.fail["list"]
    clock.advance(30)
    assert watcher.sweep().unchanged == 2
    with engine.connect() as conn:
        assert [i.kind for i in Outbox.items(conn)] == ["job.root", "job.root"]
        assert all(w.check_failures == 0 for w in Watches.active(conn))


def test_two_hundred_job_ends_in_one_channel_arrive_paced_in_order_once(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    names = [f"job-{i:03d}" for i in range(200)]
    for name in names:
        watcher.watch(None, jobs.add(make_job(name, R)), channel="C1", requested_by="U1")
    drain(engine, delivery, clock)
    ended: list[str] = []
    order = names[:]
    random.Random(7).shuffle(order)
    for batch in range(10):  # 20 jobs end between sweeps
        clock.advance(15)
        for name in order[batch * 20 : (batch + 1) * 20]:
            jobs.set_status(name, C)
        watcher.sweep()
        with engine.connect() as conn:
            ended = [i.payload["job_name"] for i in Outbox.items(conn) if i.kind == "job.summary"]
    assert sorted(ended) == names
    drain(engine, delivery, clock)
    summaries = [m for m in chat.posts("C1") if (m.dedupe_key or "").endswith(":summary")]
    assert [m.text.split(" ", 1)[0] for m in summaries] == ended
    assert set(chat.dedupe_counts().values()) == {1} and len(summaries) == 200
    # Posts keep Slack's pace (1 s apart in a channel); edits of root messages are not held back by it.
    times = [t for t, op, _ in chat.calls if op == "post"]
    assert all(b - a >= timedelta(seconds=1) for a, b in zip(times, times[1:], strict=False))
    for root in chat.roots("C1"):
        assert story(chat, root) == ["t", "s"]


def test_reads_and_detection_latency_at_a_hundred_jobs(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock
) -> None:
    """100 running jobs of one workspace over 20 simulated minutes, the sweep loop ticking every 2 s."""
    rng = random.Random(3)
    for i in range(100):
        job = jobs.add(make_job(f"j{i:03d}", R, created_at=clock() - timedelta(hours=2)), WS_A)
        watcher.watch(None, job, channel="C1", requested_by="U1", scope=WS_A)
    changes = {f"j{i:03d}": rng.uniform(0, 1200) for i in rng.sample(range(100), 10)}
    start = clock()
    changed_at = {}
    for second in range(0, 1200, 2):
        for name, at in changes.items():
            if name not in changed_at and at <= second:
                jobs.set_status(name, JobStatus.FINALIZING, WS_A)
                changed_at[name] = clock()
        watcher.sweep()
        clock.advance(2)
    with engine.connect() as conn:
        rows = conn.execute(
            select(watches.c.job_name, transitions.c.recorded_at)
            .join(transitions, transitions.c.watch_id == watches.c.id)
            .where(transitions.c.seq > 0)
        ).all()
    latency = sorted((at - changed_at[name]).total_seconds() for name, at in rows)
    assert len(latency) == 10 and latency[-1] <= 12
    status_reads = jobs.calls["list"] + jobs.calls["get"]
    job_hours = 100 * (clock() - start).total_seconds() / 3600
    assert status_reads / job_hours <= 3.1


@given(
    status=st.sampled_from([s for s in JobStatus if not s.is_terminal]),
    age=st.floats(0, 100_000),
    later=st.floats(0, 100_000),
    n=st.integers(1, 1000),
)
def test_interval_policy_is_bounded_and_never_speeds_up_with_age(
    status: JobStatus, age: float, later: float, n: int
) -> None:
    policy = IntervalPolicy()
    first, second = sorted((age, later))
    own = policy.interval(status, first)
    assert own is not None and 10 <= own <= 300
    assert policy.interval(status, second) >= own  # type: ignore[operator]
    listed = policy.next_check(status, first, listed_with=n)
    assert policy.min_interval <= listed <= max(own, policy.steady_period_max)
    if n >= 100:
        assert listed <= 12  # ≤ 3 status reads per job-hour, change seen within 12 s


def test_interval_policy_examples() -> None:
    policy = IntervalPolicy()
    assert policy.interval(C, 0) is None
    assert policy.interval(Q, 0) == 10 and policy.interval(Q, 1200) == 60
    assert policy.interval(R, 60) == 10 and policy.interval(R, 3600) == 60 and policy.interval(R, 86400) == 240
    assert policy.next_check(R, 86400, listed_with=100) == 12
    assert policy.next_check(R, 86400, listed_with=10) == 120
    assert policy.next_check(R, 60, listed_with=10) == 10


# ------------------------------------------------------------------------------------------------ services

JUPYTER_URL = "https://j-0.eastus.nbs.azureml.net/lab"
VSCODE_URL = "https://j-0.eastus.nbs.azureml.net/vscode"


def endpoints(jupyter: str | None = None, vscode: str | None = None) -> tuple[ServiceEndpoint, ...]:
    """A job that asked for JupyterLab and VS Code: each gets its URL some time after the job starts."""
    return (
        ServiceEndpoint("jupyter", "jupyter", jupyter, "Running" if jupyter else "Starting"),
        ServiceEndpoint("vscode", "vscode", vscode, "Running" if vscode else "Starting"),
    )


def services_rows(engine: Engine) -> list[tuple[str, str, list[str]]]:
    """(job, kind, names) of the outbox rows about services: root updates that list links, and the replies."""
    with engine.connect() as conn:
        items = Outbox.items(conn)
    rows = []
    for item in items:
        if item.kind == KIND_SERVICES:
            rows.append((item.payload["job_name"], "reply", [s["name"] for s in item.payload["services"]]))
        elif item.kind == "job.root" and "@links-" in item.dedupe_key:
            rows.append((item.payload["job"]["name"], "root", [s["name"] for s in item.payload["job"]["services"]]))
    return rows


@pytest.mark.parametrize("alone", [True, False], ids=["read-with-get", "read-in-a-listing"])
def test_service_endpoints_are_announced_once_as_they_appear(
    engine: Engine,
    watcher: JobWatcher,
    jobs: FakeJobs,
    delivery: OutboxDelivery,
    chat: FakeChat,
    clock: FakeClock,
    alone: bool,
) -> None:
    watcher.watch(None, jobs.add(make_job("j", R, services=endpoints())), channel="C1", requested_by="U1")
    if not alone:  # a second job in the workspace: the sweep reads both with one list call
        watcher.watch(None, jobs.add(make_job("other", R)), channel="C1", requested_by="U1")
    clock.advance(10)
    assert watcher.sweep().services == 0  # endpoints without a URL yet: nothing to link to
    assert services_rows(engine) == []

    clock.advance(10)
    jobs.set_status("j", R, services=endpoints(jupyter=JUPYTER_URL))
    reads = jobs.reads()
    report = watcher.sweep()
    assert (report.services, report.transitions, report.unchanged) == (1, 0, 2 - alone)
    assert jobs.reads() - reads == 1  # the read the sweep makes anyway: none for the services
    assert services_rows(engine) == [("j", "root", ["jupyter", "vscode"]), ("j", "reply", ["jupyter"])]
    drain(engine, delivery, clock)
    for _ in range(3):  # the same endpoints read again: nothing new
        clock.advance(10)
        assert watcher.sweep().services == 0
    assert watcher.record(jobs.get("j"), "event") is RecordOutcome.UNCHANGED
    assert len(services_rows(engine)) == 2

    clock.advance(10)
    jobs.set_status("j", R, services=endpoints(jupyter=JUPYTER_URL, vscode=VSCODE_URL))
    assert watcher.sweep().services == 1
    assert services_rows(engine)[2:] == [("j", "root", ["jupyter", "vscode"]), ("j", "reply", ["vscode"])]
    drain(engine, delivery, clock)

    clock.advance(10)
    jobs.set_status("j", C, services=endpoints(jupyter=JUPYTER_URL, vscode=VSCODE_URL))
    watcher.sweep()
    assert len(services_rows(engine)) == 4
    drain(engine, delivery, clock)
    root = next(r for r in chat.roots() if r.text.startswith("Job j "))
    assert story(chat, root) == ["l", "l", "t", "s"]
    links = [m.text for m in chat.replies(root)[:2]]
    assert links == [f"j: JupyterLab: <{JUPYTER_URL}|open>", f"j: VS Code: <{VSCODE_URL}|open>"]
    assert len(root.edits) == 3  # links, links, Completed
    assert set(chat.dedupe_counts().values()) == {1}
    watch = watcher.get_watch("j")
    assert watch is not None and watch.version == 1  # services do not count as transitions


def test_endpoints_seen_with_a_status_change_ride_on_its_root_update(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    watcher.watch(None, jobs.add(make_job("j", Q, services=endpoints())), channel="C1", requested_by="U1")
    clock.advance(10)
    jobs.set_status("j", R, services=endpoints(jupyter=JUPYTER_URL))
    report = watcher.sweep()
    assert (report.transitions, report.services) == (1, 0)
    assert services_rows(engine) == [("j", "reply", ["jupyter"])]  # the transition's root update lists it
    clock.advance(10)
    assert watcher.sweep().services == 0
    drain(engine, delivery, clock)
    (root,) = chat.roots()
    assert story(chat, root) == ["t", "l"]


def test_a_job_that_ends_announces_no_endpoints(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    watcher.watch(None, jobs.add(make_job("j", R, services=endpoints())), channel="C1", requested_by="U1")
    clock.advance(10)
    jobs.set_status("j", F, services=endpoints(jupyter=JUPYTER_URL))  # the URL shows up only as it ends
    assert watcher.sweep().transitions == 1
    assert watcher.record(jobs.get("j"), "event") is RecordOutcome.INACTIVE
    drain(engine, delivery, clock)
    assert services_rows(engine) == []
    assert story(chat, chat.roots()[0]) == ["t", "s"]


@pytest.mark.parametrize("requested", [True, False], ids=["requested-but-never-served", "none-requested"])
def test_a_job_without_endpoints_gets_no_service_messages(
    engine: Engine,
    watcher: JobWatcher,
    jobs: FakeJobs,
    delivery: OutboxDelivery,
    chat: FakeChat,
    clock: FakeClock,
    requested: bool,
) -> None:
    job = make_job("j", Q, services=endpoints() if requested else ())
    watcher.watch(None, jobs.add(job), channel="C1", requested_by="U1")
    for status in (R, R, R, C):
        clock.advance(30)
        jobs.set_status("j", status)
        assert watcher.sweep().services == 0
    drain(engine, delivery, clock)
    with engine.connect() as conn:
        assert KIND_SERVICES not in {i.kind for i in Outbox.items(conn)}
        assert conn.execute(select(watches.c.services_announced)).scalar_one() is None
    assert story(chat, chat.roots()[0]) == ["t", "t", "s"]


def test_concurrent_recorders_announce_new_endpoints_once(
    make_db_engine: Callable[[], Engine], engine: Engine, jobs: FakeJobs, clock: FakeClock
) -> None:
    replicas = [JobWatcher(make_db_engine(), jobs, Outbox(clock), clock) for _ in range(4)]
    replicas[0].watch(None, jobs.add(make_job("j", R, services=endpoints())), channel="C1", requested_by="U1")
    outcomes: list[RecordOutcome] = []
    for urls in (endpoints(jupyter=JUPYTER_URL), endpoints(jupyter=JUPYTER_URL, vscode=VSCODE_URL)):
        clock.advance(10)
        jobs.set_status("j", R, services=urls)
        barrier = threading.Barrier(8)

        def push(replica: JobWatcher, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(10)
            outcomes.append(replica.record(jobs.get("j"), "event"))

        threads = [threading.Thread(target=push, args=(replicas[i % 4],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert Counter(outcomes) == {RecordOutcome.SERVICES: 2, RecordOutcome.UNCHANGED: 14}
    assert services_rows(engine) == [
        ("j", "root", ["jupyter", "vscode"]),
        ("j", "reply", ["jupyter"]),
        ("j", "root", ["jupyter", "vscode"]),
        ("j", "reply", ["vscode"]),
    ]


@pytest.mark.parametrize("claim_seconds", [30.0, 0.0], ids=["claims", "no-claims-so-every-sweep-races"])
def test_two_replicas_sweeping_announce_each_endpoint_once(
    make_db_engine: Callable[[], Engine], engine: Engine, jobs: FakeJobs, clock: FakeClock, claim_seconds: float
) -> None:
    names = [f"job-{i:02d}" for i in range(6)]
    first, second = (
        JobWatcher(make_db_engine(), jobs, Outbox(clock), clock, claim_seconds=claim_seconds) for _ in range(2)
    )
    for name in names:
        first.watch(None, jobs.add(make_job(name, Q, services=endpoints())), channel="C1", requested_by="U1")
    errors: list[BaseException] = []
    for status, urls in (
        (R, endpoints()),
        (R, endpoints(jupyter=JUPYTER_URL)),
        (R, endpoints(jupyter=JUPYTER_URL, vscode=VSCODE_URL)),
        (C, endpoints(jupyter=JUPYTER_URL, vscode=VSCODE_URL)),
    ):
        clock.advance(30)
        for name in names:
            jobs.set_status(name, status, services=urls)
        barrier = threading.Barrier(2)

        def sweep(watcher: JobWatcher, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(10)
                for _ in range(2):
                    errors.extend(RuntimeError(e) for e in watcher.sweep().errors)
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)

        threads = [threading.Thread(target=sweep, args=(w,)) for w in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    replies = Counter((job, tuple(names)) for job, kind, names in services_rows(engine) if kind == "reply")
    assert replies == Counter({(name, svc): 1 for name in names for svc in (("jupyter",), ("vscode",))})
