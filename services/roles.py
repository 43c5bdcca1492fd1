"""Roles and actions: the ordered roles, every action's name and default minimum role, and how an action reads
in a sentence.

Roles are ordered: viewer < operator < approver < admin; holding a role means holding every lower one too.

Every command is an *action* named "<noun>.<verb>" (`job.submit`, `teardown.workspace`) with a minimum role.
Deciding on an approval request for an action is the action "approve.<action>" (approver by default).
Destructive actions (teardown.workspace, teardown.rg, compute.delete, storage.delete) are admin-only unless the
configuration lowers them, and so is any action nobody declared (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum


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
