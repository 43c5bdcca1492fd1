"""Command jobs through azure-ai-ml 1.35 (load_job + MLClient.jobs), replayed offline.

Run-history reads (start/end times, errors, log files) go through the workspace's discovery URL, which
the transport answers too; log files are fetched from their SAS URLs through the same transport.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from services.models import (
    TAG_REQUEST,
    TAG_SLACK_CHANNEL,
    TAG_SLACK_USER,
    TAG_TEMPLATE,
    JobRequest,
    JobStatus,
    ServiceEndpoint,
)
from services.naming import job_name_for
from tests.services.azure.azure_fakes import (
    ARM,
    ML_EXAMPLES,
    ML_LOCATION,
    WS_PATH,
    Canned,
    FakeTransport,
    Recorded,
    arm_error,
    discovery,
    example_response,
    job_body,
    make_backend,
    run_details_body,
)

JOBS = rf"^{ARM}{WS_PATH}/jobs"
HISTORY = r"^https://eastus\.api\.azureml\.ms/history/v1\.0/subscriptions/.*/workspaces/ws-bot/runs"
REQUEST = JobRequest(
    template="tiny",
    request_id="req-1",
    requested_by="U42",
    channel="C7",
    overrides={"lr": "0.02", "data": "azureml://datastores/workspaceblobstore/paths/tiny/v2/"},
    services=("jupyter",),
)
NAME = job_name_for(REQUEST)
BOT_TAGS = {TAG_SLACK_USER: "U42", TAG_SLACK_CHANNEL: "C7", TAG_REQUEST: "req-1", TAG_TEMPLATE: "tiny"}


def created_from_put(request: Recorded) -> Canned:
    """Answer a job PUT as the service does: the job as sent, now with an id and status NotStarted."""
    sent = request.json()["properties"]
    name = request.path.rsplit("/", 1)[-1]
    body = job_body(name, status="NotStarted", tags=sent["tags"], inputs=sent["inputs"])
    body["properties"]["services"].update(sent.get("services") or {})
    return Canned(201, body)


def test_submit_sends_the_template_with_overrides_tags_and_services() -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"{JOBS}/{NAME}\?", arm_error(404, "UserError", f"Job {NAME} not found."))
        .add("PUT", rf"{JOBS}/{NAME}\?", created_from_put)
    )
    info = make_backend(transport).jobs.submit(REQUEST)
    (put,) = transport.sent("PUT")
    assert put.api_version == "2025-01-01-preview"
    props = put.json()["properties"]
    assert props["jobType"] == "Command"
    assert props["displayName"] == "Tiny training"
    assert props["experimentName"] == "tiny"
    assert props["computeId"].endswith(f"{WS_PATH}/computes/cpu-cluster")
    assert props["environmentId"] == "azureml:AzureML-sklearn-1.5:3"
    assert props["inputs"]["lr"] == {"jobInputType": "literal", "value": "0.02"}
    assert props["inputs"]["epochs"]["value"] == "2"
    assert props["inputs"]["data"]["jobInputType"] == "uri_folder"
    assert props["inputs"]["data"]["uri"] == "azureml://datastores/workspaceblobstore/paths/tiny/v2/"
    assert props["tags"] == BOT_TAGS
    assert props["services"] == {"jupyter": {"jobServiceType": "JupyterLab"}}
    assert (info.name, info.status, info.template, info.compute) == (NAME, JobStatus.NOT_STARTED, "tiny", "cpu-cluster")
    assert info.tags[TAG_SLACK_USER] == "U42"
    assert info.output_uri == f"azureml://jobs/{NAME}/outputs/artifacts/paths/"
    assert transport.unmatched == []


def test_submit_overrides_compute_experiment_and_display_name() -> None:
    request = JobRequest(
        template="tiny",
        request_id="req-2",
        requested_by="U42",
        channel="C7",
        compute="gpu-cluster",
        experiment="sweeps",
        display_name="Try 2",
    )
    name = job_name_for(request)
    transport = (
        FakeTransport()
        .add("GET", rf"{JOBS}/{name}\?", arm_error(404, "UserError", "not found"))
        .add("PUT", rf"{JOBS}/{name}\?", created_from_put)
    )
    make_backend(transport).jobs.submit(request)
    props = transport.sent("PUT")[0].json()["properties"]
    assert props["computeId"].endswith("/computes/gpu-cluster")
    assert (props["experimentName"], props["displayName"]) == ("sweeps", "Try 2")
    assert "services" not in props or not props["services"]


def test_a_retried_submit_returns_the_existing_job_without_submitting_again() -> None:
    transport = FakeTransport().add(
        "GET", rf"{JOBS}/{NAME}\?", Canned(200, job_body(NAME, status="Queued", tags=BOT_TAGS))
    )
    info = make_backend(transport).jobs.submit(REQUEST)
    assert (info.name, info.status) == (NAME, JobStatus.QUEUED)
    assert transport.sent("PUT") == []


def test_a_concurrent_duplicate_submit_returns_the_winner() -> None:
    transport = (
        FakeTransport()
        .add(
            "GET",
            rf"{JOBS}/{NAME}\?",
            arm_error(404, "UserError", "not found"),
            Canned(200, job_body(NAME, status="NotStarted", tags=BOT_TAGS)),
        )
        .add("PUT", rf"{JOBS}/{NAME}\?", arm_error(409, "Conflict", f"Job {NAME} already exists."))
    )
    assert make_backend(transport).jobs.submit(REQUEST).status is JobStatus.NOT_STARTED
    assert len(transport.sent("PUT")) == 1


def test_unknown_template_input_or_service_is_refused_before_any_call() -> None:
    transport = FakeTransport()
    jobs = make_backend(transport).jobs
    with pytest.raises(InvalidInput, match="no job template `tinny`"):
        jobs.submit(JobRequest(template="tinny", request_id="r", requested_by="U", channel="C"))
    with pytest.raises(InvalidInput, match="no input `rate`"):
        jobs.submit(JobRequest(template="tiny", request_id="r", requested_by="U", channel="C", overrides={"rate": "1"}))
    with pytest.raises(InvalidInput, match="Unknown service `ssh`"):
        jobs.submit(JobRequest(template="tiny", request_id="r", requested_by="U", channel="C", services=("ssh",)))
    assert transport.requests == []


def test_lifecycle_queued_running_completed_across_successive_reads() -> None:
    """What the watcher will see polling one job: each read maps to the right JobInfo."""
    jupyter = {
        "jupyter": {
            "jobServiceType": "JupyterLab",
            "status": "Running",
            "endpoint": f"https://{NAME}-0.eastus.nbs.azureml.net/lab",
        }
    }
    transport = FakeTransport().add(
        "GET",
        rf"{JOBS}/{NAME}\?",
        Canned(200, job_body(NAME, status="Queued", tags=BOT_TAGS)),
        Canned(200, job_body(NAME, status="Running", tags=BOT_TAGS, services=jupyter)),
        Canned(200, job_body(NAME, status="Completed", tags=BOT_TAGS)),
    )
    discovery(transport)
    transport.add(
        "GET",
        rf"{HISTORY}/{NAME}/details",
        Canned(200, run_details_body(NAME, status="Running")),
        Canned(200, run_details_body(NAME, status="Completed", ended="2026-03-01T10:20:00Z")),
    )
    jobs = make_backend(transport).jobs

    queued = jobs.get(NAME)
    assert (queued.status, queued.started_at, queued.ended_at, queued.services) == (JobStatus.QUEUED, None, None, ())
    assert transport.sent("GET", "/history/") == []  # nothing to read before it runs
    assert queued.created_by == "Ada Lovelace"
    assert queued.created_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert queued.studio_url and queued.studio_url.startswith(f"https://ml.azure.com/runs/{NAME}")

    running = jobs.get(NAME)
    assert running.status is JobStatus.RUNNING
    assert running.started_at == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert running.ended_at is None
    assert running.services == (
        ServiceEndpoint("jupyter", "jupyter", f"https://{NAME}-0.eastus.nbs.azureml.net/lab", "Running"),
    )

    completed = jobs.get(NAME)
    assert completed.status is JobStatus.COMPLETED and completed.status.is_terminal
    assert completed.ended_at == datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
    assert completed.error is None
    assert transport.unmatched == []


def test_failed_job_carries_its_error_with_secrets_removed() -> None:
    transport = FakeTransport().add("GET", rf"{JOBS}/{NAME}\?", Canned(200, job_body(NAME, status="Failed")))
    discovery(transport)
    transport.add(
        "GET",
        rf"{HISTORY}/{NAME}/details",
        Canned(
            200,
            run_details_body(
                NAME,
                status="Failed",
                ended="2026-03-01T10:07:00Z",
                error=(
                    "UserError",
                    "Execution failed: DefaultEndpointsProtocol=https;AccountName=st;"
                    "AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0==;",
                ),
            ),
        ),
    )
    info = make_backend(transport).jobs.get(NAME)
    assert info.status is JobStatus.FAILED
    assert info.error is not None and info.error.startswith("UserError: Execution failed")
    assert "c2VjcmV0" not in info.error and "AccountKey=***" in info.error


def test_run_history_outage_does_not_break_get() -> None:
    transport = FakeTransport().add("GET", rf"{JOBS}/{NAME}\?", Canned(200, job_body(NAME, status="Running")))
    discovery(transport)
    transport.add("GET", rf"{HISTORY}/{NAME}/details", arm_error(503, "ServiceUnavailable", "try later"))
    info = make_backend(transport).jobs.get(NAME)
    assert (info.status, info.started_at) == (JobStatus.RUNNING, None)


def test_missing_job_is_not_found() -> None:
    transport = FakeTransport().add("GET", rf"{JOBS}/nope\?", arm_error(404, "UserError", "Not found"))
    with pytest.raises(NotFound, match="Job `nope` was not found"):
        make_backend(transport).jobs.get("nope")


def test_list_filters_by_tag_on_the_service_and_value_here() -> None:
    listing = {
        "value": [
            job_body("job-a", tags={TAG_SLACK_CHANNEL: "C7"}, created_at="2026-03-01T09:00:00Z"),
            job_body("job-b", tags={TAG_SLACK_CHANNEL: "C9"}, created_at="2026-03-01T10:00:00Z"),
            job_body("job-c", tags={TAG_SLACK_CHANNEL: "C7"}, created_at="2026-03-01T11:00:00Z"),
        ]
    }
    transport = FakeTransport().add("GET", rf"{JOBS}\?", Canned(200, listing))
    jobs = make_backend(transport).jobs.list(tag=f"{TAG_SLACK_CHANNEL}=C7")
    assert [j.name for j in jobs] == ["job-c", "job-a"]
    (get,) = transport.requests
    assert get.query["tag"] == TAG_SLACK_CHANNEL
    assert get.api_version == "2024-01-01-preview"
    assert [j.name for j in make_backend(transport).jobs.list(limit=2)] == ["job-b", "job-a"]


def test_cancel_a_running_job() -> None:
    transport = FakeTransport().add(
        "GET",
        rf"{JOBS}/{NAME}\?",
        Canned(200, job_body(NAME, status="Running")),
        Canned(200, job_body(NAME, status="CancelRequested")),
    )
    discovery(transport)
    transport.add("GET", rf"{HISTORY}/{NAME}/details", Canned(200, run_details_body(NAME, status="Running")))
    poll = f"{ML_LOCATION}/mfeOperationResults/jc:1"
    transport.add(
        "POST", rf"{JOBS}/{NAME}/cancel\?", example_response(f"{ML_EXAMPLES}/Job/cancel.json", "202", poll_url=poll)
    )
    transport.add("GET", "mfeOperationResults", Canned(200))
    info = make_backend(transport).jobs.cancel(NAME)
    assert info.status is JobStatus.CANCEL_REQUESTED
    (post,) = transport.sent("POST")
    assert (post.path, post.api_version) == (f"{WS_PATH}/jobs/{NAME}/cancel", "2023-04-01-preview")


def test_cancel_a_finished_job_says_so() -> None:
    transport = FakeTransport().add("GET", rf"{JOBS}/{NAME}\?", Canned(200, job_body(NAME, status="Completed")))
    discovery(transport)
    transport.add("GET", rf"{HISTORY}/{NAME}/details", Canned(200, run_details_body(NAME, status="Completed")))
    with pytest.raises(InvalidState, match="already finished \\(Completed\\)"):
        make_backend(transport).jobs.cancel(NAME)
    assert transport.sent("POST") == []


def test_rerun_resubmits_the_template_with_the_old_inputs_and_new_overrides() -> None:
    data = {"jobInputType": "uri_folder", "uri": "azureml://datastores/workspaceblobstore/paths/tiny/v7/"}
    original = job_body("tiny-old", status="Failed", tags=BOT_TAGS, inputs={"lr": "0.05", "epochs": "3", "data": data})
    again = JobRequest(template="tiny", request_id="req-9", requested_by="U1", channel="C2")
    new_name = job_name_for(again)
    transport = (
        FakeTransport()
        .add("GET", rf"{JOBS}/tiny-old\?", Canned(200, original))
        .add("GET", rf"{JOBS}/{new_name}\?", arm_error(404, "UserError", "not found"))
        .add("PUT", rf"{JOBS}/{new_name}\?", created_from_put)
    )
    info = make_backend(transport).jobs.rerun(
        "tiny-old", request_id="req-9", requested_by="U1", channel="C2", overrides={"inputs.epochs": "5"}
    )
    props = transport.sent("PUT")[0].json()["properties"]
    literals = {k: v["value"] for k, v in props["inputs"].items() if v["jobInputType"] == "literal"}
    assert literals == {"lr": "0.05", "epochs": "5"}
    assert props["inputs"]["data"]["uri"] == "azureml://datastores/workspaceblobstore/paths/tiny/v7/"
    assert props["tags"][TAG_REQUEST] == "req-9" and props["tags"][TAG_SLACK_USER] == "U1"
    assert info.name == new_name


def test_rerun_of_a_job_from_elsewhere_is_refused() -> None:
    transport = FakeTransport().add("GET", rf"{JOBS}/handmade\?", Canned(200, job_body("handmade")))
    with pytest.raises(InvalidInput, match="not submitted from the bot's job catalog"):
        make_backend(transport).jobs.rerun("handmade", request_id="r", requested_by="U", channel="C")


def log_routes(transport: FakeTransport, text: bytes, status: str = "Running") -> str:
    sas = (
        f"https://stws.blob.core.windows.net/azureml/ExperimentRun/dcid.{NAME}/user_logs/std_log.txt"
        "?sv=2019-07-07&sr=b&sig=c2lnbmF0dXJl%3D&se=2026-03-02T00%3A00%3A00Z&sp=r"
    )
    discovery(transport)
    transport.add(
        "GET",
        rf"{HISTORY}/{NAME}/details",
        Canned(
            200,
            run_details_body(
                NAME,
                status=status,
                log_files={
                    "user_logs/std_log.txt": sas,
                    "system_logs/lifecycler/execution-wrapper.log": sas.replace("user_logs/std_log.txt", "x.log"),
                },
            ),
        ),
    )
    transport.add(
        "GET",
        r"^https://stws\.blob\.core\.windows\.net/azureml/ExperimentRun/.*/user_logs/std_log\.txt\?",
        Canned(200, text, {"Content-Type": "text/plain"}),
    )
    return sas


def test_log_tail_reads_the_user_log_through_its_sas_url() -> None:
    lines = [f"epoch {i} loss {1 / (i + 1):.3f}" for i in range(100)]
    lines[-2] = "connecting with AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0=="
    transport = FakeTransport()
    sas = log_routes(transport, "\n".join(lines).encode())
    tail = make_backend(transport).jobs.log_tail(NAME, lines=3)
    assert tail.splitlines() == ["epoch 97 loss 0.010", "connecting with AccountKey=***", "epoch 99 loss 0.010"]
    (download,) = transport.sent("GET", "blob.core.windows.net")
    assert download.url == sas and "Authorization" not in download.headers  # the SAS is the authorisation
    assert "sig=" not in tail


def test_log_tail_of_a_job_without_logs_gives_its_error() -> None:
    transport = FakeTransport()
    discovery(transport)
    transport.add(
        "GET",
        rf"{HISTORY}/{NAME}/details",
        Canned(
            200,
            run_details_body(
                NAME, status="Failed", started=None, error=("ImageBuildFailed", "Conda could not resolve numpy==9.9.")
            ),
        ),
    )
    assert make_backend(transport).jobs.log_tail(NAME) == "ImageBuildFailed: Conda could not resolve numpy==9.9."


def test_job_tags_and_request_are_json_safe() -> None:
    # The tags the watcher stores come back as plain str → str.
    transport = FakeTransport().add(
        "GET", rf"{JOBS}/{NAME}\?", Canned(200, job_body(NAME, status="Queued", tags=BOT_TAGS))
    )
    info = make_backend(transport).jobs.get(NAME)
    assert json.loads(json.dumps(dict(info.tags))) == BOT_TAGS


def test_a_template_azure_ml_rejects_is_invalid_input_with_the_reason() -> None:
    request = JobRequest(template="broken", request_id="r", requested_by="U", channel="C")
    transport = FakeTransport().add("GET", rf"{JOBS}/{job_name_for(request)}\?", arm_error(404, "UserError", "no"))
    with pytest.raises(InvalidInput, match=r"job template `broken`: resources\.instance_count: Not a valid integer"):
        make_backend(transport).jobs.submit(request)
    assert transport.sent("PUT") == []


def test_an_explicit_name_another_request_submitted_is_already_exists() -> None:
    request = JobRequest(template="tiny", request_id="req-2", requested_by="U42", channel="C7", name="tiny-mine")
    theirs = {**BOT_TAGS, TAG_REQUEST: "req-1"}
    transport = FakeTransport().add("GET", rf"{JOBS}/tiny-mine\?", Canned(200, job_body("tiny-mine", tags=theirs)))
    with pytest.raises(AlreadyExists, match="A job named `tiny-mine` already exists"):
        make_backend(transport).jobs.submit(request)
    assert transport.sent("PUT") == []


def test_an_explicit_name_of_a_job_made_outside_the_bot_is_already_exists() -> None:
    request = JobRequest(template="tiny", request_id="req-2", requested_by="U42", channel="C7", name="handmade")
    transport = FakeTransport().add("GET", rf"{JOBS}/handmade\?", Canned(200, job_body("handmade")))
    with pytest.raises(AlreadyExists, match="`handmade`"):
        make_backend(transport).jobs.submit(request)
    assert transport.sent("PUT") == []


def test_losing_the_race_for_an_explicit_name_to_another_request_is_already_exists() -> None:
    request = JobRequest(template="tiny", request_id="req-2", requested_by="U42", channel="C7", name="tiny-race")
    theirs = {**BOT_TAGS, TAG_REQUEST: "req-1"}
    transport = (
        FakeTransport()
        .add(
            "GET",
            rf"{JOBS}/tiny-race\?",
            arm_error(404, "UserError", "not found"),
            Canned(200, job_body("tiny-race", status="NotStarted", tags=theirs)),
        )
        .add("PUT", rf"{JOBS}/tiny-race\?", arm_error(409, "Conflict", "Job tiny-race already exists."))
    )
    with pytest.raises(AlreadyExists, match="A job named `tiny-race` already exists"):
        make_backend(transport).jobs.submit(request)
    assert len(transport.sent("PUT")) == 1
