"""Azure ML workspaces through MLClient.workspaces."""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from services.cloud.azure.clients import AzureClients
from services.cloud.azure.errors import azure_errors
from services.cloud.azure.operation import PollerOperation
from services.models import WorkspaceInfo, WorkspaceScope, WorkspaceSpec
from services.naming import validate_resource_group, validate_workspace
from services.ports import Operation

STUDIO = "https://ml.azure.com"


class WorkspaceLifecycle(Protocol):
    """The two workspace calls that azure-ai-ml makes with clients of its own.

    `workspaces.begin_create` deploys an ARM template through its own ResourceManagementClient, and
    `begin_delete(delete_dependent_resources=True)` deletes the storage account, key vault, registry
    and insights through its own clients: neither sees the transport or retry kwargs given to MLClient.
    This seam lets tests replace exactly those calls.
    """

    def begin_create(self, ml_client: Any, workspace: Any) -> Any: ...

    def begin_delete(self, ml_client: Any, name: str, *, delete_dependent_resources: bool) -> Any: ...


class SdkWorkspaceLifecycle:
    """The real calls into azure-ai-ml."""

    def begin_create(self, ml_client: Any, workspace: Any) -> Any:
        return ml_client.workspaces.begin_create(workspace)

    def begin_delete(self, ml_client: Any, name: str, *, delete_dependent_resources: bool) -> Any:
        return ml_client.workspaces.begin_delete(name, delete_dependent_resources=delete_dependent_resources)


def arm_name(resource_id: str | None) -> str | None:
    """The last segment of an ARM id (the resource's name); None stays None."""
    if not resource_id:
        return None
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def studio_url(subscription_id: str, resource_group: str, workspace: str) -> str:
    return f"{STUDIO}/home?wsid=/subscriptions/{subscription_id}/resourcegroups/{resource_group}/workspaces/{workspace}"


def workspace_info(entity: Any, *, subscription_id: str, resource_group: str) -> WorkspaceInfo:
    group = getattr(entity, "resource_group", None) or resource_group
    name = str(entity.name)
    return WorkspaceInfo(
        name=name,
        location=entity.location,
        resource_group=group,
        display_name=entity.display_name,
        description=entity.description,
        hbi_workspace=bool(entity.hbi_workspace),
        tags=dict(entity.tags or {}),
        storage_account=arm_name(entity.storage_account),
        key_vault=arm_name(entity.key_vault),
        application_insights=arm_name(entity.application_insights),
        container_registry=arm_name(entity.container_registry),
        mlflow_tracking_uri=entity.mlflow_tracking_uri,
        studio_url=studio_url(subscription_id, group, name),
    )


class AzureWorkspaces:
    """Workspaces port. `lifecycle` is the seam for the two calls azure-ai-ml makes on its own clients."""

    def __init__(self, clients: AzureClients, *, lifecycle: WorkspaceLifecycle | None = None) -> None:
        self._clients = clients
        self._lifecycle = lifecycle or SdkWorkspaceLifecycle()

    def _ml(self, resource_group: str | None) -> tuple[Any, str, str]:
        if resource_group is not None:
            validate_resource_group(resource_group)
        target = self._clients.target(WorkspaceScope(resource_group=resource_group))
        return self._clients.ml(target, with_workspace=False), target.subscription_id, target.resource_group

    def begin_create(self, spec: WorkspaceSpec) -> Operation[WorkspaceInfo]:
        validate_workspace(spec.name)
        ml, subscription, group = self._ml(spec.resource_group)
        from azure.ai.ml.entities import Workspace

        entity = Workspace(
            name=spec.name,
            location=spec.location,
            display_name=spec.display_name,
            description=spec.description,
            hbi_workspace=spec.hbi_workspace,
            tags=dict(spec.tags),
            resource_group=group,
        )
        what = f"workspace `{spec.name}`"
        with azure_errors(what):
            poller = self._lifecycle.begin_create(ml, entity)
        return PollerOperation(
            poller,
            description=f"Create {what}",
            what=what,
            finish=lambda created: workspace_info(created, subscription_id=subscription, resource_group=group),
        )

    def get(self, name: str, *, resource_group: str | None = None) -> WorkspaceInfo:
        validate_workspace(name)
        ml, subscription, group = self._ml(resource_group)
        with azure_errors(f"workspace `{name}`"):
            entity = ml.workspaces.get(name)
        return workspace_info(entity, subscription_id=subscription, resource_group=group)

    def list(self, *, resource_group: str | None = None) -> builtins.list[WorkspaceInfo]:
        ml, subscription, group = self._ml(resource_group)
        with azure_errors(f"the workspaces in resource group `{group}`"):
            entities = builtins.list(ml.workspaces.list())
        return [workspace_info(e, subscription_id=subscription, resource_group=group) for e in entities]

    def begin_delete(
        self, name: str, *, delete_dependent_resources: bool, resource_group: str | None = None
    ) -> Operation[None]:
        validate_workspace(name)
        ml, _, _ = self._ml(resource_group)
        what = f"workspace `{name}`"
        with azure_errors(what):
            poller = self._lifecycle.begin_delete(ml, name, delete_dependent_resources=delete_dependent_resources)
        extra = " and its storage, key vault, registry and insights" if delete_dependent_resources else ""
        return PollerOperation(poller, description=f"Delete {what}{extra}", what=what, finish=lambda _: None)
