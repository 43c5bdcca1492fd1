"""Job metrics (MLflow REST through mlflow-skinny) and model registration (MLClient.models), offline.

Metrics: the workspace read goes through the replaying transport; MLflow's RestStore talks HTTP itself
(requests, not azure-core), so a small fake MLflow tracking server on 127.0.0.1 answers it. The only seam
is the host rewrite (`azureml://<region>.api.azureml.ms` → that server instead of https).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.catalog import JobCatalog
from services.cloud.azure.clients import AzureClients
from services.cloud.azure.jobs import AzureJobs
from services.cloud.azure.model_registry import version_key
from services.errors import AlreadyExists, InvalidInput, InvalidName, NotFound
from services.models import MetricPoint, ModelType
from tests.services.azure.azure_fakes import (
    ARM,
    JOBS_DIR,
    ML_EXAMPLES,
    RG,
    SUB,
    WS,
    WS_PATH,
    Canned,
    FakeCredential,
    FakeTransport,
    Recorded,
    arm_error,
    example_body,
    make_backend,
    workspace_body,
)

T0 = int(datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)
HISTORY = {
    "loss": [
        {"key": "loss", "value": 0.9, "timestamp": T0, "step": 0},
        {"key": "loss", "value": 0.4, "timestamp": T0 + 60_000, "step": 1},
    ],
    "accuracy": [{"key": "accuracy", "value": 0.81, "timestamp": T0 + 60_000, "step": 1}],
}


class FakeMlflow(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, list[str]], str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        FakeMlflow.seen.append((url.path, query, self.headers.get("Authorization")))
        run_id = (query.get("run_id") or query.get("run_uuid") or [""])[0]
        if url.path.endswith("/api/2.0/mlflow/runs/get"):
            if run_id != "tiny-1":
                missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run '{run_id}' not found"}
                return self._send(404, missing)
            latest = [points[-1] for points in HISTORY.values()]
            return self._send(
                200,
                {
                    "run": {
                        "info": {
                            "run_id": run_id,
                            "run_uuid": run_id,
                            "experiment_id": "7",
                            "status": "FINISHED",
                            "start_time": T0,
                            "end_time": T0 + 120_000,
                            "lifecycle_stage": "active",
                        },
                        "data": {"metrics": latest, "params": [], "tags": []},
                    }
                },
            )
        if url.path.endswith("/api/2.0/mlflow/metrics/get-history"):
            return self._send(200, {"metrics": HISTORY[query["metric_key"][0]]})
        return self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": url.path})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def mlflow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeMlflow.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def metrics_jobs(transport: FakeTransport, server: str) -> AzureJobs:
    clients = AzureClients(
        subscription_id=SUB,
        resource_group=RG,
        workspace=WS,
        location="eastus",
        credential=FakeCredential(),
        client_kwargs={"transport": transport, "retry_total": 0},
    )
    return AzureJobs(
        clients, JobCatalog(JOBS_DIR), mlflow_host=lambda uri: uri.replace("azureml://eastus.api.azureml.ms", server)
    )


def test_metrics_read_every_history_from_the_workspace_tracking_uri(
    mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    transport = FakeTransport().add("GET", rf"^{ARM}{WS_PATH}\?", Canned(200, workspace_body()))
    points = metrics_jobs(transport, mlflow_server).metrics("tiny-1")
    assert points == [
        MetricPoint("accuracy", 1, 0.81, datetime(2026, 3, 1, 10, 1, tzinfo=UTC)),
        MetricPoint("loss", 0, 0.9, datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),
        MetricPoint("loss", 1, 0.4, datetime(2026, 3, 1, 10, 1, tzinfo=UTC)),
    ]
    paths = [p for p, _, _ in FakeMlflow.seen]
    base = f"/mlflow/v1.0{WS_PATH}"
    assert paths[0] == f"{base}/api/2.0/mlflow/runs/get"
    assert sorted(paths[1:]) == [f"{base}/api/2.0/mlflow/metrics/get-history"] * 2
    assert {auth for _, _, auth in FakeMlflow.seen} == {"Bearer fake-token"}


def test_metrics_of_an_unknown_run_is_not_found(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    transport = FakeTransport().add("GET", rf"^{ARM}{WS_PATH}\?", Canned(200, workspace_body()))
    with pytest.raises(NotFound, match="No MLflow run was found for job `tiny-2`"):
        metrics_jobs(transport, mlflow_server).metrics("tiny-2")


# ---------------------------------------------------------------------- models
MODELS = rf"^{ARM}{WS_PATH}/models/tiny-model"


def version_from_put(request: Recorded) -> Canned:
    """The example ModelVersions_CreateOrUpdate response, patched with what was sent."""
    sent = request.json()["properties"]
    body = example_body(f"{ML_EXAMPLES}/Workspace/ModelVersion/createOrUpdate.json", "201")
    version = request.path.rsplit("/", 1)[-1]
    body.update(
        {
            "id": f"{WS_PATH}/models/tiny-model/versions/{version}",
            "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
        }
    )
    body["properties"].update(
        {"modelUri": sent["modelUri"], "modelType": sent["modelType"], "flavors": {}, "tags": {}, "properties": {}}
    )
    return Canned(201, body)


def test_register_a_job_output_as_a_model_version() -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"{MODELS}/versions\?", Canned(200, {"value": []}))  # the SDK looks for the latest first
        .add("PUT", rf"{MODELS}/versions/3\?", version_from_put)
    )
    info = make_backend(transport).models.register(
        job_name="tiny-9456bdfa12", name="tiny-model", version="3", path="outputs/model", type=ModelType.MLFLOW
    )
    (put,) = transport.sent("PUT")
    assert put.api_version == "2023-08-01-preview"
    props = put.json()["properties"]
    assert props["modelUri"] == "azureml://jobs/tiny-9456bdfa12/outputs/artifacts/paths/outputs/model/"
    assert props["modelType"] == "mlflow_model"
    assert (info.name, info.version, info.type, info.job_name) == (
        "tiny-model",
        "3",
        ModelType.MLFLOW,
        "tiny-9456bdfa12",
    )


def test_register_custom_model_by_default() -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"{MODELS}/versions\?", Canned(200, {"value": []}))
        .add("PUT", rf"{MODELS}/versions/1\?", version_from_put)
    )
    info = make_backend(transport).models.register(job_name="tiny-1", name="tiny-model", version="1")
    assert transport.sent("PUT")[0].json()["properties"]["modelUri"] == (
        "azureml://jobs/tiny-1/outputs/artifacts/paths/model/"
    )
    assert info.type is ModelType.CUSTOM


def test_register_an_existing_version_is_already_exists() -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"{MODELS}/versions\?", Canned(200, {"value": []}))
        .add("PUT", rf"{MODELS}/versions/1\?", arm_error(409, "UserError", "Model version tiny-model:1 exists."))
    )
    with pytest.raises(AlreadyExists, match="Model `tiny-model` version `1` already exists"):
        make_backend(transport).models.register(job_name="tiny-1", name="tiny-model", version="1")


def test_register_refuses_bad_names_and_paths_before_any_call() -> None:
    transport = FakeTransport()
    models = make_backend(transport).models
    with pytest.raises(InvalidName):
        models.register(job_name="tiny-1", name="tiny model", version="1")
    with pytest.raises(InvalidInput, match="not a folder inside the job's outputs"):
        models.register(job_name="tiny-1", name="tiny-model", version="1", path="../secrets")
    assert transport.requests == []


def test_list_versions() -> None:
    listing = {
        "value": [
            version_from_put(
                Recorded(
                    "PUT",
                    f"{ARM}{WS_PATH}/models/tiny-model/versions/{v}",
                    {},
                    json.dumps(
                        {
                            "properties": {
                                "modelUri": f"azureml://jobs/job-{v}/outputs/artifacts/paths/model/",
                                "modelType": "custom_model",
                            }
                        }
                    ).encode(),
                )
            ).body
            for v in ("1", "2", "10")
        ]
    }
    transport = FakeTransport().add("GET", rf"{MODELS}/versions\?", Canned(200, listing))
    versions = make_backend(transport).models.list_versions("tiny-model")
    assert [(m.version, m.job_name) for m in versions] == [("10", "job-10"), ("2", "job-2"), ("1", "job-1")]


def test_versions_sort_newest_first_numbers_by_value_after_labels() -> None:
    versions = ["1", "10", "2", "beta", "v2", "9"]
    assert sorted(versions, key=version_key, reverse=True) == ["v2", "beta", "10", "9", "2", "1"]
