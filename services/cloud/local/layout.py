"""Where the local backend keeps things under its data folder, and how names are found there.

```
<data_dir>/resource-groups/<rg>/group.json
    storage/<account>/account.json, storage/<account>/containers/<container>/
    workspaces/<ws>/workspace.json
        computes/<name>.json, computes/.slots/<name>/<i>.lock
        jobs/<job>/ (job.json, status.json, user_logs/std_log.txt, outputs/<name>/, code/, mlruns/)
        models/<name>/<version>/ (+ models/<name>/_meta/<version>.json)
```
Names are matched case-insensitively like Azure does, and stored as first typed. Every `find_*` lookup
checks the name against Azure's rule first (services/naming.py), so a name Azure would refuse is
InvalidName here too, before anything is read.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from services.errors import NotFound
from services.models import WorkspaceScope
from services.naming import validate_resource_group, validate_storage_account, validate_workspace

GROUP_FILE = "group.json"
ACCOUNT_FILE = "account.json"
WORKSPACE_FILE = "workspace.json"


def find_child(parent: Path, name: str, marker: str | None = None) -> Path | None:
    """The entry of `parent` called `name` (any case), optionally only if it holds `marker`."""
    exact = parent / name
    if exact.exists() and (marker is None or (exact / marker).exists()):
        return exact
    if not parent.is_dir():
        return None
    lowered = name.lower()
    for entry in parent.iterdir():
        if entry.name.lower() == lowered and (marker is None or (entry / marker).exists()):
            return entry
    return None


def children(parent: Path, marker: str) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted((p for p in parent.iterdir() if (p / marker).is_file()), key=lambda p: p.name.lower())


def not_found(kind: str, name: str, existing: list[str], *, where: str = "", hint: str | None = None) -> NotFound:
    message = f"There is no {kind} `{name}`{where}."
    close = difflib.get_close_matches(name.lower(), [e.lower() for e in existing], n=3, cutoff=0.6)
    if close:
        originals = {e.lower(): e for e in existing}
        message += " Did you mean " + " or ".join(f"`{originals[c]}`" for c in close) + "?"
    if hint is None:
        if existing:
            shown = ", ".join(f"`{e}`" for e in existing[:20]) + (" …" if len(existing) > 20 else "")
            hint = f"Existing: {shown}."
        else:
            hint = f"There are no {kind}s yet."
    return NotFound(message, hint=hint)


class Layout:
    def __init__(self, data_dir: Path, *, default_resource_group: str, default_workspace: str, location: str):
        self.root = Path(data_dir).resolve()
        self.groups_dir = self.root / "resource-groups"
        self.default_resource_group = default_resource_group
        self.default_workspace = default_workspace
        self.location = location

    # ------------------------------------------------------------------ resource groups
    def group_names(self) -> list[str]:
        return [p.name for p in children(self.groups_dir, GROUP_FILE)]

    def find_group(self, name: str) -> Path:
        validate_resource_group(name)
        found = find_child(self.groups_dir, name, GROUP_FILE)
        if found is None:
            raise not_found("resource group", name, self.group_names())
        return found

    # ------------------------------------------------------------------ storage accounts
    def all_accounts(self) -> list[Path]:
        return [a for g in children(self.groups_dir, GROUP_FILE) for a in children(g / "storage", ACCOUNT_FILE)]

    def find_account(self, account: str, resource_group: str) -> Path:
        validate_storage_account(account)
        group = self.find_group(resource_group)
        found = find_child(group / "storage", account, ACCOUNT_FILE)
        if found is None:
            existing = [p.name for p in children(group / "storage", ACCOUNT_FILE)]
            elsewhere = [a.parent.parent.name for a in self.all_accounts() if a.name == account]
            hint = f"It is in resource group `{elsewhere[0]}`." if elsewhere else None
            raise not_found("storage account", account, existing, where=f" in resource group `{group.name}`", hint=hint)
        return found

    # ------------------------------------------------------------------ workspaces
    def all_workspaces(self) -> list[Path]:
        return [w for g in children(self.groups_dir, GROUP_FILE) for w in children(g / "workspaces", WORKSPACE_FILE)]

    def find_workspace(self, name: str, resource_group: str | None = None) -> Path:
        validate_workspace(name)
        group = self.find_group(resource_group or self.default_resource_group)
        found = find_child(group / "workspaces", name, WORKSPACE_FILE)
        if found is None:
            existing = [p.name for p in children(group / "workspaces", WORKSPACE_FILE)]
            elsewhere = [w.parent.parent.name for w in self.all_workspaces() if w.name.lower() == name.lower()]
            hint = f"There is one in resource group `{elsewhere[0]}`: name that resource group." if elsewhere else None
            raise not_found("workspace", name, existing, where=f" in resource group `{group.name}`", hint=hint)
        return found

    def workspace_for(self, scope: WorkspaceScope | None) -> Path:
        scope = scope or WorkspaceScope()
        return self.find_workspace(scope.workspace or self.default_workspace, scope.resource_group)

    @staticmethod
    def computes_dir(workspace_dir: Path) -> Path:
        return workspace_dir / "computes"

    @staticmethod
    def jobs_dir(workspace_dir: Path) -> Path:
        return workspace_dir / "jobs"

    @staticmethod
    def models_dir(workspace_dir: Path) -> Path:
        return workspace_dir / "models"
