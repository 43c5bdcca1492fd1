"""Resource groups, storage accounts, blob containers and workspaces as folders with a small JSON file each."""

from __future__ import annotations

import builtins
import hashlib
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.cloud.local._fs import file_lock, iso, read_json, utcnow, write_json
from services.cloud.local.common import cancel_job_dir, compute_names, job_dirs
from services.cloud.local.layout import (
    ACCOUNT_FILE,
    GROUP_FILE,
    WORKSPACE_FILE,
    Layout,
    children,
    find_child,
)
from services.cloud.local.operations import LocalOperation
from services.errors import AlreadyExists, InvalidInput, InvalidState, NameTaken, NotFound
from services.models import (
    ContainerInfo,
    NameAvailability,
    ResourceGroupInfo,
    StorageAccountInfo,
    WorkspaceInfo,
    WorkspaceSpec,
)
from services.naming import (
    validate_blob_container,
    validate_resource_group,
    validate_storage_account,
    validate_workspace,
)

TYPE_STORAGE = "Microsoft.Storage/storageAccounts"
TYPE_WORKSPACE = "Microsoft.MachineLearningServices/workspaces"
TYPE_COMPUTE = "Microsoft.MachineLearningServices/workspaces/computes"
TAG_DEPENDENT_OF = "amlbot-dependent-of"


def _cancel_jobs_in(workspace_dir: Path, reap: Callable[[], None] | None) -> None:
    for job_dir in job_dirs(workspace_dir):
        cancel_job_dir(job_dir, reap)


class LocalResourceGroups:
    def __init__(self, layout: Layout, *, reap: Callable[[], None] | None = None) -> None:
        self._layout = layout
        self._reap = reap

    def create_or_update(self, name: str, *, location: str, tags: Mapping[str, str] | None = None) -> ResourceGroupInfo:
        validate_resource_group(name)
        groups = self._layout.groups_dir
        with file_lock(groups / ".lock"):
            folder = find_child(groups, name, GROUP_FILE) or groups / name
            record = read_json(folder / GROUP_FILE)
            if record is not None and str(record.get("location")) != location:
                raise InvalidInput(
                    f"Resource group `{folder.name}` already exists in `{record.get('location')}`; "
                    f"resource groups cannot move, so its location cannot change to `{location}`.",
                    hint=f"Use location `{record.get('location')}` or another group name.",
                )
            record = {
                "name": folder.name,
                "location": location,
                "tags": dict(tags if tags is not None else (record or {}).get("tags", {})),
                "provisioning_state": "Succeeded",
                "created_at": (record or {}).get("created_at") or iso(utcnow()),
            }
            write_json(folder / GROUP_FILE, record)
        return self._info(record)

    def get(self, name: str) -> ResourceGroupInfo:
        record = read_json(self._layout.find_group(name) / GROUP_FILE) or {}
        return self._info(record)

    def list_resources(self, name: str) -> builtins.list[str]:
        group = self._layout.find_group(name)
        resources = [f"{a.name} ({TYPE_STORAGE})" for a in children(group / "storage", ACCOUNT_FILE)]
        for workspace in children(group / "workspaces", WORKSPACE_FILE):
            resources.append(f"{workspace.name} ({TYPE_WORKSPACE})")
            resources.extend(f"{workspace.name}/{c} ({TYPE_COMPUTE})" for c in compute_names(workspace))
        return resources

    def begin_delete(self, name: str) -> LocalOperation[None]:
        group = self._layout.find_group(name)
        for workspace in children(group / "workspaces", WORKSPACE_FILE):
            _cancel_jobs_in(workspace, self._reap)  # deleting the group ends its jobs, as on Azure
        shutil.rmtree(group)
        return LocalOperation.completed(f"Delete resource group {group.name}", None)

    @staticmethod
    def _info(record: Mapping[str, Any]) -> ResourceGroupInfo:
        return ResourceGroupInfo(
            name=str(record.get("name")),
            location=str(record.get("location")),
            tags=dict(record.get("tags") or {}),
            provisioning_state=record.get("provisioning_state"),
        )


class LocalStorage:
    def __init__(self, layout: Layout) -> None:
        self._layout = layout

    def check_name(self, account: str) -> NameAvailability:
        validate_storage_account(account)
        for existing in self._layout.all_accounts():
            if existing.name == account:
                return NameAvailability(
                    available=False,
                    reason="AlreadyExists",
                    message=f"The storage account named {account} is already taken.",
                )
        return NameAvailability(available=True)

    def begin_create_account(
        self, account: str, *, resource_group: str, location: str, tags: Mapping[str, str] | None = None
    ) -> LocalOperation[StorageAccountInfo]:
        validate_storage_account(account)
        group = self._layout.find_group(resource_group)
        with file_lock(self._layout.groups_dir / ".storage.lock"):
            for existing in self._layout.all_accounts():
                if existing.name != account:
                    continue
                if existing.parent.parent == group:
                    raise AlreadyExists(f"Storage account `{account}` already exists in resource group `{group.name}`.")
                raise NameTaken(
                    f"The storage account name `{account}` is already taken.",
                    hint="Storage account names are unique across Azure: choose another, e.g. with a suffix.",
                )
            info = self._write_account(group, account, location, tags or {})
        return LocalOperation.completed(f"Create storage account {account}", info)

    def _write_account(self, group: Path, account: str, location: str, tags: Mapping[str, str]) -> StorageAccountInfo:
        folder = group / "storage" / account
        (folder / "containers").mkdir(parents=True, exist_ok=True)
        record = {
            "name": account,
            "location": location,
            "kind": "StorageV2",
            "sku": "Standard_LRS",
            "provisioning_state": "Succeeded",
            "tags": dict(tags),
            "created_at": iso(utcnow()),
        }
        write_json(folder / ACCOUNT_FILE, record)
        return self._info(folder, record)

    def get_account(self, account: str, *, resource_group: str) -> StorageAccountInfo:
        folder = self._layout.find_account(account, resource_group)
        return self._info(folder, read_json(folder / ACCOUNT_FILE) or {})

    def create_container(self, account: str, container: str, *, resource_group: str) -> ContainerInfo:
        validate_blob_container(container)
        folder = self._layout.find_account(account, resource_group) / "containers" / container
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            raise AlreadyExists(f"Container `{container}` already exists in storage account `{account}`.") from None
        return ContainerInfo(account=account, name=container)

    def list_containers(self, account: str, *, resource_group: str) -> builtins.list[ContainerInfo]:
        folder = self._layout.find_account(account, resource_group) / "containers"
        if not folder.is_dir():
            return []
        return [ContainerInfo(account=account, name=p.name) for p in sorted(folder.iterdir()) if p.is_dir()]

    def delete_account(self, account: str, *, resource_group: str) -> None:
        folder = self._layout.find_account(account, resource_group)
        users = [
            w.name
            for w in self._layout.all_workspaces()
            if (read_json(w / WORKSPACE_FILE) or {}).get("storage_account") == account
        ]
        if users:
            raise InvalidState(
                f"Storage account `{account}` holds the data of workspace " + ", ".join(f"`{u}`" for u in users) + ".",
                hint="Delete the workspace with its dependent resources instead.",
            )
        shutil.rmtree(folder)

    @staticmethod
    def _info(folder: Path, record: Mapping[str, Any]) -> StorageAccountInfo:
        return StorageAccountInfo(
            name=str(record.get("name", folder.name)),
            location=str(record.get("location")),
            kind=record.get("kind"),
            sku=record.get("sku"),
            provisioning_state=record.get("provisioning_state"),
            blob_endpoint=(folder / "containers").as_uri(),
        )


def _dependent_storage_name(workspace: str, resource_group: str, taken: set[str]) -> str:
    stem = re.sub(r"[^a-z0-9]", "", workspace.lower())[:14] or "ws"
    for attempt in range(100):
        digest = hashlib.sha256(f"{resource_group}/{workspace}/{attempt}".encode()).hexdigest()[:10]
        name = f"{stem}{digest}"
        if name not in taken:
            return name
    raise AlreadyExists(f"Could not find a free storage account name for workspace `{workspace}`.")


class LocalWorkspaces:
    def __init__(self, layout: Layout, storage: LocalStorage, *, reap: Callable[[], None] | None = None) -> None:
        self._layout = layout
        self._storage = storage
        self._reap = reap

    def begin_create(self, spec: WorkspaceSpec) -> LocalOperation[WorkspaceInfo]:
        info = self.create(spec)
        return LocalOperation.completed(f"Create workspace {spec.name}", info)

    def create(self, spec: WorkspaceSpec) -> WorkspaceInfo:
        """Create the workspace folder and its dependent storage account; AlreadyExists if it exists."""
        validate_workspace(spec.name)
        group = self._layout.find_group(spec.resource_group or self._layout.default_resource_group)
        folder_parent = group / "workspaces"
        with file_lock(self._layout.groups_dir / ".storage.lock"):
            existing = find_child(folder_parent, spec.name, WORKSPACE_FILE)
            if existing is not None:
                raise AlreadyExists(
                    f"Workspace `{existing.name}` already exists in resource group `{group.name}`.",
                    hint="Pick another name, or use the existing workspace.",
                )
            taken = {a.name for a in self._layout.all_accounts()}
            account = _dependent_storage_name(spec.name, group.name, taken)
            self._storage._write_account(group, account, spec.location, {TAG_DEPENDENT_OF: spec.name})
            suffix = hashlib.sha256(f"{group.name}/{spec.name}".encode()).hexdigest()[:8]
            record = {
                "name": spec.name,
                "location": spec.location,
                "resource_group": group.name,
                "display_name": spec.display_name or spec.name,
                "description": spec.description,
                "hbi_workspace": spec.hbi_workspace,
                "tags": dict(spec.tags),
                "storage_account": account,
                "key_vault": f"kv-{spec.name[:12]}-{suffix}",
                "application_insights": f"ai-{spec.name[:12]}-{suffix}",
                "container_registry": None,
                "created_at": iso(utcnow()),
            }
            folder = folder_parent / spec.name
            for sub in ("computes", "jobs", "models"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            write_json(folder / WORKSPACE_FILE, record)
        return self._info(folder, record)

    def get(self, name: str, *, resource_group: str | None = None) -> WorkspaceInfo:
        folder = self._layout.find_workspace(name, resource_group)
        return self._info(folder, read_json(folder / WORKSPACE_FILE) or {})

    def list(self, *, resource_group: str | None = None) -> builtins.list[WorkspaceInfo]:
        if resource_group is not None:
            group = self._layout.find_group(resource_group)
            folders = children(group / "workspaces", WORKSPACE_FILE)
        else:
            folders = self._layout.all_workspaces()
        return [self._info(f, read_json(f / WORKSPACE_FILE) or {}) for f in folders]

    def begin_delete(
        self, name: str, *, delete_dependent_resources: bool, resource_group: str | None = None
    ) -> LocalOperation[None]:
        folder = self._layout.find_workspace(name, resource_group)
        record = read_json(folder / WORKSPACE_FILE) or {}
        _cancel_jobs_in(folder, self._reap)  # deleting a workspace ends its jobs, as on Azure
        shutil.rmtree(folder)
        account = record.get("storage_account")
        if delete_dependent_resources and account:
            try:
                account_dir = self._layout.find_account(str(account), folder.parent.parent.name)
            except NotFound:
                pass  # already gone
            else:
                shutil.rmtree(account_dir)
        return LocalOperation.completed(f"Delete workspace {folder.name}", None)

    def _info(self, folder: Path, record: Mapping[str, Any]) -> WorkspaceInfo:
        return WorkspaceInfo(
            name=str(record.get("name", folder.name)),
            location=record.get("location"),
            resource_group=record.get("resource_group", folder.parent.parent.name),
            display_name=record.get("display_name"),
            description=record.get("description"),
            hbi_workspace=bool(record.get("hbi_workspace", False)),
            tags=dict(record.get("tags") or {}),
            storage_account=record.get("storage_account"),
            key_vault=record.get("key_vault"),
            application_insights=record.get("application_insights"),
            container_registry=record.get("container_registry"),
            mlflow_tracking_uri=None,
            studio_url=folder.as_uri(),
        )
