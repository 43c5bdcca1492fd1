"""Who may do what: roles granted by configuration to Slack users, user groups and channels.

Roles are ordered: viewer < operator < approver < admin; holding a role means holding every lower one too.
A person's role in a channel is the highest of: their own grant, the grants of the user groups they belong to,
the channel's grant (everyone in that channel), and `default_role` (everyone; viewer unless configured).

Every command is an *action* named "<noun>.<verb>" (`job.submit`, `teardown.workspace`) with a minimum role.
Deciding on an approval request for an action is the action "approve.<action>" (approver by default).
Destructive actions (teardown.workspace, teardown.rg, compute.delete, storage.delete) are admin-only unless the
configuration lowers them, and so is any action nobody declared (fail closed).

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
`UserGroupResolver` is given the id when known, else the handle (Slack: `usergroups.users.list`, handles
resolved with `usergroups.list`). Membership is cached (`CachingUserGroupResolver`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from services.errors import Forbidden

log = logging.getLogger(__name__)

PERMISSIONS_ENV = "AMLBOT_PERMISSIONS"


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    APPROVER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        if isinstance(value, Role):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown role {value!r} (one of: {names})") from None


# The destructive actions: each goes through an approval request.
TEARDOWN_WORKSPACE = "teardown.workspace"
TEARDOWN_RG = "teardown.rg"
COMPUTE_DELETE = "compute.delete"
STORAGE_DELETE = "storage.delete"
DESTRUCTIVE_ACTIONS = frozenset({TEARDOWN_WORKSPACE, TEARDOWN_RG, COMPUTE_DELETE, STORAGE_DELETE})
AUDIT = "audit"
APPROVE_PREFIX = "approve."


def approve_action(action: str) -> str:
    """The action of deciding (approve or reject) on a request for `action`."""
    return APPROVE_PREFIX + action


_V, _O, _AP, _AD = Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN

# Minimum roles when the configuration says nothing. Approving anything: approver (see required_role).
DEFAULT_ACTION_ROLES: Mapping[str, Role] = {
    "help": _V,
    "job.status": _V,
    "job.list": _V,
    "job.logs": _V,
    "compute.list": _V,
    "compute.show": _V,
    "workspace.list": _V,
    "workspace.show": _V,
    "config.show": _V,
    "model.list": _V,
    "remind.status": _V,
    "job.submit": _O,
    "job.rerun": _O,
    "job.cancel": _O,
    "job.watch": _O,
    "model.register": _O,
    "compute.create": _O,
    "compute.start": _O,
    "compute.stop": _O,
    "workspace.create": _O,
    "rg.create": _O,
    "storage.create": _O,
    "container.create": _O,
    "config.set": _O,
    "config.unset": _O,
    "remind.snooze": _O,
    "remind.now": _AD,
    AUDIT: _AD,
    **{action: _AD for action in DESTRUCTIVE_ACTIONS},
}

# What an action is, in words ("Requesting a workspace teardown needs …", "Approving a workspace teardown …").
ACTION_PHRASES: Mapping[str, str] = {
    TEARDOWN_WORKSPACE: "a workspace teardown",
    TEARDOWN_RG: "a resource group teardown",
    COMPUTE_DELETE: "a compute deletion",
    STORAGE_DELETE: "a storage account deletion",
}


def describe_action(action: str) -> str:
    """The action as the subject of a sentence: "Approving a workspace teardown", "The command `/aml job submit`"."""
    if action.startswith(APPROVE_PREFIX):
        inner = action[len(APPROVE_PREFIX) :]
        return f"Approving {ACTION_PHRASES.get(inner, f'`/aml {_words(inner)}`')}"
    if action in ACTION_PHRASES:
        return f"Requesting {ACTION_PHRASES[action]}"
    return f"The command `/aml {_words(action)}`"


def _words(action: str) -> str:
    return action.replace(".", " ")


# ------------------------------------------------------------------------------------------------ configuration


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


# ------------------------------------------------------------------------------------------------ user groups


class UserGroupResolver(Protocol):
    def members(self, group_id: str) -> set[str]:
        """The user ids in a Slack user group (an id "S…", or "@handle"); raises when it cannot tell."""
        ...


class StaticUserGroups:
    """Fixed memberships (tests, the local backend, or a deployment without usergroups access)."""

    def __init__(self, groups: Mapping[str, Iterable[str]] | None = None) -> None:
        self.groups = {key: set(users) for key, users in (groups or {}).items()}

    def members(self, group_id: str) -> set[str]:
        return set(self.groups.get(group_id, set()))


@dataclass
class _Cached:
    members: frozenset[str]
    fetched_at: float
    retry_at: float = 0.0  # after a failed refresh: not before this


class CachingUserGroupResolver:
    """Caches another resolver (Slack's `usergroups.users.list` is Tier 2: ~20 calls a minute).

    A group is fetched again once `ttl` seconds old. When a refresh fails, the last known members are kept
    (stale-on-error) and the refresh is retried after `retry_after` seconds; a group never fetched
    successfully raises. `refresh()` re-reads every known group now (for the scheduler, or on
    `subteam_members_changed`); `invalidate()` forgets one group or all. Thread-safe; one fetch per group at a
    time.
    """

    def __init__(
        self,
        inner: UserGroupResolver,
        *,
        ttl: float = 300.0,
        retry_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.retry_after = retry_after
        self.clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}

    def members(self, group_id: str) -> set[str]:
        entry = self._fresh(group_id)
        if entry is not None:
            return set(entry.members)
        with self._group_lock(group_id):
            entry = self._fresh(group_id)  # another thread may have fetched it meanwhile
            if entry is not None:
                return set(entry.members)
            return set(self._fetch(group_id, force=False))

    def refresh(self, group_id: str | None = None) -> None:
        """Fetch `group_id` (or every cached group) now; failures keep the stale members and are logged."""
        with self._lock:
            keys = [group_id] if group_id is not None else list(self._cache)
        for key in keys:
            with self._group_lock(key):
                try:
                    self._fetch(key, force=True)
                except Exception:
                    log.warning("user group %s: refresh failed", key, exc_info=True)

    def invalidate(self, group_id: str | None = None) -> None:
        with self._lock:
            if group_id is None:
                self._cache.clear()
            else:
                self._cache.pop(group_id, None)

    def _group_lock(self, group_id: str) -> threading.Lock:
        with self._lock:
            return self._fetching.setdefault(group_id, threading.Lock())

    def _fresh(self, group_id: str) -> _Cached | None:
        now = self.clock()
        with self._lock:
            entry = self._cache.get(group_id)
        if entry is None:
            return None
        if now - entry.fetched_at < self.ttl or now < entry.retry_at:
            return entry
        return None

    def _fetch(self, group_id: str, *, force: bool) -> frozenset[str]:
        with self._lock:
            stale = self._cache.get(group_id)
        try:
            members = frozenset(self.inner.members(group_id))
        except Exception as err:
            if stale is None:
                raise
            log.warning("user group %s: refresh failed (%s); using members read earlier", group_id, err)
            with self._lock:
                stale.retry_at = self.clock() + self.retry_after
            return stale.members
        with self._lock:
            self._cache[group_id] = _Cached(members, self.clock())
        return members


# ------------------------------------------------------------------------------------------------ authorizer


class Authorizer:
    """Answers "what role does this person have here" and "may they do this", from a PermissionConfig."""

    def __init__(self, config: PermissionConfig, groups: UserGroupResolver | None = None) -> None:
        self.config = config
        self.groups = groups
        self._warned: set[str] = set()

    def required_role(self, action: str) -> Role:
        role = self.config.required_role(action)
        if (
            action not in self.config.actions
            and action not in DEFAULT_ACTION_ROLES
            and not action.startswith(APPROVE_PREFIX)
            and action not in self._warned
        ):
            self._warned.add(action)
            log.warning("action %r has no configured role; it needs %s", action, role.label)
        return role

    def approvals_needed(self, action: str) -> int:
        return self.config.approvals_needed(action)

    def role_of(self, user: str, channel: str | None = None) -> Role:
        return self._role_of(user, channel, set())

    def allowed(self, user: str, channel: str | None, action: str) -> bool:
        return self.role_of(user, channel) >= self.required_role(action)

    def check(self, user: str, channel: str | None, action: str) -> None:
        """Raise Forbidden (naming the needed role and who holds it) unless `user` may do `action` here."""
        self.authorize(user, channel, action)

    def authorize(self, user: str, channel: str | None, action: str) -> Role:
        """`check`, returning the role found (at least the one needed; user groups are read only as far as
        needed to reach it)."""
        needed = self.required_role(action)
        unresolved: set[str] = set()
        role = self._role_of(user, channel, unresolved, needed=needed)
        if role >= needed:
            return role
        raise Forbidden(self.refusal(action, needed), role=needed.label, hint=_unresolved_hint(unresolved))

    def refusal(self, action: str, needed: Role | None = None) -> str:
        """Why `action` is refused: "Approving a workspace teardown needs the approver role; it is held by …"."""
        needed = needed or self.required_role(action)
        holders = self.holders(needed)
        if holders:
            held = f"it is held by {_join(holders)}"
        else:
            held = f"nobody holds it yet (an admin grants roles in {PERMISSIONS_ENV})"
        return f"{describe_action(action)} needs the {needed.label} role; {held}."

    def holders(self, role: Role, *, limit: int = 10) -> list[str]:
        """Who holds `role` (or higher), as Slack mentions: users, then groups, then channels."""
        if self.config.default_role >= role:
            return ["everyone"]
        users = [f"<@{u}>" for u, r in sorted(self.config.users.items()) if r >= role]
        groups = [g.display for g, r in sorted(self.config.groups.items(), key=lambda x: x[0].key) if r >= role]
        channels = [f"everyone in <#{c}>" for c, r in sorted(self.config.channels.items()) if r >= role]
        found = users + groups + channels
        if len(found) > limit:
            return found[: limit - 1] + [f"{len(found) - limit + 1} others"]
        return found

    def _role_of(self, user: str, channel: str | None, unresolved: set[str], needed: Role | None = None) -> Role:
        cfg = self.config
        best = max(cfg.default_role, cfg.users.get(user, Role.VIEWER))
        if channel is not None:
            best = max(best, cfg.channels.get(channel, Role.VIEWER))
        # Groups cost a (cached) Slack call each: only ask about those that would raise the role, highest first,
        # and stop once the role needed is reached.
        for ref, granted in sorted(cfg.groups.items(), key=lambda item: -item[1]):
            if granted <= best or (needed is not None and best >= needed):
                break
            if self.groups is None:
                unresolved.add(ref.display)
                continue
            try:
                members = self.groups.members(ref.key)
            except Exception as err:  # fail closed: the group grants nothing we cannot confirm
                log.warning("cannot read the members of user group %s: %s", ref.key, err)
                unresolved.add(ref.display)
                continue
            if user in members:
                best = granted
        return best


def _unresolved_hint(groups: set[str]) -> str | None:
    if not groups:
        return None
    return f"(I could not check membership of {_join(sorted(groups))} just now; if you are in it, try again shortly.)"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
