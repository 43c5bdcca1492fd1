"""Teardowns: what a deletion would take with it, read before anyone is asked, and the deletion itself, run once
someone else has approved.

`TeardownPlanner` reads the backend (slow Azure reads: run it after the ack) and returns a `TeardownPlan`
whose `action`, `target` and `details` go to `ApprovalService.request` as they are. `details["resources"]`
lists what goes with the target (each {"type", "name"} or a plain string), and the rest is what
`TeardownExecutor` needs later: the resource group, the workspace scope, keep_dependents. A target that does
not exist raises NotFound before anything is requested.

`TeardownExecutor` is the ApprovalService's executor: called once per approved request, it deletes, waits for
the long-running operation, and returns what it did in plain words; failures are ServiceErrors in plain words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.approvals import ApprovalRequest
from services.errors import InvalidInput, InvalidState, NotFound, OperationFailed, ServiceError
from services.models import ComputeInfo, ComputeKind, WorkspaceInfo, WorkspaceScope
from services.ports import CloudBackend, Operation
from services.rbac import COMPUTE_DELETE, STORAGE_DELETE, TEARDOWN_RG, TEARDOWN_WORKSPACE

log = logging.getLogger(__name__)

# How long the executor waits for each deletion (the approval's lease is renewed meanwhile).
WORKSPACE_DELETE_TIMEOUT = 30 * 60.0
RESOURCE_GROUP_DELETE_TIMEOUT = 60 * 60.0
COMPUTE_DELETE_TIMEOUT = 20 * 60.0
# A resource group's listing in the request stops here ("… and 12 more"): one Slack section holds ~3,000 chars.
MAX_LISTED_RESOURCES = 40

# A workspace's dependent resources: the WorkspaceInfo field and how people call it.
DEPENDENTS: tuple[tuple[str, str], ...] = (
    ("storage_account", "storage account"),
    ("key_vault", "key vault"),
    ("application_insights", "Application Insights"),
    ("container_registry", "container registry"),
)


@dataclass(frozen=True)
class TeardownPlan:
    """One deletion as it will be asked for: `ApprovalService.request(plan.action, plan.target, plan.details, …)`."""

    action: str
    target: str
    details: Mapping[str, Any]


class TeardownPlanner:
    """Reads what each teardown would delete. Raises NotFound (plain words) when the target does not exist."""

    def __init__(self, backend: CloudBackend) -> None:
        self.backend = backend

    def workspace(self, name: str, *, resource_group: str | None, keep_dependents: bool = False) -> TeardownPlan:
        """The workspace, its compute, and its dependent resources unless `keep_dependents`."""
        info = self.backend.workspaces.get(name, resource_group=resource_group)
        group = info.resource_group or resource_group
        computes = self.backend.computes.list(scope=WorkspaceScope(resource_group=group, workspace=info.name))
        dependents = workspace_dependents(info)
        goes = [{"type": f"compute {c.kind.value}", "name": c.name} for c in computes]
        return TeardownPlan(
            TEARDOWN_WORKSPACE,
            info.name,
            {
                "resources": goes + ([] if keep_dependents else dependents),
                "resource_group": group,
                "keep_dependents": keep_dependents,
                "dependents": dependents,
                "computes": [c.name for c in computes],
            },
        )

    def resource_group(self, name: str) -> TeardownPlan:
        """The group and everything in it."""
        info = self.backend.resource_groups.get(name)
        held = self.backend.resource_groups.list_resources(info.name)
        listed: list[str] = held[:MAX_LISTED_RESOURCES]
        if len(held) > len(listed):
            listed.append(f"and {len(held) - len(listed)} more")
        return TeardownPlan(TEARDOWN_RG, info.name, {"resources": listed, "resource_count": len(held)})

    def compute(self, name: str, *, scope: WorkspaceScope | None = None) -> TeardownPlan:
        """One compute instance or cluster, with its kind, size and nodes."""
        scope = scope or WorkspaceScope()
        info = self.backend.computes.get(name, scope=scope)
        return TeardownPlan(
            COMPUTE_DELETE,
            info.name,
            {
                "resources": [compute_description(info, scope.workspace)],
                "kind": info.kind.value,
                "size": info.size,
                "nodes": info.current_nodes,
                "workspace": scope.workspace,
                "resource_group": scope.resource_group,
            },
        )

    def storage_account(self, account: str, *, resource_group: str) -> TeardownPlan:
        """A storage account with its blob containers; refused when a workspace keeps its data there."""
        info = self.backend.storage.get_account(account, resource_group=resource_group)
        users = [w.name for w in self.backend.workspaces.list(resource_group=resource_group) if _uses(w, info.name)]
        if users:
            first = users[0]
            raise InvalidState(
                f"Storage account `{info.name}` holds the data of workspace {_join([f'`{u}`' for u in users])}; "
                "deleting it alone would break that workspace, so I did not ask for it.",
                hint=f"To delete both, use `/aml teardown workspace {first} --resource-group {resource_group}`.",
            )
        containers = self.backend.storage.list_containers(info.name, resource_group=resource_group)
        return TeardownPlan(
            STORAGE_DELETE,
            info.name,
            {
                "resources": [{"type": "blob container", "name": c.name} for c in containers],
                "resource_group": resource_group,
            },
        )


class TeardownExecutor:
    """The ApprovalService's executor: `(request) -> what it did, in words`."""

    def __init__(self, backend: CloudBackend) -> None:
        self.backend = backend
        self._runs: Mapping[str, Callable[[str, Mapping[str, Any]], str]] = {
            TEARDOWN_WORKSPACE: self._delete_workspace,
            TEARDOWN_RG: self._delete_resource_group,
            COMPUTE_DELETE: self._delete_compute,
            STORAGE_DELETE: self._delete_storage_account,
        }

    def __call__(self, request: ApprovalRequest) -> str:
        """Delete what `request` (an approved ApprovalRequest) names; raise a ServiceError in plain words."""
        run = self._runs.get(request.action)
        if run is None:
            raise InvalidInput(f"I don't know how to carry out `{request.action}`, so nothing was deleted.")
        details: Mapping[str, Any] = request.details or {}
        what = request.what
        try:
            return run(request.target, details)
        except NotFound:
            # Someone (or another request) deleted it since it was asked for: the goal is reached.
            return f"{what[:1].upper()}{what[1:]} was already gone, so there was nothing left to delete."
        except ServiceError:
            raise
        except TimeoutError:
            raise OperationFailed(
                f"deleting {what} is still in progress after a long wait; Azure goes on with it.",
                hint="Check in the Azure portal later whether it is gone.",
            ) from None
        except Exception as err:
            log.exception("deleting %s failed", what)
            raise OperationFailed(
                f"something went wrong on my side while deleting {what} ({type(err).__name__}); "
                "it may be partly deleted.",
                hint="Check what is left in the Azure portal before asking again.",
            ) from err

    def _delete_workspace(self, name: str, details: Mapping[str, Any]) -> str:
        keep = bool(details.get("keep_dependents"))
        group = details.get("resource_group")
        workspaces = self.backend.workspaces
        _wait(
            workspaces.begin_delete(name, delete_dependent_resources=not keep, resource_group=group),
            WORKSPACE_DELETE_TIMEOUT,
        )
        done = f"Deleted workspace `{name}`" + (f" (resource group `{group}`)" if group else "")
        dependents = [_resource_words(item) for item in details.get("dependents") or []]
        if dependents and not keep:
            done += f" and its {_join(dependents)}"
        done += "."
        computes = [f"`{c}`" for c in details.get("computes") or []]
        if computes:
            done += f" Its compute went with it: {_join(computes)}."
        if dependents and keep:
            done += f" Kept, as asked: {_join(dependents)}."
        return done

    def _delete_resource_group(self, name: str, details: Mapping[str, Any]) -> str:
        _wait(self.backend.resource_groups.begin_delete(name), RESOURCE_GROUP_DELETE_TIMEOUT)
        count = int(details.get("resource_count") or len(details.get("resources") or []))
        if count == 0:
            return f"Deleted resource group `{name}` (it was empty)."
        return f"Deleted resource group `{name}` and {_count(count, 'resource')} in it."

    def _delete_compute(self, name: str, details: Mapping[str, Any]) -> str:
        scope = WorkspaceScope(resource_group=details.get("resource_group"), workspace=details.get("workspace"))
        _wait(self.backend.computes.begin_delete(name, scope=scope), COMPUTE_DELETE_TIMEOUT)
        kind = details.get("kind")
        where = f" from workspace `{scope.workspace}`" if scope.workspace else ""
        return f"Deleted compute {kind + ' ' if kind else ''}`{name}`{where}."

    def _delete_storage_account(self, account: str, details: Mapping[str, Any]) -> str:
        group = str(details.get("resource_group") or "")
        if not group:
            raise InvalidInput(f"The request names no resource group for storage account `{account}`; ask again.")
        self.backend.storage.delete_account(account, resource_group=group)
        containers = [f"`{_resource_name(item)}`" for item in details.get("resources") or []]
        done = f"Deleted storage account `{account}` (resource group `{group}`)"
        if containers:
            done += f" with its {_count(len(containers), 'blob container')}: {_join(containers)}"
        return done + "."


# ------------------------------------------------------------------------------------------------ words


def workspace_dependents(info: WorkspaceInfo) -> list[dict[str, str]]:
    """The storage account, key vault, Application Insights and container registry a workspace uses."""
    found = ((label, getattr(info, field)) for field, label in DEPENDENTS)
    return [{"type": label, "name": str(name)} for label, name in found if name]


def compute_description(info: ComputeInfo, workspace: str | None = None) -> str:
    """'compute cluster `gpu` in workspace `ws`: Standard_NC6s_v3, 2 nodes running now (max 4)'."""
    where = f" in workspace `{workspace}`" if workspace else ""
    size = info.size or "size unknown"
    if info.kind is ComputeKind.INSTANCE:
        state = f", {info.state}" if info.state else ""
        return f"compute instance `{info.name}`{where}: {size}{state}, with the files on its disk"
    nodes = _count(info.current_nodes or 0, "node")
    limit = f" (max {info.max_nodes})" if info.max_nodes is not None else ""
    return f"compute cluster `{info.name}`{where}: {size}, {nodes} running now{limit}"


def _uses(workspace: WorkspaceInfo, account: str) -> bool:
    return (workspace.storage_account or "").lower() == account.lower()


def _wait(operation: Operation[Any], timeout: float) -> None:
    operation.result(timeout=timeout)


def _resource_name(item: Any) -> str:
    return str(item.get("name")) if isinstance(item, Mapping) else str(item)


def _resource_words(item: Any) -> str:
    if isinstance(item, Mapping):
        return f"{item.get('type')} `{item.get('name')}`" if item.get("type") else f"`{item.get('name')}`"
    return str(item)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
