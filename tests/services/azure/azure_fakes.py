"""An azure-core HTTP transport that records requests and replays canned responses (no network)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpResponse as LegacyHttpResponse
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "azure"
ML = "specification/machinelearningservices/resource-manager/Microsoft.MachineLearningServices/stable"
STORAGE = "specification/storage/resource-manager/Microsoft.Storage/stable/2025-08-01/examples"
RESOURCES = "specification/resources/resource-manager/Microsoft.Resources/stable"

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-bot"
WS = "ws-bot"
ARM = "https://management.azure.com"


def example(relative: str) -> dict[str, Any]:
    """Load one of Microsoft's REST examples copied under tests/fixtures/azure/."""
    data: dict[str, Any] = json.loads((FIXTURES / relative).read_text())
    return data


def example_body(relative: str, status: str = "200") -> Any:
    """The response body of an example for one status code."""
    return example(relative)["responses"][status].get("body")


class FakeCredential:
    """A TokenCredential that never talks to Entra ID."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("fake-token", int((datetime.now(UTC) + timedelta(days=3650)).timestamp()))

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("fake-token", int((datetime.now(UTC) + timedelta(days=3650)).timestamp()))


@dataclass
class Recorded:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.url).query).items()}

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Canned:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


Responder = Canned | Callable[[Recorded], Canned]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    responses: list[Responder]
    hits: int = 0

    def next(self, request: Recorded) -> Canned:
        responder = self.responses[min(self.hits, len(self.responses) - 1)]
        self.hits += 1
        return responder(request) if callable(responder) else responder


def example_response(relative: str, status: str, *, poll_url: str | None = None) -> Canned:
    """An example's response as Canned; placeholder Location / Azure-AsyncOperation headers become poll_url."""
    response = example(relative)["responses"][status]
    headers = {
        name: (poll_url if poll_url and name.lower() in ("location", "azure-asyncoperation") else value)
        for name, value in (response.get("headers") or {}).items()
    }
    if headers:
        headers["Retry-After"] = "0"
    return Canned(int(status), response.get("body"), headers)


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Canned:
    """An ARM error response in the standard {"error": {"code", "message"}} shape."""
    return Canned(status, {"error": {"code": code, "message": message}}, headers or {})


class _Internal:
    def close(self) -> None:
        pass


class _LegacyResponse(LegacyHttpResponse):
    def __init__(self, request: Any, canned: Canned, content: bytes) -> None:
        super().__init__(request, _Internal())
        self.status_code = canned.status
        self.headers = case_insensitive_dict(canned.headers)
        self.reason = _REASONS.get(canned.status, "Status")
        self.content_type = self.headers.get("Content-Type")
        self._content = content

    def body(self) -> bytes:
        return self._content

    def stream_download(self, pipeline: Any, **kwargs: Any) -> Iterator[bytes]:
        return iter([self._content])


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class FakeTransport(HttpTransport):
    """Route requests by method and URL regex to canned responses; record every request.

    A route with several responses hands them out in order and then repeats the last one, so a job
    can move Queued -> Running -> Completed across successive GETs. Unrouted requests get a 599 and
    are listed in `unmatched`, which tests assert is empty.
    """

    def __init__(self) -> None:
        self.routes: list[_Route] = []
        self.requests: list[Recorded] = []
        self.unmatched: list[Recorded] = []

    def add(self, method: str, pattern: str, *responses: Responder) -> FakeTransport:
        self.routes.insert(0, _Route(method.upper(), re.compile(pattern), list(responses)))
        return self

    def sent(self, method: str | None = None, pattern: str = "") -> list[Recorded]:
        """Requests sent so far, optionally filtered by method and URL regex."""
        return [
            r for r in self.requests if (method is None or r.method == method.upper()) and re.search(pattern, r.url)
        ]

    def send(self, request: Any, **kwargs: Any) -> Any:
        body = request.content if hasattr(request, "content") and not callable(request.content) else None
        if body is None:
            body = getattr(request, "data", None) or getattr(request, "body", None)
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode() if isinstance(body, (dict, list)) else bytes(body)
        recorded = Recorded(request.method.upper(), request.url, dict(request.headers), body)
        self.requests.append(recorded)
        route = next((r for r in self.routes if r.method == recorded.method and r.pattern.search(recorded.url)), None)
        if route is None:
            self.unmatched.append(recorded)
            canned = arm_error(599, "NoFakeRoute", f"no fake route for {recorded.method} {recorded.url}")
        else:
            canned = route.next(recorded)
        content = canned.encoded()
        headers = {"Content-Type": "application/json", **canned.headers} if content else dict(canned.headers)
        canned = Canned(canned.status, canned.body, headers)
        if _is_rest(request):
            response = HttpResponseImpl(
                request=request,
                internal_response=_Internal(),
                status_code=canned.status,
                reason=_REASONS.get(canned.status, "Status"),
                content_type=headers.get("Content-Type"),
                headers=case_insensitive_dict(headers),
                stream_download_generator=lambda *a, **k: iter([content]),
            )
            response._content = content
            return response
        return _LegacyResponse(request, canned, content)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass


def _is_rest(request: Any) -> bool:
    from azure.core.pipeline._tools import is_rest

    return bool(is_rest(request))


# ---------------------------------------------------------------------- ids and URLs
WS_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
ML_EXAMPLES = f"{ML}/2025-12-01/examples"
JOBS_DIR = FIXTURES / "jobs"
# Where Azure ML's long-running operations are polled (any absolute URL would do for the fakes).
ML_LOCATION = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus"


def ws_id(*parts: str, sub: str = SUB, rg: str = RG, ws: str = WS) -> str:
    base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"
    return "/".join([base, *parts]) if parts else base


def async_op(name: str, header: str = "Azure-AsyncOperation") -> dict[str, str]:
    """Headers of a 201/202 that starts an LRO polled at .../operationStatuses/<name>."""
    return {
        header: f"{ARM}/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus/"
        f"operationStatuses/{name}?api-version=2025-12-01",
        "Retry-After": "0",
    }


# ---------------------------------------------------------------------- bodies from the examples
def compute_instance_body(
    name: str = "ci-ada",
    *,
    state: str = "Running",
    last_operation: dict[str, str] | None = None,
    idle: str | None = "PT30M",
    sub: str = SUB,
    rg: str = RG,
    ws: str = WS,
) -> dict[str, Any]:
    body = example_body(f"{ML_EXAMPLES}/Compute/get/ComputeInstance.json")
    body["id"] = ws_id("computes", name, sub=sub, rg=rg, ws=ws)
    body["name"] = name
    props = body["properties"]["properties"]
    props["state"] = state
    props["subnet"] = None  # "test-subnet-resource-id" is a placeholder, not an ARM id
    if last_operation is not None:
        props["lastOperation"] = last_operation
    if idle is not None:
        props["idleTimeBeforeShutdown"] = idle
    return body


def aml_compute_body(
    name: str = "cpu-cluster", *, current: int = 2, target: int = 2, allocation: str = "Steady"
) -> dict[str, Any]:
    body = example_body(f"{ML_EXAMPLES}/Compute/get/AmlCompute.json")
    body["id"] = ws_id("computes", name)
    body["name"] = name
    props = body["properties"]["properties"]
    props.update(
        {
            "currentNodeCount": current,
            "targetNodeCount": target,
            "allocationState": allocation,
            "subnet": None,
            "osType": "Linux",
        }
    )
    return body


def workspace_body(name: str = WS, *, rg: str = RG, tracking: str | None = None) -> dict[str, Any]:
    body = example_body(f"{ML_EXAMPLES}/Workspace/get.json")
    body["id"] = ws_id(sub=SUB, rg=rg, ws=name)
    body["name"] = name
    body["location"] = "eastus"
    props = body["properties"]
    props["discoveryUrl"] = "https://eastus.api.azureml.ms/discovery"
    props["mlFlowTrackingUri"] = tracking or (
        f"azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/{SUB}/resourceGroups/{rg}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{name}"
    )
    return body


def job_body(
    name: str,
    *,
    status: str = "Running",
    tags: dict[str, str] | None = None,
    inputs: dict[str, Any] | None = None,
    services: dict[str, Any] | None = None,
    created_at: str = "2026-03-01T10:00:00Z",
) -> dict[str, Any]:
    """A Jobs_Get response for a command job: the example with its "string" placeholders patched."""
    body = example_body(f"{ML_EXAMPLES}/Job/CommandJob/get.json")
    body.update({"id": ws_id("jobs", name), "name": name, "type": "Microsoft.MachineLearningServices/workspaces/jobs"})
    props = body["properties"]
    props.update(
        {
            "status": status,
            "displayName": "Tiny training",
            "experimentName": "tiny",
            "description": "tiny",
            "tags": dict(tags or {}),
            "properties": {},
            "computeId": ws_id("computes", "cpu-cluster"),
            "codeId": None,
            "environmentId": "azureml:AzureML-sklearn-1.5:3",
            "command": "echo training",
            "inputs": {  # a plain value is a literal input; a mapping is sent as it is (data inputs)
                k: v if isinstance(v, dict) else {"jobInputType": "literal", "value": v}
                for k, v in (inputs or {"lr": "0.01"}).items()
            },
            "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
            "services": services
            or {"Studio": {"jobServiceType": "Studio", "endpoint": f"https://ml.azure.com/runs/{name}?wsid={ws_id()}"}},
            "resources": {"instanceCount": 1},
            "distribution": None,
            "environmentVariables": {},
            "parameters": {},
        }
    )
    body["systemData"].update({"createdBy": "Ada Lovelace", "createdAt": created_at})
    return body


def run_details_body(
    name: str,
    *,
    status: str,
    started: str | None = "2026-03-01T10:05:00Z",
    ended: str | None = None,
    error: tuple[str, str] | None = None,
    log_files: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A run-history /runs/<id>/details response (the data plane behind `jobs.stream`)."""
    body: dict[str, Any] = {
        "runId": name,
        "status": status,
        "startTimeUtc": started,
        "endTimeUtc": ended,
        "logFiles": log_files or {},
    }
    if error:
        body["error"] = {"error": {"code": error[0], "message": error[1]}}
    return body


def discovery(transport: FakeTransport) -> None:
    """Routes for what run history needs first: the workspace (for its discovery URL) and discovery."""
    transport.add("GET", rf"{WS_PATH}\?", Canned(200, workspace_body()))
    transport.add(
        "GET",
        r"^https://eastus\.api\.azureml\.ms/discovery$",
        Canned(200, {"api": "https://eastus.api.azureml.ms", "history": "https://eastus.api.azureml.ms"}),
    )


# ---------------------------------------------------------------------- the backend under test
def make_backend(transport: FakeTransport, **overrides: Any) -> Any:
    from services.catalog import JobCatalog
    from services.cloud.azure import build_azure_backend

    options: dict[str, Any] = {
        "subscription_id": SUB,
        "resource_group": RG,
        "workspace": WS,
        "location": "eastus",
        "catalog": JobCatalog(JOBS_DIR),
        "credential": FakeCredential(),
        "transport": transport,
        "retry_total": 0,
        "polling_interval": 0.01,
    }
    options.update(overrides)
    return build_azure_backend(**options)
