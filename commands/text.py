"""Helpers for text that goes to Slack."""

from __future__ import annotations


def escape(text: str, limit: int = 60) -> str:
    """Echo what a person typed safely: Slack's control characters escaped, long input shortened."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
