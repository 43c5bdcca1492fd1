"""Azure ML job entities (and their run-history details) as the bot's JobInfo."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from services.cloud.azure.errors import redact
from services.cloud.azure.storage import text
from services.models import TAG_TEMPLATE, JobInfo, JobStatus, ServiceEndpoint

log = logging.getLogger(__name__)

# Entity service type → the kind the bot speaks of; other services (Studio, Tracking, SSH) are not listed.
SERVICE_KINDS = {"jupyter_lab": "jupyter", "vs_code": "vscode", "tensor_board": "tensorboard"}
# Before these are over there is no run-history record worth reading (no start time, no logs).
_NOT_RUNNING_YET = frozenset(
    {JobStatus.NOT_STARTED, JobStatus.STARTING, JobStatus.PROVISIONING, JobStatus.PREPARING, JobStatus.QUEUED}
)


def output_uri(job_name: str) -> str:
    """Where a job's artifacts live (the prefix that model registration extends)."""
    return f"azureml://jobs/{job_name}/outputs/artifacts/paths/"


def _service_endpoints(services: Any) -> tuple[ServiceEndpoint, ...]:
    endpoints = []
    for name, service in sorted((services or {}).items()):
        kind = SERVICE_KINDS.get(str(getattr(service, "type", "") or ""))
        if kind is None:
            continue
        endpoints.append(
            ServiceEndpoint(
                name=str(name),
                kind=kind,
                url=getattr(service, "endpoint", None),
                status=getattr(service, "status", None),
            )
        )
    return tuple(endpoints)


def needs_details(status: JobStatus) -> bool:
    return status not in _NOT_RUNNING_YET


def run_details(ml_client: Any, name: str) -> Any | None:
    """Run-history details (start/end times, error, log files); None when they cannot be read.

    Best effort: the job's own record already answered, and the watcher must not fail on this extra read.
    """
    from azure.core.exceptions import AzureError

    try:
        return ml_client.jobs._runs_operations.get_run_details(name)
    except AzureError as exc:
        log.info("Run history for job %s is unavailable: %s", name, redact(str(exc).splitlines()[0]))
        return None


def details_error(details: Any) -> str | None:
    root = getattr(getattr(details, "error", None), "error", None)
    if root is None:
        return None
    code, message = getattr(root, "code", None), getattr(root, "message", None)
    shown = f"{code}: {message}" if code and message else (message or code)
    return redact(str(shown)) if shown else None


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def job_info(job: Any, details: Any | None = None) -> JobInfo:
    """JobInfo from an azure.ai.ml Job entity plus, when given, its run-history details."""
    status = JobStatus.parse(text(job.status))
    context = getattr(job, "creation_context", None)
    tags = {str(k): str(v) for k, v in (job.tags or {}).items()}
    compute = text(getattr(job, "compute", None))
    if compute and "/" in compute:  # an unresolved ARM id
        compute = compute.rstrip("/").rsplit("/", 1)[-1]
    error = details_error(details) if details is not None and status in (JobStatus.FAILED, JobStatus.CANCELED) else None
    return JobInfo(
        name=str(job.name),
        display_name=getattr(job, "display_name", None),
        status=status,
        compute=compute,
        experiment=getattr(job, "experiment_name", None),
        created_by=getattr(context, "created_by", None),
        created_at=_when(getattr(context, "created_at", None)),
        started_at=_when(getattr(details, "start_time_utc", None)),
        ended_at=_when(getattr(details, "end_time_utc", None)) if status.is_terminal else None,
        studio_url=getattr(job, "studio_url", None),
        services=_service_endpoints(getattr(job, "services", None)),
        error=error,
        tags=tags,
        output_uri=output_uri(str(job.name)),
        template=tags.get(TAG_TEMPLATE),
    )
