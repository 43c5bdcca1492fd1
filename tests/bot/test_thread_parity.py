"""Issue 4: through the Azure adapter with the fake transport, a job moving through statuses produces the same
Slack thread as on the local backend.

Both runs build the chain bot/bootstrap.py builds: JobTracking.submit (placeholder → root) on the backend's
Jobs port, JobWatcher + Outbox + OutboxDelivery over SQLite, SlackChat(WebClient) + BlockKitRenderer, and a
LocalSlack workspace. Azure is the real adapter (azure-ai-ml over the stateful `AzureWorld` transport: a job
moves NotStarted → Queued → Running → Completed on successive reads; metrics through MLflow's REST store, here
a fake on 127.0.0.1). Local is the real local backend running a real subprocess, stepped through its statuses
with gate files so every status is seen whatever the machine's speed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.devslack import LocalSlack, load_seed
from services.catalog import JobCatalog
from services.errors import InvalidState
from services.models import JobRequest, JobStatus
from services.ports import Jobs
from tests.bot.thread_chain import CHANNEL, build_chain, drive_until_told
from tests.bot.thread_mlflow import fake_mlflow
from tests.bot.thread_view import ThreadView, entries, normalise, read_thread, transition_statuses

pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")

SUBMITTER = "U_BOB"
# Code-less (azure-ai-ml uploads `code:` folders with clients no offline transport reaches). Locally the job
# logs one metric, then holds in Running until the test creates its gate file.
PARITY_TEMPLATE = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
display_name: Parity job
experiment_name: parity
command: >-
  python -c "import mlflow; mlflow.log_metric('loss', 0.25, step=3)"
  && while [ ! -e ${{inputs.gate}} ]; do sleep 0.05; done
environment: azureml:AzureML-sklearn-1.5@latest
compute: azureml:cpu-cluster
inputs:
  gate:
    type: string
    default: /nonexistent
"""
# Holds the local compute's only slot, so the parity job is Queued when submitted (not a race).
BLOCKER_TEMPLATE = PARITY_TEMPLATE.replace("Parity job", "Blocker").replace(
    """python -c "import mlflow; mlflow.log_metric('loss', 0.25, step=3)"\n  && """, ""
)


def parity_request(gate: Path) -> JobRequest:
    # the same request id on both backends → the same job name (see services.naming.job_name_for)
    return JobRequest(
        template="parity",
        request_id="req-parity-thread",
        requested_by=SUBMITTER,
        channel=CHANNEL,
        overrides={"gate": str(gate)},
    )


@dataclass(frozen=True)
class Told:
    """What one backend's run left in its Slack workspace."""

    kind: str
    job_name: str
    submitted_status: JobStatus
    thread: ThreadView
    render: str
    update_calls: int


def make_catalog(folder: Path) -> JobCatalog:
    folder.mkdir(parents=True)
    (folder / "parity.yml").write_text(PARITY_TEMPLATE)
    (folder / "blocker.yml").write_text(BLOCKER_TEMPLATE)
    return JobCatalog(folder)


def tell(
    kind: str, root: Path, jobs: Jobs, catalog: JobCatalog, request: JobRequest, step: Callable[[str | None], None]
) -> Told:
    with LocalSlack(load_seed()) as slack:
        chain = build_chain(root / "aml-bot.db", jobs, slack, catalog=catalog)
        submitted = chain.tracking.submit(request)
        drive_until_told(chain, submitted.job.name, on_status=step)
        assert chain.dead == [], chain.dead
        chain.engine.dispose()
        workspace = slack.workspace
        return Told(
            kind,
            submitted.job.name,
            submitted.job.status,
            read_thread(workspace, CHANNEL),
            chain.render(),
            len(workspace.calls("chat.update")),
        )


def run_azure(root: Path, catalog: JobCatalog) -> Told:
    from services.cloud.azure.clients import AzureClients
    from services.cloud.azure.jobs import AzureJobs
    from tests.services.azure.azure_fakes import RG, SUB, WS, FakeCredential
    from tests.services.contract.azure_world import AzureWorld

    world = AzureWorld()  # successive reads: Queued → Running → Completed
    world.add_cluster("cpu-cluster")
    clients = AzureClients(
        subscription_id=SUB,
        resource_group=RG,
        workspace=WS,
        location="eastus",
        credential=FakeCredential(),
        client_kwargs={"transport": world, "retry_total": 0, "polling_interval": 0.01},
    )
    with fake_mlflow() as mlflow_url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        # the one seam of the adapter: MLflow's host (azureml://eastus.api.azureml.ms → the fake server)
        jobs = AzureJobs(
            clients, catalog, mlflow_host=lambda uri: uri.replace("azureml://eastus.api.azureml.ms", mlflow_url)
        )
        told = tell("azure", root, jobs, catalog, parity_request(Path("/nonexistent")), lambda status: None)
    assert world.unmatched == [], [f"{r.method} {r.url}" for r in world.unmatched]
    return told


def run_local(root: Path, catalog: JobCatalog) -> Told:
    from services.cloud.local import build_local_backend
    from services.cloud.local.backend import ComputeSlot

    backend = build_local_backend(
        root / "data",
        catalog,
        compute_slots=(ComputeSlot("cpu-cluster", max_concurrent_jobs=1),),
        compute_transition_seconds=0,
    )
    free_slot, finish = root / "free-slot", root / "finish"
    try:
        blocker = backend.jobs.submit(
            JobRequest(
                template="blocker",
                request_id="req-blocker",
                requested_by="U_CAROL",
                channel="C_GENERAL",
                overrides={"gate": str(free_slot)},
            )
        )
        deadline = time.monotonic() + 30
        while backend.jobs.get(blocker.name).status is not JobStatus.RUNNING:
            assert time.monotonic() < deadline, "the blocker job never started"
            time.sleep(0.05)

        def step(status: str | None) -> None:
            free_slot.touch()  # after the first sweep: the parity job gets the slot and starts
            if status == JobStatus.RUNNING.value:
                finish.touch()  # the watcher has told Running: now let the job complete

        return tell("local", root, backend.jobs, catalog, parity_request(finish), step)
    finally:
        for job in backend.jobs.list():  # leave no job running behind the test
            if not job.status.is_terminal:
                with contextlib.suppress(InvalidState):
                    backend.jobs.cancel(job.name)


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Told]]:
    root = tmp_path_factory.mktemp("parity")
    catalog = make_catalog(root / "jobs")
    yield {"local": run_local(root / "local", catalog), "azure": run_azure(root / "azure", catalog)}


@pytest.mark.parametrize("kind", ["local", "azure"])
def test_one_root_edited_to_the_end_and_the_story_in_its_thread(told: dict[str, Told], kind: str) -> None:
    run = told[kind]
    view = run.thread
    # one message in the channel: the "submitting…" placeholder, edited into the root, then to the final status
    assert len(view.top_level) == 1, run.render
    root = view.root
    assert root.user == "U_AMLBOT" and root.edit_count >= 1, run.render
    assert root.text == f":white_check_mark: Completed Parity job ({run.job_name})", run.render
    assert "The story of this job is in the thread below." not in str(root.blocks), "the ended root says so"
    assert run.update_calls >= 2, "placeholder → root, then at least once more to the final status"
    # the thread: one reply per status change, in order, then the summary last and only once
    assert [r.kind for r in view.replies][-1] == "summary", run.render
    assert [r.kind for r in view.replies].count("summary") == 1, run.render
    assert {r.kind for r in view.replies} == {"transition", "summary"}, run.render
    statuses = transition_statuses(view, run.job_name)
    assert statuses[-2:] == ["Running", "Completed"], run.render
    assert [r.dedupe_key.rsplit(":", 1)[-1] for r in view.of_kind("transition")] == [
        f"t{seq}" for seq in range(1, len(statuses) + 1)
    ], "every recorded transition is told, in the order recorded"
    summary = view.of_kind("summary")[0].message
    assert summary.text.startswith(f"<@{SUBMITTER}> {run.job_name} Completed after "), summary.text
    shown = entries(run.render)[-1]
    assert f"@bob your job `{run.job_name}` has completed." in shown  # the submitter is mentioned
    assert "`loss` 0.25" in shown  # the metric the job logged (local: MLflow file store; Azure: MLflow REST)


def test_azure_and_local_tell_the_same_thread(told: dict[str, Told]) -> None:
    local, azure = told["local"], told["azure"]
    assert local.job_name == azure.job_name  # same request id → same deterministic name

    # The one difference, and why: Azure ML answers a new job's PUT with NotStarted and only then queues it
    # (services/cloud/azure/jobs.py `submit` returns the PUT's answer), so the watch starts at NotStarted and
    # the Azure thread opens with "Queued (was NotStarted)". The local backend has no such state: it writes a
    # new job as Queued (services/cloud/local/jobs.py `_create`), so its watch starts at Queued and there is
    # no step to tell before Running. From Queued on, the two threads tell the same steps.
    assert (azure.submitted_status, local.submitted_status) == (JobStatus.NOT_STARTED, JobStatus.QUEUED)
    assert transition_statuses(azure.thread, azure.job_name) == ["Queued", "Running", "Completed"], azure.render
    assert transition_statuses(local.thread, local.job_name) == ["Running", "Completed"], local.render

    # Everything else reads the same, message for message, once clock times, durations and the links to the
    # job's page and outputs (Azure ML studio / the local job folder) are set aside.
    azure_entries = [normalise(e) for e in entries(azure.render)]
    local_entries = [normalise(e) for e in entries(local.render)]
    assert "Queued (was NotStarted)" in azure_entries[1]
    assert [azure_entries[0], *azure_entries[2:]] == local_entries, "\n\n".join(
        ["AZURE", azure.render, "LOCAL", local.render]
    )
