"""SDK clients for one backend: built lazily, cached per scope, all given the same client kwargs."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from services.errors import InvalidInput
from services.models import WorkspaceScope
from services.naming import validate_resource_group, validate_workspace

# The ARM audience; Azure ML's data-plane services (run history, MLflow) accept the same token.
ARM_SCOPE = "https://management.azure.com/.default"
# azure.ai.ml options that only MLClient understands: the bot has no terminal and sends no SDK telemetry.
_ML_DEFAULTS: dict[str, Any] = {"show_progress": False, "enable_telemetry": False}


@dataclass(frozen=True)
class Target:
    """A fully resolved scope: subscription, resource group and (maybe) workspace."""

    subscription_id: str
    resource_group: str
    workspace: str | None

    def require_workspace(self) -> str:
        if not self.workspace:
            raise InvalidInput(
                "No workspace is selected.", hint="Pass a workspace, or configure a default one for the bot."
            )
        return self.workspace


class AzureClients:
    """Owns the credential and builds SDK clients on first use (importing the SDKs only then)."""

    def __init__(
        self,
        *,
        subscription_id: str,
        resource_group: str,
        workspace: str | None,
        location: str,
        credential: object | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace = workspace
        self.location = location
        self._credential = credential
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        self._lock = threading.RLock()
        self._ml: dict[tuple[str, str, str | None], Any] = {}
        self._resources: dict[str, Any] = {}
        self._storage: dict[str, Any] = {}

    # ------------------------------------------------------------------ scope
    def target(self, scope: WorkspaceScope | None = None, *, resource_group: str | None = None) -> Target:
        """Resolve a per-call scope against the defaults, validating names before any call."""
        scope = scope or WorkspaceScope()
        group = resource_group or scope.resource_group or self.resource_group
        workspace = scope.workspace or self.workspace
        validate_resource_group(group)
        if workspace:
            validate_workspace(workspace)
        return Target(scope.subscription_id or self.subscription_id, group, workspace)

    # ------------------------------------------------------------------ credential
    @property
    def credential(self) -> Any:
        with self._lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            return self._credential

    def bearer_token(self) -> str:
        """A fresh ARM token (for the few calls that do not go through an SDK client)."""
        return str(self.credential.get_token(ARM_SCOPE).token)

    # ------------------------------------------------------------------ clients
    def ml(self, target: Target, *, with_workspace: bool = True) -> Any:
        """The MLClient for a target (workspace-less for workspace-level operations)."""
        workspace = target.require_workspace() if with_workspace else None
        key = (target.subscription_id, target.resource_group, workspace)
        with self._lock:
            client = self._ml.get(key)
            if client is None:
                from azure.ai.ml import MLClient

                from services.cloud.azure.logging import tame_sdk_loggers

                tame_sdk_loggers()  # importing azure.ai.ml re-installs its stderr handlers
                client = MLClient(
                    self.credential,
                    target.subscription_id,
                    target.resource_group,
                    workspace,
                    **{**_ML_DEFAULTS, **self.client_kwargs},
                )
                self._ml[key] = client
            return client

    def resources(self, subscription_id: str | None = None) -> Any:
        subscription = subscription_id or self.subscription_id
        with self._lock:
            client = self._resources.get(subscription)
            if client is None:
                from azure.mgmt.resource.resources import ResourceManagementClient

                client = ResourceManagementClient(self.credential, subscription, **self.client_kwargs)
                self._resources[subscription] = client
            return client

    def storage(self, subscription_id: str | None = None) -> Any:
        subscription = subscription_id or self.subscription_id
        with self._lock:
            client = self._storage.get(subscription)
            if client is None:
                from azure.mgmt.storage import StorageManagementClient

                client = StorageManagementClient(self.credential, subscription, **self.client_kwargs)
                self._storage[subscription] = client
            return client

    def transport_kwargs(self) -> dict[str, Any]:
        """The kwargs a plain azure-core pipeline or a data-plane client accepts (no LRO options)."""
        return {k: v for k, v in self.client_kwargs.items() if k != "polling_interval"}
