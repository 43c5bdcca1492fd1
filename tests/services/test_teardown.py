"""Teardowns against the local backend: what each request would delete, and the deletion once approved."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.errors import InvalidState, NotFound, OperationFailed
from services.models import JobRequest, WorkspaceScope, WorkspaceSpec
from services.ports import CloudBackend, Operation
from services.rbac import COMPUTE_DELETE, STORAGE_DELETE, TEARDOWN_RG, TEARDOWN_WORKSPACE
from services.teardown import TeardownExecutor, TeardownPlan, TeardownPlanner
from tests.services.teardown_fakes import approved


@pytest.fixture
def backend(tmp_path: Path) -> CloudBackend:
    catalog = tmp_path / "jobs"
    catalog.mkdir()
    (catalog / "sleepy.yml").write_text("type: command\ncommand: sleep 60\ncompute: azureml:cpu-cluster\n")
    return build_local_backend(tmp_path / "data", JobCatalog(catalog), compute_transition_seconds=0)


@pytest.fixture
def planner(backend: CloudBackend) -> TeardownPlanner:
    return TeardownPlanner(backend)


def team_workspace(backend: CloudBackend) -> str:
    """A workspace `team-ws` in `team-rg`; returns its dependent storage account's name."""
    backend.resource_groups.create_or_update("team-rg", location="westeurope")
    info = backend.workspaces.begin_create(
        WorkspaceSpec(name="team-ws", location="westeurope", resource_group="team-rg")
    ).result(timeout=5)
    assert info.storage_account
    return info.storage_account


def gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except NotFound:
        return True
    return False


# ---------------------------------------------------------------------- planning
def test_workspace_plan_lists_its_compute_and_dependents(planner: TeardownPlanner, backend: CloudBackend) -> None:
    info = backend.workspaces.get("local")
    plan = planner.workspace("local", resource_group=None)
    assert (plan.action, plan.target) == (TEARDOWN_WORKSPACE, "local")
    assert plan.details["resource_group"] == "local-rg" and plan.details["keep_dependents"] is False
    assert plan.details["resources"] == [
        {"type": "compute cluster", "name": "cpu-cluster"},
        {"type": "compute instance", "name": "dev-instance"},
        {"type": "storage account", "name": info.storage_account},
        {"type": "key vault", "name": info.key_vault},
        {"type": "Application Insights", "name": info.application_insights},
    ]


def test_workspace_plan_keeping_dependents_lists_only_what_goes(planner: TeardownPlanner) -> None:
    plan = planner.workspace("local", resource_group="local-rg", keep_dependents=True)
    assert plan.details["keep_dependents"] is True
    assert [item["type"] for item in plan.details["resources"]] == ["compute cluster", "compute instance"]
    assert [item["type"] for item in plan.details["dependents"]] == [
        "storage account",
        "key vault",
        "Application Insights",
    ]


def test_resource_group_plan_lists_what_it_holds(planner: TeardownPlanner, backend: CloudBackend) -> None:
    account = team_workspace(backend)
    backend.storage.begin_create_account("teamdata01", resource_group="team-rg", location="westeurope").result(5)
    plan = planner.resource_group("team-rg")
    assert (plan.action, plan.target) == (TEARDOWN_RG, "team-rg")
    assert plan.details["resources"] == [
        "teamdata01 (Microsoft.Storage/storageAccounts)",
        f"{account} (Microsoft.Storage/storageAccounts)",
        "team-ws (Microsoft.MachineLearningServices/workspaces)",
    ]
    assert plan.details["resource_count"] == 3


def test_compute_plan_says_kind_size_and_nodes(planner: TeardownPlanner) -> None:
    cluster = planner.compute("cpu-cluster")
    assert (cluster.action, cluster.target) == (COMPUTE_DELETE, "cpu-cluster")
    assert (cluster.details["kind"], cluster.details["size"], cluster.details["nodes"]) == (
        "cluster",
        "Standard_DS3_v2",
        0,
    )
    assert cluster.details["resources"] == [
        "compute cluster `cpu-cluster`: Standard_DS3_v2, 0 nodes running now (max 2)"
    ]
    instance = planner.compute("dev-instance", scope=WorkspaceScope(resource_group="local-rg", workspace="local"))
    assert instance.details["resources"] == [
        "compute instance `dev-instance` in workspace `local`: Standard_DS11_v2, Stopped, with the files on its disk"
    ]
    assert (instance.details["workspace"], instance.details["resource_group"]) == ("local", "local-rg")


def test_storage_plan_lists_its_containers(planner: TeardownPlanner, backend: CloudBackend) -> None:
    backend.storage.begin_create_account("teamdata01", resource_group="local-rg", location="local").result(5)
    for container in ("raw", "curated"):
        backend.storage.create_container("teamdata01", container, resource_group="local-rg")
    plan = planner.storage_account("teamdata01", resource_group="local-rg")
    assert (plan.action, plan.target, plan.details["resource_group"]) == (STORAGE_DELETE, "teamdata01", "local-rg")
    assert plan.details["resources"] == [
        {"type": "blob container", "name": "curated"},
        {"type": "blob container", "name": "raw"},
    ]


def test_a_workspaces_storage_account_is_not_offered_alone(planner: TeardownPlanner, backend: CloudBackend) -> None:
    account = team_workspace(backend)
    with pytest.raises(InvalidState) as refused:
        planner.storage_account(account, resource_group="team-rg")
    assert "holds the data of workspace `team-ws`" in str(refused.value)
    assert "/aml teardown workspace team-ws --resource-group team-rg" in str(refused.value)


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (lambda p: p.workspace("old-ws", resource_group=None), "There is no workspace `old-ws`"),
        (lambda p: p.resource_group("old-rg"), "There is no resource group `old-rg`"),
        (lambda p: p.compute("old-box"), "There is no compute `old-box`"),
        (lambda p: p.storage_account("olddata01", resource_group="local-rg"), "There is no storage account"),
    ],
)
def test_a_missing_target_is_not_found(
    planner: TeardownPlanner, plan: Callable[[TeardownPlanner], TeardownPlan], expected: str
) -> None:
    with pytest.raises(NotFound, match=expected):
        plan(planner)


# ---------------------------------------------------------------------- executing
def test_workspace_teardown_deletes_it_with_its_dependents(planner: TeardownPlanner, backend: CloudBackend) -> None:
    account = team_workspace(backend)
    done = TeardownExecutor(backend)(approved(planner.workspace("team-ws", resource_group="team-rg")))
    assert gone(lambda: backend.workspaces.get("team-ws", resource_group="team-rg"))
    assert gone(lambda: backend.storage.get_account(account, resource_group="team-rg"))
    assert done.startswith(
        f"Deleted workspace `team-ws` (resource group `team-rg`) and its storage account `{account}`, key vault `kv-"
    )
    assert "and Application Insights `ai-team-ws-" in done and "Its compute went with it" not in done


def test_workspace_teardown_keeping_dependents_keeps_them(planner: TeardownPlanner, backend: CloudBackend) -> None:
    account = team_workspace(backend)
    plan = planner.workspace("team-ws", resource_group="team-rg", keep_dependents=True)
    done = TeardownExecutor(backend)(approved(plan))
    assert gone(lambda: backend.workspaces.get("team-ws", resource_group="team-rg"))
    assert backend.storage.get_account(account, resource_group="team-rg").name == account
    assert done.startswith("Deleted workspace `team-ws` (resource group `team-rg`).")
    assert f"Kept, as asked: storage account `{account}`" in done


def test_workspace_teardown_takes_its_compute(planner: TeardownPlanner, backend: CloudBackend) -> None:
    done = TeardownExecutor(backend)(approved(planner.workspace("local", resource_group=None)))
    assert gone(lambda: backend.workspaces.get("local"))
    assert "Its compute went with it: `cpu-cluster` and `dev-instance`." in done


def test_resource_group_teardown_deletes_everything_in_it(planner: TeardownPlanner, backend: CloudBackend) -> None:
    account = team_workspace(backend)
    done = TeardownExecutor(backend)(approved(planner.resource_group("team-rg")))
    assert gone(lambda: backend.resource_groups.get("team-rg"))
    assert backend.storage.check_name(account).available
    assert [w.name for w in backend.workspaces.list()] == ["local"]
    assert done == "Deleted resource group `team-rg` and 2 resources in it."


def test_compute_delete_deletes_it(planner: TeardownPlanner, backend: CloudBackend) -> None:
    done = TeardownExecutor(backend)(approved(planner.compute("cpu-cluster")))
    assert [c.name for c in backend.computes.list()] == ["dev-instance"]
    assert done == "Deleted compute cluster `cpu-cluster`."


def test_storage_delete_deletes_the_account_and_its_containers(
    planner: TeardownPlanner, backend: CloudBackend
) -> None:
    backend.storage.begin_create_account("teamdata01", resource_group="local-rg", location="local").result(5)
    backend.storage.create_container("teamdata01", "raw", resource_group="local-rg")
    done = TeardownExecutor(backend)(approved(planner.storage_account("teamdata01", resource_group="local-rg")))
    assert backend.storage.check_name("teamdata01").available
    assert done == "Deleted storage account `teamdata01` (resource group `local-rg`) with its 1 blob container: `raw`."


def test_a_target_deleted_meanwhile_counts_as_done(planner: TeardownPlanner, backend: CloudBackend) -> None:
    plan = planner.compute("dev-instance")
    backend.computes.begin_delete("dev-instance").result(timeout=5)
    assert TeardownExecutor(backend)(approved(plan)) == (
        "Compute `dev-instance` was already gone, so there was nothing left to delete."
    )


class _BrokenDelete:
    """A compute port whose delete breaks the way a full disk or a lost permission would."""

    def __init__(self, inner: Any, error: BaseException) -> None:
        self._inner = inner
        self._error = error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def begin_delete(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[None]:
        raise self._error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            PermissionError(13, "Permission denied", "/srv/secret/path"),
            "something went wrong on my side while deleting compute `cpu-cluster` (PermissionError); "
            "it may be partly deleted. Check what is left in the Azure portal before asking again.",
        ),
        (
            TimeoutError("poller"),
            "deleting compute `cpu-cluster` is still in progress after a long wait; Azure goes on with it. "
            "Check in the Azure portal later whether it is gone.",
        ),
    ],
)
def test_a_failing_delete_is_reported_in_plain_words(
    planner: TeardownPlanner, backend: CloudBackend, error: BaseException, expected: str
) -> None:
    plan = planner.compute("cpu-cluster")
    broken = dataclasses.replace(backend, computes=_BrokenDelete(backend.computes, error))
    with pytest.raises(OperationFailed) as failed:
        TeardownExecutor(broken)(approved(plan))
    assert str(failed.value) == expected
    assert "/srv/secret" not in str(failed.value)


def test_a_refused_delete_keeps_the_backends_words(planner: TeardownPlanner, backend: CloudBackend) -> None:
    plan = planner.compute("cpu-cluster")
    job = backend.jobs.submit(JobRequest("sleepy", request_id="busy-1", requested_by="U_BOB", channel="C_ML"))
    try:
        with pytest.raises(InvalidState) as refused:
            TeardownExecutor(backend)(approved(plan))
    finally:
        backend.jobs.cancel(job.name)
    assert str(refused.value) == (
        f"`cpu-cluster` has 1 job(s) queued or running: `{job.name}`. Cancel them first, or wait until they finish."
    )
    assert backend.computes.get("cpu-cluster").name == "cpu-cluster"
