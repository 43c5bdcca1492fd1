"""Build the Azure backend: one AzureClients shared by every capability."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.cloud.azure.clients import AzureClients
from services.cloud.azure.computes import AzureComputes
from services.cloud.azure.jobs import AzureJobs
from services.cloud.azure.model_registry import AzureModels
from services.cloud.azure.resource_groups import AzureResourceGroups
from services.cloud.azure.storage import AzureStorage
from services.cloud.azure.workspaces import AzureWorkspaces, WorkspaceLifecycle
from services.naming import validate_resource_group, validate_workspace
from services.ports import CloudBackend

if TYPE_CHECKING:
    from services.catalog import JobCatalog


def build_azure_backend(
    *,
    subscription_id: str,
    resource_group: str,
    workspace: str | None,
    location: str,
    catalog: JobCatalog,
    credential: object | None = None,
    workspace_lifecycle: WorkspaceLifecycle | None = None,
    **client_kwargs: object,
) -> CloudBackend:
    """The Azure CloudBackend. Nothing is imported from the SDKs or sent to Azure until first use.

    `credential` defaults to DefaultAzureCredential. `client_kwargs` (e.g. `transport=`, `retry_total=`,
    `polling_interval=`) reach every SDK client. `workspace_lifecycle` replaces the two workspace calls
    that azure-ai-ml makes on clients of its own (tests only).
    """
    validate_resource_group(resource_group)
    if workspace:
        validate_workspace(workspace)
    clients = AzureClients(
        subscription_id=subscription_id,
        resource_group=resource_group,
        workspace=workspace,
        location=location,
        credential=credential,
        client_kwargs=dict(client_kwargs),
    )
    return CloudBackend(
        kind="azure",
        resource_groups=AzureResourceGroups(clients),
        storage=AzureStorage(clients),
        workspaces=AzureWorkspaces(clients, lifecycle=workspace_lifecycle),
        computes=AzureComputes(clients),
        jobs=AzureJobs(clients, catalog),
        models=AzureModels(clients),
        default_resource_group=resource_group,
        default_location=location,
    )
