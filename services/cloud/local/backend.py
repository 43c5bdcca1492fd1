"""The local backend: every port of services.ports on this machine (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.catalog import JobCatalog
from services.cloud.local._fs import file_lock, iso, read_json, utcnow, write_json
from services.cloud.local._state import compute_file, write_compute
from services.cloud.local.computes import LocalComputes, new_compute_record
from services.cloud.local.jobs import LocalJobs
from services.cloud.local.layout import GROUP_FILE, WORKSPACE_FILE, Layout, find_child
from services.cloud.local.registry import LocalModels
from services.cloud.local.resources import LocalResourceGroups, LocalStorage, LocalWorkspaces
from services.models import ComputeKind, WorkspaceSpec
from services.naming import validate_compute, validate_resource_group, validate_workspace
from services.ports import CloudBackend


@dataclass(frozen=True)
class ComputeSlot:
    """A compute of the default workspace. `running` applies to instances (clusters scale by themselves);
    `max_concurrent_jobs` is how many jobs run at once (a cluster's max nodes)."""

    name: str
    size: str = "local"
    max_concurrent_jobs: int = 1
    hourly_rate: float = 0.0
    kind: ComputeKind = ComputeKind.CLUSTER
    running: bool = False


DEFAULT_COMPUTE_SLOTS: tuple[ComputeSlot, ...] = (
    ComputeSlot("cpu-cluster", size="Standard_DS3_v2", max_concurrent_jobs=2, hourly_rate=0.90),
    ComputeSlot("dev-instance", size="Standard_DS11_v2", hourly_rate=0.30, kind=ComputeKind.INSTANCE),
)


def build_local_backend(
    data_dir: Path,
    catalog: JobCatalog,
    *,
    compute_slots: Sequence[ComputeSlot] | None = None,
    default_workspace: str = "local",
    default_resource_group: str = "local-rg",
    location: str = "local",
    compute_transition_seconds: float = 1.0,
) -> CloudBackend:
    """The local backend on `data_dir`, creating the default resource group, workspace and computes once.

    Existing state is kept: a compute already on disk keeps its state (running or not) and only takes
    the slot's size, rate and concurrency; a slot deleted through the API is not re-created.
    `compute_transition_seconds` is how long Starting/Stopping/Creating last.
    """
    validate_resource_group(default_resource_group)
    validate_workspace(default_workspace)
    slots = tuple(DEFAULT_COMPUTE_SLOTS if compute_slots is None else compute_slots)
    for slot in slots:
        validate_compute(slot.name)
    layout = Layout(
        Path(data_dir),
        default_resource_group=default_resource_group,
        default_workspace=default_workspace,
        location=location,
    )
    layout.groups_dir.mkdir(parents=True, exist_ok=True)
    jobs = LocalJobs(layout, catalog)
    groups = LocalResourceGroups(layout, reap=jobs._reap)
    storage = LocalStorage(layout)
    workspaces = LocalWorkspaces(layout, storage, reap=jobs._reap)
    computes = LocalComputes(layout, transition_seconds=compute_transition_seconds)

    if find_child(layout.groups_dir, default_resource_group, GROUP_FILE) is None:
        groups.create_or_update(default_resource_group, location=location)
    group = layout.find_group(default_resource_group)
    if find_child(group / "workspaces", default_workspace, WORKSPACE_FILE) is None:
        workspaces.create(WorkspaceSpec(name=default_workspace, location=location, resource_group=group.name))
    _seed_computes(layout.find_workspace(default_workspace, group.name), slots)

    return CloudBackend(
        kind="local",
        resource_groups=groups,
        storage=storage,
        workspaces=workspaces,
        computes=computes,
        jobs=jobs,
        models=LocalModels(layout, jobs),
        default_resource_group=default_resource_group,
        default_location=location,
    )


def _seed_computes(workspace: Path, slots: Sequence[ComputeSlot]) -> None:
    """Create each slot the first time; later, update its size, rate and concurrency but keep its state.

    A slot someone deleted stays deleted: the workspace remembers which slots it was seeded with.
    """
    folder = Layout.computes_dir(workspace)
    with file_lock(folder / ".lock"):
        meta = read_json(workspace / WORKSPACE_FILE) or {}
        seeded = set(meta.get("seeded_computes") or [])
        for slot in slots:
            path = find_child(folder, f"{slot.name}.json") or compute_file(folder, slot.name)
            record = read_json(path)
            if record is None and slot.name in seeded:
                continue
            if record is None:
                record = new_compute_record(
                    slot.name,
                    kind=slot.kind,
                    size=slot.size,
                    max_concurrent_jobs=slot.max_concurrent_jobs,
                    hourly_rate=slot.hourly_rate,
                    running=slot.running,
                )
            else:
                record.update(
                    size=slot.size,
                    hourly_rate=float(slot.hourly_rate),
                    max_concurrent_jobs=max(1, slot.max_concurrent_jobs),
                    updated_at=iso(utcnow()),
                )
            write_compute(folder, record)
            seeded.add(slot.name)
        if seeded != set(meta.get("seeded_computes") or []):
            meta["seeded_computes"] = sorted(seeded)
            write_json(workspace / WORKSPACE_FILE, meta)
