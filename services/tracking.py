"""Use cases that tell a job's story in Slack: submit, rerun, watch, and pushed run events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from services.catalog import JobCatalog
from services.errors import ServiceError
from services.eventgrid import RunStatusEvent
from services.models import JobInfo, JobRequest, WorkspaceScope
from services.outbox import Outbox
from services.ports import Jobs
from services.store import Clock, SeenEvents, utc_now, watches
from services.watch import JobWatcher, RecordOutcome, WatchInfo

logger = logging.getLogger(__name__)

KIND_NOTE = "op.result"


@dataclass(frozen=True)
class Submitted:
    job: JobInfo
    watch: WatchInfo


class JobTracking:
    """Submit or follow jobs so that each gets one root message and its story in the thread."""

    def __init__(
        self,
        engine: Engine,
        jobs: Jobs,
        catalog: JobCatalog | None,
        watcher: JobWatcher,
        outbox: Outbox,
        *,
        clock: Clock = utc_now,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.jobs = jobs
        self.catalog = catalog
        self.watcher = watcher
        self.outbox = outbox
        self.clock = clock
        # Wakes the outbox delivery loop after a commit, so messages go out at once.
        self.on_enqueued = on_enqueued

    def submit(self, request: JobRequest, *, scope: WorkspaceScope | None = None) -> Submitted:
        """Check the request, post a placeholder, submit, then turn the placeholder into the job's root.

        Bad input raises before anything is posted; a submit the backend refuses edits the placeholder into
        the reason and leaves no watch behind.
        """
        if self.catalog is not None:
            template = self.catalog.get(request.template)
            self.catalog.validate_overrides(template, request.overrides)
        what = f"`{request.template}`"
        return self._tracked(
            request.request_id,
            request.channel,
            request.requested_by,
            what,
            scope,
            lambda: self.jobs.submit(request, scope=scope),
        )

    def rerun(
        self,
        name: str,
        *,
        request_id: str,
        requested_by: str,
        channel: str,
        overrides: Mapping[str, str],
        scope: WorkspaceScope | None = None,
    ) -> Submitted:
        def submit() -> JobInfo:
            return self.jobs.rerun(
                name,
                request_id=request_id,
                requested_by=requested_by,
                channel=channel,
                overrides=overrides,
                scope=scope,
            )

        return self._tracked(request_id, channel, requested_by, f"a rerun of `{name}`", scope, submit)

    def follow(self, name: str, *, channel: str, requested_by: str, scope: WorkspaceScope | None = None) -> Submitted:
        """Follow a job submitted elsewhere: its root message and thread appear in `channel`."""
        job = self.jobs.get(name, scope=scope)
        watch = self.watcher.watch(None, job, channel=channel, requested_by=requested_by, scope=scope)
        self.on_enqueued()
        return Submitted(job, watch)

    def _tracked(
        self,
        request_id: str,
        channel: str,
        requested_by: str,
        what: str,
        scope: WorkspaceScope | None,
        submit: Callable[[], JobInfo],
    ) -> Submitted:
        ref = f"op:{request_id}"
        with self.engine.begin() as conn:
            self.outbox.enqueue(
                conn,
                channel=channel,
                kind=KIND_NOTE,
                payload={"text": f":hourglass_flowing_sand: <@{requested_by}> is submitting {what}…"},
                dedupe_key=f"{ref}:placeholder",
                creates_ref=ref,
            )
        self.on_enqueued()
        try:
            job = submit()
        except ServiceError as err:
            with self.engine.begin() as conn:
                self.outbox.enqueue(
                    conn,
                    channel=channel,
                    kind=KIND_NOTE,
                    payload={"text": f":x: <@{requested_by}> could not submit {what}: {err}"},
                    dedupe_key=f"{ref}:failed",
                    updates_ref=ref,
                )
            self.on_enqueued()
            raise
        watch = self.watcher.watch(None, job, channel=channel, requested_by=requested_by, root_ref=ref, scope=scope)
        self.on_enqueued()
        return Submitted(job, watch)


def open_work(engine: Engine) -> dict[str, int]:
    """Messages not yet delivered and jobs still followed: what a shell or operator waits on."""
    with engine.connect() as conn:
        undelivered = Outbox.open_count(conn)
        followed = conn.execute(select(func.count()).where(watches.c.active.is_(True))).scalar_one()
    return {"undelivered_messages": undelivered, "followed_jobs": int(followed)}


class RunEventHandler:
    """Feeds Event Grid run events into the watcher's compare-and-set path, once per event id."""

    def __init__(self, engine: Engine, jobs: Jobs, watcher: JobWatcher, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.jobs = jobs
        self.watcher = watcher
        self.clock = clock

    def handle(self, event: RunStatusEvent) -> RecordOutcome | None:
        """Record the run's current state; None when this event id was handled before."""
        with self.engine.begin() as conn:
            if not SeenEvents.first_time(conn, event.event_id, now=self.clock()):
                return None
        watched, scope = self._watched_scope(event)
        if not watched:
            return RecordOutcome.NOT_WATCHED  # a job nobody asked the bot to follow: no read at all
        # The event says little (no times, error or metrics): read the job so the thread tells it fully.
        job = self.jobs.get(event.job_name, scope=scope)
        return self.watcher.record(job, source="event", scope=scope, observed_at=event.occurred_at)

    def _watched_scope(self, event: RunStatusEvent) -> tuple[bool, WorkspaceScope | None]:
        """Whether the job is watched, and under which scope: the event's workspace or the default (None)."""
        candidates: list[WorkspaceScope | None] = [event.scope] if event.scope.workspace else []
        for scope in [*candidates, None]:
            if self.watcher.get_watch(event.job_name, scope=scope) is not None:
                return True, scope
        return False, None
