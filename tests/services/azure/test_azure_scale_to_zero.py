"""Scale to zero through azure-ai-ml 1.35 (the REST layer's Compute_Update), replayed offline with Microsoft's
example payloads: a cluster's minimum nodes go to 0 with one PATCH of its scale settings; an instance, or a
cluster already at minimum 0, is answered from a fresh read without any change sent to Azure."""

from __future__ import annotations

from typing import Any

import pytest

from services.errors import Forbidden, InvalidState, NotFound
from services.models import ComputeKind
from tests.services.azure.azure_fakes import (
    ARM,
    WS_PATH,
    Canned,
    FakeTransport,
    aml_compute_body,
    arm_error,
    async_op,
    compute_instance_body,
    make_backend,
)

API = "2023-08-01-preview"  # what azure-ai-ml 1.35.2 sends for computes
COMPUTES = rf"^{ARM}{WS_PATH}/computes"


def warm_cluster(*, min_nodes: int, current: int) -> dict[str, Any]:
    """Microsoft's AmlCompute example as `warm-cluster`: 0–4 nodes by default, scale-down after 5 minutes."""
    body = aml_compute_body("warm-cluster", current=current, target=current)
    body["properties"]["properties"]["scaleSettings"].update({"minNodeCount": min_nodes, "maxNodeCount": 4})
    return body


def test_a_cluster_with_a_minimum_is_patched_to_minimum_zero() -> None:
    transport = (
        FakeTransport()
        .add(
            "GET",
            rf"{COMPUTES}/warm-cluster\?",
            Canned(200, warm_cluster(min_nodes=2, current=2)),
            Canned(200, warm_cluster(min_nodes=0, current=0)),
        )
        .add("PATCH", rf"{COMPUTES}/warm-cluster\?", Canned(200, warm_cluster(min_nodes=0, current=2)))
    )
    info = make_backend(transport).computes.begin_scale_to_zero("warm-cluster").result(timeout=5)
    assert (info.kind, info.min_nodes, info.max_nodes, info.current_nodes) == (ComputeKind.CLUSTER, 0, 4, 0)
    (patch,) = transport.sent("PATCH")
    assert (patch.method, patch.path, patch.api_version) == ("PATCH", f"{WS_PATH}/computes/warm-cluster", API)
    assert patch.json() == {
        "properties": {
            "properties": {
                "scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT5M"}
            }
        }
    }
    assert transport.sent("PUT") == [] and transport.unmatched == []


def test_an_update_azure_runs_as_a_long_operation_is_waited_for() -> None:
    updating = warm_cluster(min_nodes=0, current=1)
    updating["properties"]["provisioningState"] = "Updating"  # Compute_Update answers 200 only; then polled
    transport = (
        FakeTransport()
        .add(
            "GET",
            rf"{COMPUTES}/warm-cluster\?",
            Canned(200, warm_cluster(min_nodes=1, current=1)),
            Canned(200, warm_cluster(min_nodes=0, current=1)),
        )
        .add("PATCH", rf"{COMPUTES}/warm-cluster\?", Canned(200, updating, async_op("u1")))
        .add("GET", "operationStatuses/u1", Canned(200, {"status": "InProgress"}), Canned(200, {"status": "Succeeded"}))
    )
    operation = make_backend(transport).computes.begin_scale_to_zero("warm-cluster")
    info = operation.result(timeout=5)
    assert (info.min_nodes, info.current_nodes) == (0, 1)  # the node goes after its scale-down delay
    assert operation.description == "Scale compute cluster `warm-cluster` to zero"
    assert len(transport.sent("GET", "operationStatuses/u1")) == 2
    assert transport.unmatched == []


def test_a_cluster_already_at_minimum_zero_is_left_alone() -> None:
    transport = FakeTransport().add(
        "GET", rf"{COMPUTES}/warm-cluster\?", Canned(200, warm_cluster(min_nodes=0, current=1))
    )
    info = make_backend(transport).computes.begin_scale_to_zero("warm-cluster").result(timeout=5)
    assert (info.min_nodes, info.current_nodes) == (0, 1)
    assert [r.method for r in transport.requests] == ["GET"]


def test_an_instance_is_refused_pointing_to_stop_before_any_change() -> None:
    transport = FakeTransport().add("GET", rf"{COMPUTES}/ci-ada\?", Canned(200, compute_instance_body(state="Running")))
    with pytest.raises(InvalidState, match="`ci-ada` is a compute instance: instances are stopped") as refused:
        make_backend(transport).computes.begin_scale_to_zero("ci-ada")
    assert refused.value.hint == "Stop it with `/aml compute stop ci-ada`."
    assert [r.method for r in transport.requests] == ["GET"]


@pytest.mark.parametrize(
    ("answer", "raised", "said"),
    [
        (
            arm_error(403, "AuthorizationFailed", "The client does not have authorization to perform action."),
            Forbidden,
            "not allowed",
        ),
        (
            arm_error(409, "OperationNotAllowed", "Compute warm-cluster is Resizing: updates are not allowed."),
            InvalidState,
            "Compute cluster `warm-cluster` is not in a state that allows this",
        ),
        (arm_error(404, "ResourceNotFound", "Compute warm-cluster was deleted."), NotFound, "warm-cluster"),
    ],
)
def test_a_refused_update_is_a_plain_service_error(answer: Canned, raised: type[Exception], said: str) -> None:
    transport = (
        FakeTransport()
        .add("GET", rf"{COMPUTES}/warm-cluster\?", Canned(200, warm_cluster(min_nodes=1, current=1)))
        .add("PATCH", rf"{COMPUTES}/warm-cluster\?", answer)
    )
    with pytest.raises(raised) as refused:
        make_backend(transport).computes.begin_scale_to_zero("warm-cluster")
    assert said in str(refused.value)
    assert "management.azure.com" not in str(refused.value)
