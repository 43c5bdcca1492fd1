"""The error a Slack Web API method answers with."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """A Slack API error code (e.g. ``channel_not_found``) plus optional extra response fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body Slack would send for this error."""
        return {"ok": False, "error": self.error, **self.extra}
