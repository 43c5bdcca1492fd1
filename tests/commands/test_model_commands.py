"""`/aml model register` through the HTTP path against the local backend, from a job it really ran."""

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
    (catalog_dir / "hello.yml").write_text((ROOT / "jobs" / "hello.yml").read_text())
    (catalog_dir / "src").symlink_to(ROOT / "jobs" / "src")
    return build_local_backend(tmp_path / "data", JobCatalog(catalog_dir), compute_transition_seconds=0)


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], backend: CloudBackend) -> RunningBot:
    return start_bot(services=Services(backend=backend))


@pytest.fixture
def hello(backend: CloudBackend) -> JobInfo:
    """A completed `hello` job; its output folder is `greeting`."""
    job = backend.jobs.submit(
        JobRequest("hello", request_id=f"hello-{time.time_ns()}", requested_by="U_ALICE", channel="C_ML")
    )
    deadline = time.monotonic() + 30
    while (status := backend.jobs.get(job.name).status) is not JobStatus.COMPLETED:
        assert not status.is_terminal and time.monotonic() < deadline, f"{job.name} ended {status}"
        time.sleep(0.05)
    return job


def test_register_picks_the_next_version_unless_told(running: RunningBot, hello: JobInfo) -> None:
    first = running.ask(f"model register {hello.name} greeter --path greeting")
    assert (
        f":white_check_mark: <@U_ALICE> registered model `greeter` version `1` (custom) from output `greeting` "
        f"of job `{hello.name}`." in first
    )
    assert any("registered model `greeter` version `1`" in m.text for m in running.workspace.messages("C_ML"))
    assert "version `2`" in running.ask(f"model register {hello.name} greeter --path greeting --type mlflow")
    assert "version `7`" in running.ask(f"model register {hello.name} greeter --path greeting --version 7")
    assert "version `8`" in running.ask(f"model register {hello.name} greeter --path greeting")


def test_an_explicit_version_that_exists_says_which_is_free(running: RunningBot, hello: JobInfo) -> None:
    running.ask(f"model register {hello.name} greeter --path greeting")
    taken = running.ask(f"model register {hello.name} greeter --path greeting --version 1")
    assert "Model `greeter` already has version 1. Register it as version 2." in taken
    assert "registered" not in taken


def test_a_missing_output_names_what_the_job_wrote(running: RunningBot, hello: JobInfo) -> None:
    answer = running.ask(f"model register {hello.name} greeter")
    assert f"Job `{hello.name}` has no output `model`." in answer and "Its outputs hold: `greeting" in answer


def test_bad_job_model_names_and_options(running: RunningBot, hello: JobInfo) -> None:
    unknown = running.ask(f"model register {hello.name[:-1]}x greeter --path greeting")
    assert "There is no job" in unknown and f"Did you mean `{hello.name}`?" in unknown
    invalid = running.ask(f"model register {hello.name} -greeter- --path greeting")
    assert "Usage: `/aml model register" in invalid  # a leading dash reads as an option
    invalid = running.ask(f"model register {hello.name} 'my model' --path greeting")
    assert "`my model` is not a valid model name" in invalid and "Try `my-model`." in invalid
    version = running.ask(f"model register {hello.name} greeter --path greeting --version v/1")
    assert "is not a valid model version name" in version
    kind = running.ask(f"model register {hello.name} greeter --type onnx")
    assert "invalid choice: 'onnx'" in kind and "Usage: `/aml model register [--path P]" in kind
    assert running.workspace.messages("C_ML") == []
