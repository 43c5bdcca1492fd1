"""Compute on this machine: named slots with a state and an hourly rate, persisted as JSON files.

Instances are Stopped/Starting/Running/Stopping and take jobs only while Running. Clusters scale by
themselves like Azure's (they cannot be started or stopped): `current_nodes` is the number of jobs
running on them, `max_nodes` is how many may run at once; their state is Running while a node is busy
and Idle otherwise.
"""

from __future__ import annotations

import builtins
import shutil
import time
from pathlib import Path
from typing import Any

from services.cloud.local._fs import file_lock, iso, parse_iso, read_json, utcnow
from services.cloud.local._state import (
    CLUSTER,
    INSTANCE,
    RUNNING,
    compute_file,
    effective_compute,
    slots_dir,
    write_compute,
)
from services.cloud.local.common import active_jobs, compute_names, find_compute_file, load_compute
from services.cloud.local.layout import Layout, find_child
from services.cloud.local.operations import LocalOperation
from services.errors import AlreadyExists, InvalidInput, InvalidState
from services.models import ComputeInfo, ComputeKind, WorkspaceScope
from services.naming import validate_compute

STOPPED = "Stopped"
STARTING = "Starting"
STOPPING = "Stopping"
CREATING = "Creating"
IDLE = "Idle"

# Pretend prices (USD per hour) for sizes created through the local backend; the pricing service
# gives real ones. Unknown sizes cost nothing locally.
LOCAL_HOURLY_RATES = {
    "local": 0.0,
    "Standard_DS11_v2": 0.19,
    "Standard_DS3_v2": 0.29,
    "Standard_D4s_v3": 0.19,
    "Standard_E4ds_v4": 0.29,
    "Standard_NC6s_v3": 3.06,
    "Standard_NC4as_T4_v3": 0.53,
}


def new_compute_record(
    name: str,
    *,
    kind: ComputeKind,
    size: str,
    max_concurrent_jobs: int,
    hourly_rate: float,
    running: bool,
    min_nodes: int = 0,
    idle_shutdown_minutes: int | None = None,
    idle_scale_down_seconds: int | None = None,
    tier: str | None = None,
    created_by: str | None = None,
) -> dict[str, Any]:
    is_instance = kind == ComputeKind.INSTANCE
    now = iso(utcnow())
    return {
        "name": name,
        "kind": INSTANCE if is_instance else CLUSTER,
        "size": size,
        "max_concurrent_jobs": max(1, int(max_concurrent_jobs)),
        "min_nodes": None if is_instance else min_nodes,
        "hourly_rate": float(hourly_rate),
        "state": (RUNNING if running else STOPPED) if is_instance else IDLE,
        "transition": None,
        "running_since": now if is_instance and running else None,
        "idle_shutdown_minutes": idle_shutdown_minutes,
        "idle_scale_down_seconds": idle_scale_down_seconds,
        "tier": tier,
        "created_by": created_by,
        "created_at": now,
    }


def instance_not_scaled(name: str) -> InvalidState:
    """Only clusters scale; an instance is stopped instead."""
    return InvalidState(
        f"`{name}` is a compute instance: instances are stopped, not scaled to zero.",
        hint=f"Stop it with `/aml compute stop {name}`.",
    )


class LocalComputes:
    def __init__(self, layout: Layout, *, transition_seconds: float = 1.0) -> None:
        self._layout = layout
        self._transition = max(0.0, transition_seconds)

    # ------------------------------------------------------------------ create
    def begin_create_instance(
        self,
        name: str,
        *,
        size: str,
        idle_shutdown_minutes: int | None = None,
        scope: WorkspaceScope | None = None,
    ) -> LocalOperation[ComputeInfo]:
        validate_compute(name)
        record = new_compute_record(
            name,
            kind=ComputeKind.INSTANCE,
            size=size,
            max_concurrent_jobs=1,
            hourly_rate=LOCAL_HOURLY_RATES.get(size, 0.0),
            running=False,
            idle_shutdown_minutes=idle_shutdown_minutes,
        )
        # an instance is created running, like on Azure: Creating → Running
        record["state"] = CREATING
        record["transition"] = {"to": RUNNING, "until": time.time() + self._transition}
        return self._create(record, scope, f"Create compute instance {name}")

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
    ) -> LocalOperation[ComputeInfo]:
        validate_compute(name)
        if min_nodes < 0 or max_nodes < 1 or min_nodes > max_nodes:
            raise InvalidInput(f"Nodes must satisfy 0 ≤ min ≤ max and max ≥ 1 (got min {min_nodes}, max {max_nodes}).")
        record = new_compute_record(
            name,
            kind=ComputeKind.CLUSTER,
            size=size,
            max_concurrent_jobs=max_nodes,
            hourly_rate=LOCAL_HOURLY_RATES.get(size, 0.0),
            running=False,
            min_nodes=min_nodes,
            idle_scale_down_seconds=idle_scale_down_seconds,
            tier=tier,
        )
        return self._create(record, scope, f"Create compute cluster {name}")

    def _create(
        self, record: dict[str, Any], scope: WorkspaceScope | None, description: str
    ) -> LocalOperation[ComputeInfo]:
        workspace = self._layout.workspace_for(scope)
        folder = Layout.computes_dir(workspace)
        name = str(record["name"])
        with file_lock(folder / ".lock"):
            existing = find_child(folder, f"{name}.json")
            if existing is not None:
                raise AlreadyExists(
                    f"A compute named `{existing.stem}` already exists in workspace `{workspace.name}`.",
                    hint="Pick another name, or use the existing one.",
                )
            write_compute(folder, record)
        return self._operation(workspace, name, description)

    # ------------------------------------------------------------------ read
    def list(self, *, scope: WorkspaceScope | None = None) -> builtins.list[ComputeInfo]:
        workspace = self._layout.workspace_for(scope)
        infos = []
        for name in compute_names(workspace):
            record = read_json(compute_file(Layout.computes_dir(workspace), name))
            if record is not None:
                infos.append(self._info(workspace, effective_compute(record)))
        return infos

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> ComputeInfo:
        workspace = self._workspace_of(name, scope)
        return self._info(workspace, load_compute(workspace, name))

    def _workspace_of(self, name: str, scope: WorkspaceScope | None) -> Path:
        """The workspace folder to look for compute `name` in, after checking the name as Azure does."""
        validate_compute(name)
        return self._layout.workspace_for(scope)

    def _info(self, workspace: Path, record: dict[str, Any]) -> ComputeInfo:
        name = str(record["name"])
        is_instance = record.get("kind") == INSTANCE
        state = str(record.get("state"))
        current_nodes = None
        running_since = parse_iso(record.get("running_since"))
        if not is_instance:
            running = [s for _, s in active_jobs(workspace, name) if s.get("status") == RUNNING]
            current_nodes = max(len(running), int(record.get("min_nodes") or 0))
            state = RUNNING if current_nodes else IDLE
            starts = [t for t in (parse_iso(s.get("started_at")) for s in running) if t is not None]
            running_since = min(starts) if starts else None
        return ComputeInfo(
            name=name,
            kind=ComputeKind.INSTANCE if is_instance else ComputeKind.CLUSTER,
            size=record.get("size"),
            state=state,
            current_nodes=current_nodes,
            min_nodes=None if is_instance else int(record.get("min_nodes") or 0),
            max_nodes=None if is_instance else int(record.get("max_concurrent_jobs") or 1),
            idle_shutdown_minutes=record.get("idle_shutdown_minutes"),
            idle_scale_down_seconds=record.get("idle_scale_down_seconds"),
            tier=record.get("tier"),
            running_since=running_since if state == RUNNING else None,
            created_by=record.get("created_by"),
            location=self._layout.location,
            hourly_rate=float(record.get("hourly_rate") or 0.0),
        )

    # ------------------------------------------------------------------ start / stop / delete
    def begin_start(self, name: str, *, scope: WorkspaceScope | None = None) -> LocalOperation[ComputeInfo]:
        return self._move(name, scope, to=RUNNING, via=STARTING, verb="start")

    def begin_stop(self, name: str, *, scope: WorkspaceScope | None = None) -> LocalOperation[ComputeInfo]:
        return self._move(name, scope, to=STOPPED, via=STOPPING, verb="stop")

    def _move(
        self, name: str, scope: WorkspaceScope | None, *, to: str, via: str, verb: str
    ) -> LocalOperation[ComputeInfo]:
        workspace = self._workspace_of(name, scope)
        path = find_compute_file(workspace, name)
        with file_lock(path.parent / ".lock"):
            raw = read_json(path)
            if raw is None:
                raise InvalidState(f"The compute `{name}` is being deleted.")
            record = effective_compute(raw)
            name = str(record["name"])
            if record.get("kind") != INSTANCE:
                info = self._info(workspace, record)
                raise InvalidState(
                    f"`{name}` is a cluster: clusters scale by themselves between their min and max nodes "
                    f"({info.min_nodes}–{info.max_nodes} here), so it cannot be "
                    f"{'started' if verb == 'start' else 'stopped'}.",
                    hint="Jobs sent to it start nodes; idle nodes go away after the scale-down delay.",
                )
            state = str(record.get("state"))
            if state == to:
                raise InvalidState(
                    f"`{name}` is already {'running' if to == RUNNING else 'stopped'}.",
                    hint=None if to == RUNNING else f"Start it with `/aml compute start {name}`.",
                )
            if state in (STARTING, STOPPING, CREATING):
                raise InvalidState(f"`{name}` is {state.lower()} right now; try again in a moment.")
            if to == STOPPED:
                busy = active_jobs(workspace, name)
                if busy:
                    raise InvalidState(
                        f"`{name}` has {len(busy)} job(s) queued or running: "
                        + ", ".join(f"`{d.name}`" for d, _ in busy[:5])
                        + ".",
                        hint="Cancel them first, or wait until they finish.",
                    )
            record["state"] = via
            record["transition"] = {"to": to, "until": time.time() + self._transition}
            record["running_since"] = None
            record["last_operation"] = {"name": verb.capitalize(), "time": iso(utcnow()), "trigger": "User"}
            write_compute(path.parent, effective_compute(record))
        return self._operation(workspace, name, f"{verb.capitalize()} compute {name}")

    def begin_scale_to_zero(self, name: str, *, scope: WorkspaceScope | None = None) -> LocalOperation[ComputeInfo]:
        """Minimum nodes → 0: idle nodes go at once (no scale-down delay here); running jobs keep theirs."""
        workspace = self._workspace_of(name, scope)
        path = find_compute_file(workspace, name)
        with file_lock(path.parent / ".lock"):
            raw = read_json(path)
            if raw is None:
                raise InvalidState(f"The compute `{name}` is being deleted.")
            record = effective_compute(raw)
            name = str(record["name"])
            if record.get("kind") == INSTANCE:
                raise instance_not_scaled(name)
            if int(record.get("min_nodes") or 0) != 0:
                record["min_nodes"] = 0
                record["last_operation"] = {"name": "Update", "time": iso(utcnow()), "trigger": "User"}
                write_compute(path.parent, record)
            info = self._info(workspace, record)
        return LocalOperation.completed(f"Scale compute cluster {name} to zero", info)

    def begin_delete(self, name: str, *, scope: WorkspaceScope | None = None) -> LocalOperation[None]:
        workspace = self._workspace_of(name, scope)
        path = find_compute_file(workspace, name)
        with file_lock(path.parent / ".lock"):
            name = path.stem
            busy = active_jobs(workspace, name)
            if busy:
                raise InvalidState(
                    f"`{name}` has {len(busy)} job(s) queued or running: "
                    + ", ".join(f"`{d.name}`" for d, _ in busy[:5])
                    + ".",
                    hint="Cancel them first, or wait until they finish.",
                )
            path.unlink()
            shutil.rmtree(slots_dir(path.parent, name), ignore_errors=True)
        return LocalOperation.completed(f"Delete compute {name}", None)

    def _operation(self, workspace: Path, name: str, description: str) -> LocalOperation[ComputeInfo]:
        def ready() -> bool:
            record = read_json(compute_file(Layout.computes_dir(workspace), name))
            return record is None or effective_compute(record).get("transition") is None

        return LocalOperation(description, lambda: self._info(workspace, load_compute(workspace, name)), ready=ready)
