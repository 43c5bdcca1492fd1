"""The chain the bot composes in bot/bootstrap.py (watcher → outbox → delivery → SlackChat → Slack Web API),
built here over SQLite and a LocalSlack workspace so tests can drive it step by step."""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.blocks import BlockKitRenderer
from bot.devslack import LocalSlack, render_channel
from bot.notifier import SlackChat
from services.catalog import JobCatalog
from services.chat import Blocks, ChatPort, ChatRateLimited, RenderedFile
from services.errors import NotFound
from services.models import TAG_REQUEST, JobInfo, JobRequest, JobStatus, MetricPoint, WorkspaceScope
from services.outbox import DeadLetter, Outbox, OutboxDelivery
from services.ports import Jobs
from services.store import Clock, create_schema, make_engine, utc_now
from services.tracking import JobTracking, open_work
from services.watch import IntervalPolicy, JobWatcher

CHANNEL = "C_ML"  # #ml-team in the bundled seed workspace

# Every status read again after 50 ms: the real chain at test speed (bootstrap's LOCAL_POLICY, scaled down).
FAST_POLICY = IntervalPolicy(
    min_interval=0.05,
    waiting=((0.0, 0.05),),
    running=((0.0, 0.05),),
    ending=((0.0, 0.05),),
    other=((0.0, 0.05),),
)


@dataclass
class Chain:
    engine: Engine
    slack: LocalSlack
    chat: ChatPort
    outbox: Outbox
    delivery: OutboxDelivery
    watcher: JobWatcher
    tracking: JobTracking
    dead: list[DeadLetter] = field(default_factory=list)

    def open_messages(self) -> int:
        return open_work(self.engine)["undelivered_messages"]

    def all_told(self) -> bool:
        """Every message delivered and no job followed any more."""
        return open_work(self.engine) == {"undelivered_messages": 0, "followed_jobs": 0}

    def deliver_now(self) -> int:
        """Deliver until nothing is due right now; the number of Slack calls made."""
        calls = 0
        while True:
            report = self.delivery.deliver_due()
            self.dead.extend(report.dead)
            if not report.calls:
                return calls
            calls += report.calls

    def render(self) -> str:
        return render_channel(self.slack.workspace, CHANNEL)


def slack_chat(slack: LocalSlack) -> SlackChat:
    """The bot's ChatPort over slack_sdk, pointed at the local workspace (as bootstrap does with the real API)."""
    return SlackChat(WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=10))


def build_chain(
    db: Path,
    jobs: Jobs,
    slack: LocalSlack,
    *,
    catalog: JobCatalog | None = None,
    clock: Clock = utc_now,
    policy: IntervalPolicy = FAST_POLICY,
    per_channel_interval: float = 0.05,
    chat: ChatPort | None = None,
) -> Chain:
    engine = make_engine(f"sqlite:///{db}")
    create_schema(engine)
    chat = chat or slack_chat(slack)
    outbox = Outbox(clock)
    delivery = OutboxDelivery(engine, chat, BlockKitRenderer(), clock, per_channel_interval=per_channel_interval)
    watcher = JobWatcher(engine, jobs, outbox, clock, policy=policy)
    tracking = JobTracking(engine, jobs, catalog, watcher, outbox, clock=clock)
    return Chain(engine, slack, chat, outbox, delivery, watcher, tracking)


def drive_until_told(
    chain: Chain,
    job_name: str,
    *,
    on_status: Callable[[str | None], None] = lambda status: None,
    timeout: float = 60.0,
) -> None:
    """Sweep and deliver in real time (short sleeps) until the job's watch ended and every message is out.

    `on_status` sees the status the watcher last recorded after each round (a test steps its job on).
    """
    deadline = time.monotonic() + timeout
    while True:
        report = chain.watcher.sweep()
        assert not report.errors, report.errors
        chain.deliver_now()
        watch = chain.watcher.get_watch(job_name)
        assert watch is not None
        on_status(watch.last_status)
        if not watch.active and chain.open_messages() == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{job_name} not told within {timeout} s (at {watch.last_status}):\n{chain.render()}")
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------------ simulated time

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class SimClock:
    """One simulated clock for the services (tz-aware datetimes) and LocalSlack's pacer (monotonic seconds)."""

    def __init__(self, start: datetime = T0) -> None:
        self._start = start
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def seconds(self) -> float:
        """Monotonic seconds since the start, for `LocalSlack(pace_clock=...)`."""
        with self._lock:
            return (self._now - self._start).total_seconds()

    def advance_to(self, moment: datetime) -> None:
        with self._lock:
            self._now = max(self._now, moment)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


def drive_simulated(chain: Chain, clock: SimClock, *, done: Callable[[], bool], max_rounds: int = 100_000) -> int:
    """Run the watcher and delivery on simulated time until `done()`: after a round with nothing due, jump
    the clock to the earliest moment something is (a sweep, or a paced or retried delivery). Rounds used.

    Nothing is watched anew meanwhile, so the watcher is swept only when it said a watch is due.
    """
    next_sweep: datetime | None = clock()
    for rounds in range(1, max_rounds + 1):
        swept = 0
        if next_sweep is not None and clock() >= next_sweep:
            sweep = chain.watcher.sweep()
            assert not sweep.errors, sweep.errors
            swept, next_sweep = sweep.due, sweep.next_check_at
        report = chain.delivery.deliver_due()
        chain.dead.extend(report.dead)
        if report.calls or swept:
            continue
        if done():
            return rounds
        upcoming = [t for t in (next_sweep, report.next_due_at) if t is not None]
        assert upcoming, f"nothing left to do, yet not done:\n{chain.render()}"
        clock.advance_to(min(upcoming))  # (a moment already past leaves the clock where it is)
    raise AssertionError(f"not done after {max_rounds} rounds")


# ------------------------------------------------------------------------------------------------ fakes


def scripted_job(name: str, status: JobStatus, *, requested_by: str, created_at: datetime) -> JobInfo:
    return JobInfo(
        name=name,
        display_name=f"Burst {name}",
        status=status,
        compute="cpu-cluster",
        experiment="burst",
        created_by="aml-bot",
        created_at=created_at,
        started_at=created_at,
        ended_at=None,
        studio_url=f"https://ml.azure.com/runs/{name}",
        tags={TAG_REQUEST: f"req-{name}"},
        output_uri=f"azureml://jobs/{name}/outputs/artifacts/paths/",
        template="burst",
    )


class ScriptedJobs:
    """The Jobs port over jobs whose statuses the test sets (one workspace); counts reads by method."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.jobs: dict[str, JobInfo] = {}
        self.reads: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, job: JobInfo) -> JobInfo:
        with self._lock:
            self.jobs[job.name] = job
        return job

    def end_all(self, status: JobStatus = JobStatus.COMPLETED) -> None:
        """Every job ends at this very moment."""
        with self._lock:
            now = self.clock()
            self.jobs = {name: replace(job, status=status, ended_at=now) for name, job in self.jobs.items()}

    def _read(self, method: str) -> None:
        with self._lock:
            self.reads[method] = self.reads.get(method, 0) + 1

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        self._read("get")
        with self._lock:
            job = self.jobs.get(name)
        if job is None:
            raise NotFound(f"job `{name}` not found")
        return job

    def list(
        self, *, tag: str | None = None, scope: WorkspaceScope | None = None, limit: int | None = None
    ) -> builtins.list[JobInfo]:
        self._read("list")
        key = (tag or "").partition("=")[0]
        with self._lock:
            found = [j for j in self.jobs.values() if not key or key in j.tags]
        found.sort(key=lambda j: (j.created_at or T0, j.name), reverse=True)  # newest first, as both backends
        return found[:limit] if limit is not None else found

    def metrics(self, name: str, *, scope: WorkspaceScope | None = None) -> builtins.list[MetricPoint]:
        self._read("metrics")
        return [MetricPoint("loss", 3, 0.25, self.clock())]

    def log_tail(self, name: str, *, lines: int = 40, scope: WorkspaceScope | None = None) -> str:
        self._read("log_tail")
        return ""

    def submit(self, request: JobRequest, *, scope: WorkspaceScope | None = None) -> JobInfo:
        raise NotImplementedError

    def rerun(self, name: str, **kwargs: Any) -> JobInfo:
        raise NotImplementedError

    def cancel(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        raise NotImplementedError


@dataclass(frozen=True)
class ChatCall:
    at: datetime
    op: str  # post | update | find_posted
    dedupe_key: str | None
    outcome: str  # ok | 429 | error
    retry_after: float = 0.0


class RecordingChat:
    """A ChatPort that passes every call to the real one and notes when (on the services' clock) and how it
    went, so a test can check that a 429's Retry-After was waited out."""

    def __init__(self, inner: ChatPort, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock
        self.calls: list[ChatCall] = []

    def _note(self, op: str, key: str | None, call: Callable[[], Any]) -> Any:
        at = self.clock()
        try:
            result = call()
        except ChatRateLimited as err:
            self.calls.append(ChatCall(at, op, key, "429", err.retry_after))
            raise
        except Exception:
            self.calls.append(ChatCall(at, op, key, "error"))
            raise
        self.calls.append(ChatCall(at, op, key, "ok"))
        return result

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        return str(
            self._note(
                "post",
                dedupe_key,
                lambda: self.inner.post(channel, text=text, blocks=blocks, thread_ts=thread_ts, dedupe_key=dedupe_key),
            )
        )

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        self._note("update", None, lambda: self.inner.update(channel, ts, text=text, blocks=blocks))

    def post_ephemeral(self, channel: str, user: str, *, text: str, blocks: Blocks | None = None) -> None:
        self.inner.post_ephemeral(channel, user, text=text, blocks=blocks)

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, file: RenderedFile) -> str:
        return self.inner.upload_file(channel, thread_ts, filename, file)

    def find_uploaded(self, channel: str, filename: str, thread_ts: str | None) -> str | None:
        return self.inner.find_uploaded(channel, filename, thread_ts)

    def find_posted(self, channel: str, dedupe_key: str, thread_ts: str | None) -> str | None:
        found = self._note("find_posted", dedupe_key, lambda: self.inner.find_posted(channel, dedupe_key, thread_ts))
        return None if found is None else str(found)


def metadata_key(message: Any) -> str:
    """The outbox dedupe key a bot message carries in its Slack metadata ('' when none)."""
    metadata: Mapping[str, Any] = getattr(message, "metadata", None) or {}
    return str((metadata.get("event_payload") or {}).get("dedupe_key") or "")
