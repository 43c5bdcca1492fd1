"""Fakes for the store, outbox and watcher tests: a controllable clock, a scripted Jobs backend, a chat."""

from __future__ import annotations

import builtins
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from services.chat import Blocks, RenderedFile
from services.errors import NotFound
from services.models import TAG_REQUEST, JobInfo, JobRequest, JobStatus, MetricPoint, WorkspaceScope
from services.outbox import Outbox, OutboxDelivery
from services.store.watching import workspace_key

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class FakeClock:
    """A tz-aware UTC clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


class SimulatedCrash(BaseException):
    """The process dies: not an Exception, so nothing in services catches it."""


# ------------------------------------------------------------------------------------------------ jobs


def make_job(
    name: str,
    status: JobStatus = JobStatus.QUEUED,
    *,
    created_at: datetime = T0,
    compute: str | None = "cpu-cluster",
    **changes: Any,
) -> JobInfo:
    job = JobInfo(
        name=name,
        display_name=f"{name} display",
        status=status,
        compute=compute,
        experiment="exp",
        created_by="aml-bot",
        created_at=created_at,
        started_at=None,
        ended_at=None,
        studio_url=f"https://ml.azure.com/runs/{name}",
        tags={TAG_REQUEST: f"req-{name}"},
        output_uri=f"azureml://jobs/{name}/outputs",
        template="train",
    )
    return replace(job, **changes) if changes else job


class FakeJobs:
    """The Jobs port over scripted statuses; counts every read."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.jobs: dict[tuple[str, str], JobInfo] = {}
        self.calls: Counter[str] = Counter()
        self.metric_points: dict[str, list[MetricPoint]] = {}
        self.logs: dict[str, str] = {}
        self.unlisted: set[str] = set()  # names a listing leaves out (as if beyond its limit)
        self.fail: dict[str, Exception] = {}  # method → exception to raise on every call
        self.list_limits: list[int | None] = []
        self._lock = threading.Lock()

    # scripting
    def add(self, job: JobInfo, scope: WorkspaceScope | None = None) -> JobInfo:
        with self._lock:
            self.jobs[(workspace_key(scope), job.name)] = job
        return job

    def set_status(self, name: str, status: JobStatus, scope: WorkspaceScope | None = None, **changes: Any) -> None:
        with self._lock:
            key = (workspace_key(scope), name)
            job = self.jobs[key]
            now = self.clock()
            if status is JobStatus.RUNNING and job.started_at is None:
                changes.setdefault("started_at", now)
            if status.is_terminal:
                changes.setdefault("ended_at", now)
            self.jobs[key] = replace(job, status=status, **changes)

    def reads(self) -> int:
        return sum(self.calls[m] for m in ("list", "get", "metrics", "log_tail"))

    def _count(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1
        if method in self.fail:
            raise self.fail[method]

    # the port
    def submit(self, request: JobRequest, *, scope: WorkspaceScope | None = None) -> JobInfo:
        raise NotImplementedError

    def rerun(self, name: str, **kwargs: Any) -> JobInfo:
        raise NotImplementedError

    def cancel(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        raise NotImplementedError

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        self._count("get")
        with self._lock:
            job = self.jobs.get((workspace_key(scope), name))
        if job is None:
            raise NotFound(f"job `{name}` not found")
        return job

    def list(
        self, *, tag: str | None = None, scope: WorkspaceScope | None = None, limit: int | None = None
    ) -> builtins.list[JobInfo]:
        self._count("list")
        key = workspace_key(scope)
        with self._lock:
            self.list_limits.append(limit)
            found = [
                j
                for (k, name), j in self.jobs.items()
                if k == key and name not in self.unlisted and (tag is None or tag.partition("=")[0] in j.tags)
            ]
        found.sort(key=lambda j: j.created_at or T0, reverse=True)
        return found[:limit] if limit is not None else found

    def metrics(self, name: str, *, scope: WorkspaceScope | None = None) -> builtins.list[MetricPoint]:
        self._count("metrics")
        return list(self.metric_points.get(name, []))

    def log_tail(self, name: str, *, lines: int = 40, scope: WorkspaceScope | None = None) -> str:
        self._count("log_tail")
        return self.logs.get(name, "")


# ------------------------------------------------------------------------------------------------ chat


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    thread_ts: str | None
    dedupe_key: str | None
    posted_at: datetime
    edits: list[str] = field(default_factory=list)

    @property
    def current(self) -> str:
        return self.edits[-1] if self.edits else self.text


class FakeChat:
    """A ChatPort keeping messages in memory; failures are scripted per call."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.messages: list[Message] = []
        self.calls: list[tuple[datetime, str, str]] = []  # (time, op, channel) of every call
        self.script: list[Callable[[str, str], BaseException | None]] = []
        # raised by the next post AFTER the message was accepted (a crash, or a timeout reading the answer)
        self.after_next_post: BaseException | None = None
        self._ts = itertools.count(1)
        self._lock = threading.RLock()

    def fail_next(self, error: BaseException, *, op: str | None = None, channel: str | None = None) -> None:
        """The next matching call raises `error` (before anything is posted)."""
        used = False

        def rule(call_op: str, call_channel: str) -> BaseException | None:
            nonlocal used
            if used or (op and op != call_op) or (channel and channel != call_channel):
                return None
            used = True
            return error

        self.script.append(rule)

    def during_next(self, action: Callable[[], None], *, op: str | None = None, channel: str | None = None) -> None:
        """Run `action` inside the next matching call (e.g. move the clock: a slow call)."""
        used = False

        def rule(call_op: str, call_channel: str) -> BaseException | None:
            nonlocal used
            if not used and (not op or op == call_op) and (not channel or channel == call_channel):
                used = True
                action()
            return None

        self.script.append(rule)

    def _begin(self, op: str, channel: str) -> None:
        with self._lock:
            self.calls.append((self.clock(), op, channel))
            for rule in list(self.script):
                error = rule(op, channel)
                if error is not None:
                    self.script.remove(rule)
                    raise error

    # the port
    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        self._begin("post", channel)
        with self._lock:
            ts = f"1767600000.{next(self._ts):06d}"
            self.messages.append(Message(channel, ts, text, thread_ts, dedupe_key, self.clock()))
            error, self.after_next_post = self.after_next_post, None
            if error is not None:
                raise error
            return ts

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        self._begin("update", channel)
        with self._lock:
            message = self.find(ts)
            assert message is not None and message.channel == channel, f"update of unknown message {ts}"
            message.edits.append(text)

    def post_ephemeral(self, channel: str, user: str, *, text: str, blocks: Blocks | None = None) -> None:
        self._begin("ephemeral", channel)

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, file: RenderedFile) -> str:
        self._begin("upload", channel)
        return f"F{next(self._ts):07d}"

    def find_uploaded(self, channel: str, filename: str, thread_ts: str | None) -> str | None:
        self._begin("find_uploaded", channel)
        return None

    def find_posted(self, channel: str, dedupe_key: str, thread_ts: str | None) -> str | None:
        self._begin("find_posted", channel)
        with self._lock:
            for message in self.messages:
                if message.channel == channel and message.dedupe_key == dedupe_key and message.thread_ts == thread_ts:
                    return message.ts
        return None

    # inspection
    def find(self, ts: str) -> Message | None:
        with self._lock:
            return next((m for m in self.messages if m.ts == ts), None)

    def posts(self, channel: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if channel is None or m.channel == channel]

    def roots(self, channel: str | None = None) -> list[Message]:
        return [m for m in self.posts(channel) if m.thread_ts is None]

    def replies(self, root: Message) -> list[Message]:
        return [m for m in self.posts(root.channel) if m.thread_ts == root.ts]

    def ops(self, op: str) -> list[tuple[datetime, str, str]]:
        with self._lock:
            return [c for c in self.calls if c[1] == op]

    def dedupe_counts(self) -> Mapping[str | None, int]:
        return Counter(m.dedupe_key for m in self.posts())


def drain(engine: Engine, delivery: OutboxDelivery, clock: FakeClock, *, step: float = 1.0, rounds: int = 5000) -> int:
    """Deliver until the outbox has nothing open, moving the clock `step` s per pass; returns the passes."""
    for n in range(1, rounds + 1):
        if delivery.deliver_due(100).next_due_at is None:
            with engine.connect() as conn:
                assert Outbox.open_count(conn) == 0
            return n
        clock.advance(step)
    raise AssertionError(f"outbox still not empty after {rounds} passes")
