"""Compute instances and clusters through MLClient.compute.

Reads go through the REST layer (`compute._operation`): the SDK entities drop a cluster's node counts and
an instance's creator, and one REST list gives everything the reminder sweep needs in a single call.
"""

from __future__ import annotations

import builtins
import re
from datetime import datetime, timedelta
from typing import Any

from services.cloud.azure.clients import AzureClients, Target
from services.cloud.azure.errors import azure_errors
from services.cloud.azure.operation import DoneOperation, PollerOperation
from services.cloud.azure.storage import text
from services.errors import InvalidInput, InvalidState
from services.models import ComputeInfo, ComputeKind, WorkspaceScope
from services.naming import validate_compute
from services.ports import Operation

_KINDS = {"computeinstance": ComputeKind.INSTANCE, "amlcompute": ComputeKind.CLUSTER}
_TIERS = {"dedicated": "dedicated", "lowpriority": "low_priority", "low_priority": "low_priority"}
# Instance states in which it costs money and a stop makes sense.
_STOPPABLE = frozenset({"running", "jobrunning", "unusable", "setupfailed", "usersetupfailed"})
_DURATION = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


def iso_duration_seconds(value: Any) -> float | None:
    """'PT30M' → 1800.0; a timedelta → its seconds; None or an unparsable value → None."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    match = _DURATION.fullmatch(str(value).strip().upper())
    if not match or not any(match.groupdict().values()):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def _running_since(props: Any, state: str | None) -> datetime | None:
    """When a running instance was last started or created successfully (Azure keeps no uptime)."""
    if (state or "").lower() not in ("running", "jobrunning"):
        return None
    last = getattr(props, "last_operation", None)
    if last is None:
        return None
    name = (text(getattr(last, "operation_name", None)) or "").lower()
    status = (text(getattr(last, "operation_status", None)) or "").lower()
    when = getattr(last, "operation_time", None)
    if name in ("start", "create") and status == "succeeded" and isinstance(when, datetime):
        return when
    return None


def compute_info(resource: Any) -> ComputeInfo | None:
    """A REST ComputeResource as ComputeInfo; None for kinds the bot does not manage (AKS, attached VMs)."""
    outer = resource.properties
    kind = _KINDS.get((text(getattr(outer, "compute_type", None)) or "").lower())
    if kind is None:
        return None
    props = getattr(outer, "properties", None)
    provisioning = text(getattr(outer, "provisioning_state", None))
    system_data = getattr(resource, "system_data", None)
    created_by = getattr(system_data, "created_by", None)
    common: dict[str, Any] = {
        "name": str(resource.name),
        "kind": kind,
        "size": text(getattr(props, "vm_size", None)),
        "location": resource.location,
    }
    if kind is ComputeKind.INSTANCE:
        state = text(getattr(props, "state", None))
        idle = iso_duration_seconds(getattr(props, "idle_time_before_shutdown", None))
        creator = getattr(getattr(props, "created_by", None), "user_name", None)
        return ComputeInfo(
            **common,
            state=state or provisioning or "Unknown",
            idle_shutdown_minutes=int(idle // 60) if idle is not None else None,
            running_since=_running_since(props, state),
            created_by=creator or created_by,
        )
    scale = getattr(props, "scale_settings", None)
    idle = iso_duration_seconds(getattr(scale, "node_idle_time_before_scale_down", None))
    allocation = text(getattr(props, "allocation_state", None))
    failed_or_busy = provisioning and provisioning.lower() != "succeeded"
    return ComputeInfo(
        **common,
        state=(provisioning if failed_or_busy else allocation) or "Unknown",
        current_nodes=getattr(props, "current_node_count", None),
        min_nodes=getattr(scale, "min_node_count", None),
        max_nodes=getattr(scale, "max_node_count", None),
        idle_scale_down_seconds=int(idle) if idle is not None else None,
        tier=_TIERS.get((text(getattr(props, "vm_priority", None)) or "").lower()),
        created_by=created_by,
    )


def _cluster_refused(info: ComputeInfo, verb: str) -> InvalidState:
    """Clusters are neither started nor stopped: they scale between their min and max nodes by themselves."""
    nodes = f"{info.min_nodes or 0}–{info.max_nodes if info.max_nodes is not None else '?'}"
    return InvalidState(
        f"`{info.name}` is a cluster: clusters scale by themselves between their min and max nodes "
        f"({nodes} here), so it cannot be {verb}.",
        hint="Jobs sent to it start nodes; idle nodes go away after the scale-down delay.",
    )


def _min_zero_update(cluster: ComputeInfo) -> dict[str, Any]:
    """The Compute_Update body that sets minNodeCount to 0 and restates the rest (maxNodeCount is required)."""
    scale: dict[str, Any] = {"maxNodeCount": cluster.max_nodes or 1, "minNodeCount": 0}
    if cluster.idle_scale_down_seconds is not None:
        idle = cluster.idle_scale_down_seconds
        scale["nodeIdleTimeBeforeScaleDown"] = f"PT{idle // 60}M" if idle % 60 == 0 else f"PT{idle}S"
    return {"properties": {"properties": {"scaleSettings": scale}}}


class AzureComputes:
    """Computes port: create, read, start, stop, scale to zero and delete compute instances and clusters."""

    def __init__(self, clients: AzureClients) -> None:
        self._clients = clients

    def _client(self, scope: WorkspaceScope | None) -> tuple[Any, Target]:
        target = self._clients.target(scope)
        return self._clients.ml(target), target

    @staticmethod
    def _what(name: str) -> str:
        return f"compute `{name}`"

    def _create(self, entity: Any, scope: WorkspaceScope | None) -> Operation[ComputeInfo]:
        ml, _ = self._client(scope)
        what = self._what(entity.name)
        with azure_errors(what):
            poller = ml.compute.begin_create_or_update(entity)
        return PollerOperation(
            poller, description=f"Create {what}", what=what, finish=lambda _: self.get(entity.name, scope=scope)
        )

    def begin_create_instance(
        self,
        name: str,
        *,
        size: str,
        idle_shutdown_minutes: int | None = None,
        scope: WorkspaceScope | None = None,
    ) -> Operation[ComputeInfo]:
        validate_compute(name)
        if idle_shutdown_minutes is not None and not 15 <= idle_shutdown_minutes <= 3 * 24 * 60:
            raise InvalidInput("Idle shutdown must be between 15 minutes and 3 days.", hint="For example 60.")
        from azure.ai.ml.entities import ComputeInstance

        entity = ComputeInstance(name=name, size=size, idle_time_before_shutdown_minutes=idle_shutdown_minutes)
        return self._create(entity, scope)

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
    ) -> Operation[ComputeInfo]:
        validate_compute(name)
        if not 0 <= min_nodes <= max_nodes or max_nodes < 1:
            raise InvalidInput(
                f"Node counts must satisfy 0 ≤ min ≤ max and max ≥ 1 (got min {min_nodes}, max {max_nodes})."
            )
        canonical_tier = _TIERS.get(tier.lower().replace("-", "_"))
        if canonical_tier is None:
            raise InvalidInput(f"Unknown tier `{tier}`.", hint="Use `dedicated` or `low_priority`.")
        from azure.ai.ml.entities import AmlCompute

        entity = AmlCompute(
            name=name,
            size=size,
            min_instances=min_nodes,
            max_instances=max_nodes,
            idle_time_before_scale_down=idle_scale_down_seconds,
            tier=canonical_tier,
        )
        return self._create(entity, scope)

    def list(self, *, scope: WorkspaceScope | None = None) -> builtins.list[ComputeInfo]:
        ml, target = self._client(scope)
        with azure_errors(f"the computes of workspace `{target.workspace}`"):
            resources = builtins.list(ml.compute._operation.list(target.resource_group, target.workspace))
        infos = (compute_info(r) for r in resources)
        return sorted((i for i in infos if i is not None), key=lambda i: i.name)

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> ComputeInfo:
        validate_compute(name)
        ml, target = self._client(scope)
        with azure_errors(self._what(name)):
            resource = ml.compute._operation.get(target.resource_group, target.workspace, name)
        info = compute_info(resource)
        if info is None:
            kind = text(getattr(resource.properties, "compute_type", None))
            raise InvalidInput(f"Compute `{name}` is a {kind} target; the bot manages instances and clusters only.")
        return info

    def begin_start(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[ComputeInfo]:
        # Re-read first: Azure answers 400 StartComputeInstanceOnlyAllowedInStoppedState otherwise.
        info = self.get(name, scope=scope)
        if info.kind is ComputeKind.CLUSTER:
            raise _cluster_refused(info, "started")
        if info.state.lower() != "stopped":
            raise InvalidState(
                f"Compute instance `{name}` is {info.state}; only a stopped instance can be started.",
                hint="Wait until it has stopped, then try again." if info.state.lower() == "stopping" else None,
            )
        ml, _ = self._client(scope)
        what = self._what(name)
        with azure_errors(what):
            poller = ml.compute.begin_start(name)
        return PollerOperation(
            poller, description=f"Start {what}", what=what, finish=lambda _: self.get(name, scope=scope)
        )

    def begin_stop(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[ComputeInfo]:
        # Re-read first, as start does: a stop of an instance that is not running is refused before any POST.
        info = self.get(name, scope=scope)
        if info.kind is ComputeKind.CLUSTER:
            raise _cluster_refused(info, "stopped")
        state = info.state.lower()
        if state == "stopped":
            raise InvalidState(
                f"Compute instance `{name}` is already stopped.", hint=f"Start it with `/aml compute start {name}`."
            )
        if state == "stopping":
            raise InvalidState(
                f"Compute instance `{name}` is already stopping.",
                hint=f"`/aml compute show {name}` tells when it has stopped.",
            )
        if state not in _STOPPABLE:
            raise InvalidState(
                f"Compute instance `{name}` is {info.state}; it can be stopped once it is running.",
                hint="Try again in a few minutes.",
            )
        ml, _ = self._client(scope)
        what = self._what(name)
        with azure_errors(what):
            poller = ml.compute.begin_stop(name)
        return PollerOperation(
            poller, description=f"Stop {what}", what=what, finish=lambda _: self.get(name, scope=scope)
        )

    def begin_scale_to_zero(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[ComputeInfo]:
        # Re-read first: an instance is refused before any call, and a cluster already at 0 needs none.
        info = self.get(name, scope=scope)
        if info.kind is ComputeKind.INSTANCE:
            raise InvalidState(
                f"`{info.name}` is a compute instance: instances are stopped, not scaled to zero.",
                hint=f"Stop it with `/aml compute stop {info.name}`.",
            )
        what = f"compute cluster `{info.name}`"
        if info.min_nodes == 0:
            return DoneOperation(info, description=f"Scale {what} to zero")
        ml, target = self._client(scope)
        with azure_errors(what):
            # PATCH only the scale settings (Compute_Update): a PUT of the whole entity could undo what it drops.
            poller = ml.compute._operation.begin_update(
                target.resource_group, target.workspace, info.name, parameters=_min_zero_update(info)
            )
        return PollerOperation(
            poller, description=f"Scale {what} to zero", what=what, finish=lambda _: self.get(name, scope=scope)
        )

    def begin_delete(self, name: str, *, scope: WorkspaceScope | None = None) -> Operation[None]:
        validate_compute(name)
        ml, _ = self._client(scope)
        what = self._what(name)
        with azure_errors(what):
            poller = ml.compute.begin_delete(name)
        return PollerOperation(poller, description=f"Delete {what}", what=what, finish=lambda _: None)
