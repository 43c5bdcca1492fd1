"""The bot's own value types: what services return, never SDK entities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JobStatus(StrEnum):
    """Azure ML job statuses (the local backend uses a subset)."""

    NOT_STARTED = "NotStarted"
    STARTING = "Starting"
    PROVISIONING = "Provisioning"
    PREPARING = "Preparing"
    QUEUED = "Queued"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"
    NOT_RESPONDING = "NotResponding"
    PAUSED = "Paused"
    UNKNOWN = "Unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @classmethod
    def parse(cls, text: str | None) -> JobStatus:
        """Map any casing of a status (Event Grid varies it) to the enum; Unknown otherwise."""
        if not text:
            return cls.UNKNOWN
        return _BY_LOWER.get(text.strip().lower(), cls.UNKNOWN)


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})
_BY_LOWER = {s.value.lower(): s for s in JobStatus}


class ComputeKind(StrEnum):
    INSTANCE = "instance"
    CLUSTER = "cluster"


class ModelType(StrEnum):
    CUSTOM = "custom_model"
    MLFLOW = "mlflow_model"


@dataclass(frozen=True)
class WorkspaceScope:
    """Which workspace a call targets; None fields fall back to the backend's configured defaults."""

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None


@dataclass(frozen=True)
class ServiceEndpoint:
    """An interactive service a job exposes (JupyterLab, VS Code, TensorBoard)."""

    name: str
    kind: str
    url: str | None
    status: str | None = None


@dataclass(frozen=True)
class JobInfo:
    name: str
    display_name: str | None
    status: JobStatus
    compute: str | None
    experiment: str | None
    created_by: str | None
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    studio_url: str | None
    services: tuple[ServiceEndpoint, ...] = ()
    error: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Where the job's outputs live: a local folder or an azureml:// URI.
    output_uri: str | None = None
    template: str | None = None


@dataclass(frozen=True)
class ComputeInfo:
    name: str
    kind: ComputeKind
    size: str | None
    state: str
    current_nodes: int | None = None
    min_nodes: int | None = None
    max_nodes: int | None = None
    idle_shutdown_minutes: int | None = None
    idle_scale_down_seconds: int | None = None
    tier: str | None = None
    running_since: datetime | None = None
    created_by: str | None = None
    location: str | None = None
    hourly_rate: float | None = None


@dataclass(frozen=True)
class ResourceGroupInfo:
    name: str
    location: str
    tags: Mapping[str, str] = field(default_factory=dict)
    provisioning_state: str | None = None


@dataclass(frozen=True)
class NameAvailability:
    available: bool
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class StorageAccountInfo:
    """A storage account as people see it; keys and connection strings never appear here."""

    name: str
    location: str
    kind: str | None = None
    sku: str | None = None
    provisioning_state: str | None = None
    blob_endpoint: str | None = None


@dataclass(frozen=True)
class ContainerInfo:
    account: str
    name: str


@dataclass(frozen=True)
class WorkspaceSpec:
    name: str
    location: str
    resource_group: str | None = None
    display_name: str | None = None
    description: str | None = None
    hbi_workspace: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceInfo:
    name: str
    location: str | None
    resource_group: str | None
    display_name: str | None = None
    description: str | None = None
    hbi_workspace: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    storage_account: str | None = None
    key_vault: str | None = None
    application_insights: str | None = None
    container_registry: str | None = None
    mlflow_tracking_uri: str | None = None
    studio_url: str | None = None


@dataclass(frozen=True)
class JobRequest:
    """A submit as the person asked for it; `request_id` makes the job name deterministic."""

    template: str
    request_id: str
    requested_by: str
    channel: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    compute: str | None = None
    experiment: str | None = None
    display_name: str | None = None
    name: str | None = None
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    type: ModelType
    path: str
    job_name: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    key: str
    step: int
    value: float
    timestamp: datetime | None = None


# Tags every submitted job carries, so jobs can be traced back to Slack and found again.
TAG_SLACK_USER = "slack-user"
TAG_SLACK_CHANNEL = "slack-channel"
TAG_REQUEST = "amlbot-request"
TAG_TEMPLATE = "amlbot-template"
