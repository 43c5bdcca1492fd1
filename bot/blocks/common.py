"""Block Kit pieces the bot's own messages share (approval requests, reminders, the Home): Slack's length limits,
times read back from outbox payloads, escaped text that keeps its mentions, confirm dialogs, cut-short lists."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import ConfirmObject, HeaderBlock, PlainTextObject

from commands.blocks import SECTION_LIMIT, cut, section, to_dicts
from commands.text import escape
from services.chat import RenderedMessage

HEADER_LIMIT = 150
CONFIRM_TEXT_LIMIT = 300

_MENTION = re.compile(r"(<@[A-Z0-9_]+>)")


def header(title: str) -> HeaderBlock:
    """A message's header, cut to Slack's limit (emoji codes shown as emoji)."""
    return HeaderBlock(text=PlainTextObject(text=cut(title, HEADER_LIMIT), emoji=True))


def confirm_dialog(title: str, text: str, confirm: str) -> ConfirmObject:
    """The "are you sure?" dialog of a button that cannot be undone (Cancel backs out)."""
    return ConfirmObject(
        title=PlainTextObject(text=title),
        text=PlainTextObject(text=cut(text, CONFIRM_TEXT_LIMIT)),
        confirm=PlainTextObject(text=confirm),
        deny=PlainTextObject(text="Cancel"),
        style="danger",
    )


def thread_reply(emoji: str, text: str) -> RenderedMessage:
    """A reply in a message's thread: an emoji, then `text` escaped with its mentions kept."""
    text = keep_mentions(text)
    return RenderedMessage(text=cut(text, SECTION_LIMIT), blocks=tuple(to_dicts([section(f"{emoji} {text}")])))


def listed_within(items: Sequence[str], limit: int) -> str:
    """Bullet lines for `items`, as many as fit in `limit` characters, then "…and N more" for the rest."""
    lines: list[str] = []
    used = 0
    for index, item in enumerate(items):
        line = f"• {item}"
        left = len(items) - index - 1
        # Room for this line, and for the "…and N more" line should any item after it not fit.
        reserve = len(f"\n…and {left} more") if left else 0
        if used + len(line) + 1 + reserve > limit:
            lines.append(f"…and {len(items) - index} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def keep_mentions(text: str) -> str:
    """Escape Slack's control characters (an Azure error may hold `<…>`) but keep user mentions working."""
    return "".join(part if _MENTION.fullmatch(part) else escape(part, len(part)) for part in _MENTION.split(text))


def plural(n: int, noun: str) -> str:
    """The count with its noun: "1 approval", "2 approvals"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def stored_time(value: Any) -> datetime | None:
    """A time from an outbox payload (an ISO string after the JSON round trip); naive ones are UTC, as stored."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return None
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
