"""Recording a job's status transition exactly once, and the messages that tell it.

`apply_transition` is the only writer of a watch's status. In ONE transaction it
1. compare-and-sets the watch (`UPDATE watches … WHERE id = :id AND version = :seen AND last_status = :seen …`),
2. only if that won: inserts the transition row (UNIQUE(watch_id, seq) backs the CAS up) and enqueues the
   root-message update, the thread reply, a "job.services" reply when service endpoints appeared and, on a
   terminal status, the summary and, when the job logged metrics, its chart (each with a unique dedupe key,
   a third guard).
A recorder that loses the CAS changed nothing; it re-reads and decides again. Poll and push (Event Grid)
both come through here, so a status seen by both, by two threads or by two replicas is announced once.

Service endpoints (JupyterLab, VS Code, TensorBoard) get a URL some time after a job starts running.
`apply_services` announces the ones not announced yet, the same way: a CAS of `watches.services_announced`
(the endpoints announced so far), then a root update (the root lists the links) and a "job.services" reply
with the new links. A transition that sees new endpoints announces them in its own transaction. Terminal jobs
announce none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from services.chart_delivery import KIND_CHART, chart_payload
from services.models import TAG_TEMPLATE, JobInfo, JobStatus, MetricPoint, ServiceEndpoint, WorkspaceScope
from services.outbox import Outbox, jsonable
from services.store.watching import TransitionRow, Watches, WatchRow, workspace_key

Source = Literal["poll", "event", "watch"]

KIND_ROOT = "job.root"
KIND_TRANSITION = "job.transition"
KIND_SUMMARY = "job.summary"
KIND_GONE = "job.gone"
KIND_SERVICES = "job.services"

MAX_METRICS = 25
MAX_LOG_TAIL_CHARS = 4000


def job_ref(job_name: str, scope: WorkspaceScope | None = None) -> str:
    """The message key naming a job's messages: `job:<name>@<8 hex of the workspace>`."""
    digest = hashlib.sha1(workspace_key(scope).encode()).hexdigest()[:8]
    return f"job:{job_name}@{digest}"


def job_root_ref(job_name: str, scope: WorkspaceScope | None = None) -> str:
    """The default message_refs key of a job's root message (resolvable once the root post is delivered)."""
    return f"{job_ref(job_name, scope)}:root"


def message_key(watch: WatchRow) -> str:
    """Prefix of the dedupe keys of a watch's messages (the watch id keeps a re-created watch's apart)."""
    return f"job:{watch.job_name}:w{watch.id}"


# ------------------------------------------------------------------------------------------------ payloads


def job_payload(job: JobInfo) -> dict[str, Any]:
    """JobInfo as JSON (the renderer reads these names)."""
    return {
        "name": job.name,
        "display_name": job.display_name,
        "status": job.status.value,
        "compute": job.compute,
        "experiment": job.experiment,
        "created_by": job.created_by,
        "created_at": jsonable(job.created_at),
        "started_at": jsonable(job.started_at),
        "ended_at": jsonable(job.ended_at),
        "studio_url": job.studio_url,
        "services": [{"name": s.name, "kind": s.kind, "url": s.url, "status": s.status} for s in job.services],
        "error": job.error,
        "tags": dict(job.tags),
        "output_uri": job.output_uri,
        "template": job.template,
    }


def root_payload(job: JobInfo, *, requested_by: str | None, template: str | None, ended: bool) -> dict[str, Any]:
    return {
        "job": job_payload(job),
        "requested_by": requested_by,
        "template": template or job.template or job.tags.get(TAG_TEMPLATE),
        "ended": ended,
    }


def summarize_metrics(points: Iterable[MetricPoint]) -> dict[str, dict[str, float | int]]:
    """Per metric key: last value (highest step, then latest), min, max and the number of points."""
    by_key: dict[str, list[MetricPoint]] = {}
    for point in points:
        by_key.setdefault(point.key, []).append(point)
    summary: dict[str, dict[str, float | int]] = {}
    for key in sorted(by_key)[:MAX_METRICS]:
        series = by_key[key]
        last = max(series, key=lambda p: (p.step, p.timestamp.timestamp() if p.timestamp else 0.0))
        values = [p.value for p in series]
        summary[key] = {"last": last.value, "min": min(values), "max": max(values), "points": len(values)}
    return summary


@dataclass(frozen=True)
class EndDetails:
    """What the summary of a finished job needs beyond its JobInfo (read before the transaction)."""

    metrics: Mapping[str, Mapping[str, float | int]] | None = None
    metrics_error: str | None = None
    log_tail: str | None = None


def duration_seconds(job: JobInfo, fallback_end: datetime) -> float | None:
    start = job.started_at or job.created_at
    if start is None:
        return None
    return max(0.0, ((job.ended_at or fallback_end) - start).total_seconds())


def summary_payload(job: JobInfo, watch: WatchRow, details: EndDetails, *, now: datetime) -> dict[str, Any]:
    tail = details.log_tail
    if tail and len(tail) > MAX_LOG_TAIL_CHARS:
        tail = "…" + tail[-MAX_LOG_TAIL_CHARS:]
    return {
        "job_name": job.name,
        "display_name": job.display_name,
        "status": job.status.value,
        "requested_by": watch.requested_by,
        "template": watch.template or job.template,
        "duration_seconds": duration_seconds(job, now),
        "started_at": jsonable(job.started_at or job.created_at),
        "ended_at": jsonable(job.ended_at or now),
        "compute": job.compute,
        "metrics": dict(details.metrics or {}),
        "metrics_error": details.metrics_error,
        "output_uri": job.output_uri,
        "error": job.error,
        "log_tail": tail,
        "studio_url": job.studio_url,
    }


def transition_payload(
    job: JobInfo, watch: WatchRow, *, seq: int, source: Source, observed_at: datetime
) -> dict[str, Any]:
    return {
        "job_name": job.name,
        "display_name": job.display_name,
        "from_status": watch.last_status,
        "to_status": job.status.value,
        "seq": seq,
        "source": source,
        "observed_at": jsonable(observed_at),
        "studio_url": job.studio_url,
    }


# ------------------------------------------------------------------------------------------------ services


@dataclass(frozen=True)
class NewServices:
    """Service endpoints a job shows that its watch has not announced yet."""

    endpoints: tuple[ServiceEndpoint, ...]
    announced: str  # the watch's `services_announced` once these are announced too

    @property
    def digest(self) -> str:
        """Names the announcement (the set announced so far only grows, so each one differs)."""
        return hashlib.sha1(self.announced.encode()).hexdigest()[:12]


def _announced_pairs(text: str | None) -> set[tuple[str, str]]:
    if not text:
        return set()
    try:
        return {(str(name), str(url)) for name, url in json.loads(text)}
    except (ValueError, TypeError):  # not ours: announce again rather than fail the sweep
        return set()


def new_services(watch: WatchRow, job: JobInfo) -> NewServices | None:
    """The endpoints with a URL that `watch` has not announced (an endpoint is its name and URL: a URL that
    changes is a new link); None when there are none, or the job is over."""
    if job.status.is_terminal:
        return None
    seen = _announced_pairs(watch.services_announced)
    fresh: dict[tuple[str, str], ServiceEndpoint] = {}
    for service in job.services:
        if service.url and (service.name, service.url) not in seen:
            fresh.setdefault((service.name, service.url), service)
    if not fresh:
        return None
    announced = json.dumps(sorted(seen | set(fresh)), separators=(",", ":"))
    return NewServices(tuple(fresh[pair] for pair in sorted(fresh)), announced)


def services_payload(job: JobInfo, endpoints: Iterable[ServiceEndpoint]) -> dict[str, Any]:
    return {
        "job_name": job.name,
        "display_name": job.display_name,
        "status": job.status.value,
        "services": [{"name": s.name, "kind": s.kind, "url": s.url, "status": s.status} for s in endpoints],
        "studio_url": job.studio_url,
    }


def _enqueue_services_reply(conn: Connection, outbox: Outbox, watch: WatchRow, job: JobInfo, new: NewServices) -> None:
    outbox.enqueue(
        conn,
        channel=watch.channel,
        kind=KIND_SERVICES,
        payload=services_payload(job, new.endpoints),
        dedupe_key=f"{message_key(watch)}:links@{new.digest}",
        thread_ref=watch.root_ref,
    )


def apply_services(
    conn: Connection, outbox: Outbox, watch: WatchRow, job: JobInfo, *, now: datetime
) -> NewServices | None:
    """Announce the endpoints of `job` that `watch` (as read) has not announced: what was announced, or None
    when there was nothing new or another recorder changed the watch first (re-read and decide again).

    Only for a job whose status the watch already holds (a changed status goes through `apply_transition`).
    Call inside a transaction: the CAS, the root update and the reply commit or roll back together.
    """
    new = new_services(watch, job)
    if new is None or not watch.active or watch.last_status != job.status.value:
        return None
    if not Watches.set_services_announced(conn, watch, new.announced, now=now):
        return None
    outbox.enqueue(
        conn,
        channel=watch.channel,
        kind=KIND_ROOT,
        payload=root_payload(job, requested_by=watch.requested_by, template=watch.template, ended=False),
        dedupe_key=f"{message_key(watch)}:root@links-{new.digest}",
        updates_ref=watch.root_ref,
    )
    _enqueue_services_reply(conn, outbox, watch, job, new)
    return new


# ------------------------------------------------------------------------------------------------ recording


def apply_transition(
    conn: Connection,
    outbox: Outbox,
    watch: WatchRow,
    job: JobInfo,
    *,
    source: Source,
    observed_at: datetime,
    now: datetime,
    next_check_at: datetime,
    end: EndDetails | None = None,
) -> bool:
    """Record `watch` (as read, at its version) moving to `job.status`; False when another recorder won.

    Call inside a transaction: the CAS, the transition row and the outbox rows commit or roll back together.
    """
    status = job.status
    terminal = status.is_terminal
    values: dict[str, Any] = {
        "last_status": status.value,
        "status_since": now,
        "status_observed_at": observed_at,
        "last_seen_at": now,
        "next_check_at": now if terminal else next_check_at,
        "check_failures": 0,
        "last_error": None,
    }
    if terminal:
        values.update(active=False, ended_at=now)
    services = new_services(watch, job)  # None when terminal
    if services is not None:
        values["services_announced"] = services.announced
    if not Watches.compare_and_set(conn, watch, values):
        return False
    seq = watch.version + 1
    Watches.add_transition(
        conn, TransitionRow(watch.id, seq, watch.last_status, status.value, observed_at, now, source)
    )
    key = message_key(watch)
    outbox.enqueue(
        conn,
        channel=watch.channel,
        kind=KIND_ROOT,
        payload=root_payload(job, requested_by=watch.requested_by, template=watch.template, ended=terminal),
        dedupe_key=f"{key}:root@{seq}",
        updates_ref=watch.root_ref,
    )
    outbox.enqueue(
        conn,
        channel=watch.channel,
        kind=KIND_TRANSITION,
        payload=transition_payload(job, watch, seq=seq, source=source, observed_at=observed_at),
        dedupe_key=f"{key}:t{seq}",
        thread_ref=watch.root_ref,
    )
    if services is not None:  # the root update above already lists them
        _enqueue_services_reply(conn, outbox, watch, job, services)
    if terminal:
        outbox.enqueue(
            conn,
            channel=watch.channel,
            kind=KIND_SUMMARY,
            payload=summary_payload(job, watch, end or EndDetails(), now=now),
            dedupe_key=f"{key}:summary",
            thread_ref=watch.root_ref,
        )
        if end is not None and end.metrics:  # drawn from the backend's metrics when delivered
            outbox.enqueue(
                conn,
                channel=watch.channel,
                kind=KIND_CHART,
                payload=chart_payload(job, watch.scope),
                dedupe_key=f"{key}:chart",
                thread_ref=watch.root_ref,
            )
    return True


def is_newer_status(watch: WatchRow, status: JobStatus, observed_at: datetime) -> bool:
    """Whether an observation may change the watch: a terminal status always may (it is final); any other
    must not be older than the observation that set the current status (late events, slow reads)."""
    if status.is_terminal or watch.status_observed_at is None:
        return True
    return observed_at >= watch.status_observed_at
