"""Resource groups, storage accounts, containers and workspaces of the local backend (folders on disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import AlreadyExists, InvalidInput, InvalidName, InvalidState, NameTaken, NotFound
from services.models import JobStatus, WorkspaceScope, WorkspaceSpec
from services.ports import CloudBackend
from tests.services.local.helpers_local import (
    job_request,
    job_status_file,
    make_backend,
    tree_gone,
    wait_for_status,
    wait_until,
)


def test_default_group_and_workspace_exist(backend: CloudBackend, data_dir: Path) -> None:
    group = backend.resource_groups.get("local-rg")
    workspace = backend.workspaces.get("local")
    assert (group.name, group.location, group.provisioning_state) == ("local-rg", "local", "Succeeded")
    assert workspace.resource_group == "local-rg"
    assert workspace.storage_account is not None
    assert (data_dir / "resource-groups" / "local-rg" / "workspaces" / "local" / "workspace.json").is_file()


def test_resource_group_create_update_and_errors(backend: CloudBackend, data_dir: Path) -> None:
    created = backend.resource_groups.create_or_update("ml-team-rg", location="eastus", tags={"team": "ml"})
    assert created.tags == {"team": "ml"}
    assert (data_dir / "resource-groups" / "ml-team-rg" / "group.json").is_file()
    updated = backend.resource_groups.create_or_update("ml-team-rg", location="eastus", tags={"team": "ai"})
    assert updated.tags == {"team": "ai"}
    assert backend.resource_groups.get("ML-TEAM-RG").name == "ml-team-rg"  # names ignore case, like Azure
    with pytest.raises(InvalidInput, match="cannot change to `westus`"):
        backend.resource_groups.create_or_update("ml-team-rg", location="westus")

    with pytest.raises(InvalidName, match="must not end with `.`") as bad:
        backend.resource_groups.create_or_update("team rg.", location="eastus")
    assert "Try `team-rg`" in str(bad.value)
    assert not (data_dir / "resource-groups" / "team rg.").exists()
    with pytest.raises(NotFound, match="Did you mean `ml-team-rg`"):
        backend.resource_groups.get("ml-tem-rg")


def test_storage_accounts_and_containers(backend: CloudBackend, data_dir: Path) -> None:
    backend.resource_groups.create_or_update("data-rg", location="eastus")
    assert backend.storage.check_name("teamdata01").available

    account = backend.storage.begin_create_account("teamdata01", resource_group="data-rg", location="eastus").result()

    assert (account.name, account.location, account.provisioning_state) == ("teamdata01", "eastus", "Succeeded")
    assert (data_dir / "resource-groups" / "data-rg" / "storage" / "teamdata01" / "account.json").is_file()
    taken = backend.storage.check_name("teamdata01")
    assert (taken.available, taken.reason) == (False, "AlreadyExists")
    with pytest.raises(AlreadyExists):
        backend.storage.begin_create_account("teamdata01", resource_group="data-rg", location="eastus")
    with pytest.raises(NameTaken, match="already taken"):
        backend.storage.begin_create_account("teamdata01", resource_group="local-rg", location="eastus")
    with pytest.raises(InvalidName, match="lowercase letters and digits") as bad:
        backend.storage.check_name("Team_Data")
    assert "Try `teamdata`" in str(bad.value)
    with pytest.raises(NotFound, match="resource group"):
        backend.storage.begin_create_account("otherdata", resource_group="no-such-rg", location="eastus")
    with pytest.raises(NotFound, match="It is in resource group `data-rg`"):
        backend.storage.get_account("teamdata01", resource_group="local-rg")

    backend.storage.create_container("teamdata01", "raw-data", resource_group="data-rg")
    backend.storage.create_container("teamdata01", "models", resource_group="data-rg")
    assert [c.name for c in backend.storage.list_containers("teamdata01", resource_group="data-rg")] == [
        "models",
        "raw-data",
    ]
    assert (data_dir / "resource-groups" / "data-rg" / "storage" / "teamdata01" / "containers" / "raw-data").is_dir()
    with pytest.raises(AlreadyExists):
        backend.storage.create_container("teamdata01", "raw-data", resource_group="data-rg")
    with pytest.raises(InvalidName, match="no `--`") as bad_container:
        backend.storage.create_container("teamdata01", "Raw--Data", resource_group="data-rg")
    assert "Try `raw-data`" in str(bad_container.value)
    with pytest.raises(NotFound, match="Did you mean `teamdata01`"):
        backend.storage.create_container("teamdata1", "x-y-z", resource_group="data-rg")

    backend.storage.delete_account("teamdata01", resource_group="data-rg")
    assert backend.storage.check_name("teamdata01").available
    with pytest.raises(NotFound):
        backend.storage.get_account("teamdata01", resource_group="data-rg")


def test_workspace_create_get_list_and_delete_with_or_without_dependents(backend: CloudBackend) -> None:
    backend.resource_groups.create_or_update("ml-rg", location="eastus")
    one = backend.workspaces.begin_create(WorkspaceSpec(name="ws-one", location="eastus", resource_group="ml-rg"))
    two = backend.workspaces.begin_create(WorkspaceSpec(name="ws-two", location="eastus", resource_group="ml-rg"))
    ws_one, ws_two = one.result(), two.result()
    assert one.done() and ws_one.resource_group == "ml-rg" and ws_one.key_vault
    assert ws_one.storage_account and backend.storage.get_account(ws_one.storage_account, resource_group="ml-rg")
    assert [w.name for w in backend.workspaces.list(resource_group="ml-rg")] == ["ws-one", "ws-two"]
    assert {w.name for w in backend.workspaces.list()} == {"local", "ws-one", "ws-two"}
    with pytest.raises(AlreadyExists):
        backend.workspaces.begin_create(WorkspaceSpec(name="WS-one", location="eastus", resource_group="ml-rg"))
    with pytest.raises(InvalidName, match="starting with a letter or digit"):
        backend.workspaces.begin_create(WorkspaceSpec(name="-ws", location="eastus", resource_group="ml-rg"))
    with pytest.raises(NotFound, match="There is one in resource group `ml-rg`"):
        backend.workspaces.get("ws-one")  # the default group is local-rg
    assert backend.workspaces.get("ws-one", resource_group="ml-rg").name == "ws-one"
    with pytest.raises(InvalidState, match="holds the data of workspace `ws-one`"):
        backend.storage.delete_account(ws_one.storage_account, resource_group="ml-rg")

    backend.workspaces.begin_delete("ws-one", delete_dependent_resources=False, resource_group="ml-rg").result()
    assert backend.storage.get_account(ws_one.storage_account, resource_group="ml-rg")  # kept
    backend.workspaces.begin_delete("ws-two", delete_dependent_resources=True, resource_group="ml-rg").result()
    assert ws_two.storage_account is not None
    with pytest.raises(NotFound):
        backend.storage.get_account(ws_two.storage_account, resource_group="ml-rg")
    with pytest.raises(NotFound, match="Existing: `ws-one`|There are no workspaces"):
        backend.workspaces.get("ws-one", resource_group="ml-rg")


def test_group_lists_its_resources_and_its_delete_ends_running_jobs(backend: CloudBackend, data_dir: Path) -> None:
    backend.resource_groups.create_or_update("tmp-rg", location="local")
    backend.workspaces.begin_create(WorkspaceSpec(name="tmp-ws", location="local", resource_group="tmp-rg")).result()
    scope = WorkspaceScope(resource_group="tmp-rg", workspace="tmp-ws")
    backend.computes.begin_create_cluster("tmp-cpu", size="Standard_DS3_v2", scope=scope).result()
    job = backend.jobs.submit(job_request("sleepy", compute="tmp-cpu"), scope=scope)
    wait_for_status(backend, job.name, JobStatus.RUNNING, scope=scope)
    status = job_status_file(job)

    resources = backend.resource_groups.list_resources("tmp-rg")
    assert "tmp-ws (Microsoft.MachineLearningServices/workspaces)" in resources
    assert "tmp-ws/tmp-cpu (Microsoft.MachineLearningServices/workspaces/computes)" in resources
    assert any(r.endswith("(Microsoft.Storage/storageAccounts)") for r in resources)

    backend.resource_groups.begin_delete("tmp-rg").result()

    assert not (data_dir / "resource-groups" / "tmp-rg").exists()
    wait_until(lambda: tree_gone(status), timeout=5, what="the group's job to end")
    with pytest.raises(NotFound):
        backend.resource_groups.get("tmp-rg")


def test_state_survives_a_new_backend(backend: CloudBackend, data_dir: Path, catalog_dir: Path) -> None:
    backend.resource_groups.create_or_update("keep-rg", location="eastus", tags={"a": "b"})
    again = make_backend(data_dir, catalog_dir)
    assert again.resource_groups.get("keep-rg").tags == {"a": "b"}
    assert again.workspaces.get("local").storage_account == backend.workspaces.get("local").storage_account
