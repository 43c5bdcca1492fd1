"""Compute instances and clusters through azure-ai-ml 1.35 (MLClient.compute), replayed offline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.errors import InvalidName, InvalidState, NotFound, OperationFailed, QuotaExceeded
from services.models import ComputeKind, WorkspaceScope
from tests.services.azure.azure_fakes import (
    ARM,
    ML_EXAMPLES,
    ML_LOCATION,
    SUB,
    WS_PATH,
    Canned,
    FakeTransport,
    aml_compute_body,
    arm_error,
    async_op,
    compute_instance_body,
    example,
    example_body,
    example_response,
    make_backend,
    workspace_body,
)

API = "2023-08-01-preview"  # what azure-ai-ml 1.35.2 sends for computes
COMPUTES = rf"^{ARM}{WS_PATH}/computes"
STARTED = {
    "operationName": "Start",
    "operationTime": "2026-03-02T08:15:00Z",
    "operationStatus": "Succeeded",
    "operationTrigger": "User",
}


def test_get_instance_reads_state_idle_shutdown_and_running_since() -> None:
    transport = FakeTransport().add(
        "GET",
        rf"{COMPUTES}/ci-ada\?",
        Canned(200, compute_instance_body("ci-ada", state="Running", last_operation=STARTED, idle="PT45M")),
    )
    info = make_backend(transport).computes.get("ci-ada")
    (get,) = transport.requests
    assert (get.path, get.api_version) == (f"{WS_PATH}/computes/ci-ada", API)
    assert (info.name, info.kind, info.state, info.size) == ("ci-ada", ComputeKind.INSTANCE, "Running", "STANDARD_NC6")
    assert info.idle_shutdown_minutes == 45
    assert info.running_since == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert info.created_by == "foobar@microsoft.com"
    assert info.location == "eastus2"


def test_running_since_is_unknown_after_other_operations() -> None:
    restarted = {**STARTED, "operationName": "Restart"}
    transport = FakeTransport().add(
        "GET", rf"{COMPUTES}/ci-ada\?", Canned(200, compute_instance_body("ci-ada", last_operation=restarted))
    )
    assert make_backend(transport).computes.get("ci-ada").running_since is None


def test_get_cluster_reads_current_nodes_from_the_rest_layer() -> None:
    transport = FakeTransport().add("GET", rf"{COMPUTES}/cpu-cluster\?", Canned(200, aml_compute_body(current=3)))
    info = make_backend(transport).computes.get("cpu-cluster")
    assert (info.kind, info.current_nodes, info.min_nodes, info.max_nodes) == (ComputeKind.CLUSTER, 3, 0, 1)
    assert (info.idle_scale_down_seconds, info.tier, info.state) == (300, "dedicated", "Steady")
    assert len(transport.requests) == 1  # the entity would have needed a second read for the node count


def test_list_keeps_instances_and_clusters_only() -> None:
    aks = example_body(f"{ML_EXAMPLES}/Compute/list.json")["value"][0]
    transport = FakeTransport().add(
        "GET",
        rf"{COMPUTES}\?",
        Canned(
            200,
            {
                "value": [
                    compute_instance_body("ci-ada"),
                    aml_compute_body("cpu-cluster"),
                    aks,
                ]
            },
        ),
    )
    infos = make_backend(transport).computes.list()
    assert [(i.name, i.kind) for i in infos] == [("ci-ada", ComputeKind.INSTANCE), ("cpu-cluster", ComputeKind.CLUSTER)]


def test_per_call_scope_targets_another_workspace() -> None:
    other = f"/subscriptions/{SUB}/resourceGroups/rg-b/providers/Microsoft.MachineLearningServices/workspaces/ws-b"
    transport = FakeTransport().add(
        "GET", rf"{other}/computes/ci-ada\?", Canned(200, compute_instance_body("ci-ada", rg="rg-b", ws="ws-b"))
    )
    backend = make_backend(transport)
    scope = WorkspaceScope(resource_group="rg-b", workspace="ws-b")
    assert backend.computes.get("ci-ada", scope=scope).name == "ci-ada"
    assert backend.computes.get("ci-ada", scope=scope).name == "ci-ada"
    assert [r.path for r in transport.requests] == [f"{other}/computes/ci-ada"] * 2


def test_create_instance_sends_size_and_idle_shutdown_and_waits_for_the_result() -> None:
    created = example(f"{ML_EXAMPLES}/Compute/createOrUpdate/ComputeInstance.json")["responses"]["201"]["body"]
    transport = (
        FakeTransport()
        .add("GET", rf"^{ARM}{WS_PATH}\?", Canned(200, workspace_body()))  # the SDK reads the location
        .add("PUT", rf"{COMPUTES}/ci-new\?", Canned(201, created, async_op("c1")))
        .add("GET", "operationStatuses/c1", Canned(200, {"status": "InProgress"}), Canned(200, {"status": "Succeeded"}))
        .add("GET", rf"{COMPUTES}/ci-new\?", Canned(200, compute_instance_body("ci-new", state="Running")))
    )
    operation = make_backend(transport).computes.begin_create_instance(
        "ci-new", size="Standard_DS3_v2", idle_shutdown_minutes=60
    )
    info = operation.result(timeout=5)
    assert (info.name, info.state) == ("ci-new", "Running")
    (put,) = transport.sent("PUT")
    body = put.json()
    assert put.api_version == API
    assert body["location"] == "eastus"
    assert body["properties"]["computeType"] == "ComputeInstance"
    assert body["properties"]["properties"]["vmSize"] == "Standard_DS3_v2"
    assert body["properties"]["properties"]["idleTimeBeforeShutdown"] == "PT60M"
    assert transport.unmatched == []


def test_create_cluster_sends_scale_settings_and_tier() -> None:
    created = example(f"{ML_EXAMPLES}/Compute/createOrUpdate/BasicAmlCompute.json")["responses"]["201"]["body"]
    transport = (
        FakeTransport()
        .add("GET", rf"^{ARM}{WS_PATH}\?", Canned(200, workspace_body()))
        .add("PUT", rf"{COMPUTES}/gpu-cluster\?", Canned(201, created, async_op("c2")))
        .add("GET", "operationStatuses/c2", Canned(200, {"status": "Succeeded"}))
        .add("GET", rf"{COMPUTES}/gpu-cluster\?", Canned(200, aml_compute_body("gpu-cluster", current=0)))
    )
    operation = make_backend(transport).computes.begin_create_cluster(
        "gpu-cluster",
        size="Standard_NC6s_v3",
        min_nodes=0,
        max_nodes=4,
        idle_scale_down_seconds=600,
        tier="low_priority",
    )
    assert operation.result(timeout=5).current_nodes == 0
    props = transport.sent("PUT")[0].json()["properties"]["properties"]
    assert props["vmSize"] == "Standard_NC6s_v3"
    assert props["vmPriority"] == "LowPriority"
    assert props["scaleSettings"] == {"maxNodeCount": 4, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT10M"}


def test_create_failing_in_the_poll_raises() -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"^{ARM}{WS_PATH}\?", Canned(200, workspace_body()))
        .add(
            "PUT",
            rf"{COMPUTES}/ci-new\?",
            Canned(
                201, example_body(f"{ML_EXAMPLES}/Compute/createOrUpdate/ComputeInstance.json", "201"), async_op("c3")
            ),
        )
        .add(
            "GET",
            "operationStatuses/c3",
            Canned(
                200,
                {
                    "status": "Failed",
                    "error": {
                        "code": "ComputeInstanceProvisioningFailed",
                        "message": "The VM image could not be pulled.",
                    },
                },
            ),
        )
    )
    operation = make_backend(transport).computes.begin_create_instance("ci-new", size="Standard_DS3_v2")
    with pytest.raises(OperationFailed, match="VM image could not be pulled"):
        operation.result(timeout=5)


def test_create_over_quota() -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"^{ARM}{WS_PATH}\?", Canned(200, workspace_body()))
        .add(
            "PUT",
            rf"{COMPUTES}/gpu-cluster\?",
            arm_error(
                400, "QuotaExceeded", "Operation would exceed the regional quota for Standard NCSv3 Family vCPUs."
            ),
        )
    )
    with pytest.raises(QuotaExceeded, match="NCSv3"):
        make_backend(transport).computes.begin_create_cluster("gpu-cluster", size="Standard_NC6s_v3")


def test_start_a_running_instance_is_refused_after_a_fresh_read() -> None:
    transport = FakeTransport().add("GET", rf"{COMPUTES}/ci-ada\?", Canned(200, compute_instance_body(state="Running")))
    with pytest.raises(InvalidState, match="ci-ada` is Running; only a stopped instance can be started"):
        make_backend(transport).computes.begin_start("ci-ada")
    assert transport.sent("POST") == []


def test_start_a_stopped_instance() -> None:
    start = f"{ML_EXAMPLES.replace('2025-12-01', '2025-06-01')}/Compute/start.json"  # not in 2025-12-01
    poll = f"{ML_LOCATION}/computeOperationsStatus/s1"
    accepted = example_response(start, "202", poll_url=poll)  # its Location is the placeholder "example_location"
    transport = (
        FakeTransport()
        .add(
            "GET",
            rf"{COMPUTES}/ci-ada\?",
            Canned(200, compute_instance_body(state="Stopped")),
            Canned(200, compute_instance_body(state="Running", last_operation=STARTED)),
        )
        .add("POST", rf"{COMPUTES}/ci-ada/start\?", accepted)
        .add("GET", "computeOperationsStatus/s1", Canned(200))
    )
    info = make_backend(transport).computes.begin_start("ci-ada").result(timeout=5)
    assert (info.state, info.running_since) == ("Running", datetime(2026, 3, 2, 8, 15, tzinfo=UTC))
    (post,) = transport.sent("POST")
    assert post.api_version == API


def test_start_racing_another_start_is_invalid_state() -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"{COMPUTES}/ci-ada\?", Canned(200, compute_instance_body(state="Stopped")))
        .add(
            "POST",
            rf"{COMPUTES}/ci-ada/start\?",
            arm_error(
                400,
                "StartComputeInstanceOnlyAllowedInStoppedState",
                "Compute instance ci-ada is in Starting state. Start is only allowed in Stopped state.",
            ),
        )
    )
    with pytest.raises(InvalidState, match="StartComputeInstanceOnlyAllowedInStoppedState"):
        make_backend(transport).computes.begin_start("ci-ada")


def test_stop_a_running_instance() -> None:
    stop = example_response(f"{ML_EXAMPLES}/Compute/stop.json", "202", poll_url=async_op("st1")["Azure-AsyncOperation"])
    transport = (
        FakeTransport()
        .add(
            "GET",
            rf"{COMPUTES}/ci-ada\?",
            Canned(200, compute_instance_body(state="Running")),
            Canned(200, compute_instance_body(state="Stopped")),
        )
        .add("POST", rf"{COMPUTES}/ci-ada/stop\?", stop)
        .add("GET", "operationStatuses/st1", Canned(200, {"status": "Succeeded"}))
    )
    assert make_backend(transport).computes.begin_stop("ci-ada").result(timeout=5).state == "Stopped"


@pytest.mark.parametrize("state", ["Stopped", "Stopping"])
def test_stop_an_instance_already_stopped_or_stopping_is_invalid_state_after_a_fresh_read(state: str) -> None:
    transport = FakeTransport().add("GET", rf"{COMPUTES}/ci-ada\?", Canned(200, compute_instance_body(state=state)))
    with pytest.raises(InvalidState, match=f"ci-ada` is already {state.lower()}"):
        make_backend(transport).computes.begin_stop("ci-ada")
    assert transport.sent("POST") == []


@pytest.mark.parametrize(("verb", "done"), [("start", "started"), ("stop", "stopped")])
def test_start_or_stop_a_cluster_is_invalid_state(verb: str, done: str) -> None:
    transport = FakeTransport().add("GET", rf"{COMPUTES}/cpu-cluster\?", Canned(200, aml_compute_body()))
    with pytest.raises(InvalidState, match="clusters scale by themselves between their min and max nodes") as refused:
        getattr(make_backend(transport).computes, f"begin_{verb}")("cpu-cluster")
    assert f"cannot be {done}" in str(refused.value)
    assert transport.sent("POST") == []


def test_delete() -> None:
    transport = (
        FakeTransport()
        .add(
            "DELETE",
            rf"{COMPUTES}/ci-ada\?",
            example_response(
                f"{ML_EXAMPLES}/Compute/delete.json", "202", poll_url=async_op("d1")["Azure-AsyncOperation"]
            ),
        )
        .add("GET", "operationStatuses/d1", Canned(200, {"status": "Succeeded"}))
    )
    assert make_backend(transport).computes.begin_delete("ci-ada").result(timeout=5) is None
    (delete,) = transport.sent("DELETE")
    assert delete.query == {"api-version": API, "underlyingResourceAction": "Delete"}


def test_missing_compute_is_not_found() -> None:
    transport = FakeTransport().add(
        "GET", rf"{COMPUTES}/ci-gone\?", arm_error(404, "ResourceNotFound", "Compute ci-gone not found.")
    )
    with pytest.raises(NotFound, match="Compute `ci-gone` was not found"):
        make_backend(transport).computes.get("ci-gone")


def test_compute_name_is_checked_before_any_call() -> None:
    transport = FakeTransport()
    with pytest.raises(InvalidName):
        make_backend(transport).computes.begin_create_instance("1-bad", size="Standard_DS3_v2")
    assert transport.requests == []
