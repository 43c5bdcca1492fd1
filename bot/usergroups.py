"""Slack user groups for permissions: members by group id, or by handle ("@mlops") through usergroups.list."""

from __future__ import annotations

from slack_sdk import WebClient


class SlackUserGroups:
    """UserGroupResolver on Slack's Web API (wrap it in CachingUserGroupResolver: these calls are Tier 2)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def members(self, group_id: str) -> set[str]:
        if group_id.startswith("@"):
            group_id = self._id_of(group_id[1:])
        response = self.client.usergroups_users_list(usergroup=group_id)
        return set(response.get("users") or [])

    def _id_of(self, handle: str) -> str:
        for group in self.client.usergroups_list().get("usergroups") or []:
            if group.get("handle") == handle:
                return str(group["id"])
        raise LookupError(f"no Slack user group has the handle @{handle}")
