"""Pushed run events go through the watcher's compare-and-set once per event id; unwatched jobs cost no read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.eventgrid import RunStatusEvent
from services.models import JobRequest, JobStatus, WorkspaceScope
from services.outbox import Outbox
from services.ports import CloudBackend
from services.store import create_schema, make_engine
from services.tracking import JobTracking, RunEventHandler, open_work
from services.watch import JobWatcher, RecordOutcome

ROOT = Path(__file__).parents[2]


class CountingJobs:
    """The local backend's jobs, counting reads."""

    def __init__(self, backend: CloudBackend) -> None:
        self.inner = backend.jobs
        self.gets = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get(self, name: str, *, scope: WorkspaceScope | None = None):  # type: ignore[no-untyped-def]
        self.gets += 1
        return self.inner.get(name, scope=scope)


@pytest.fixture
def parts(tmp_path: Path) -> tuple[JobTracking, RunEventHandler, CountingJobs]:
    backend = build_local_backend(tmp_path / "local", JobCatalog(ROOT / "jobs"), compute_transition_seconds=0)
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    create_schema(engine)
    jobs = CountingJobs(backend)
    outbox = Outbox()
    watcher = JobWatcher(engine, jobs, outbox)  # type: ignore[arg-type]
    tracking = JobTracking(engine, jobs, JobCatalog(ROOT / "jobs"), watcher, outbox)  # type: ignore[arg-type]
    return tracking, RunEventHandler(engine, jobs, watcher), jobs  # type: ignore[arg-type]


def event(event_id: str, job: str, status: JobStatus) -> RunStatusEvent:
    return RunStatusEvent(event_id=event_id, job_name=job, status=status, scope=WorkspaceScope())


def test_an_event_is_recorded_once_and_a_repeat_is_ignored(
    parts: tuple[JobTracking, RunEventHandler, CountingJobs],
) -> None:
    tracking, handler, jobs = parts
    submitted = tracking.submit(JobRequest("hello", request_id="r1", requested_by="U_ALICE", channel="C_ML"))
    name = submitted.job.name
    deadline = time.monotonic() + 30
    while not jobs.inner.get(name).status.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert handler.handle(event("ev-1", name, JobStatus.COMPLETED)) is RecordOutcome.ANNOUNCED
    assert handler.handle(event("ev-1", name, JobStatus.COMPLETED)) is None  # same id: ignored
    assert handler.handle(event("ev-2", name, JobStatus.COMPLETED)) is RecordOutcome.INACTIVE  # already ended
    assert open_work(tracking.engine)["followed_jobs"] == 0


def test_an_event_for_a_job_nobody_follows_reads_nothing(
    parts: tuple[JobTracking, RunEventHandler, CountingJobs],
) -> None:
    _, handler, jobs = parts
    assert handler.handle(event("ev-9", "someone-elses-job", JobStatus.RUNNING)) is RecordOutcome.NOT_WATCHED
    assert jobs.gets == 0
