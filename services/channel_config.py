"""Per-channel defaults (`/aml config set`): which workspace, resource group, compute and region a channel uses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from services.errors import InvalidInput
from services.models import WorkspaceScope
from services.naming import validate_compute, validate_resource_group, validate_workspace
from services.store import ChannelSettings, Clock, utc_now

KEYS = ("workspace", "resource-group", "compute", "location")
_VALIDATE = {
    "workspace": validate_workspace,
    "resource-group": validate_resource_group,
    "compute": validate_compute,
}


@dataclass(frozen=True)
class ChannelDefaults:
    workspace: str | None = None
    resource_group: str | None = None
    compute: str | None = None
    location: str | None = None

    @property
    def scope(self) -> WorkspaceScope | None:
        """The workspace a channel targets, or None for the bot's default one."""
        if not self.workspace and not self.resource_group:
            return None
        return WorkspaceScope(resource_group=self.resource_group, workspace=self.workspace)


class ChannelConfig:
    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, channel: str) -> ChannelDefaults:
        with self.engine.connect() as conn:
            values = ChannelSettings.all(conn, channel)
        return ChannelDefaults(
            workspace=values.get("workspace"),
            resource_group=values.get("resource-group"),
            compute=values.get("compute"),
            location=values.get("location"),
        )

    def set(self, channel: str, key: str, value: str, *, user: str) -> None:
        """Set one default, checked against Azure's naming rule for that kind of name."""
        key = key.lower()
        if key not in KEYS:
            raise InvalidInput(f"`{key}` is not a channel setting. Settings: {', '.join(f'`{k}`' for k in KEYS)}.")
        validate = _VALIDATE.get(key)
        if validate is not None:
            validate(value)
        elif key == "location" and not value.replace(" ", "").isalnum():
            raise InvalidInput(f"`{value}` is not an Azure region; regions look like eastus or westeurope.")
        with self.engine.begin() as conn:
            ChannelSettings.set(
                conn,
                channel,
                key,
                value.replace(" ", "").lower() if key == "location" else value,
                now=self.clock(),
                updated_by=user,
            )

    def unset(self, channel: str, key: str) -> bool:
        with self.engine.begin() as conn:
            return ChannelSettings.delete(conn, channel, key.lower())
