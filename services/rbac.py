"""Who may do what: roles granted by configuration to Slack users, user groups and channels.

A person's role in a channel is the highest of: their own grant, the grants of the user groups they belong to,
the channel's grant (everyone in that channel), and `default_role` (everyone; viewer unless configured).
`Authorizer` answers that, and whether the role suffices for an action, naming who holds it when it does not.

Modules: roles (roles, action names, their default minimum roles and words), permission_config (parsing
`AMLBOT_PERMISSIONS`), usergroup_cache (user-group membership and its cache). Their names are re-exported here.
"""

from __future__ import annotations

import logging

from services.errors import Forbidden
from services.permission_config import PERMISSIONS_ENV, GroupRef, PermissionConfig, PermissionConfigError
from services.roles import (
    ACTION_PHRASES,
    APPROVE_PREFIX,
    AUDIT,
    COMPUTE_DELETE,
    DEFAULT_ACTION_ROLES,
    DESTRUCTIVE_ACTIONS,
    STORAGE_DELETE,
    TEARDOWN_RG,
    TEARDOWN_WORKSPACE,
    Role,
    approve_action,
    describe_action,
)
from services.usergroup_cache import CachingUserGroupResolver, StaticUserGroups, UserGroupResolver

log = logging.getLogger(__name__)

__all__ = [
    "ACTION_PHRASES",
    "APPROVE_PREFIX",
    "AUDIT",
    "COMPUTE_DELETE",
    "DEFAULT_ACTION_ROLES",
    "DESTRUCTIVE_ACTIONS",
    "PERMISSIONS_ENV",
    "STORAGE_DELETE",
    "TEARDOWN_RG",
    "TEARDOWN_WORKSPACE",
    "Authorizer",
    "CachingUserGroupResolver",
    "GroupRef",
    "PermissionConfig",
    "PermissionConfigError",
    "Role",
    "StaticUserGroups",
    "UserGroupResolver",
    "approve_action",
    "describe_action",
]


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
