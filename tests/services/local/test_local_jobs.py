"""Jobs of the local backend: real subprocesses, as a person using the bot would see them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from services.errors import AlreadyExists, InvalidInput, InvalidName, InvalidState, NotFound
from services.models import (
    TAG_REQUEST,
    TAG_SLACK_CHANNEL,
    TAG_SLACK_USER,
    TAG_TEMPLATE,
    JobStatus,
    ModelType,
    WorkspaceScope,
    WorkspaceSpec,
)
from services.ports import CloudBackend
from tests.services.local.helpers_local import (
    job_folder,
    job_request,
    job_status_file,
    make_backend,
    tree_gone,
    wait_for_status,
    wait_until,
)

REPO = Path(__file__).resolve().parents[3]


def test_hello_runs_and_writes_its_output(backend: CloudBackend) -> None:
    info = backend.jobs.submit(job_request("hello", overrides={"inputs.name": "Ada"}))
    assert info.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED)

    done = wait_for_status(backend, info.name)

    assert done.status == JobStatus.COMPLETED, done.error
    assert done.error is None
    assert done.output_uri is not None
    assert (Path(done.output_uri) / "greeting" / "greeting.txt").read_text() == "Hello, Ada!\n"
    assert "Hello, Ada!" in backend.jobs.log_tail(done.name)
    assert done.display_name == "Hello"
    assert done.experiment == "hello"
    assert done.compute == "cpu-cluster"
    assert done.template == "hello"
    assert done.created_by == "U012AB3CD"
    assert done.created_at and done.started_at and done.ended_at
    assert done.created_at <= done.started_at <= done.ended_at
    assert done.studio_url is not None and done.studio_url.startswith("file://")
    assert done.tags[TAG_SLACK_USER] == "U012AB3CD"
    assert done.tags[TAG_SLACK_CHANNEL] == "C0TRAIN"
    assert done.tags[TAG_TEMPLATE] == "hello"
    assert TAG_REQUEST in done.tags


def test_train_tiny_logs_metrics_per_epoch_and_a_model_that_can_be_registered(backend: CloudBackend) -> None:
    info = backend.jobs.submit(job_request("train-tiny", overrides={"epochs": "6", "lr": "0.3"}))

    done = wait_for_status(backend, info.name)

    assert done.status == JobStatus.COMPLETED, backend.jobs.log_tail(info.name)
    points = backend.jobs.metrics(done.name)
    loss = [p for p in points if p.key == "loss"]
    accuracy = [p for p in points if p.key == "accuracy"]
    assert [p.step for p in loss] == list(range(6))
    assert [p.step for p in accuracy] == list(range(6))
    assert all(later.value < earlier.value for earlier, later in zip(loss, loss[1:], strict=False))
    assert all(0.0 <= p.value <= 1.0 for p in accuracy)
    assert loss[0].timestamp is not None
    assert done.output_uri is not None
    model_file = Path(done.output_uri) / "model" / "model.json"
    assert json.loads(model_file.read_text())["kind"] == "logistic-regression"

    first = backend.models.register(job_name=done.name, name="tiny-classifier", version="1")
    second = backend.models.register(
        job_name=done.name, name="tiny-classifier", version="2", type=ModelType.MLFLOW, path="model"
    )
    assert (Path(first.path) / "model.json").read_text() == model_file.read_text()
    assert first.job_name == done.name and second.type == ModelType.MLFLOW
    assert [m.version for m in backend.models.list_versions("tiny-classifier")] == ["2", "1"]  # newest first
    with pytest.raises(AlreadyExists, match="version 3"):
        backend.models.register(job_name=done.name, name="tiny-classifier", version="1")
    with pytest.raises(NotFound, match="model") as missing_path:
        backend.models.register(job_name=done.name, name="tiny-classifier", version="9", path="weights")
    assert "model/model.json" in str(missing_path.value)
    with pytest.raises(NotFound, match="no job `nope-123`"):
        backend.models.register(job_name="nope-123", name="tiny-classifier", version="9")
    with pytest.raises(NotFound, match="Did you mean `tiny-classifier`"):
        backend.models.list_versions("tiny-clasifier")


def test_failing_job_reports_its_error_and_log_tail(backend: CloudBackend) -> None:
    info = backend.jobs.submit(job_request("fail", overrides={"steps": "4"}))

    done = wait_for_status(backend, info.name)

    assert done.status == JobStatus.FAILED
    assert done.error is not None
    assert "FileNotFoundError: training data not found" in done.error
    assert "exit code 1" in done.error
    tail = backend.jobs.log_tail(done.name, lines=20)
    assert "step 4/4: preparing data" in tail
    assert tail.rstrip().endswith("(did you upload it?)")
    assert backend.jobs.log_tail(done.name, lines=1).startswith("FileNotFoundError")
    assert job_status_file(done)["exit_code"] == 1


def test_cancel_kills_the_whole_process_tree(backend: CloudBackend) -> None:
    info = backend.jobs.submit(job_request("sleepy"))
    wait_for_status(backend, info.name, JobStatus.RUNNING)
    wait_until(lambda: "started" in backend.jobs.log_tail(info.name), what="the job's first line")
    status = job_status_file(info)
    assert not tree_gone(status)

    canceled = backend.jobs.cancel(info.name)

    assert canceled.status == JobStatus.CANCELED
    assert canceled.ended_at is not None
    wait_until(lambda: tree_gone(status), timeout=5, what="the job's processes to end")
    assert "never-printed" not in backend.jobs.log_tail(info.name)
    with pytest.raises(InvalidState, match=r"already finished \(Canceled\)"):
        backend.jobs.cancel(info.name)


def test_cancel_of_a_finished_job_says_so(backend: CloudBackend) -> None:
    info = backend.jobs.submit(job_request("hello"))
    wait_for_status(backend, info.name)
    with pytest.raises(InvalidState, match=r"already finished \(Completed\)"):
        backend.jobs.cancel(info.name)


def test_string_input_cannot_inject_shell_commands(backend: CloudBackend) -> None:
    marker = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    value = f"x; touch {marker} $(touch {marker}) `touch {marker}` && touch {marker} | touch {marker}"
    info = backend.jobs.submit(job_request("hello", overrides={"name": value}))

    done = wait_for_status(backend, info.name)

    assert done.status == JobStatus.COMPLETED, backend.jobs.log_tail(info.name)
    assert not marker.exists()
    assert f"Hello, {value}!" in backend.jobs.log_tail(done.name)


def test_number_input_with_shell_text_is_rejected_before_anything_runs(backend: CloudBackend) -> None:
    with pytest.raises(InvalidInput) as err:
        backend.jobs.submit(job_request("train-tiny", overrides={"lr": "0.01; rm -rf ~"}))
    assert "lr must be a number (got '0.01; rm -rf ~')" in str(err.value)
    assert backend.jobs.list() == []


def test_unknown_template_and_input_are_explained(backend: CloudBackend) -> None:
    with pytest.raises(InvalidInput, match="Did you mean `hello`") as unknown:
        backend.jobs.submit(job_request("helo"))
    assert "train-tiny" in str(unknown.value)
    with pytest.raises(InvalidInput, match="no input `epoch`") as undeclared:
        backend.jobs.submit(job_request("train-tiny", overrides={"epoch": "3"}))
    assert "`epochs` (integer)" in str(undeclared.value)
    with pytest.raises(InvalidName, match="must start with a letter"):
        backend.jobs.submit(job_request("hello", name="1-bad name"))
    with pytest.raises(NotFound, match="no compute `gpu-clustr`"):
        backend.jobs.submit(job_request("hello", compute="gpu-clustr"))
    assert backend.jobs.list() == []


def test_names_azure_would_refuse_are_invalid_name_before_anything_is_read(backend: CloudBackend) -> None:
    with pytest.raises(InvalidName, match="not a valid job name"):
        backend.jobs.metrics("9 lives!")
    with pytest.raises(InvalidName, match="not a valid workspace name"):
        backend.jobs.get("hello-1", scope=WorkspaceScope(workspace="-bad ws"))
    with pytest.raises(InvalidName, match="not a valid resource group name"):
        backend.computes.get("dev-instance", scope=WorkspaceScope(resource_group="bad group!"))
    with pytest.raises(InvalidName, match="not a valid compute name"):  # the compute's own name first, as on Azure
        backend.computes.get("9-lives", scope=WorkspaceScope(workspace="ws-nowhere"))


def test_the_same_request_submits_once(backend: CloudBackend) -> None:
    request = job_request("quick", overrides={"seconds": "0.5"})
    first = backend.jobs.submit(request)
    second = backend.jobs.submit(request)
    assert first.name == second.name

    racing = job_request("quick", overrides={"seconds": "0.5"})
    names: list[str] = []
    threads = [threading.Thread(target=lambda: names.append(backend.jobs.submit(racing).name)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == 1 and len(names) == 4

    assert sorted(j.name for j in backend.jobs.list()) == sorted({first.name, names[0]})
    for name in (first.name, names[0]):
        assert wait_for_status(backend, name).status == JobStatus.COMPLETED


def test_explicit_name_reused_by_another_request_is_refused(backend: CloudBackend) -> None:
    backend.jobs.submit(job_request("quick", name="my-run", overrides={"seconds": "0"}))
    with pytest.raises(AlreadyExists, match="`my-run` already exists"):
        backend.jobs.submit(job_request("quick", name="my-run"))
    wait_for_status(backend, "my-run")


def test_a_new_backend_sees_a_job_that_finished_while_the_bot_was_down(
    data_dir: Path, catalog_dir: Path, backend: CloudBackend
) -> None:
    # "the bot": a separate process that submits and dies at once
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from services.catalog import JobCatalog\n"
        "from services.cloud.local import build_local_backend\n"
        "from services.models import JobRequest\n"
        f"b = build_local_backend(Path({str(data_dir)!r}), JobCatalog(Path({str(catalog_dir)!r})), compute_slots=[])\n"
        "info = b.jobs.submit(JobRequest(template='quick', request_id='r-restart', requested_by='U1',"
        " channel='C1', overrides={'seconds': '1', 'word': 'survived'}))\n"
        "print(info.name, flush=True)\n"
        "os._exit(0)\n"
    )
    bot = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=30, check=True
    )
    name = bot.stdout.strip()

    restarted = make_backend(data_dir, catalog_dir)
    assert restarted.jobs.get(name).status in (JobStatus.QUEUED, JobStatus.RUNNING)
    done = wait_for_status(restarted, name)

    assert done.status == JobStatus.COMPLETED, restarted.jobs.log_tail(name)
    assert done.output_uri is not None
    assert (Path(done.output_uri) / "out" / "done.txt").read_text() == "quick-done survived\n"
    assert done.created_by == "U1"


def test_a_runner_killed_with_the_machine_is_reported_failed(backend: CloudBackend) -> None:
    info = backend.jobs.submit(job_request("sleepy"))
    wait_for_status(backend, info.name, JobStatus.RUNNING)
    status = job_status_file(info)
    try:
        os.kill(status["runner_pid"], signal.SIGKILL)
        done = wait_for_status(backend, info.name, JobStatus.FAILED, timeout=5)
        assert done.error is not None and "stopped unexpectedly" in done.error
    finally:
        os.killpg(status["runner_pid"], signal.SIGKILL)


def test_a_slot_runs_at_most_its_concurrency_and_queues_the_rest(backend: CloudBackend) -> None:
    first = backend.jobs.submit(job_request("sleepy", compute="solo"))
    second = backend.jobs.submit(job_request("sleepy", compute="solo"))
    names = {first.name, second.name}

    def running() -> set[str]:
        return {n for n in names if backend.jobs.get(n).status == JobStatus.RUNNING}

    wait_until(lambda: len(running()) == 1, what="one job to run")
    (busy,) = running()
    (waiting,) = names - {busy}
    deadline = time.monotonic() + 0.8  # several runner polls: the second must keep waiting
    while time.monotonic() < deadline:
        assert backend.jobs.get(waiting).status == JobStatus.QUEUED
        time.sleep(0.1)
    solo = backend.computes.get("solo")
    assert (solo.state, solo.current_nodes, solo.max_nodes) == ("Running", 1, 1)
    assert solo.running_since is not None

    backend.jobs.cancel(busy)
    wait_for_status(backend, waiting, JobStatus.RUNNING, timeout=10)
    backend.jobs.cancel(waiting)
    assert backend.computes.get("solo").current_nodes == 0


def test_queued_jobs_start_first_come_first_served(backend: CloudBackend) -> None:
    blocker = backend.jobs.submit(job_request("sleepy", compute="solo"))
    wait_for_status(backend, blocker.name, JobStatus.RUNNING)
    waiting = [backend.jobs.submit(job_request("quick", compute="solo", overrides={"seconds": "0"})) for _ in range(3)]

    backend.jobs.cancel(blocker.name)
    done = [wait_for_status(backend, job.name) for job in waiting]

    assert all(job.status == JobStatus.COMPLETED for job in done)
    starts = [job.started_at for job in done]
    assert starts == sorted(starts)  # type: ignore[type-var]


def test_cancel_of_a_queued_job(backend: CloudBackend) -> None:
    first = backend.jobs.submit(job_request("sleepy", compute="solo"))
    wait_for_status(backend, first.name, JobStatus.RUNNING)
    queued = backend.jobs.submit(job_request("sleepy", compute="solo"))
    assert backend.jobs.cancel(queued.name).status == JobStatus.CANCELED
    status = job_status_file(queued)
    wait_until(lambda: tree_gone(status), timeout=5, what="the queued job's runner to end")
    assert backend.jobs.get(first.name).status == JobStatus.RUNNING
    assert "started" not in backend.jobs.log_tail(queued.name)


def test_a_stopped_instance_refuses_jobs_until_started(backend: CloudBackend) -> None:
    with pytest.raises(InvalidState, match="`dev-instance` is stopped") as err:
        backend.jobs.submit(job_request("hello", compute="dev-instance"))
    assert "/aml compute start dev-instance" in str(err.value)

    backend.computes.begin_start("dev-instance").result(timeout=5)
    info = backend.jobs.submit(job_request("hello", compute="dev-instance"))
    assert wait_for_status(backend, info.name).status == JobStatus.COMPLETED
    assert info.compute == "dev-instance"


def test_rerun_keeps_old_inputs_and_applies_overrides(backend: CloudBackend) -> None:
    old = backend.jobs.submit(job_request("hello", overrides={"name": "Ada"}))
    wait_for_status(backend, old.name)

    new = backend.jobs.rerun(
        old.name, request_id="rerun-1", requested_by="U999", channel="C0TRAIN", overrides={"name": "Grace"}
    )
    again = backend.jobs.rerun(old.name, request_id="rerun-1", requested_by="U999", channel="C0TRAIN")

    assert new.name != old.name and again.name == new.name
    assert new.tags["amlbot-rerun-of"] == old.name
    assert new.created_by == "U999"
    assert wait_for_status(backend, new.name).status == JobStatus.COMPLETED
    assert "Hello, Grace!" in backend.jobs.log_tail(new.name)
    with pytest.raises(InvalidInput, match="Did you mean `name`"):
        backend.jobs.rerun(old.name, request_id="rerun-2", requested_by="U1", channel="C1", overrides={"nam": "x"})


def test_list_is_newest_first_and_filters_by_tag(backend: CloudBackend) -> None:
    a = backend.jobs.submit(job_request("quick", overrides={"seconds": "0"}, channel="C-A"))
    b = backend.jobs.submit(job_request("quick", overrides={"seconds": "0"}, channel="C-B"))

    assert [j.name for j in backend.jobs.list()] == [b.name, a.name]
    assert [j.name for j in backend.jobs.list(limit=1)] == [b.name]
    assert [j.name for j in backend.jobs.list(tag=f"{TAG_SLACK_CHANNEL}=C-A")] == [a.name]
    assert len(backend.jobs.list(tag=TAG_SLACK_CHANNEL)) == 2
    assert backend.jobs.list(tag="no-such-tag") == []
    for job in (a, b):
        wait_for_status(backend, job.name)


def test_unknown_job_is_not_found_with_close_matches(backend: CloudBackend) -> None:
    info = backend.jobs.submit(job_request("quick", name="nightly-run", overrides={"seconds": "0"}))
    with pytest.raises(NotFound, match="Did you mean `nightly-run`"):
        backend.jobs.get("nightly-rum")
    with pytest.raises(NotFound):
        backend.jobs.log_tail("nope")
    wait_for_status(backend, info.name)


def test_jobs_live_in_their_workspace(backend: CloudBackend) -> None:
    backend.workspaces.begin_create(WorkspaceSpec(name="team-ws", location="local")).result()
    scope = WorkspaceScope(workspace="team-ws")
    backend.computes.begin_create_cluster("team-cpu", size="Standard_DS3_v2", max_nodes=1, scope=scope).result()
    info = backend.jobs.submit(job_request("quick", compute="team-cpu", overrides={"seconds": "0"}), scope=scope)

    assert wait_for_status(backend, info.name, scope=scope).status == JobStatus.COMPLETED
    assert backend.jobs.list() == []
    assert [j.name for j in backend.jobs.list(scope=scope)] == [info.name]
    assert job_folder(info).parent.parent.name == "team-ws"
