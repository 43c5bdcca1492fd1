"""`/aml job status|list|logs|cancel` through the HTTP path against the local backend running real jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.container import Services
from services.models import JobInfo, JobRequest, JobStatus
from services.ports import CloudBackend
from tests.conftest import RunningBot

ROOT = Path(__file__).parents[2]


@pytest.fixture
def backend(tmp_path: Path) -> CloudBackend:
    catalog_dir = tmp_path / "jobs"
    catalog_dir.mkdir()
    for item in (ROOT / "jobs").iterdir():
        if item.suffix == ".yml":
            (catalog_dir / item.name).write_text(item.read_text())
    (catalog_dir / "src").symlink_to(ROOT / "jobs" / "src")
    (catalog_dir / "sleepy.yml").write_text(
        "type: command\ncommand: echo started; sleep 60\ncompute: azureml:cpu-cluster\n"
    )
    catalog = JobCatalog(catalog_dir)
    return build_local_backend(tmp_path / "data", catalog, compute_transition_seconds=0)


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], backend: CloudBackend) -> RunningBot:
    return start_bot(services=Services(backend=backend))


def submit(backend: CloudBackend, template: str, user: str = "U_ALICE", **overrides: str) -> JobInfo:
    request = JobRequest(template, request_id=f"{template}-{time.time_ns()}", requested_by=user, channel="C_ML")
    return backend.jobs.submit(request if not overrides else JobRequest(**{**request.__dict__, "overrides": overrides}))


def wait_for(backend: CloudBackend, name: str, status: JobStatus, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while backend.jobs.get(name).status is not status:
        assert time.monotonic() < deadline, f"{name} never reached {status}"
        time.sleep(0.1)


def test_status_and_logs_of_a_finished_job(running: RunningBot, backend: CloudBackend) -> None:
    job = submit(backend, "hello", name="Slack")
    wait_for(backend, job.name, JobStatus.COMPLETED)
    status = running.ask(f"job status {job.name}")
    assert job.name in status and "Completed" in status and "cpu-cluster" in status
    logs = running.ask(f"job logs {job.name} --lines 5")
    assert "Hello, Slack" in logs


def test_list_mine_and_active(running: RunningBot, backend: CloudBackend) -> None:
    done = submit(backend, "hello")
    sleeping = submit(backend, "sleepy", user="U_BOB")
    wait_for(backend, done.name, JobStatus.COMPLETED)
    wait_for(backend, sleeping.name, JobStatus.RUNNING)
    everything = running.ask("job list")
    assert done.name in everything and sleeping.name in everything
    mine = running.ask("job list --mine")
    assert done.name in mine and sleeping.name not in mine
    active = running.ask("job list --active")
    assert sleeping.name in active and done.name not in active
    backend.jobs.cancel(sleeping.name)


def test_cancel_a_running_job_then_again(running: RunningBot, backend: CloudBackend) -> None:
    job = submit(backend, "sleepy")
    wait_for(backend, job.name, JobStatus.RUNNING)
    first = running.ask(f"job cancel {job.name}")
    assert "cancelled" in first and "Canceled" in first
    assert backend.jobs.get(job.name).status is JobStatus.CANCELED
    again = running.ask(f"job cancel {job.name}")
    assert "already" in again.lower()
    assert "Traceback" not in again


def test_unknown_job_names_what_exists(running: RunningBot, backend: CloudBackend) -> None:
    job = submit(backend, "hello")
    answer = running.ask(f"job status {job.name[:-1]}x")
    assert "There is no job" in answer and f"Did you mean `{job.name}`?" in answer
