"""The Computes port, the same on both backends: read, start, stop, scale to zero, and names checked before
any call.

Both backends start with a cluster `cpu-cluster` and a stopped instance `dev-instance` (the local
backend's default slots; the fake Azure world is seeded to match).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from services.errors import InvalidName, InvalidState, NotFound
from services.models import ComputeInfo, ComputeKind
from services.ports import CloudBackend

Untouched = Callable[[], AbstractContextManager[None]]


def test_list_and_get_return_instances_and_clusters(backend: CloudBackend) -> None:
    listed = backend.computes.list()
    assert all(isinstance(c, ComputeInfo) for c in listed)
    assert all(c.kind in (ComputeKind.INSTANCE, ComputeKind.CLUSTER) for c in listed)
    kinds = {c.name: c.kind for c in listed}
    assert kinds == {"cpu-cluster": ComputeKind.CLUSTER, "dev-instance": ComputeKind.INSTANCE}
    assert [c.name for c in listed] == sorted(kinds)
    for name, kind in kinds.items():
        got = backend.computes.get(name)
        assert isinstance(got, ComputeInfo)
        assert (got.name, got.kind) == (name, kind)
        assert got.state
    cluster = backend.computes.get("cpu-cluster")
    assert cluster.max_nodes is not None and cluster.min_nodes is not None and cluster.min_nodes <= cluster.max_nodes
    assert backend.computes.get("dev-instance").state == "Stopped"


def test_start_a_stopped_instance_then_starting_it_again_is_invalid_state(backend: CloudBackend) -> None:
    started = backend.computes.begin_start("dev-instance").result(timeout=10)
    assert (started.name, started.kind, started.state) == ("dev-instance", ComputeKind.INSTANCE, "Running")
    assert started.running_since is not None
    assert backend.computes.get("dev-instance").state == "Running"
    with pytest.raises(InvalidState):
        backend.computes.begin_start("dev-instance")
    assert backend.computes.get("dev-instance").state == "Running"


def test_stop_a_running_instance(backend: CloudBackend) -> None:
    backend.computes.begin_start("dev-instance").result(timeout=10)
    stopped = backend.computes.begin_stop("dev-instance").result(timeout=10)
    assert (stopped.state, stopped.running_since) == ("Stopped", None)
    assert backend.computes.get("dev-instance").state == "Stopped"


@pytest.mark.parametrize("operation", ["get", "begin_start", "begin_stop", "begin_scale_to_zero"])
def test_an_unknown_compute_is_not_found(backend: CloudBackend, operation: str) -> None:
    with pytest.raises(NotFound):
        getattr(backend.computes, operation)("no-such-compute")


@pytest.mark.parametrize(
    "operation",
    [
        "get",
        "begin_start",
        "begin_stop",
        "begin_scale_to_zero",
        "begin_delete",
        "begin_create_instance",
        "begin_create_cluster",
    ],
)
def test_an_invalid_compute_name_is_refused_before_any_call(
    backend: CloudBackend, untouched: Untouched, operation: str
) -> None:
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: backend.computes.get("9-lives"),
        "begin_start": lambda: backend.computes.begin_start("9-lives"),
        "begin_stop": lambda: backend.computes.begin_stop("9-lives"),
        "begin_scale_to_zero": lambda: backend.computes.begin_scale_to_zero("9-lives"),
        "begin_delete": lambda: backend.computes.begin_delete("9-lives"),
        "begin_create_instance": lambda: backend.computes.begin_create_instance("9-lives", size="Standard_DS3_v2"),
        "begin_create_cluster": lambda: backend.computes.begin_create_cluster("9-lives", size="Standard_DS3_v2"),
    }
    with untouched(), pytest.raises(InvalidName):
        calls[operation]()


def test_scale_a_cluster_to_zero_sets_its_minimum_to_zero(backend: CloudBackend) -> None:
    backend.computes.begin_create_cluster("warm-cluster", size="Standard_DS3_v2", min_nodes=1, max_nodes=3).result(
        timeout=10
    )
    before = backend.computes.get("warm-cluster")
    assert (before.min_nodes, before.max_nodes, before.current_nodes) == (1, 3, 1)

    scaled = backend.computes.begin_scale_to_zero("warm-cluster").result(timeout=10)
    assert (scaled.name, scaled.kind, scaled.min_nodes, scaled.max_nodes) == ("warm-cluster", ComputeKind.CLUSTER, 0, 3)
    after = backend.computes.get("warm-cluster")
    assert (after.min_nodes, after.max_nodes, after.current_nodes) == (0, 3, 0)


def test_scale_to_zero_of_a_cluster_already_at_zero_changes_nothing(backend: CloudBackend) -> None:
    before = backend.computes.get("cpu-cluster")
    assert before.min_nodes == 0
    assert backend.computes.begin_scale_to_zero("cpu-cluster").result(timeout=10) == before
    assert backend.computes.get("cpu-cluster") == before


def test_scale_to_zero_of_an_instance_is_invalid_state_pointing_to_stop(backend: CloudBackend) -> None:
    with pytest.raises(InvalidState, match="instances are stopped, not scaled") as refused:
        backend.computes.begin_scale_to_zero("dev-instance")
    assert refused.value.hint == "Stop it with `/aml compute stop dev-instance`."
    assert backend.computes.get("dev-instance").state == "Stopped"
