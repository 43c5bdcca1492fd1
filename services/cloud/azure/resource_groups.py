"""Resource groups through azure-mgmt-resource (ARM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.cloud.azure.clients import AzureClients
from services.cloud.azure.errors import azure_errors
from services.cloud.azure.operation import PollerOperation
from services.models import ResourceGroupInfo
from services.naming import validate_resource_group
from services.ports import Operation


def _info(group: Any) -> ResourceGroupInfo:
    properties = getattr(group, "properties", None)
    state = getattr(properties, "provisioning_state", None)
    return ResourceGroupInfo(
        name=str(group.name),
        location=str(group.location),
        tags=dict(group.tags or {}),
        provisioning_state=str(state) if state is not None else None,
    )


class AzureResourceGroups:
    """ResourceGroups port: create, inspect and delete resource groups in the backend's subscription."""

    def __init__(self, clients: AzureClients) -> None:
        self._clients = clients

    def create_or_update(self, name: str, *, location: str, tags: Mapping[str, str] | None = None) -> ResourceGroupInfo:
        validate_resource_group(name)
        from azure.mgmt.resource.resources.models import ResourceGroup

        with azure_errors(f"resource group `{name}`"):
            group = self._clients.resources().resource_groups.create_or_update(
                name, ResourceGroup(location=location, tags=dict(tags or {}))
            )
        return _info(group)

    def get(self, name: str) -> ResourceGroupInfo:
        validate_resource_group(name)
        with azure_errors(f"resource group `{name}`"):
            return _info(self._clients.resources().resource_groups.get(name))

    def list_resources(self, name: str) -> list[str]:
        """`name (type)` of each resource in the group, for teardown previews."""
        validate_resource_group(name)
        with azure_errors(f"resource group `{name}`"):
            items = list(self._clients.resources().resources.list_by_resource_group(name))
        return sorted(f"{item.name} ({item.type})" for item in items)

    def begin_delete(self, name: str) -> Operation[None]:
        validate_resource_group(name)
        what = f"resource group `{name}`"
        with azure_errors(what):
            poller = self._clients.resources().resource_groups.begin_delete(name)
        return PollerOperation(poller, description=f"Delete {what}", what=what, finish=lambda _: None)
