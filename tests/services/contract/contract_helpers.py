"""Port-level helpers for the contract suite (nothing here knows which backend it talks to)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from services.errors import ServiceError
from services.models import JobInfo, JobRequest, JobStatus
from services.ports import CloudBackend

TEMPLATE = "contract"
DECLARED_INPUTS = ("word", "epochs", "seconds")


def job_request(**kwargs: object) -> JobRequest:
    values: dict[str, object] = {
        "template": TEMPLATE,
        "request_id": f"req-{uuid.uuid4().hex[:12]}",
        "requested_by": "U012AB3CD",
        "channel": "C0TRAIN",
    }
    values.update(kwargs)
    return JobRequest(**values)  # type: ignore[arg-type]


def watch(backend: CloudBackend, name: str, *, timeout: float = 20) -> list[JobInfo]:
    """Poll a job the way the watcher does until it finishes; every JobInfo seen, the finished one last."""
    seen = [backend.jobs.get(name)]
    deadline = time.monotonic() + timeout
    while not seen[-1].status.is_terminal:
        if time.monotonic() > deadline:
            statuses = [i.status.value for i in seen]
            raise AssertionError(f"{name} did not finish within {timeout} s (seen {statuses})")
        time.sleep(0.05)
        seen.append(backend.jobs.get(name))
    return seen


def completed_job(backend: CloudBackend, **overrides: str) -> JobInfo:
    """A job of the contract template that ran to Completed (quickly: no sleep unless asked)."""
    info = backend.jobs.submit(job_request(overrides={"seconds": "0", **overrides}))
    final = watch(backend, info.name)[-1]
    assert final.status is JobStatus.COMPLETED, final
    return final


def outcome(call: Callable[[], object]) -> str:
    """What a call did, comparable across backends: `returned <type>` or `raised <ServiceError subclass>`."""
    try:
        result = call()
    except ServiceError as err:
        return f"raised {type(err).__name__}"
    return f"returned {type(result).__name__}"
