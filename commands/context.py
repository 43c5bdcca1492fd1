"""What a handler receives: the caller's request, wrapped once, and the services it may use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.container import Services


@dataclass(frozen=True)
class Invocation:
    """One `/aml …` as Slack delivered it."""

    text: str
    user_id: str
    channel_id: str
    team_id: str | None = None
    user_name: str | None = None
    channel_name: str | None = None
    trigger_id: str | None = None
    command: str = "/aml"

    @property
    def delivery_key(self) -> str | None:
        """What identifies this delivery across Slack's retries of it."""
        return self.trigger_id

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Invocation:
        return cls(
            text=str(payload.get("text") or ""),
            user_id=str(payload.get("user_id") or ""),
            channel_id=str(payload.get("channel_id") or ""),
            team_id=payload.get("team_id"),
            user_name=payload.get("user_name"),
            channel_name=payload.get("channel_name"),
            trigger_id=payload.get("trigger_id"),
            command=str(payload.get("command") or "/aml"),
        )


@dataclass(frozen=True)
class Reply:
    """What a command answers: ephemeral to the caller unless `in_channel`."""

    text: str
    blocks: Sequence[Mapping[str, Any]] | None = None
    in_channel: bool = False


@dataclass(frozen=True)
class CommandContext:
    invocation: Invocation
    services: Services = field(default_factory=Services)
