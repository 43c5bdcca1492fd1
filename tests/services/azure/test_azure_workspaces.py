"""Workspaces through azure-ai-ml 1.35 (MLClient.workspaces), replayed offline.

Reads and the plain delete go through the real SDK and the replaying transport. Creating a workspace and
deleting it *with* its dependent resources are faked at the adapter boundary (the `WorkspaceLifecycle`
seam): azure-ai-ml makes those two calls with ARM clients of its own that ignore the transport given to
MLClient, so no offline transport can reach them.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.errors import AlreadyExists, InvalidName, NotFound
from services.models import WorkspaceSpec
from tests.services.azure.azure_fakes import (
    ARM,
    ML_EXAMPLES,
    RG,
    SUB,
    WS,
    Canned,
    FakeTransport,
    arm_error,
    example_body,
    example_response,
    make_backend,
    workspace_body,
)

WS_URL = rf"^{ARM}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft\.MachineLearningServices/workspaces"


class FakePoller:
    """What an LROPoller offers the adapter: done / wait / result."""

    def __init__(self, result: Any) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def wait(self, timeout: float | None = None) -> None:
        pass

    def result(self, timeout: float | None = None) -> Any:
        return self._result


class FakeLifecycle:
    """Records the entity the adapter built and answers as azure-ai-ml would, without its own ARM clients."""

    def __init__(self) -> None:
        self.created: list[Any] = []
        self.deleted: list[tuple[str, bool]] = []

    def begin_create(self, ml_client: Any, workspace: Any) -> FakePoller:
        self.created.append(workspace)
        return FakePoller(workspace)

    def begin_delete(self, ml_client: Any, name: str, *, delete_dependent_resources: bool) -> FakePoller:
        self.deleted.append((name, delete_dependent_resources))
        return FakePoller(None)


def test_get_maps_the_example_workspace() -> None:
    transport = FakeTransport().add("GET", rf"{WS_URL}/{WS}\?", Canned(200, workspace_body()))
    info = make_backend(transport).workspaces.get(WS)
    (get,) = transport.requests
    assert get.api_version == "2024-10-01-preview"
    assert (info.name, info.location, info.resource_group) == (WS, "eastus", RG)
    assert (info.display_name, info.description, info.hbi_workspace) == ("HelloName", "test description", False)
    assert (info.storage_account, info.key_vault, info.container_registry, info.application_insights) == (
        "testStorageAccount",
        "testkv",
        "testRegistry",
        "testinsights",
    )
    assert info.mlflow_tracking_uri and info.mlflow_tracking_uri.startswith("azureml://eastus.api.azureml.ms/mlflow/")
    assert info.studio_url == f"https://ml.azure.com/home?wsid=/subscriptions/{SUB}/resourcegroups/{RG}/workspaces/{WS}"


def test_get_in_another_resource_group() -> None:
    url = rf"/resourceGroups/rg-other/providers/Microsoft\.MachineLearningServices/workspaces/{WS}\?"
    transport = FakeTransport().add("GET", url, Canned(200, workspace_body(rg="rg-other")))
    info = make_backend(transport).workspaces.get(WS, resource_group="rg-other")
    assert info.resource_group == "rg-other"


def test_list_by_resource_group() -> None:
    listing = example_body(f"{ML_EXAMPLES}/Workspace/listByResourceGroup.json")
    listing.pop("nextLink")
    transport = FakeTransport().add("GET", rf"{WS_URL}\?", Canned(200, listing))
    names = [w.name for w in make_backend(transport).workspaces.list()]
    assert names == ["testworkspace", "testworkspace1"]


def test_missing_workspace_is_not_found() -> None:
    transport = FakeTransport().add(
        "GET",
        rf"{WS_URL}/ws-gone\?",
        arm_error(
            404,
            "ResourceNotFound",
            "The Resource 'Microsoft.MachineLearningServices/workspaces/ws-gone' was not found.",
        ),
    )
    with pytest.raises(NotFound, match="Workspace `ws-gone` was not found"):
        make_backend(transport).workspaces.get("ws-gone")


def test_begin_create_builds_the_workspace_entity() -> None:
    """Faked at the adapter boundary: the real call deploys an ARM template through its own client."""
    lifecycle = FakeLifecycle()
    transport = FakeTransport()
    spec = WorkspaceSpec(
        name="ws-new",
        location="westeurope",
        resource_group="rg-other",
        display_name="New",
        description="For the new team",
        hbi_workspace=True,
        tags={"team": "ml"},
    )
    operation = make_backend(transport, workspace_lifecycle=lifecycle).workspaces.begin_create(spec)
    (entity,) = lifecycle.created
    assert (entity.name, entity.location, entity.resource_group) == ("ws-new", "westeurope", "rg-other")
    assert (entity.display_name, entity.description, entity.hbi_workspace) == ("New", "For the new team", True)
    assert entity.tags == {"team": "ml"}
    info = operation.result(timeout=1)
    assert (info.name, info.resource_group, info.hbi_workspace) == ("ws-new", "rg-other", True)
    assert transport.requests == []


def test_begin_create_conflict_is_already_exists() -> None:
    from azure.core.exceptions import ResourceExistsError

    class Conflicting(FakeLifecycle):
        def begin_create(self, ml_client: Any, workspace: Any) -> FakePoller:
            raise ResourceExistsError("Workspace already exists in another resource group.")

    with pytest.raises(AlreadyExists, match="Workspace `ws-new` already exists"):
        make_backend(FakeTransport(), workspace_lifecycle=Conflicting()).workspaces.begin_create(
            WorkspaceSpec(name="ws-new", location="eastus")
        )


def test_invalid_workspace_name_is_refused_before_any_call() -> None:
    lifecycle = FakeLifecycle()
    with pytest.raises(InvalidName):
        make_backend(FakeTransport(), workspace_lifecycle=lifecycle).workspaces.begin_create(
            WorkspaceSpec(name="a", location="eastus")
        )
    assert lifecycle.created == []


def test_begin_delete_without_dependents_goes_through_the_sdk() -> None:
    """The plain delete uses MLClient's own clients, so the real SDK path runs against the transport."""
    poll = (
        f"{ARM}/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus/"
        "workspaceOperationsStatus/d1"
    )
    transport = (
        FakeTransport()
        .add("GET", rf"{WS_URL}/{WS}\?", Canned(200, workspace_body()))
        .add(
            "DELETE",
            rf"{WS_URL}/{WS}\?",
            example_response(f"{ML_EXAMPLES}/Workspace/delete.json", "202", poll_url=poll),
        )
        .add(
            "GET",
            "workspaceOperationsStatus/d1",
            Canned(202, None, {"Location": poll, "Retry-After": "0"}),
            Canned(200),
        )
    )
    operation = make_backend(transport).workspaces.begin_delete(WS, delete_dependent_resources=False)
    assert operation.result(timeout=5) is None
    (delete,) = transport.sent("DELETE")
    assert delete.query == {"api-version": "2024-10-01-preview", "forceToPurge": "false"}
    assert transport.unmatched == []


def test_begin_delete_with_dependents_is_faked_at_the_boundary() -> None:
    """Faked: with dependents azure-ai-ml deletes storage, key vault, registry and insights itself."""
    lifecycle = FakeLifecycle()
    operation = make_backend(FakeTransport(), workspace_lifecycle=lifecycle).workspaces.begin_delete(
        WS, delete_dependent_resources=True
    )
    assert lifecycle.deleted == [(WS, True)]
    assert "key vault" in operation.description
    assert operation.result(timeout=1) is None
