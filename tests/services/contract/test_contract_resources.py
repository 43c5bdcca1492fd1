"""ResourceGroups, Storage and Workspaces ports, the same on both backends."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from services.errors import InvalidName, NotFound
from services.models import NameAvailability, ResourceGroupInfo, StorageAccountInfo, WorkspaceInfo, WorkspaceSpec
from services.ports import CloudBackend

Untouched = Callable[[], AbstractContextManager[None]]

BAD_GROUP = "bad group!"
BAD_ACCOUNT = "Bad-Account"
BAD_WORKSPACE = "-bad workspace"


def test_create_or_update_a_resource_group_returns_it_with_its_location(backend: CloudBackend) -> None:
    created = backend.resource_groups.create_or_update("rg-contract", location="eastus", tags={"team": "ml"})
    assert isinstance(created, ResourceGroupInfo)
    assert (created.name, created.location, dict(created.tags)) == ("rg-contract", "eastus", {"team": "ml"})
    read = backend.resource_groups.get("rg-contract")
    assert (read.name, read.location, dict(read.tags)) == ("rg-contract", "eastus", {"team": "ml"})
    updated = backend.resource_groups.create_or_update("rg-contract", location="eastus", tags={"team": "data"})
    assert (updated.location, dict(updated.tags)) == ("eastus", {"team": "data"})


def test_an_unknown_resource_group_is_not_found(backend: CloudBackend) -> None:
    with pytest.raises(NotFound):
        backend.resource_groups.get("rg-nowhere")


def test_storage_name_availability(backend: CloudBackend) -> None:
    free = backend.storage.check_name("stcontract01")
    assert isinstance(free, NameAvailability) and free.available is True
    backend.resource_groups.create_or_update("rg-contract", location="eastus")
    account = backend.storage.begin_create_account("stcontract01", resource_group="rg-contract", location="eastus")
    info = account.result(timeout=10)
    assert isinstance(info, StorageAccountInfo)
    assert (info.name, info.location) == ("stcontract01", "eastus")
    taken = backend.storage.check_name("stcontract01")
    assert isinstance(taken, NameAvailability)
    assert (taken.available, taken.reason) == (False, "AlreadyExists")
    assert taken.message and "stcontract01" in taken.message


def test_create_a_workspace_in_a_new_group_then_read_it(backend: CloudBackend) -> None:
    backend.resource_groups.create_or_update("rg-contract", location="eastus")
    created = backend.workspaces.begin_create(
        WorkspaceSpec(name="ws-contract", location="eastus", resource_group="rg-contract")
    ).result(timeout=10)
    assert isinstance(created, WorkspaceInfo)
    assert (created.name, created.location, created.resource_group) == ("ws-contract", "eastus", "rg-contract")
    read = backend.workspaces.get("ws-contract", resource_group="rg-contract")
    assert (read.name, read.location, read.resource_group) == ("ws-contract", "eastus", "rg-contract")
    with pytest.raises(NotFound):
        backend.workspaces.get("ws-nowhere", resource_group="rg-contract")


INVALID_NAME_CALLS: dict[str, Callable[[CloudBackend], object]] = {
    "rg.create_or_update": lambda b: b.resource_groups.create_or_update(BAD_GROUP, location="eastus"),
    "rg.get": lambda b: b.resource_groups.get(BAD_GROUP),
    "rg.list_resources": lambda b: b.resource_groups.list_resources(BAD_GROUP),
    "rg.begin_delete": lambda b: b.resource_groups.begin_delete(BAD_GROUP),
    "storage.check_name": lambda b: b.storage.check_name(BAD_ACCOUNT),
    "storage.begin_create_account": lambda b: b.storage.begin_create_account(
        BAD_ACCOUNT, resource_group="rg-contract", location="eastus"
    ),
    "storage.begin_create_account.group": lambda b: b.storage.begin_create_account(
        "stcontract01", resource_group=BAD_GROUP, location="eastus"
    ),
    "storage.get_account": lambda b: b.storage.get_account(BAD_ACCOUNT, resource_group="rg-contract"),
    "storage.create_container": lambda b: b.storage.create_container(
        "stcontract01", "Bad--Container", resource_group="rg-contract"
    ),
    "storage.list_containers": lambda b: b.storage.list_containers(BAD_ACCOUNT, resource_group="rg-contract"),
    "storage.delete_account": lambda b: b.storage.delete_account(BAD_ACCOUNT, resource_group="rg-contract"),
    "workspaces.begin_create": lambda b: b.workspaces.begin_create(
        WorkspaceSpec(name=BAD_WORKSPACE, location="eastus")
    ),
    "workspaces.begin_create.group": lambda b: b.workspaces.begin_create(
        WorkspaceSpec(name="ws-contract", location="eastus", resource_group=BAD_GROUP)
    ),
    "workspaces.get": lambda b: b.workspaces.get(BAD_WORKSPACE),
    "workspaces.get.group": lambda b: b.workspaces.get("ws-contract", resource_group=BAD_GROUP),
    "workspaces.list.group": lambda b: b.workspaces.list(resource_group=BAD_GROUP),
    "workspaces.begin_delete": lambda b: b.workspaces.begin_delete(BAD_WORKSPACE, delete_dependent_resources=False),
}


@pytest.mark.parametrize("case", list(INVALID_NAME_CALLS))
def test_an_invalid_name_is_refused_before_any_call(backend: CloudBackend, untouched: Untouched, case: str) -> None:
    with untouched(), pytest.raises(InvalidName):
        INVALID_NAME_CALLS[case](backend)
