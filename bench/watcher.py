"""Watcher cost and latency: aml-bot's JobWatcher beside SDK `jobs.stream`-style polling, in one simulated run.

    .venv/bin/python -m bench.watcher [--jobs 10,100,1000] [--hours 3] [--seed 7] [--event-delay 1.0]
                                      [--channels 10] [--max-job-hours 1000]

Nothing sleeps: a simulated clock jumps from one due moment to the next. For each N, a seeded plan of jobs:
N slots, each running one job after another (first submits spread over 10 min; a job waits in Queued 1–15 min,
runs 5 min–3 h, both uniform, ends Completed or 20 % Failed; the slot submits its next job 0–5 min later).
The same plan feeds every variant:

- `aml-bot watcher (poll)`: the real JobWatcher + Outbox + OutboxDelivery (per-channel pacing 1 msg/s) on a
  SQLite file in a temp dir, driven step by step: the clock advances to the earliest of the next status change,
  submit, event, `watcher.next_check_at()` and the outbox's next due time, then `sweep()` / `deliver_due()`.
- `SDK jobs.stream-style polling`: one stream per job from its submit, as azure-ai-ml's `stream_logs_until_completion`
  does: `_get_job` + `get_run_details` first, then `sleep(_wait_before_polling(t))` and `get_run_details` again
  until the job ends, where t = seconds since streaming began and the wait is
  max(2, int(60 / (1 + 100·e^(−t/20)))) s (AZUREML_RUN_POLLING_INTERVAL_MIN/MAX defaults 2 and 60): 2 s for
  the first ~35 s, 10 s at 1 min, 48 s at 2 min, 60 s from ~3 min on. A change counts as announced at the first
  read that shows it (no Slack delivery, no pacing); only status reads are counted (the real stream also lists
  and downloads log files on every poll).
- `aml-bot + Event Grid push`: as the first, plus one RunStatusChanged event per status change, delivered
  `--event-delay` s after it; each is handled as the bot's run-event handler does (one `get` of the job, then
  `watcher.record(job, source="event", observed_at=<the change>)`). The poll keeps running as the safety net.

Reads: every call of the fake backend's `get`, `list`, `metrics` and `log_tail` up to the end of the simulated
window, divided by the watched job-hours in it (each job from its submit to its end, clipped to the window).
Latency: from the backend status change to the ChatPort post of that change's `job.transition` thread reply
(for the SDK: to the read that shows it). After the window, statuses freeze and the run goes on (reads no
longer counted) until every change of the window is announced, for at most 30 simulated minutes.
"""

from __future__ import annotations

import argparse
import builtins
import heapq
import math
import os
import platform
import random
import re
import shlex
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from services.chat import Blocks, RenderedFile, TextRenderer
from services.errors import NotFound
from services.models import TAG_REQUEST, JobInfo, JobRequest, JobStatus, MetricPoint, WorkspaceScope
from services.outbox import Outbox, OutboxDelivery
from services.store import create_schema, make_engine, transitions
from services.store.watching import workspace_key
from services.watch import PUSHED_POLICY, IntervalPolicy, JobWatcher

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INF = math.inf
TARGET_N = 100
TARGET_READS_PER_JOB_HOUR = 5.0
TARGET_P95_S = 20.0
TAIL_SECONDS = 1800.0
STAGGER_SECONDS = 600.0
QUEUED_SECONDS = (60.0, 900.0)
RUNNING_SECONDS = (300.0, 10800.0)
GAP_SECONDS = (0.0, 300.0)
FAIL_RATE = 0.2
READ_METHODS = ("list", "get", "metrics", "log_tail")

POLL, SDK, EVENTS = "poll", "sdk", "events"
LABELS = {
    POLL: "aml-bot watcher (poll)",
    SDK: "SDK jobs.stream-style polling",
    EVENTS: "aml-bot + Event Grid push",
}


# -- the plan: which jobs exist, and when their statuses change ------------------------------------------


@dataclass(frozen=True)
class PlannedJob:
    name: str
    channel: str
    workspace: str
    submit: float  # simulated seconds since T0
    start: float  # Queued → Running
    end: float  # Running → outcome
    outcome: JobStatus

    @property
    def scope(self) -> WorkspaceScope:
        return WorkspaceScope(resource_group="rg-bench", workspace=self.workspace)

    def changes(self) -> list[tuple[float, JobStatus]]:
        return [(self.start, JobStatus.RUNNING), (self.end, self.outcome)]


@dataclass(frozen=True)
class Plan:
    n: int
    seconds: float
    jobs: tuple[PlannedJob, ...]

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    def watched_job_hours(self) -> float:
        return sum(min(j.end, self.seconds) - j.submit for j in self.jobs) / 3600

    def changes(self) -> dict[tuple[str, str], float]:
        """(job, status) → when it changed, for the changes inside the window."""
        return {(j.name, s.value): t for j in self.jobs for t, s in j.changes() if t <= self.seconds}


def make_plan(n: int, seconds: float, seed: int, channels: int, workspaces: int) -> Plan:
    rng = random.Random(seed * 1_000_003 + n)
    jobs: list[PlannedJob] = []
    for slot in range(n):
        t = rng.uniform(0.0, STAGGER_SECONDS)
        while t <= seconds:
            start = t + rng.uniform(*QUEUED_SECONDS)
            end = start + rng.uniform(*RUNNING_SECONDS)
            outcome = JobStatus.FAILED if rng.random() < FAIL_RATE else JobStatus.COMPLETED
            jobs.append(
                PlannedJob(
                    name=f"bench-{n}-{len(jobs):06d}",
                    channel=f"C{slot % channels:02d}",
                    workspace=f"ws-{slot % workspaces}",
                    submit=t,
                    start=start,
                    end=end,
                    outcome=outcome,
                )
            )
            t = end + rng.uniform(*GAP_SECONDS)
    jobs.sort(key=lambda j: j.submit)
    return Plan(n, seconds, tuple(jobs))


# -- simulated time, backend and chat --------------------------------------------------------------------


class SimClock:
    """The services' clock: T0 + simulated seconds, moved only by the simulation loop."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=self.now)


def seconds_of(when: datetime | None) -> float:
    return INF if when is None else (when - T0).total_seconds()


class SimJobs:
    """The Jobs port over the plan's statuses; counts every read. `list` leaves out run-history details
    (start/end times, error), as the Azure backend's listing does."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.calls: Counter[str] = Counter()
        self._full: dict[tuple[str, str], JobInfo] = {}
        self._listed: dict[tuple[str, str], JobInfo] = {}
        self._newest_last: dict[str, list[str]] = {}  # per workspace key: names in submit order

    # driving
    def add(self, planned: PlannedJob) -> JobInfo:
        now = self.clock()
        job = JobInfo(
            name=planned.name,
            display_name=planned.name,
            status=JobStatus.QUEUED,
            compute="gpu-cluster",
            experiment="bench",
            created_by="aml-bot",
            created_at=now,
            started_at=None,
            ended_at=None,
            studio_url=f"https://ml.azure.com/runs/{planned.name}",
            tags={TAG_REQUEST: f"req-{planned.name}"},
            output_uri=f"azureml://jobs/{planned.name}/outputs",
            template="train",
        )
        key = workspace_key(planned.scope)
        self._store((key, planned.name), job)
        self._newest_last.setdefault(key, []).append(planned.name)
        return job

    def set_status(self, planned: PlannedJob, status: JobStatus) -> None:
        key = (workspace_key(planned.scope), planned.name)
        job, now = self._full[key], self.clock()
        changes: dict[str, Any] = {"status": status}
        if status is JobStatus.RUNNING:
            changes["started_at"] = now
        if status.is_terminal:
            changes["ended_at"] = now
        if status is JobStatus.FAILED:
            changes["error"] = "UserError: the script exited with code 1"
        self._store(key, replace(job, **changes))

    def _store(self, key: tuple[str, str], job: JobInfo) -> None:
        self._full[key] = job
        self._listed[key] = replace(job, started_at=None, ended_at=None, error=None)

    def reads(self) -> int:
        return sum(self.calls[m] for m in READ_METHODS)

    # the port
    def submit(self, request: JobRequest, *, scope: WorkspaceScope | None = None) -> JobInfo:
        raise NotImplementedError

    def rerun(self, name: str, **kwargs: Any) -> JobInfo:
        raise NotImplementedError

    def cancel(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        raise NotImplementedError

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        self.calls["get"] += 1
        job = self._full.get((workspace_key(scope), name))
        if job is None:
            raise NotFound(f"job `{name}` not found")
        return job

    def list(
        self, *, tag: str | None = None, scope: WorkspaceScope | None = None, limit: int | None = None
    ) -> builtins.list[JobInfo]:
        self.calls["list"] += 1
        key = workspace_key(scope)
        tag_key, has_value, tag_value = (tag or "").partition("=")
        found: builtins.list[JobInfo] = []
        for name in reversed(self._newest_last.get(key, [])):
            if limit is not None and len(found) >= limit:
                break
            job = self._listed[(key, name)]
            if tag and (tag_key not in job.tags or (has_value and job.tags[tag_key] != tag_value)):
                continue
            found.append(job)
        return found

    def metrics(self, name: str, *, scope: WorkspaceScope | None = None) -> builtins.list[MetricPoint]:
        self.calls["metrics"] += 1
        return [MetricPoint("loss", 100, 0.21), MetricPoint("accuracy", 100, 0.93)]

    def log_tail(self, name: str, *, lines: int = 40, scope: WorkspaceScope | None = None) -> str:
        self.calls["log_tail"] += 1
        return "epoch 3\nTraceback (most recent call last):\nValueError: nan loss"


_ROOT_STATUS = re.compile(r"\(([^()]+)\): (\w+)")


class SimChat:
    """A ChatPort that remembers when each job's transition reply was posted and when its root first showed a
    status (simulated time)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.calls: Counter[str] = Counter()
        self.transition_posted: dict[tuple[str, str], float] = {}  # (job, to_status) → first post
        self.root_shown: dict[tuple[str, str], float] = {}  # (job, status) → first root edit showing it
        self._root_of_ts: dict[str, str] = {}
        self._ts = 0

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        self.calls["post"] += 1
        self._ts += 1
        ts = f"1767600000.{self._ts:06d}"
        key = dedupe_key or ""
        if key.startswith("job:"):
            job_name, last = key.split(":")[1], key.rsplit(":", 1)[-1]
            if last == "root":
                self._root_of_ts[ts] = job_name
            elif re.fullmatch(r"t\d+", last):  # job.transition: "<name>: <from> → <to>"
                self.transition_posted.setdefault((job_name, text.rsplit(" → ", 1)[-1]), self.clock.now)
        return ts

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        self.calls["update"] += 1
        match = _ROOT_STATUS.search(text)
        if ts in self._root_of_ts and match:
            self.root_shown.setdefault((match[1], match[2]), self.clock.now)

    def post_ephemeral(self, channel: str, user: str, *, text: str, blocks: Blocks | None = None) -> None:
        self.calls["ephemeral"] += 1

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, file: RenderedFile) -> str:
        self.calls["upload"] += 1
        return f"F{self.calls['upload']:07d}"

    def find_uploaded(self, channel: str, filename: str, thread_ts: str | None) -> str | None:
        self.calls["find_uploaded"] += 1
        return None

    def find_posted(self, channel: str, dedupe_key: str, thread_ts: str | None) -> str | None:
        self.calls["find_posted"] += 1
        return None


# -- results ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Result:
    variant: str
    plan: Plan
    reads: Counter[str]
    latencies: list[float]
    changes: int
    root_latencies: list[float] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)
    slack_calls: int = 0
    event_gets: int = 0  # gets the event handler made in the window (part of `reads`)
    wall: float = 0.0

    @property
    def total_reads(self) -> int:
        return sum(self.reads.values())

    @property
    def status_reads(self) -> int:
        return self.reads["list"] + self.reads["get"]

    def per_job_hour(self, reads: int) -> float:
        return reads / self.plan.watched_job_hours()

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def within_read_budget(self) -> bool:
        return self.per_job_hour(self.total_reads) <= TARGET_READS_PER_JOB_HOUR

    @property
    def meets_target(self) -> bool:
        return len(self.latencies) == self.changes and self.within_read_budget and self.p(95) <= TARGET_P95_S


# -- aml-bot: the real watcher, outbox and delivery on SQLite ---------------------------------------------

_SUBMIT, _CHANGE, _EVENT = 0, 1, 2  # order of same-instant happenings


def run_amlbot(plan: Plan, *, events: bool, event_delay: float, workdir: Path) -> Result:
    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{workdir / f'{plan.n}-{events}.db'}")
    create_schema(engine)
    clock = SimClock()
    jobs = SimJobs(clock)
    chat = SimChat(clock)
    watcher = JobWatcher(engine, jobs, Outbox(clock), clock, policy=PUSHED_POLICY if events else None)
    delivery = OutboxDelivery(engine, chat, TextRenderer(), clock)

    queue: list[tuple[float, int, int, PlannedJob, JobStatus]] = []
    seq = 0
    for job in plan.jobs:
        queue.append((job.submit, _SUBMIT, seq := seq + 1, job, JobStatus.QUEUED))
        for at, status in job.changes():
            if at <= plan.seconds:
                queue.append((at, _CHANGE, seq := seq + 1, job, status))
    heapq.heapify(queue)
    changed = plan.changes()
    window_reads: Counter[str] | None = None
    watcher_next = delivery_next = INF
    event_gets = 0

    while True:
        now = min(queue[0][0] if queue else INF, watcher_next, delivery_next)
        if now > plan.seconds:
            if window_reads is None:
                window_reads = Counter({m: jobs.calls[m] for m in READ_METHODS})
            if now == INF or now > plan.seconds + TAIL_SECONDS or changed.keys() <= chat.transition_posted.keys():
                break
        clock.now = now
        touched = False
        while queue and queue[0][0] <= now:
            _, kind, _, job, status = heapq.heappop(queue)
            if kind == _SUBMIT:
                watcher.watch(None, jobs.add(job), channel=job.channel, requested_by="U0BENCH", scope=job.scope)
            elif kind == _CHANGE:
                jobs.set_status(job, status)
                if events:
                    heapq.heappush(queue, (now + event_delay, _EVENT, seq := seq + 1, job, status))
            else:  # an Event Grid delivery: read the job once, then record it as of the change
                current = jobs.get(job.name, scope=job.scope)
                event_gets += int(now <= plan.seconds)
                observed = T0 + timedelta(seconds=changed[(job.name, status.value)])
                watcher.record(current, "event", scope=job.scope, observed_at=observed)
            touched = True
        if touched:
            watcher_next = seconds_of(watcher.next_check_at())
            delivery_next = now
        if watcher_next <= now:
            report = watcher.sweep()
            watcher_next = seconds_of(report.next_check_at)
            delivery_next = now if report.transitions or report.gone else delivery_next
        if delivery_next <= now:
            delivery_next = _deliver(delivery, now)

    assert window_reads is not None
    with engine.connect() as conn:
        rows = conn.execute(transitions.select().where(transitions.c.seq > 0)).all()
    engine.dispose()
    latencies = [chat.transition_posted[k] - t for k, t in changed.items() if k in chat.transition_posted]
    roots = [chat.root_shown[k] - t for k, t in changed.items() if k in chat.root_shown]
    return Result(
        variant=EVENTS if events else POLL,
        plan=plan,
        reads=window_reads,
        latencies=latencies,
        changes=len(changed),
        root_latencies=roots,
        sources=Counter(str(row.source) for row in rows),
        slack_calls=sum(chat.calls.values()),
        event_gets=event_gets,
        wall=time.perf_counter() - started,
    )


def _deliver(delivery: OutboxDelivery, now: float) -> float:
    """Deliver everything due at `now`; the simulated time the outbox is next due (INF: nothing open)."""
    while True:
        report = delivery.deliver_due(100)
        due = seconds_of(report.next_due_at)
        if due > now:
            return due
        if report.calls == 0:  # nothing deliverable although something is open: look again a second later
            return now + 1.0


# -- the SDK's jobs.stream, one stream per job --------------------------------------------------------------


def sdk_wait(elapsed: float) -> int:
    """azure-ai-ml `_wait_before_polling`: a sigmoid from 2 s to 60 s (module defaults of the env settings)."""
    return max(2, int(60 / (1.0 + 100 * math.exp(-elapsed / 20.0))))


def run_sdk(plan: Plan) -> Result:
    started = time.perf_counter()
    reads: Counter[str] = Counter()
    changed = plan.changes()
    announced: dict[tuple[str, str], float] = {}
    horizon = plan.seconds + TAIL_SECONDS

    def status_at(job: PlannedJob, t: float) -> JobStatus:
        status = JobStatus.QUEUED
        for at, next_status in job.changes():
            if at <= t and at <= plan.seconds:  # statuses freeze after the window
                status = next_status
        return status

    def read(t: float) -> None:
        if t <= plan.seconds:
            reads["get"] += 1

    # (time of the next get_run_details, job index); each stream starts with _get_job + get_run_details
    queue: list[tuple[float, int]] = []
    for i, job in enumerate(plan.jobs):
        read(job.submit)
        read(job.submit)
        queue.append((job.submit + sdk_wait(0.0), i))
    heapq.heapify(queue)
    seen = [JobStatus.QUEUED] * len(plan.jobs)
    while queue:
        t, i = heapq.heappop(queue)
        if t > horizon:
            break
        job = plan.jobs[i]
        in_window = [(job.name, s.value) for at, s in job.changes() if at <= plan.seconds]
        if t > plan.seconds and all(k in announced for k in in_window):
            continue  # after the window, a stream only goes on until it has seen the window's changes
        read(t)
        status = status_at(job, t)
        if status is not seen[i]:
            seen[i] = status
            # every change up to now is shown by this read (also one skipped between two reads)
            for at, s in job.changes():
                if at <= min(t, plan.seconds):
                    announced.setdefault((job.name, s.value), t)
        if not status.is_terminal:
            heapq.heappush(queue, (t + sdk_wait(t - job.submit), i))
    latencies = [announced[k] - t for k, t in changed.items() if k in announced]
    return Result(SDK, plan, reads, latencies, len(changed), wall=time.perf_counter() - started)


# -- report ------------------------------------------------------------------------------------------------


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import sqlite3

    return (
        f"machine: nproc {cpus}, {platform.machine()}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; SQLAlchemy {metadata.version('sqlalchemy')}, SQLite "
        f"{sqlite3.sqlite_version} (temp file, WAL)"
    )


def fmt(value: float, digits: int = 1) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def table(results: Sequence[Result]) -> list[str]:
    first = results[0].plan
    rows: list[tuple[str, list[str]]] = [
        ("jobs submitted", [f"{len(r.plan.jobs):,}" for r in results]),
        ("simulated hours", [f"{r.plan.hours:g}" for r in results]),
        ("watched job-hours", [f"{r.plan.watched_job_hours():,.1f}" for r in results]),
        ("backend reads", [f"{r.total_reads:,}" for r in results]),
        (
            "  list/get/metrics/log",
            ["/".join(f"{r.reads[m]:,}" for m in READ_METHODS) for r in results],
        ),
        ("reads / job-hour", [fmt(r.per_job_hour(r.total_reads), 2) for r in results]),
        ("  status (list+get)", [fmt(r.per_job_hour(r.status_reads), 2) for r in results]),
        (
            "  event handler gets",
            [fmt(r.per_job_hour(r.event_gets), 2) if r.variant == EVENTS else "—" for r in results],
        ),
        ("status changes", [f"{len(r.latencies):,} / {r.changes:,}" for r in results]),
        ("latency p50 (s)", [fmt(r.p(50)) for r in results]),
        ("latency p95 (s)", [fmt(r.p(95)) for r in results]),
        ("latency max (s)", [fmt(r.p(100)) for r in results]),
        (
            "root edit p50/p95 (s)",
            [
                f"{fmt(percentile(r.root_latencies, 50))} / {fmt(percentile(r.root_latencies, 95))}"
                if r.variant != SDK
                else "—"
                for r in results
            ],
        ),
        (
            "recorded by poll/event",
            [f"{r.sources['poll']:,} / {r.sources['event']:,}" if r.variant != SDK else "—" for r in results],
        ),
        ("Slack calls", [f"{r.slack_calls:,}" if r.variant != SDK else "—" for r in results]),
        ("wall time (s)", [f"{r.wall:.1f}" for r in results]),
    ]
    width = max(32, *(len(LABELS[r.variant]) + 2 for r in results), *(len(v) + 2 for _, vs in rows for v in vs))
    lines = [f"N = {first.n:,} watched jobs (slots)"]
    lines.append(f"  {'':<24}" + "".join(f"{LABELS[r.variant]:>{width}}" for r in results))
    lines += [f"  {name:<24}" + "".join(f"{v:>{width}}" for v in values) for name, values in rows]
    return lines


def report(by_n: Sequence[Sequence[Result]], args: argparse.Namespace, command: str) -> str:
    policy = IntervalPolicy()
    steady_n = math.ceil(3600 / (policy.status_reads_per_job_hour * policy.steady_period_max))
    lines = [
        "Watcher: backend reads per watched job-hour and status-change-to-Slack latency (simulated time)",
        machine(),
        f"command: {command}",
        "",
        f"  Plan (seed {args.seed}): N slots, each running one job after another; first submits spread over "
        f"{STAGGER_SECONDS / 60:g} min; Queued {QUEUED_SECONDS[0] / 60:g}–{QUEUED_SECONDS[1] / 60:g} min, "
        f"Running {RUNNING_SECONDS[0] / 60:g} min–{RUNNING_SECONDS[1] / 3600:g} h (uniform), "
        f"{FAIL_RATE:.0%} end Failed; next submit {GAP_SECONDS[0] / 60:g}–{GAP_SECONDS[1] / 60:g} min later. "
        f"Workspaces: {args.workspaces}; jobs spread round-robin over "
        f"{args.channels} channels (OutboxDelivery paces 1 msg/s per channel).",
        f"  aml-bot: JobWatcher defaults (IntervalPolicy: {policy.status_reads_per_job_hour:g} status reads per "
        f"job-hour once a workspace has >= {steady_n} watched jobs, min interval {policy.min_interval:g} s), "
        "OutboxDelivery(per_channel_interval=1.0), TextRenderer.",
        f"  Event Grid: the watcher polls with PUSHED_POLICY ({PUSHED_POLICY.status_reads_per_job_hour:g} status "
        "reads per job-hour, as the bot does when AMLBOT_EVENTGRID_SECRET is set); "
        f"one event per change, {args.event_delay:g} s after it; the handler reads the job (get) and "
        "calls record(source='event'); the poll runs too.",
        "  SDK: get_run_details every max(2, int(60 / (1 + 100·e^(-t/20)))) s since the stream began (2 s rising "
        "to 60 s by ~3 min), from submit to end; status reads only (the SDK also fetches logs); latency to the read.",
    ]
    capped = [rs[0].plan for rs in by_n if rs[0].plan.hours < args.hours]
    for plan in capped:
        lines.append(
            f"  N = {plan.n:,}: {plan.hours:g} simulated h instead of {args.hours:g} "
            f"(--max-job-hours {args.max_job_hours:g} caps N × hours to keep the run short)."
        )
    for results in by_n:
        lines += ["", *table(results)]
    lines += [
        "",
        "  reads / job-hour: every get, list, metrics and log_tail call in the window (end-of-job reads included: "
        "a get when the listing lacks the end time, metrics, the log tail of a failure) / watched job-hours. "
        "status changes: announced / happened in the window (Queued→Running and the end). latency: change → "
        "post of its job.transition reply (SDK: → the read that shows it). root edit: change → first edit of "
        "the job's root message showing the new status (delivered just before the reply, same channel).",
    ]
    for results in by_n:
        for r in results:
            if r.plan.n != TARGET_N or r.variant == SDK:
                continue
            reads = f"{fmt(r.per_job_hour(r.total_reads), 2)} reads/job-hour"
            announced = f"{len(r.latencies)}/{r.changes} changes announced"
            if r.variant == POLL:
                lines.append(
                    f"  Target at N = {TARGET_N}, {LABELS[r.variant]} (<= {TARGET_READS_PER_JOB_HOUR:g} reads per "
                    f"job-hour at p95 <= {TARGET_P95_S:g} s): {'MET' if r.meets_target else 'NOT MET'} ({reads}, "
                    f"p95 {fmt(r.p(95))} s, {announced})"
                )
            else:
                lines.append(
                    f"  Target at N = {TARGET_N}, {LABELS[r.variant]} (about 1 s; reads <= "
                    f"{TARGET_READS_PER_JOB_HOUR:g} per job-hour): thread reply p50/p95 {fmt(r.p(50))}/{fmt(r.p(95))}"
                    f" s, root edit p50/p95 {fmt(percentile(r.root_latencies, 50))}/"
                    f"{fmt(percentile(r.root_latencies, 95))} s (event delay {args.event_delay:g} s); {reads}: read "
                    f"budget {'MET' if r.within_read_budget else 'NOT MET'} ({fmt(r.per_job_hour(r.event_gets), 2)} "
                    f"of them the event handler's gets); {announced}"
                )
    return "\n".join(_wrap(line) for line in lines)


def _wrap(line: str, width: int = 118) -> str:
    """Fold a long prose line (table rows, with their wide gaps, stay as they are)."""
    if len(line) <= width or "   " in line.strip():
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.fill(line, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


# -- entry point -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.watcher", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--jobs", default="10,100,1000", help="comma-separated N (default 10,100,1000)")
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours per N (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="plan seed (default 7)")
    parser.add_argument("--event-delay", type=float, default=1.0, help="Event Grid delivery delay, s (default 1)")
    parser.add_argument("--channels", type=int, default=10, help="Slack channels the jobs spread over (default 10)")
    parser.add_argument("--workspaces", type=int, default=1, help="workspaces the jobs spread over (default 1)")
    parser.add_argument(
        "--max-job-hours",
        type=float,
        default=1000.0,
        help="cap on N × simulated hours; larger N get fewer hours (default 1000)",
    )
    parser.add_argument(
        "--variants", default="poll,sdk,events", help="comma-separated: poll, sdk, events (default all three)"
    )
    args = parser.parse_args(argv)
    try:
        args.ns = [int(x) for x in args.jobs.split(",") if x.strip()]
    except ValueError:
        parser.error("--jobs takes comma-separated integers")
    args.variant_keys = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not args.ns or min(args.ns) < 1 or args.hours <= 0 or args.channels < 1 or args.workspaces < 1:
        parser.error("--jobs, --hours, --channels and --workspaces must be positive")
    if not args.variant_keys or set(args.variant_keys) - set(LABELS):
        parser.error(f"--variants: choose from {', '.join(LABELS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "bench.watcher", *(sys.argv[1:] if argv is None else argv)])
    by_n: list[list[Result]] = []
    with tempfile.TemporaryDirectory(prefix="aml-bot-watcher-bench.") as tmp:
        for n in args.ns:
            hours = min(args.hours, args.max_job_hours / n)
            plan = make_plan(n, hours * 3600, args.seed, args.channels, args.workspaces)
            results = []
            for key in args.variant_keys:
                print(f"N={n}: {LABELS[key]} ({hours:g} h simulated)…", file=sys.stderr, flush=True)
                if key == SDK:
                    results.append(run_sdk(plan))
                else:
                    results.append(
                        run_amlbot(plan, events=key == EVENTS, event_delay=args.event_delay, workdir=Path(tmp))
                    )
            by_n.append(results)
    print(report(by_n, args, command), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
