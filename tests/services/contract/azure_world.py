"""A stateful fake Azure ML world behind the replaying FakeTransport: the contract suite's Azure side.

`AzureWorld` is a `FakeTransport` whose routes answer from in-memory state instead of canned replies, so
a sequence of port calls behaves like one subscription that remembers what happened:

- jobs (Azure ML `workspaces/<ws>/jobs`): PUT creates a job (status NotStarted; a second PUT of the same
  name is a 409), GET returns it and moves it one step along `job_lifecycle` (Queued → Running →
  Completed by default: what a watcher polling a short job sees), list filters by tag key as the service
  does, POST cancel moves a live job to CancelRequested then Canceled. Run history (`/runs/<id>/details`,
  reached through the workspace's discovery URL) reports start and end times from the same state.
- computes: GET / list from the seeded instances and clusters; PUT of a cluster creates it (its minimum nodes
  allocated, as Azure keeps them); POST start / stop on an instance goes through Starting / Stopping and lands
  when its operation is polled; PATCH of a cluster's scale settings (Compute_Update) applies them, and a
  minimum of 0 releases its nodes at once (Azure waits for the scale-down delay; no world job holds a node).
- resource groups (ARM): PUT creates or updates (a different location is ARM's 409
  InvalidResourceGroupLocation), GET reads.
- storage: checkNameAvailability answers from the accounts that exist; PUT of an account is an LRO that
  lands when polled; GET properties reads it.
- model versions: list, get and PUT (an existing version is a 409).
- workspaces: GET from the seeded ones; `WorldLifecycle` is the `workspace_lifecycle` seam (azure-ai-ml
  creates and deletes workspaces through ARM clients of its own, which never see this transport).

Bodies come from Microsoft's REST examples under tests/fixtures/azure/ (through the helpers in
tests/services/azure/azure_fakes.py) with ids, names, statuses and times patched. Anything the world does
not model is still a 599 listed in `unmatched`, which the contract suite asserts stays empty.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.services.azure.azure_fakes import (
    ARM,
    ML_EXAMPLES,
    ML_LOCATION,
    RESOURCES,
    RG,
    STORAGE,
    SUB,
    WS,
    Canned,
    FakeTransport,
    Recorded,
    aml_compute_body,
    arm_error,
    compute_instance_body,
    example_body,
    job_body,
    run_details_body,
    workspace_body,
)

# What a short job looks like to successive reads after it was created (NotStarted).
DEFAULT_JOB_LIFECYCLE = ("Queued", "Running", "Completed")
TERMINAL = frozenset({"completed", "failed", "canceled"})

_SEGMENT = r"[^/?]+"
_SUB_PATH = rf"(?i)^{re.escape(ARM)}/subscriptions/{SUB}"
_WS_PATH = (
    rf"{_SUB_PATH}/resourceGroups/(?P<rg>{_SEGMENT})/providers/Microsoft\.MachineLearningServices"
    rf"/workspaces/(?P<ws>{_SEGMENT})"
)
_HISTORY = (
    r"(?i)^https://eastus\.api\.azureml\.ms/history/v1\.0/subscriptions/[^/]+/resourceGroups/[^/]+"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+/runs"
)
_STORAGE_OPERATIONS = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Storage/locations/eastus/asyncoperations"


def now_iso() -> str:
    """The current time as Azure writes it (microseconds, so jobs created in one second still order)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _ws_resource_id(rg: str, ws: str, *parts: str) -> str:
    base = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"
    return "/".join([base, *parts])


@dataclass
class FakeJob:
    body: dict[str, Any]
    upcoming: deque[str] = field(default_factory=deque)
    started_at: str | None = None
    ended_at: str | None = None

    @property
    def status(self) -> str:
        return str(self.body["properties"]["status"])

    def move_to(self, status: str) -> None:
        self.body["properties"]["status"] = status
        if status.lower() == "running" and self.started_at is None:
            self.started_at = now_iso()
        if status.lower() in TERMINAL and self.ended_at is None:
            self.started_at = self.started_at or now_iso()
            self.ended_at = now_iso()


class AzureWorld(FakeTransport):
    """One subscription (`SUB`) with workspace `RG`/`WS`, answering the adapters' REST calls from state."""

    def __init__(self, *, job_lifecycle: Iterable[str] = DEFAULT_JOB_LIFECYCLE) -> None:
        super().__init__()
        self.job_lifecycle = tuple(job_lifecycle)
        self.jobs: dict[str, FakeJob] = {}
        self.job_puts: list[str] = []
        self.computes: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.models: dict[tuple[str, str], dict[str, Any]] = {}
        self.workspaces: dict[tuple[str, str], dict[str, Any]] = {}
        self._pending: dict[str, Callable[[], Canned]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.add_group(RG, location="eastus")
        self.add_workspace(WS, rg=RG)
        self._routes()

    # ------------------------------------------------------------------ seeding
    def add_group(self, name: str, *, location: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
        body = example_body(f"{RESOURCES}/2025-04-01/examples/CreateResourceGroup.json", "201")
        body.update({"id": f"/subscriptions/{SUB}/resourceGroups/{name}", "name": name, "location": location})
        body["tags"] = dict(tags or {})
        self.groups[name.lower()] = body
        return body

    def add_workspace(self, name: str, *, rg: str, location: str = "eastus") -> dict[str, Any]:
        body = workspace_body(name, rg=rg)
        body["location"] = location
        self.workspaces[(rg.lower(), name.lower())] = body
        return body

    def add_instance(self, name: str, *, state: str = "Stopped") -> None:
        body = compute_instance_body(name, state=state)
        body["properties"]["properties"]["lastOperation"] = None
        self.computes[name.lower()] = body

    def add_cluster(self, name: str, *, min_nodes: int = 0, max_nodes: int = 1) -> dict[str, Any]:
        body = aml_compute_body(name, current=min_nodes, target=min_nodes)
        body["properties"]["properties"]["scaleSettings"].update({"minNodeCount": min_nodes, "maxNodeCount": max_nodes})
        self.computes[name.lower()] = body
        return body

    def add_account(self, name: str, *, rg: str, location: str) -> dict[str, Any]:
        body = example_body(f"{STORAGE}/StorageAccountGetProperties.json")
        body.update(
            {
                "id": f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}",
                "name": name,
                "location": location,
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS", "tier": "Standard"},
            }
        )
        body["properties"]["primaryEndpoints"]["blob"] = f"https://{name}.blob.core.windows.net/"
        self.accounts[name] = body  # storage account names are lowercase and global
        return body

    # ------------------------------------------------------------------ routing
    def _on(self, method: str, pattern: str, handler: Callable[[Recorded, re.Match[str]], Canned]) -> None:
        compiled = re.compile(pattern)

        def respond(request: Recorded) -> Canned:
            match = compiled.search(request.url)
            assert match is not None
            with self._lock:
                return handler(request, match)

        self.add(method, pattern, respond)

    def _routes(self) -> None:
        ws = _WS_PATH
        self._on("GET", rf"{ws}\?", self._get_workspace)
        self._on("GET", r"^https://eastus\.api\.azureml\.ms/discovery$", self._discovery)
        self._on("GET", rf"{_HISTORY}/(?P<name>{_SEGMENT})/details", self._run_details)
        # jobs
        self._on("GET", rf"{ws}/jobs\?", self._list_jobs)
        self._on("GET", rf"{ws}/jobs/(?P<name>{_SEGMENT})\?", self._get_job)
        self._on("PUT", rf"{ws}/jobs/(?P<name>{_SEGMENT})\?", self._put_job)
        self._on("POST", rf"{ws}/jobs/(?P<name>{_SEGMENT})/cancel\?", self._cancel_job)
        # computes
        self._on("GET", rf"{ws}/computes\?", self._list_computes)
        self._on("GET", rf"{ws}/computes/(?P<name>{_SEGMENT})\?", self._get_compute)
        self._on("PUT", rf"{ws}/computes/(?P<name>{_SEGMENT})\?", self._put_compute)
        self._on("PATCH", rf"{ws}/computes/(?P<name>{_SEGMENT})\?", self._patch_compute)
        self._on("POST", rf"{ws}/computes/(?P<name>{_SEGMENT})/(?P<verb>start|stop)\?", self._start_stop)
        # model versions
        self._on("GET", rf"{ws}/models/(?P<name>{_SEGMENT})/versions\?", self._list_versions)
        self._on("GET", rf"{ws}/models/(?P<name>{_SEGMENT})/versions/(?P<version>{_SEGMENT})\?", self._get_version)
        self._on("PUT", rf"{ws}/models/(?P<name>{_SEGMENT})/versions/(?P<version>{_SEGMENT})\?", self._put_version)
        # resource groups
        self._on("GET", rf"{_SUB_PATH}/resourcegroups/(?P<name>{_SEGMENT})\?", self._get_group)
        self._on("PUT", rf"{_SUB_PATH}/resourcegroups/(?P<name>{_SEGMENT})\?", self._put_group)
        # storage
        self._on("POST", rf"{_SUB_PATH}/providers/Microsoft\.Storage/checkNameAvailability\?", self._check_name)
        account = rf"{_SUB_PATH}/resourceGroups/(?P<rg>{_SEGMENT})/providers/Microsoft\.Storage/storageAccounts"
        self._on("PUT", rf"{account}/(?P<name>{_SEGMENT})\?", self._put_account)
        self._on("GET", rf"{account}/(?P<name>{_SEGMENT})\?", self._get_account)
        # long-running operations started above, answered (and landed) when polled
        self._on("GET", r"/(?:mfeOperationResults|computeOperationsStatus|asyncoperations)/(?P<op>[^/?]+)", self._poll)

    def _operation(self, kind: str, finish: Callable[[], Canned]) -> str:
        op = f"op{next(self._ids)}"
        self._pending[op] = finish
        if kind == "storage":
            return f"{_STORAGE_OPERATIONS}/{op}?api-version=2026-09-01"
        return f"{ML_LOCATION}/{kind}/{op}"

    def _poll(self, request: Recorded, match: re.Match[str]) -> Canned:
        finish = self._pending.pop(match["op"], None)
        if finish is None:
            return arm_error(404, "OperationNotFound", f"No operation {match['op']}.")
        return finish()

    # ------------------------------------------------------------------ workspaces and run history
    def _workspace(self, match: re.Match[str]) -> dict[str, Any] | None:
        return self.workspaces.get((match["rg"].lower(), match["ws"].lower()))

    def _workspace_missing(self, match: re.Match[str]) -> Canned:
        return arm_error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.MachineLearningServices/workspaces/{match['ws']}' under resource group "
            f"'{match['rg']}' was not found.",
        )

    def _get_workspace(self, request: Recorded, match: re.Match[str]) -> Canned:
        body = self._workspace(match)
        return Canned(200, copy.deepcopy(body)) if body is not None else self._workspace_missing(match)

    def _discovery(self, request: Recorded, match: re.Match[str]) -> Canned:
        return Canned(200, {"api": "https://eastus.api.azureml.ms", "history": "https://eastus.api.azureml.ms"})

    def _run_details(self, request: Recorded, match: re.Match[str]) -> Canned:
        job = self.jobs.get(match["name"].lower())
        if job is None:
            return arm_error(404, "UserError", f"Run {match['name']} was not found.")
        return Canned(
            200, run_details_body(job.body["name"], status=job.status, started=job.started_at, ended=job.ended_at)
        )

    # ------------------------------------------------------------------ jobs
    def _no_job(self, name: str) -> Canned:
        return arm_error(404, "UserError", f"Job {name} not found.")

    def _get_job(self, request: Recorded, match: re.Match[str]) -> Canned:
        if self._workspace(match) is None:
            return self._workspace_missing(match)
        job = self.jobs.get(match["name"].lower())
        if job is None:
            return self._no_job(match["name"])
        if job.upcoming:
            job.move_to(job.upcoming.popleft())
        return Canned(200, copy.deepcopy(job.body))

    def _put_job(self, request: Recorded, match: re.Match[str]) -> Canned:
        name = match["name"]
        self.job_puts.append(name)
        if name.lower() in self.jobs:
            return arm_error(409, "UserError", f"A job with name {name} already exists.")
        sent = request.json()["properties"]
        body = job_body(name, status="NotStarted", tags=sent.get("tags") or {}, created_at=now_iso())
        body["systemData"].update({"createdBy": "aml-bot", "lastModifiedBy": "aml-bot"})
        body["id"] = _ws_resource_id(match["rg"], match["ws"], "jobs", name)
        props = body["properties"]
        studio = props["services"]
        for key in ("displayName", "experimentName", "description", "command", "computeId", "environmentId"):
            if key in sent:
                props[key] = sent[key]
        props["inputs"] = sent.get("inputs") or {}
        props["outputs"] = sent.get("outputs") or {}
        props["services"] = {**studio, **(sent.get("services") or {})}
        props["status"] = "NotStarted"
        self.jobs[name.lower()] = FakeJob(body, deque(self.job_lifecycle))
        return Canned(201, copy.deepcopy(body))

    def _list_jobs(self, request: Recorded, match: re.Match[str]) -> Canned:
        if self._workspace(match) is None:
            return self._workspace_missing(match)
        key = request.query.get("tag")
        found = [j.body for j in self.jobs.values() if key is None or key in (j.body["properties"]["tags"] or {})]
        found.sort(key=lambda b: b["systemData"]["createdAt"], reverse=True)  # the service lists newest first
        return Canned(200, {"value": copy.deepcopy(found)})

    def _cancel_job(self, request: Recorded, match: re.Match[str]) -> Canned:
        job = self.jobs.get(match["name"].lower())
        if job is None:
            return self._no_job(match["name"])
        if job.status.lower() in TERMINAL:
            return arm_error(400, "UserError", f"Job {match['name']} is in a terminal state and cannot be canceled.")
        job.move_to("CancelRequested")
        job.upcoming = deque(["CancelRequested", "Canceled"])
        location = self._operation("mfeOperationResults", lambda: Canned(200))
        return Canned(202, None, {"Location": location, "Retry-After": "0"})

    # ------------------------------------------------------------------ computes
    def _no_compute(self, name: str) -> Canned:
        return arm_error(404, "ResourceNotFound", f"The compute {name} was not found in workspace {WS}.")

    def _list_computes(self, request: Recorded, match: re.Match[str]) -> Canned:
        if self._workspace(match) is None:
            return self._workspace_missing(match)
        return Canned(200, {"value": copy.deepcopy(list(self.computes.values()))})

    def _get_compute(self, request: Recorded, match: re.Match[str]) -> Canned:
        if self._workspace(match) is None:
            return self._workspace_missing(match)
        body = self.computes.get(match["name"].lower())
        return Canned(200, copy.deepcopy(body)) if body is not None else self._no_compute(match["name"])

    def _put_compute(self, request: Recorded, match: re.Match[str]) -> Canned:
        name, sent = match["name"], request.json()["properties"]
        if sent.get("computeType") != "AmlCompute":
            return arm_error(400, "BadArgument", "The contract world creates compute clusters only.")
        if name.lower() in self.computes:
            return arm_error(409, "Conflict", f"Compute {name} already exists in workspace {WS}.")
        scale = sent["properties"]["scaleSettings"]
        body = self.add_cluster(name, min_nodes=int(scale.get("minNodeCount") or 0), max_nodes=scale["maxNodeCount"])
        body["properties"]["properties"].update(
            {"vmSize": sent["properties"]["vmSize"], "vmPriority": sent["properties"].get("vmPriority", "Dedicated")}
        )
        body["properties"]["properties"]["scaleSettings"] = scale
        return Canned(200, copy.deepcopy(body))  # created at once: the poller needs no status polls

    def _patch_compute(self, request: Recorded, match: re.Match[str]) -> Canned:
        body = self.computes.get(match["name"].lower())
        if body is None:
            return self._no_compute(match["name"])
        if body["properties"]["computeType"] != "AmlCompute":
            return arm_error(400, "BadArgument", "Update is only supported for AmlCompute clusters.")
        props = body["properties"]["properties"]
        props["scaleSettings"].update(request.json()["properties"]["properties"]["scaleSettings"])
        if props["scaleSettings"].get("minNodeCount") == 0:
            props["currentNodeCount"] = props["targetNodeCount"] = 0
        return Canned(200, copy.deepcopy(body))

    def _start_stop(self, request: Recorded, match: re.Match[str]) -> Canned:
        body = self.computes.get(match["name"].lower())
        if body is None:
            return self._no_compute(match["name"])
        props = body["properties"]["properties"]
        if body["properties"]["computeType"] != "ComputeInstance":
            return arm_error(400, "BadArgument", f"{match['verb'].title()} is only supported for compute instances.")
        verb = match["verb"]
        wanted, via, final = (
            ("Stopped", "Starting", "Running") if verb == "start" else ("Running", "Stopping", "Stopped")
        )
        if props["state"] != wanted:
            code = "StartComputeInstanceOnlyAllowedInStoppedState" if verb == "start" else "StopNotAllowed"
            return arm_error(400, code, f"Compute instance {match['name']} is in {props['state']} state.")
        props["state"] = via

        def land() -> Canned:
            props["state"] = final
            props["lastOperation"] = {
                "operationName": verb.title(),
                "operationTime": now_iso(),
                "operationStatus": "Succeeded",
                "operationTrigger": "User",
            }
            return Canned(200)

        location = self._operation("computeOperationsStatus", land)
        return Canned(202, None, {"Location": location, "Retry-After": "0"})

    # ------------------------------------------------------------------ model versions
    def _version_body(self, name: str, version: str, match: re.Match[str], sent: dict[str, Any]) -> dict[str, Any]:
        body = example_body(f"{ML_EXAMPLES}/Workspace/ModelVersion/createOrUpdate.json", "201")
        body.update(
            {
                "id": _ws_resource_id(match["rg"], match["ws"], "models", name, "versions", version),
                "name": version,
                "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            }
        )
        body["properties"].update(
            {
                "modelUri": sent.get("modelUri"),
                "modelType": sent.get("modelType"),
                "description": sent.get("description"),
                "flavors": {},
                "tags": sent.get("tags") or {},
                "properties": sent.get("properties") or {},
            }
        )
        body["systemData"].update({"createdAt": now_iso(), "createdBy": "aml-bot"})
        return body

    def _list_versions(self, request: Recorded, match: re.Match[str]) -> Canned:
        name = match["name"].lower()
        found = [b for (model, _), b in self.models.items() if model == name]
        return Canned(200, {"value": copy.deepcopy(found)})

    def _get_version(self, request: Recorded, match: re.Match[str]) -> Canned:
        body = self.models.get((match["name"].lower(), match["version"]))
        if body is None:
            return arm_error(404, "UserError", f"Model {match['name']}:{match['version']} not found.")
        return Canned(200, copy.deepcopy(body))

    def _put_version(self, request: Recorded, match: re.Match[str]) -> Canned:
        key = (match["name"].lower(), match["version"])
        if key in self.models:
            return arm_error(
                409, "UserError", f"Model version {match['name']}:{match['version']} already exists and is immutable."
            )
        body = self._version_body(match["name"], match["version"], match, request.json()["properties"])
        self.models[key] = body
        return Canned(201, copy.deepcopy(body))

    # ------------------------------------------------------------------ resource groups
    def _get_group(self, request: Recorded, match: re.Match[str]) -> Canned:
        body = self.groups.get(match["name"].lower())
        if body is None:
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{match['name']}' could not be found.")
        return Canned(200, copy.deepcopy(body))

    def _put_group(self, request: Recorded, match: re.Match[str]) -> Canned:
        sent = request.json()
        existing = self.groups.get(match["name"].lower())
        if existing is not None and existing["location"].lower() != str(sent["location"]).lower():
            return arm_error(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{sent['location']}'. The Resource group already exists in "
                f"location '{existing['location']}'.",
            )
        name = existing["name"] if existing is not None else match["name"]
        body = self.add_group(name, location=str(sent["location"]), tags=sent.get("tags") or {})
        return Canned(200 if existing is not None else 201, copy.deepcopy(body))

    # ------------------------------------------------------------------ storage
    def _check_name(self, request: Recorded, match: re.Match[str]) -> Canned:
        name = str(request.json()["name"])
        if name in self.accounts:
            return Canned(
                200,
                {
                    "nameAvailable": False,
                    "reason": "AlreadyExists",
                    "message": f"The storage account named {name} is already taken.",
                },
            )
        return Canned(200, example_body(f"{STORAGE}/StorageAccountCheckNameAvailability.json"))

    def _put_account(self, request: Recorded, match: re.Match[str]) -> Canned:
        if match["rg"].lower() not in self.groups:
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{match['rg']}' could not be found.")
        name, sent = match["name"], request.json()
        existing = self.accounts.get(name)
        if existing is not None and f"/resourceGroups/{match['rg']}/".lower() not in existing["id"].lower():
            return arm_error(409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken.")

        def land() -> Canned:
            body = self.add_account(name, rg=match["rg"], location=str(sent["location"]))
            body["tags"] = sent.get("tags") or {}
            return Canned(200, copy.deepcopy(body))

        location = self._operation("storage", land)
        return Canned(202, None, {"Location": location, "Retry-After": "0"})

    def _get_account(self, request: Recorded, match: re.Match[str]) -> Canned:
        body = self.accounts.get(match["name"])
        if body is None or f"/resourceGroups/{match['rg']}/".lower() not in body["id"].lower():
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Storage/storageAccounts/{match['name']}' under resource group "
                f"'{match['rg']}' was not found.",
            )
        return Canned(200, copy.deepcopy(body))


class _DonePoller:
    def __init__(self, result: Any) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def wait(self, timeout: float | None = None) -> None:
        pass

    def result(self, timeout: float | None = None) -> Any:
        return self._result


class WorldLifecycle:
    """The `workspace_lifecycle` seam for the two calls azure-ai-ml makes through ARM clients of its own."""

    def __init__(self, world: AzureWorld) -> None:
        self.world = world

    def begin_create(self, ml_client: Any, workspace: Any) -> _DonePoller:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        rg = str(workspace.resource_group)
        with self.world._lock:
            if rg.lower() not in self.world.groups:
                raise ResourceNotFoundError(f"Resource group '{rg}' could not be found.")
            if (rg.lower(), str(workspace.name).lower()) in self.world.workspaces:
                raise ResourceExistsError(f"Workspace {workspace.name} already exists.")
            self.world.add_workspace(str(workspace.name), rg=rg, location=str(workspace.location))
        return _DonePoller(workspace)

    def begin_delete(self, ml_client: Any, name: str, *, delete_dependent_resources: bool) -> _DonePoller:
        with self.world._lock:
            for key in [k for k in self.world.workspaces if k[1] == name.lower()]:
                del self.world.workspaces[key]
        return _DonePoller(None)
