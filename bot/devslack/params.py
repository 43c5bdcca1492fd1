"""Decoding Web API arguments the way Slack accepts them: query string, form or JSON body."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from .errors import SlackError

JSON = dict[str, Any]


def parse_body(content_type: str, body: bytes, query: str = "") -> JSON:
    """Merge query-string and body arguments; form values are strings, JSON values keep their types."""
    params: JSON = dict(parse_qsl(query, keep_blank_values=True))
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if media_type == "application/json":
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SlackError("invalid_json") from exc
        if not isinstance(decoded, dict):
            raise SlackError("invalid_json")
        params.update(decoded)
    elif media_type in ("application/x-www-form-urlencoded", ""):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        raise SlackError("invalid_form_data")
    return params


class Params:
    """Typed access to decoded arguments."""

    def __init__(self, raw: JSON) -> None:
        self.raw = raw

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def text(self, name: str, default: str | None = None) -> str | None:
        """A string argument; empty strings count as absent."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        return (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, dict | list)
            else f"{value}"
        )

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean argument (``true``/``1`` in forms)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return f"{value}".lower() in ("1", "true", "yes")

    def number(self, name: str, default: int) -> int:
        """An integer argument."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise SlackError("invalid_arguments") from exc

    def structured(self, name: str, error: str = "invalid_arguments") -> Any:
        """A structured argument sent either as JSON or as a JSON string inside a form."""
        value = self.raw.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise SlackError(error) from exc
        return value
