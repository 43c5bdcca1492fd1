"""Following jobs: a watch row per job, swept in batches, each status change announced exactly once.

Reading statuses costs backend reads (ARM throttles, Azure ML lists are slow), so the sweep reads in batches:
for each workspace with due watches it makes ONE `jobs.list` call that covers every watched job in that
workspace (due or not), falls back to `jobs.get` for a due job missing from the listing, and uses a single
`get` when the workspace has only one watched job. Every job seen in a listing is rescheduled from it, so the
jobs of a workspace fall into step and one list call keeps serving all of them.

Service endpoints (JupyterLab, VS Code, TensorBoard) that get a URL while a job keeps its status are announced
from the same reads (Azure's list carries `services`, as get does): no extra backend read.

Restarts need nothing special: watches are rows, so a new JobWatcher on the same database carries on, and a
job that ended while the bot was down is announced (once) at the first sweep.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, Engine, select

from services.errors import NotFound, Throttled
from services.leader import NotLeader
from services.models import TAG_REQUEST, TAG_TEMPLATE, JobInfo, JobStatus, WorkspaceScope
from services.outbox import Outbox
from services.ports import Jobs
from services.store.clock import Clock, as_utc, utc_now
from services.store.repos import MessageRefs
from services.store.tables import outbox as outbox_table
from services.store.watching import TransitionRow, Watches, WatchRow, workspace_key
from services.transitions import (
    KIND_GONE,
    KIND_ROOT,
    EndDetails,
    Source,
    apply_services,
    apply_transition,
    is_newer_status,
    job_root_ref,
    message_key,
    new_services,
    root_payload,
    summarize_metrics,
)

log = logging.getLogger(__name__)

_WAITING = frozenset(
    {JobStatus.NOT_STARTED, JobStatus.STARTING, JobStatus.PROVISIONING, JobStatus.PREPARING, JobStatus.QUEUED}
)
_ENDING = frozenset({JobStatus.FINALIZING, JobStatus.CANCEL_REQUESTED})

Curve = tuple[tuple[float, float], ...]


def _on_curve(curve: Curve, x: float) -> float:
    """Piecewise-linear interpolation through (x, y) points; flat before the first and after the last."""
    xs = [p[0] for p in curve]
    i = bisect.bisect_right(xs, x)
    if i == 0:
        return curve[0][1]
    if i == len(curve):
        return curve[-1][1]
    (x0, y0), (x1, y1) = curve[i - 1], curve[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class IntervalPolicy:
    """Seconds until a watched job's status is read again.

    Per job, by status and time spent in it (what a job alone in its workspace gets):
    waiting (NotStarted…Queued) 10 s for 2 min, rising to 60 s at 20 min; Running 10 s for 5 min, 15 s at
    15 min, 60 s at 1 h, 240 s from 3 h; Finalizing / CancelRequested 10 s; NotResponding, Paused, Unknown
    30 s rising to 300 s at 1 h; terminal: never.

    Batched: one list call reads every watched job of a workspace, so a workspace with n watched jobs can
    afford a list every P(n) = 3600 / (n × status_reads_per_job_hour) s. When P(n) ≤ `steady_period_max`
    (n ≥ 80 with the defaults) every job of that workspace is read every max(P(n), min_interval) s, whatever
    its age: at 100 jobs that is a list every 12 s = 3.0 status reads per job-hour, and a change is seen after
    6 s on average, ≤ 12 s. Below that, each job keeps its own interval, capped at P(n) (idle budget buys
    latency for old jobs). The budget leaves room for the reads a job's end costs (metrics; details when a
    listing lacks them; the log tail of a failure).
    """

    min_interval: float = 10.0
    waiting: Curve = ((0.0, 10.0), (120.0, 10.0), (1200.0, 60.0))
    running: Curve = ((0.0, 10.0), (300.0, 10.0), (900.0, 15.0), (3600.0, 60.0), (10800.0, 240.0))
    ending: Curve = ((0.0, 10.0),)
    other: Curve = ((0.0, 30.0), (600.0, 60.0), (3600.0, 300.0))
    status_reads_per_job_hour: float = 3.0
    steady_period_max: float = 15.0
    error_backoff: Curve = ((1.0, 15.0), (2.0, 30.0), (3.0, 60.0), (4.0, 120.0), (5.0, 300.0))

    def interval(self, status: JobStatus | None, in_status: float) -> float | None:
        """Seconds to the next read of a job on its own; None when it needs no more reads (terminal)."""
        if status is not None and status.is_terminal:
            return None
        if status in _WAITING:
            curve = self.waiting
        elif status is JobStatus.RUNNING:
            curve = self.running
        elif status in _ENDING:
            curve = self.ending
        else:
            curve = self.other
        return max(self.min_interval, _on_curve(curve, max(0.0, in_status)))

    def affordable(self, jobs_in_workspace: int) -> float:
        """P(n): the list period the status-read budget allows a workspace with that many watched jobs."""
        if jobs_in_workspace <= 0 or self.status_reads_per_job_hour <= 0:
            return float("inf")
        return 3600.0 / (jobs_in_workspace * self.status_reads_per_job_hour)

    def next_check(self, status: JobStatus | None, in_status: float, *, listed_with: int = 1) -> float:
        """Seconds to the next read of a job last read alone (listed_with=1) or in a listing of that many."""
        own = self.interval(status, in_status)
        if own is None:
            return 0.0
        if listed_with <= 1:
            return own
        period = self.affordable(listed_with)
        if period <= self.steady_period_max:
            return max(self.min_interval, period)
        return max(self.min_interval, min(own, period))

    def backoff(self, failures: int) -> float:
        return _on_curve(self.error_backoff, float(failures))


# With Event Grid pushing changes, the poll is only the safety net: a smaller status budget leaves room for
# the read each pushed event costs (the event handler reads the job to tell its story fully).
PUSHED_POLICY = IntervalPolicy(status_reads_per_job_hour=2.0, steady_period_max=30.0)


class RecordOutcome(StrEnum):
    ANNOUNCED = "announced"  # this call recorded the transition and enqueued its messages
    UNCHANGED = "unchanged"  # the watch already has this status (perhaps just recorded by someone else)
    SERVICES = "services"  # same status, and this call announced newly available service endpoints
    STALE = "stale"  # an older observation than the one the watch holds
    INACTIVE = "inactive"  # the watch has ended (terminal status recorded, or unwatched)
    NOT_WATCHED = "not_watched"


@dataclass(frozen=True)
class WatchInfo:
    id: int
    job_name: str
    workspace_key: str
    channel: str
    root_ref: str
    created: bool  # False: the job was already watched (nothing was added)
    active: bool


@dataclass
class SweepReport:
    due: int = 0
    list_calls: int = 0
    get_calls: int = 0
    metrics_calls: int = 0
    log_calls: int = 0
    transitions: int = 0
    unchanged: int = 0  # read without a status change (including those that announced services)
    services: int = 0  # announcements of newly available service endpoints
    stale: int = 0
    gone: int = 0
    errors: list[str] = field(default_factory=list)
    next_check_at: datetime | None = None

    @property
    def reads(self) -> int:
        return self.list_calls + self.get_calls + self.metrics_calls + self.log_calls


class JobWatcher:
    """Watches jobs; safe to use from several threads and replicas over the same database."""

    def __init__(
        self,
        engine: Engine,
        backend_jobs: Jobs,
        outbox: Outbox,
        clock: Clock = utc_now,
        *,
        policy: IntervalPolicy | None = None,
        max_batch: int = 1000,
        claim_seconds: float = 30.0,
        list_limit: int = 100,
        max_list_limit: int = 2000,
        list_tag: str | None = TAG_REQUEST,
        max_not_found: int = 3,
        log_tail_lines: int = 40,
    ) -> None:
        self.engine = engine
        self.jobs = backend_jobs
        self.outbox = outbox
        self.clock = clock
        self.policy = policy or IntervalPolicy()
        self.max_batch = max_batch
        self.claim = timedelta(seconds=claim_seconds)
        self.list_limit = list_limit
        self.max_list_limit = max_list_limit
        self._list_depth: dict[str, int] = {}  # per workspace: how deep the last listing had to go
        self.list_tag = list_tag
        self.max_not_found = max_not_found
        self.log_tail_lines = log_tail_lines

    # ---------------------------------------------------------------- watching

    def watch(
        self,
        conn: Connection | None,
        job: JobInfo,
        *,
        channel: str,
        requested_by: str | None,
        root_ref: str | None = None,
        scope: WorkspaceScope | None = None,
    ) -> WatchInfo:
        """Follow `job` (call once the backend accepted it); idempotent per job name and workspace.

        Adds the watch and the "job.root" outbox row in `conn`'s transaction (or its own when None), so a
        submit that fails before this leaves nothing behind, and one that commits always gets its story.
        `root_ref`: the message that becomes the job's root. If a message with that ref exists or is queued
        (e.g. a "submitting…" placeholder), it is edited into the root; otherwise the root is posted and gets
        that ref. Default: `job_root_ref(job.name, scope)`.
        """
        if conn is None:
            with self.engine.begin() as own:
                return self._watch(own, job, channel, requested_by, root_ref, scope)
        return self._watch(conn, job, channel, requested_by, root_ref, scope)

    def _watch(
        self,
        conn: Connection,
        job: JobInfo,
        channel: str,
        requested_by: str | None,
        root_ref: str | None,
        scope: WorkspaceScope | None,
    ) -> WatchInfo:
        now = self.clock()
        key = workspace_key(scope)
        ref = root_ref or job_root_ref(job.name, scope)
        scope = scope or WorkspaceScope()
        terminal = job.status.is_terminal
        template = job.template or job.tags.get(TAG_TEMPLATE)
        next_check = now + timedelta(seconds=self.policy.next_check(job.status, 0.0))
        if terminal:
            next_check = now
        else:
            # fall in step with the workspace's next list call, so the new job does not cost a read of its own
            shared = Watches.next_check_in(conn, key)
            if shared is not None and now < shared < next_check:
                next_check = shared
        inserted = Watches.insert(
            conn,
            {
                "workspace_key": key,
                "job_name": job.name,
                "subscription_id": scope.subscription_id,
                "resource_group": scope.resource_group,
                "workspace": scope.workspace,
                "channel": channel,
                "requested_by": requested_by,
                "template": template,
                "root_ref": ref,
                # A job that is already over is recorded by the first sweep (status NULL → terminal), so its
                # summary comes from the same code path as every other.
                "last_status": None if terminal else job.status.value,
                "version": 0,
                "status_since": None if terminal else now,
                "status_observed_at": None if terminal else now,
                "last_seen_at": now,
                "next_check_at": next_check,
                "check_failures": 0,
                "created_at": now,
                "active": True,
            },
        )
        watch = Watches.by_job(conn, key, job.name)
        assert watch is not None
        info = WatchInfo(watch.id, job.name, key, watch.channel, watch.root_ref, inserted, watch.active)
        if not inserted:
            return info
        if not terminal:
            Watches.add_transition(conn, TransitionRow(watch.id, 0, None, job.status.value, now, now, "watch"))
        edit_existing = MessageRefs.get(conn, ref) is not None or (
            conn.execute(select(outbox_table.c.id).where(outbox_table.c.creates_ref == ref).limit(1)).first()
            is not None
        )
        self.outbox.enqueue(
            conn,
            channel=channel,
            kind=KIND_ROOT,
            payload=root_payload(job, requested_by=requested_by, template=template, ended=False),
            dedupe_key=f"{message_key(watch)}:root",
            creates_ref=None if edit_existing else ref,
            updates_ref=ref if edit_existing else None,
        )
        return info

    def unwatch(self, job_name: str, *, scope: WorkspaceScope | None = None) -> bool:
        """Stop following a job without announcing anything; False when it was not being followed."""
        with self.engine.begin() as conn:
            watch = Watches.by_job(conn, workspace_key(scope), job_name)
            return watch is not None and Watches.deactivate(conn, watch.id, now=self.clock())

    def get_watch(self, job_name: str, *, scope: WorkspaceScope | None = None) -> WatchRow | None:
        with self.engine.connect() as conn:
            return Watches.by_job(conn, workspace_key(scope), job_name)

    def next_check_at(self) -> datetime | None:
        with self.engine.connect() as conn:
            return Watches.next_check_at(conn)

    # ---------------------------------------------------------------- recording

    def record(
        self,
        job: JobInfo,
        source: Source = "event",
        *,
        scope: WorkspaceScope | None = None,
        observed_at: datetime | None = None,
    ) -> RecordOutcome:
        """Apply an observed status (a poll, or an Event Grid push) through the compare-and-set path.

        `scope` None matches the job by name among active watches (events carry the run id, not always the
        workspace). `observed_at` (default now): when the status was true, e.g. the event's time; an older
        observation than the watch's current one is ignored unless it is terminal.
        """
        observed_at = as_utc(observed_at) if observed_at else self.clock()
        with self.engine.connect() as conn:
            if scope is not None:
                found = Watches.by_job(conn, workspace_key(scope), job.name)
                candidates = [found] if found else []
            else:
                candidates = Watches.by_name(conn, job.name)
        if not candidates:
            return RecordOutcome.NOT_WATCHED
        active = [w for w in candidates if w.active]
        if not active:
            return RecordOutcome.INACTIVE
        if len(active) > 1:
            log.warning("job %s is watched in %d workspaces; pass scope to record()", job.name, len(active))
            return RecordOutcome.NOT_WATCHED
        return self._observe(active[0], job, source, observed_at, listed_with=1, report=None)

    def _observe(
        self,
        watch: WatchRow,
        job: JobInfo,
        source: Source,
        observed_at: datetime,
        *,
        listed_with: int,
        report: SweepReport | None,
    ) -> RecordOutcome:
        end: EndDetails | None = None
        for attempt in range(10):
            if attempt:
                with self.engine.connect() as conn:
                    fresh = Watches.get(conn, watch.id)
                if fresh is None:
                    return RecordOutcome.NOT_WATCHED
                watch = fresh
            if not watch.active:
                return RecordOutcome.INACTIVE
            # "Unknown" says nothing about the job (an unparsable or missing status): not worth a message
            if job.status is JobStatus.UNKNOWN:
                return RecordOutcome.UNCHANGED
            if watch.last_status == job.status.value:
                if new_services(watch, job) is None:
                    return RecordOutcome.UNCHANGED
                with self.engine.begin() as conn:
                    announced = apply_services(conn, self.outbox, watch, job, now=self.clock())
                if announced is not None:
                    log.info("job %s: services %s (%s)", job.name, [s.name for s in announced.endpoints], source)
                    return RecordOutcome.SERVICES
                continue  # another recorder changed the watch: re-read and decide again
            if not is_newer_status(watch, job.status, observed_at):
                return RecordOutcome.STALE
            if job.status.is_terminal and end is None:
                job, end = self._end_details(watch, job, report)
            now = self.clock()
            next_check = now + timedelta(seconds=self.policy.next_check(job.status, 0.0, listed_with=listed_with))
            with self.engine.begin() as conn:
                won = apply_transition(
                    conn,
                    self.outbox,
                    watch,
                    job,
                    source=source,
                    observed_at=observed_at,
                    now=now,
                    next_check_at=next_check,
                    end=end,
                )
            if won:
                log.info("job %s: %s → %s (%s)", job.name, watch.last_status, job.status.value, source)
                return RecordOutcome.ANNOUNCED
        log.warning("job %s: gave up recording %s after repeated lost races", job.name, job.status.value)
        return RecordOutcome.UNCHANGED

    def _end_details(self, watch: WatchRow, job: JobInfo, report: SweepReport | None) -> tuple[JobInfo, EndDetails]:
        """Read what the summary needs (outside any transaction): full details when the observation lacks
        them (list results carry no run history), metrics, and the log tail of a failed job."""
        scope = watch.scope
        if job.ended_at is None or (job.status is JobStatus.FAILED and not job.error):
            try:
                if report is not None:
                    report.get_calls += 1
                full = self.jobs.get(job.name, scope=scope)
                if full.status is job.status:
                    job = full
            except Exception as err:
                log.warning("job %s: details unavailable for its summary: %s", job.name, err)
        metrics = metrics_error = tail = None
        try:
            if report is not None:
                report.metrics_calls += 1
            metrics = summarize_metrics(self.jobs.metrics(job.name, scope=scope))
        except Exception as err:
            metrics_error = str(err) or type(err).__name__
            log.warning("job %s: metrics unavailable: %s", job.name, metrics_error)
        if job.status is JobStatus.FAILED:
            try:
                if report is not None:
                    report.log_calls += 1
                tail = self.jobs.log_tail(job.name, lines=self.log_tail_lines, scope=scope)
            except Exception as err:
                log.warning("job %s: log tail unavailable: %s", job.name, err)
        return job, EndDetails(metrics=metrics, metrics_error=metrics_error, log_tail=tail)

    # ---------------------------------------------------------------- sweeping

    def sweep(self) -> SweepReport:
        """Read the statuses of due watches (batched per workspace) and record what changed."""
        report = SweepReport()
        now = self.clock()
        by_ws: dict[str, list[WatchRow]] = {}
        with self.engine.begin() as conn:
            due = Watches.claim_due(conn, now=now, limit=self.max_batch, hold_until=now + self.claim)
            for watch in due:
                by_ws.setdefault(watch.workspace_key, []).append(watch)
            # every active watch of those workspaces: one listing serves them all
            active = Watches.active_in(conn, by_ws) if due else []
            if not due:
                report.next_check_at = Watches.next_check_at(conn)
        report.due = len(due)
        if due:
            active_by_ws: dict[str, list[WatchRow]] = {}
            for watch in active:
                active_by_ws.setdefault(watch.workspace_key, []).append(watch)
            for key, due_here in by_ws.items():
                here = active_by_ws.get(key, [])
                try:
                    if len(due_here) >= 2 or len(here) >= 2:
                        self._sweep_listing(due_here, here, report)
                    else:
                        self._sweep_gets(due_here, report)
                except Exception as err:  # one workspace's trouble must not stop the others
                    log.exception("sweep of workspace %r failed", key)
                    report.errors.append(f"{key}: {err!r}")
                    self._backoff(due_here, err)
            report.next_check_at = self.next_check_at()
        return report

    def _sweep_listing(self, due: Sequence[WatchRow], active: Sequence[WatchRow], report: SweepReport) -> None:
        key, scope = due[0].workspace_key, due[0].scope
        started = self.clock()
        # Listings are newest first and include finished jobs: ask for as many as it took last time to reach
        # the oldest watched job (doubling after a listing that fell short), at least twice the watched ones.
        limit = max(self.list_limit, 2 * len(active), self._list_depth.get(key, 0))
        report.list_calls += 1
        try:
            listing = self.jobs.list(tag=self.list_tag, scope=scope, limit=limit)
        except Exception as err:
            report.errors.append(f"list {key}: {err}")
            self._backoff(due, err)
            return
        position = {job.name: i for i, job in enumerate(listing)}
        due_ids = {w.id for w in due}
        missing = []
        touches: list[tuple[int, datetime, datetime]] = []
        for watch in active:
            at = position.get(watch.job_name)
            if at is None:
                if watch.id in due_ids:
                    missing.append(watch)
                continue
            self._seen(watch, listing[at], started, len(active), report, touches)
        deepest = max((position[w.job_name] + 1 for w in active if w.job_name in position), default=0)
        if missing and len(listing) >= limit:
            self._list_depth[key] = min(self.max_list_limit, 2 * limit)
        else:
            self._list_depth[key] = min(self.max_list_limit, deepest + deepest // 2)
        if missing:
            self._sweep_gets(missing, report, touches)
        self._touch(touches)

    def _sweep_gets(
        self,
        due: Sequence[WatchRow],
        report: SweepReport,
        touches: list[tuple[int, datetime, datetime]] | None = None,
    ) -> None:
        own = touches is None
        touches = [] if touches is None else touches
        for watch in due:
            started = self.clock()
            report.get_calls += 1
            try:
                job = self.jobs.get(watch.job_name, scope=watch.scope)
            except NotFound as err:
                self._not_found(watch, err, report)
                continue
            except Exception as err:
                report.errors.append(f"get {watch.job_name}: {err}")
                self._backoff([watch], err)
                continue
            self._seen(watch, job, started, 1, report, touches)
        if own:
            self._touch(touches)

    def _seen(
        self,
        watch: WatchRow,
        job: JobInfo,
        observed_at: datetime,
        listed_with: int,
        report: SweepReport,
        touches: list[tuple[int, datetime, datetime]],
    ) -> None:
        outcome = RecordOutcome.UNCHANGED
        if watch.last_status != job.status.value or new_services(watch, job) is not None:
            try:
                outcome = self._observe(watch, job, "poll", observed_at, listed_with=listed_with, report=report)
            except Exception as err:
                log.exception("job %s: recording %s failed", job.name, job.status.value)
                report.errors.append(f"record {job.name}: {err!r}")
                self._backoff([watch], err)
                return
        if outcome is RecordOutcome.ANNOUNCED:
            report.transitions += 1
        elif outcome is RecordOutcome.STALE:
            report.stale += 1
        elif outcome in (RecordOutcome.UNCHANGED, RecordOutcome.SERVICES):
            if outcome is RecordOutcome.SERVICES:
                report.services += 1
            report.unchanged += 1
            now = self.clock()
            since = watch.status_since or watch.created_at
            status = watch.status or job.status
            interval = self.policy.next_check(status, (now - since).total_seconds(), listed_with=listed_with)
            touches.append((watch.id, now, now + timedelta(seconds=interval)))

    def _touch(self, touches: list[tuple[int, datetime, datetime]]) -> None:
        if touches:
            with self.engine.begin() as conn:
                Watches.touch_many(conn, touches)

    def _backoff(self, watches: Sequence[WatchRow], err: Exception) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            for watch in watches:
                delay = self.policy.backoff(watch.check_failures + 1)
                if isinstance(err, Throttled) and err.retry_after:
                    delay = max(delay, err.retry_after)
                Watches.failed_check(conn, watch.id, error=str(err), next_check_at=now + timedelta(seconds=delay))

    def _not_found(self, watch: WatchRow, err: NotFound, report: SweepReport) -> None:
        """A watched job the backend no longer knows: retry a few times (eventual consistency), then say so
        in its thread and stop watching."""
        now = self.clock()
        delay = self.policy.backoff(watch.check_failures + 1)
        with self.engine.begin() as conn:
            failures = Watches.failed_check(
                conn, watch.id, error=str(err), next_check_at=now + timedelta(seconds=delay)
            )
            if failures < self.max_not_found or not Watches.deactivate(conn, watch.id, now=now, error=str(err)):
                return
            self.outbox.enqueue(
                conn,
                channel=watch.channel,
                kind=KIND_GONE,
                payload={"job_name": watch.job_name, "reason": str(err), "last_status": watch.last_status},
                dedupe_key=f"{message_key(watch)}:gone",
                thread_ref=watch.root_ref,
            )
        report.gone += 1

    # ---------------------------------------------------------------- loop

    def run(self, stop: threading.Event, *, idle_seconds: float = 2.0) -> None:
        """Sweep until `stop` is set (the bot runs this in the leader's thread)."""
        while not stop.is_set():
            wait = idle_seconds
            try:
                report = self.sweep()
            except NotLeader:
                log.info("watch sweep stopped: this process no longer leads")
            except Exception:
                log.exception("watch sweep failed")
            else:
                if report.next_check_at is not None:
                    wait = min(max((report.next_check_at - self.clock()).total_seconds(), 0.05), idle_seconds)
            stop.wait(wait)
