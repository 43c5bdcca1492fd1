"""Compute slots of the local backend: state, start/stop like Azure, create/delete, rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import AlreadyExists, InvalidInput, InvalidName, InvalidState, NotFound
from services.models import ComputeKind, JobStatus
from services.ports import CloudBackend
from tests.services.local.helpers_local import job_request, make_backend, wait_for_status


def test_default_slots_are_listed_with_their_rates(backend: CloudBackend) -> None:
    computes = {c.name: c for c in backend.computes.list()}
    assert set(computes) == {"cpu-cluster", "solo", "dev-instance"}
    cluster, instance = computes["cpu-cluster"], computes["dev-instance"]
    assert (cluster.kind, cluster.state, cluster.current_nodes, cluster.max_nodes) == (
        ComputeKind.CLUSTER,
        "Idle",
        0,
        2,
    )
    assert cluster.hourly_rate == 0.90 and cluster.location == "local"
    assert (instance.kind, instance.state, instance.hourly_rate) == (ComputeKind.INSTANCE, "Stopped", 0.30)
    assert instance.running_since is None


def test_start_and_stop_an_instance_like_azure(backend: CloudBackend) -> None:
    operation = backend.computes.begin_start("dev-instance")
    assert backend.computes.get("dev-instance").state == "Starting"
    with pytest.raises(InvalidState, match="starting"):
        backend.computes.begin_start("dev-instance")

    started = operation.result(timeout=5)

    assert started.state == "Running" and started.running_since is not None
    with pytest.raises(InvalidState, match="`dev-instance` is already running"):
        backend.computes.begin_start("dev-instance")

    stopped = backend.computes.begin_stop("dev-instance").result(timeout=5)
    assert stopped.state == "Stopped" and stopped.running_since is None
    with pytest.raises(InvalidState, match="already stopped"):
        backend.computes.begin_stop("dev-instance")


def test_operation_result_times_out(backend: CloudBackend) -> None:
    operation = backend.computes.begin_start("dev-instance")
    assert not operation.done()
    with pytest.raises(TimeoutError):
        operation.result(timeout=0.01)
    assert operation.result(timeout=5).state == "Running"
    assert "dev-instance" in operation.description


def test_clusters_cannot_be_started_or_stopped(backend: CloudBackend) -> None:
    with pytest.raises(InvalidState, match="is a cluster"):
        backend.computes.begin_start("cpu-cluster")
    with pytest.raises(InvalidState, match="cannot be stopped"):
        backend.computes.begin_stop("cpu-cluster")


def test_a_busy_instance_cannot_be_stopped_and_a_busy_compute_cannot_be_deleted(backend: CloudBackend) -> None:
    backend.computes.begin_start("dev-instance").result(timeout=5)
    job = backend.jobs.submit(job_request("sleepy", compute="dev-instance"))
    wait_for_status(backend, job.name, JobStatus.RUNNING)

    with pytest.raises(InvalidState, match=f"`{job.name}`"):
        backend.computes.begin_stop("dev-instance")
    with pytest.raises(InvalidState, match="Cancel them first"):
        backend.computes.begin_delete("dev-instance")

    backend.jobs.cancel(job.name)
    backend.computes.begin_stop("dev-instance").result(timeout=5)
    backend.computes.begin_delete("dev-instance").result()
    with pytest.raises(NotFound, match="no compute `dev-instance`"):
        backend.computes.get("dev-instance")


def test_create_instances_and_clusters(backend: CloudBackend) -> None:
    instance = backend.computes.begin_create_instance(
        "ada-ci", size="Standard_DS11_v2", idle_shutdown_minutes=30
    ).result(timeout=5)
    cluster = backend.computes.begin_create_cluster(
        "gpu-cluster", size="Standard_NC6s_v3", min_nodes=0, max_nodes=3, idle_scale_down_seconds=300
    ).result()

    assert (instance.kind, instance.state, instance.idle_shutdown_minutes) == (ComputeKind.INSTANCE, "Running", 30)
    assert instance.running_since is not None and instance.hourly_rate is not None
    assert (cluster.kind, cluster.max_nodes, cluster.min_nodes, cluster.current_nodes) == (
        ComputeKind.CLUSTER,
        3,
        0,
        0,
    )
    assert cluster.idle_scale_down_seconds == 300 and cluster.tier == "dedicated"
    with pytest.raises(AlreadyExists):
        backend.computes.begin_create_cluster("GPU-cluster", size="Standard_NC6s_v3")
    with pytest.raises(InvalidName, match="starting with a letter") as bad:
        backend.computes.begin_create_cluster("1gpu_cluster", size="Standard_NC6s_v3")
    assert "Try `gpu-cluster`" in str(bad.value)
    with pytest.raises(InvalidInput, match="min"):
        backend.computes.begin_create_cluster("odd-cluster", size="x", min_nodes=3, max_nodes=1)
    with pytest.raises(NotFound, match="Did you mean `gpu-cluster`"):
        backend.computes.get("gpu-clustr")


def test_compute_state_is_kept_on_disk(backend: CloudBackend, data_dir: Path, catalog_dir: Path) -> None:
    backend.computes.begin_start("dev-instance").result(timeout=5)
    backend.computes.begin_create_cluster("extra-cpu", size="Standard_DS3_v2", max_nodes=4).result()

    again = make_backend(data_dir, catalog_dir)

    assert again.computes.get("dev-instance").state == "Running"
    assert again.computes.get("extra-cpu").max_nodes == 4


def test_a_deleted_slot_is_not_brought_back_by_a_restart(
    backend: CloudBackend, data_dir: Path, catalog_dir: Path
) -> None:
    backend.computes.begin_delete("solo").result()
    again = make_backend(data_dir, catalog_dir)
    assert {c.name for c in again.computes.list()} == {"cpu-cluster", "dev-instance"}
