"""Helpers for tests of the local backend: test templates and slots, requests, polling (no fixed sleeps)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.catalog import JobCatalog
from services.cloud.local import ComputeSlot, build_local_backend
from services.cloud.local._fs import group_members, pid_alive, read_json
from services.models import ComputeKind, JobInfo, JobRequest, JobStatus
from services.ports import CloudBackend


def wait_for_status(
    backend: CloudBackend, name: str, *statuses: JobStatus, timeout: float = 30, **kwargs: Any
) -> JobInfo:
    wanted = set(statuses) or {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}
    deadline = time.monotonic() + timeout
    info = backend.jobs.get(name, **kwargs)
    while info.status not in wanted:
        if time.monotonic() > deadline:
            log = backend.jobs.log_tail(name, **kwargs)
            raise AssertionError(f"{name} is {info.status}, not {wanted} after {timeout}s; log:\n{log}")
        time.sleep(0.05)
        info = backend.jobs.get(name, **kwargs)
    return info


def wait_until(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def job_folder(info: JobInfo) -> Path:
    assert info.output_uri is not None
    return Path(info.output_uri).parent


def job_status_file(info: JobInfo) -> dict[str, Any]:
    return read_json(job_folder(info) / "status.json") or {}


def tree_gone(status: dict[str, Any]) -> bool:
    pgid = status["runner_pid"]
    return not pid_alive(pgid) and not pid_alive(status.get("pid")) and not group_members(pgid)


REPO_JOBS = Path(__file__).resolve().parents[3] / "jobs"

# Templates only the tests use (no code folder: the command runs in an empty per-job folder).
TEST_TEMPLATES = {
    "sleepy.yml": """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
display_name: Sleeps
command: echo started; sleep ${{inputs.seconds}} && echo never-printed
compute: azureml:cpu-cluster
inputs:
  seconds: 30
""",
    "quick.yml": """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
command: sleep ${{inputs.seconds}}; echo quick-done ${{inputs.word}} > ${{outputs.out}}/done.txt; echo quick-done
compute: azureml:cpu-cluster
inputs:
  seconds:
    type: number
    default: 1
  word:
    type: string
    default: ok
outputs:
  out:
    type: uri_folder
""",
}

TEST_SLOTS = (
    ComputeSlot("cpu-cluster", size="Standard_DS3_v2", max_concurrent_jobs=2, hourly_rate=0.90),
    ComputeSlot("solo", max_concurrent_jobs=1, hourly_rate=0.10),
    ComputeSlot("dev-instance", size="Standard_DS11_v2", hourly_rate=0.30, kind=ComputeKind.INSTANCE),
)


def make_backend(data_dir: Path, catalog_dir: Path) -> CloudBackend:
    return build_local_backend(
        data_dir, JobCatalog(catalog_dir), compute_slots=TEST_SLOTS, compute_transition_seconds=0.2
    )


def job_request(template: str, **kwargs: object) -> JobRequest:
    values: dict[str, object] = {
        "request_id": f"req-{uuid.uuid4().hex}",
        "requested_by": "U012AB3CD",
        "channel": "C0TRAIN",
    }
    values.update(kwargs)
    return JobRequest(template=template, **values)  # type: ignore[arg-type]
