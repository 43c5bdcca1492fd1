"""Ports: what the use cases need from a cloud backend (Azure or local), one Protocol per capability."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from services.models import (
    ComputeInfo,
    ContainerInfo,
    JobInfo,
    JobRequest,
    MetricPoint,
    ModelInfo,
    ModelType,
    NameAvailability,
    ResourceGroupInfo,
    StorageAccountInfo,
    WorkspaceInfo,
    WorkspaceScope,
    WorkspaceSpec,
)

T_co = TypeVar("T_co", covariant=True)


class Operation(Protocol[T_co]):
    """A long-running operation: returned at once, waited on off the request path."""

    @property
    def description(self) -> str: ...

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> T_co:
        """Block until finished; raise a ServiceError (e.g. OperationFailed) when it failed, TimeoutError when
        `timeout` passed first (the operation goes on)."""
        ...


class ResourceGroups(Protocol):
    def create_or_update(self, name: str, *, location: str, tags: Mapping[str, str] | None = None) -> ResourceGroupInfo:
        """Create the group or update its tags; InvalidInput when it already exists in another location
        (resource groups cannot move)."""
        ...

    def get(self, name: str) -> ResourceGroupInfo: ...

    def list_resources(self, name: str) -> list[str]:
        """Names (with types) of the resources the group holds, for teardown previews."""
        ...

    def begin_delete(self, name: str) -> Operation[None]: ...


class Storage(Protocol):
    def check_name(self, account: str) -> NameAvailability: ...

    def begin_create_account(
        self, account: str, *, resource_group: str, location: str, tags: Mapping[str, str] | None = None
    ) -> Operation[StorageAccountInfo]: ...

    def get_account(self, account: str, *, resource_group: str) -> StorageAccountInfo: ...

    def create_container(self, account: str, container: str, *, resource_group: str) -> ContainerInfo: ...

    def list_containers(self, account: str, *, resource_group: str) -> list[ContainerInfo]: ...

    def delete_account(self, account: str, *, resource_group: str) -> None: ...


class Workspaces(Protocol):
    def begin_create(self, spec: WorkspaceSpec) -> Operation[WorkspaceInfo]: ...

    def get(self, name: str, *, resource_group: str | None = None) -> WorkspaceInfo: ...

    def list(self, *, resource_group: str | None = None) -> list[WorkspaceInfo]: ...

    def begin_delete(
        self, name: str, *, delete_dependent_resources: bool, resource_group: str | None = None
    ) -> Operation[None]: ...


class Computes(Protocol):
    def begin_create_instance(
        self,
        name: str,
        *,
        size: str,
        idle_shutdown_minutes: int | None = None,
        scope: WorkspaceScope | None = None,
    ) -> Operation[ComputeInfo]: ...

    def begin_create_cluster(
        self,
        name: str,
        *,
        size: str,
        min_nodes: int = 0,
        max_nodes: int = 1,
        idle_scale_down_seconds: int = 120,
        tier: str = "dedicated",
        scope: WorkspaceScope | None = None,
    ) -> Operation[ComputeInfo]: ...

    def list(self, *, scope: WorkspaceScope | None = None) -> list[ComputeInfo]: ...

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> ComputeInfo: ...

    def begin_start(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[ComputeInfo]:
        """Start a stopped instance. InvalidState for a cluster (clusters scale by themselves between their
        min and max nodes) and for an instance that is not stopped (e.g. already running)."""
        ...

    def begin_stop(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[ComputeInfo]:
        """Stop a running instance. InvalidState for a cluster (clusters scale by themselves between their
        min and max nodes) and for an instance that is not running (e.g. already stopped)."""
        ...

    def begin_scale_to_zero(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[ComputeInfo]:
        """Set a cluster's minimum nodes to 0 so its idle nodes are released (after its scale-down delay on
        Azure); jobs running on it are not cancelled and keep their nodes until they finish. A cluster already
        at minimum 0 is left as it is. InvalidState for an instance (instances are stopped, not scaled)."""
        ...

    def begin_delete(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[None]: ...


class Jobs(Protocol):
    def submit(self, request: JobRequest, *, scope: WorkspaceScope | None = None) -> JobInfo:
        """Submit from the job catalog; submitting the same request_id twice returns the same job."""
        ...

    def rerun(
        self,
        name: str,
        *,
        request_id: str,
        requested_by: str,
        channel: str,
        overrides: Mapping[str, str] | None = None,
        scope: WorkspaceScope | None = None,
    ) -> JobInfo: ...

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo: ...

    def list(
        self, *, tag: str | None = None, scope: WorkspaceScope | None = None, limit: int | None = None
    ) -> builtins.list[JobInfo]:
        """Jobs newest first; `tag` keeps those carrying that tag key (or `key=value`)."""
        ...

    def cancel(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo: ...

    def log_tail(self, name: str, *, lines: int = 40, scope: WorkspaceScope | None = None) -> str: ...

    def metrics(self, name: str, *, scope: WorkspaceScope | None = None) -> builtins.list[MetricPoint]: ...


class Models(Protocol):
    def register(
        self,
        *,
        job_name: str,
        name: str,
        version: str,
        path: str = "model",
        type: ModelType = ModelType.CUSTOM,
        scope: WorkspaceScope | None = None,
    ) -> ModelInfo: ...

    def list_versions(self, name: str, *, scope: WorkspaceScope | None = None) -> Sequence[ModelInfo]:
        """The model's versions newest first: numeric versions highest first, after any non-numeric labels."""
        ...


@dataclass(frozen=True)
class CloudBackend:
    """One backend's capabilities, bundled so use cases receive a single object."""

    kind: str
    resource_groups: ResourceGroups
    storage: Storage
    workspaces: Workspaces
    computes: Computes
    jobs: Jobs
    models: Models
    # Where new resources go when a command names no resource group or region.
    default_resource_group: str | None = None
    default_location: str | None = None
