"""The permissions configuration: who is granted which role, and per-action rules, parsed and checked at start-up.

Configuration (JSON or YAML; `AMLBOT_PERMISSIONS` holds the JSON itself or the path of a .json/.yaml file):

    {
      "roles": {
        "admin":    {"users": ["U_ROOT"]},
        "approver": {"users": ["U_ALICE"], "groups": ["@mlops", {"id": "S0123", "handle": "oncall"}]},
        "operator": {"channels": ["C_ML"]}
      },
      "default_role": "viewer",
      "actions":   {"teardown.rg": "approver", "job.submit": "viewer"},
      "approvals": {"teardown.rg": 2}
    }

A group is a Slack user group id ("S0123"), a handle ("@mlops"), or both ({"id", "handle"}); the
`UserGroupResolver` (services.usergroup_cache) is given the id when known, else the handle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.roles import APPROVE_PREFIX, DEFAULT_ACTION_ROLES, Role

PERMISSIONS_ENV = "AMLBOT_PERMISSIONS"


class PermissionConfigError(ValueError):
    """The permissions configuration is not valid; the message lists every problem found."""


@dataclass(frozen=True)
class GroupRef:
    """A Slack user group named by id, handle, or both."""

    id: str | None = None
    handle: str | None = None  # without the "@"

    @property
    def key(self) -> str:
        """What the resolver is asked about: the id when known, else "@handle"."""
        return self.id or f"@{self.handle}"

    @property
    def display(self) -> str:
        if self.handle:
            return f"@{self.handle}"
        return f"<!subteam^{self.id}>"

    @classmethod
    def parse(cls, value: Any) -> GroupRef:
        if isinstance(value, str) and value.strip():
            text = value.strip()
            return cls(handle=text[1:]) if text.startswith("@") else cls(id=text)
        if isinstance(value, Mapping):
            gid, handle = value.get("id"), value.get("handle")
            extra = set(value) - {"id", "handle"}
            if extra:
                raise ValueError(f"unknown keys {sorted(extra)} in group {dict(value)!r}")
            if gid is not None and not (isinstance(gid, str) and gid.strip()):
                raise ValueError(f"group id must be a non-empty string: {gid!r}")
            if handle is not None and not (isinstance(handle, str) and handle.strip().lstrip("@")):
                raise ValueError(f"group handle must be a non-empty string: {handle!r}")
            if gid is None and handle is None:
                raise ValueError(f"group {dict(value)!r} needs an id or a handle")
            return cls(id=gid.strip() if gid else None, handle=handle.strip().lstrip("@") if handle else None)
        raise ValueError(f"a group is an id, an @handle or {{id, handle}}, not {value!r}")


@dataclass(frozen=True)
class PermissionConfig:
    """Grants and per-action rules. Build with `from_mapping` / `from_json` / `from_file` / `from_env`."""

    users: Mapping[str, Role] = field(default_factory=dict)
    groups: Mapping[GroupRef, Role] = field(default_factory=dict)
    channels: Mapping[str, Role] = field(default_factory=dict)
    default_role: Role = Role.VIEWER
    # overrides of DEFAULT_ACTION_ROLES (and of "approve.<action>" → approver)
    actions: Mapping[str, Role] = field(default_factory=dict)
    approvals: Mapping[str, int] = field(default_factory=dict)  # approvals needed per action (default 1)
    # minimum role of an action neither configured nor known: admin, so a forgotten command is closed, not open
    default_action_role: Role = Role.ADMIN

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PermissionConfig:
        """Parse the configuration; raises PermissionConfigError naming every problem at once."""
        data = data or {}
        problems: list[str] = []
        if not isinstance(data, Mapping):
            raise PermissionConfigError(f"permissions must be a mapping, not {type(data).__name__}")
        unknown = set(data) - {"roles", "default_role", "actions", "approvals", "default_action_role"}
        if unknown:
            problems.append(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")

        def role(value: Any, where: str) -> Role | None:
            try:
                return Role.parse(value)
            except ValueError as err:
                problems.append(f"{where}: {err}")
                return None

        users: dict[str, Role] = {}
        groups: dict[GroupRef, Role] = {}
        channels: dict[str, Role] = {}
        roles = data.get("roles") or {}
        if not isinstance(roles, Mapping):
            problems.append("roles must map a role to {users, groups, channels}")
            roles = {}
        for role_name, grants in roles.items():
            granted = role(role_name, "roles")
            if granted is None:
                continue
            if grants is None:
                continue
            if not isinstance(grants, Mapping):
                problems.append(f"roles.{role_name} must be a mapping with users/groups/channels")
                continue
            extra = set(grants) - {"users", "groups", "channels"}
            if extra:
                problems.append(f"roles.{role_name}: unknown keys {', '.join(sorted(map(str, extra)))}")
            for kind in ("users", "groups", "channels"):
                entries = grants.get(kind) or []
                if isinstance(entries, str) or not isinstance(entries, Iterable):
                    problems.append(f"roles.{role_name}.{kind} must be a list")
                    continue
                for entry in entries:
                    if kind == "groups":
                        try:
                            ref = GroupRef.parse(entry)
                        except ValueError as err:
                            problems.append(f"roles.{role_name}.groups: {err}")
                            continue
                        groups[ref] = max(groups.get(ref, granted), granted)
                        continue
                    if not isinstance(entry, str) or not entry.strip():
                        problems.append(f"roles.{role_name}.{kind}: {entry!r} is not an id")
                        continue
                    target = users if kind == "users" else channels
                    target[entry.strip()] = max(target.get(entry.strip(), granted), granted)

        default_role = role(data.get("default_role", "viewer"), "default_role") or Role.VIEWER
        default_action_role = role(data.get("default_action_role", "admin"), "default_action_role") or Role.ADMIN

        actions: dict[str, Role] = {}
        raw_actions = data.get("actions") or {}
        if not isinstance(raw_actions, Mapping):
            problems.append("actions must map an action to its minimum role")
            raw_actions = {}
        for action, value in raw_actions.items():
            parsed = role(value, f"actions.{action}")
            if parsed is not None:
                actions[str(action)] = parsed

        approvals: dict[str, int] = {}
        raw_approvals = data.get("approvals") or {}
        if not isinstance(raw_approvals, Mapping):
            problems.append("approvals must map an action to the number of approvals it needs")
            raw_approvals = {}
        for action, count in raw_approvals.items():
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10:
                problems.append(f"approvals.{action}: needs a whole number from 1 to 10, not {count!r}")
            else:
                approvals[str(action)] = count

        if problems:
            raise PermissionConfigError("invalid permissions: " + "; ".join(problems))
        return cls(users, groups, channels, default_role, actions, approvals, default_action_role)

    @classmethod
    def from_json(cls, text: str) -> PermissionConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise PermissionConfigError(f"permissions are not valid JSON: {err}") from None
        return cls.from_mapping(data)

    @classmethod
    def from_file(cls, path: str | Path) -> PermissionConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise PermissionConfigError(f"cannot read permissions file {path}: {err.strerror or err}") from None
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                return cls.from_mapping(yaml.safe_load(text))
            except yaml.YAMLError as err:
                raise PermissionConfigError(f"permissions file {path} is not valid YAML: {err}") from None
        return cls.from_json(text)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, var: str = PERMISSIONS_ENV) -> PermissionConfig:
        """From `var` (JSON, or the path of a JSON/YAML file); unset means the defaults (nobody above viewer)."""
        value = (os.environ if env is None else env).get(var, "").strip()
        if not value:
            return cls()
        if value.startswith("{"):
            return cls.from_json(value)
        return cls.from_file(value)

    def required_role(self, action: str) -> Role:
        if action in self.actions:
            return self.actions[action]
        if action in DEFAULT_ACTION_ROLES:
            return DEFAULT_ACTION_ROLES[action]
        if action.startswith(APPROVE_PREFIX):
            return Role.APPROVER
        return self.default_action_role

    def approvals_needed(self, action: str) -> int:
        return self.approvals.get(action, 1)
