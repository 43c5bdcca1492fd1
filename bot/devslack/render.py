"""Plain-text rendering of a channel for a terminal, and of only what changed since last time."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .blocks import all_blocks, block_buttons, text_of
from .models import JSON, Ephemeral, Message, View
from .workspace import Workspace

Item = Message | Ephemeral
_LINK = re.compile(r"<([^<>]+)>")
_REPLY, _REPLY_CONT, _CONT = "    ↳ ", "      ", "    "


@dataclass(frozen=True)
class RenderMarker:
    """What a shell has already shown for a channel: entry key -> revision."""

    seen: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    key: str
    revision: int
    lines: tuple[str, ...]
    gone: bool  # deleted; shown only as a tombstone or as a change
    has_live_replies: bool = False


def render_channel(workspace: Workspace, channel_id: str, *, viewer: str | None = None) -> str:
    """The conversation as text; ``viewer`` sees only their own ephemerals (None: all, with recipients)."""
    entries = _entries(workspace, channel_id, viewer)
    return "\n".join(line for e in entries if not e.gone or e.has_live_replies for line in e.lines)


def render_new(
    workspace: Workspace, channel_id: str, since: RenderMarker | None = None, *, viewer: str | None = None
) -> tuple[str, RenderMarker]:
    """Only the entries new or changed since ``since`` (deletions as tombstones), and the next marker."""
    seen = since.seen if since else {}
    entries = _entries(workspace, channel_id, viewer)
    changed = [
        e
        for e in entries
        if seen.get(e.key) != e.revision and (not e.gone or e.key in seen or e.has_live_replies)
    ]
    text = "\n".join(line for e in changed for line in e.lines)
    return text, RenderMarker({e.key: e.revision for e in entries})


def mark(workspace: Workspace, channel_id: str, *, viewer: str | None = None) -> RenderMarker:
    """A marker for the channel as it is now (so the next ``render_new`` shows only later changes)."""
    return render_new(workspace, channel_id, viewer=viewer)[1]


def render_view(workspace: Workspace, view: View, *, errors: Mapping[str, str] | None = None) -> str:
    """A modal or App Home as text: each input with what it holds, buttons numbered as ``click_in_view`` counts
    them; ``errors`` (block id → message, as a bot answers a submission) are shown under their fields."""
    definition = view.definition
    blocks = list(definition.get("blocks") or [])
    numbers = {id(e): n for n, e in enumerate((e for b in all_blocks(blocks) for e in block_buttons(b)), start=1)}
    if view.type == "home":
        title = f"App Home of @{workspace.directory.name_of(view.user)}"
    else:
        title = f"{text_of(definition.get('title'))} (modal)"
    lines = [f"┏ {title}"]
    for block in blocks:
        shown = _input_lines(block) if block.get("type") == "input" else _blocks_lines(workspace, [block], numbers)
        lines += ["┃ " + line for line in shown]
        error = (errors or {}).get(str(block.get("block_id")))
        if error:
            lines.append(f"┃     ⚠ {error}")
    buttons = [f"[{text_of(definition[key])}]" for key in ("close", "submit") if definition.get(key)]
    lines.append("┗ " + " ".join(buttons) if buttons else "┗")
    return "\n".join(lines)


def _input_lines(block: JSON) -> list[str]:
    """``Label (optional): [value]``, then the options of a select and the hint, indented."""
    element = block.get("element") or {}
    label = text_of(block.get("label")) + (" (optional)" if block.get("optional") else "")
    options = [text_of(o.get("text")) for o in element.get("options") or []]
    if "options" in element or element.get("type", "").endswith("_select"):
        chosen = element.get("initial_option")
        shown = text_of(chosen.get("text")) if isinstance(chosen, dict) else text_of(element.get("placeholder"))
        value = f"[▾ {shown or 'choose'}]"
    else:
        initial = element.get("initial_value")
        value = f"[{initial}]" if initial else f"[ {text_of(element.get('placeholder'))} ]".replace("[  ]", "[ ]")
    lines = [f"{label}: {value}"]
    if options:
        listed = " · ".join(options[:6]) + (f" · …and {len(options) - 6} more" if len(options) > 6 else "")
        lines.append(f"    options: {listed}")
    if block.get("hint"):
        lines.append(f"    {text_of(block['hint'])}")
    return lines


# -- ordering -----------------------------------------------------------------------------------


def _entries(workspace: Workspace, channel_id: str, viewer: str | None) -> list[_Entry]:
    channel = workspace.find_channel(channel_id)
    if viewer is not None:
        found = workspace.user(viewer)  # accept a name or email as well as an id
        viewer = found.id if found else viewer
    messages, ephemerals = workspace.snapshot(channel.id if channel else channel_id)
    shown: list[Item] = [*messages, *(e for e in ephemerals if viewer is None or e.user == viewer)]
    parents = {m.ts for m in messages if not m.is_reply}
    top: list[Item] = []
    threads: dict[str, list[Item]] = {}
    for item in shown:
        parent = item.thread_ts if item.thread_ts != item.ts else None
        if parent in parents:
            threads.setdefault(str(parent), []).append(item)
        else:
            top.append(item)
    entries: list[_Entry] = []
    for item in sorted(top, key=lambda i: i.ts):
        replies = sorted(threads.get(item.ts, []), key=lambda i: i.ts)
        live = any(not r.deleted for r in replies)
        entries.append(_entry(workspace, item, viewer, reply=False, has_live_replies=live))
        entries.extend(_entry(workspace, r, viewer, reply=True) for r in replies)
    return entries


def _entry(
    workspace: Workspace, item: Item, viewer: str | None, *, reply: bool, has_live_replies: bool = False
) -> _Entry:
    kind = "e" if item.is_ephemeral else "m"
    return _Entry(
        key=f"{kind}:{item.ts}",
        revision=item.revision,
        lines=tuple(_item_lines(workspace, item, viewer, reply=reply)),
        gone=item.deleted,
        has_live_replies=has_live_replies,
    )


# -- one message --------------------------------------------------------------------------------


def _item_lines(workspace: Workspace, item: Item, viewer: str | None, *, reply: bool) -> list[str]:
    names = workspace.directory.name_of
    when = time.strftime("%H:%M:%S", time.localtime(float(item.ts)))
    author = item.author if isinstance(item, Ephemeral) else item.user
    body = ["(message deleted)"] if item.deleted else _content_lines(workspace, item)
    marks: list[str] = []
    if isinstance(item, Message) and item.edited and not item.deleted:
        marks.append("(edited)")
    if isinstance(item, Message) and item.is_reply and item.reply_broadcast:
        marks.append("(also sent to the channel)")
    if isinstance(item, Ephemeral):
        marks.append("(only visible to you)" if viewer else f"(only visible to @{names(item.user)})")
    first = " ".join([f"[{when}] @{names(author)}:", *body[:1], *marks])
    rest = [*body[1:]]
    if isinstance(item, Message) and not item.deleted:
        rest += [f"📎 {f.get('name') or f.get('title')}" for f in item.files]
    if reply:
        return [_REPLY + first, *(_REPLY_CONT + _CONT + line for line in rest)]
    return [first, *(_CONT + line for line in rest)]


def _content_lines(workspace: Workspace, item: Item) -> list[str]:
    numbers = {
        id(element): n
        for n, element in enumerate(
            (e for b in all_blocks(item.blocks, item.attachments) for e in block_buttons(b)), start=1
        )
    }
    # Slack shows blocks instead of the text when a message has them; text is the notification fallback.
    lines = (
        _blocks_lines(workspace, item.blocks, numbers) if item.blocks else _mrkdwn_lines(workspace, item.text)
    )
    for attachment in item.attachments:
        lines += ["│ " + line for line in _attachment_lines(workspace, attachment, numbers)]
    return lines


def _attachment_lines(workspace: Workspace, attachment: JSON, numbers: dict[int, int]) -> list[str]:
    lines: list[str] = []
    for key in ("pretext", "title", "text"):
        if attachment.get(key):
            lines += _mrkdwn_lines(workspace, str(attachment[key]))
    for f in attachment.get("fields") or []:
        lines.append(f"{f.get('title', '')}: {f.get('value', '')}")
    if attachment.get("blocks"):
        lines += _blocks_lines(workspace, attachment["blocks"], numbers)
    if not lines and attachment.get("fallback"):
        lines.append(str(attachment["fallback"]))
    return lines


def _blocks_lines(workspace: Workspace, blocks: Sequence[JSON], numbers: dict[int, int]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"# {text_of(block.get('text'))}")
        elif kind == "section":
            if block.get("text"):
                lines += _text_lines(workspace, block["text"])
            for f in block.get("fields") or []:
                lines += _text_lines(workspace, f)
            if isinstance(block.get("accessory"), dict):
                lines.append(_element(block["accessory"], numbers))
        elif kind == "context":
            parts = [
                _element(e, numbers) if e.get("type") == "image" else " ".join(_text_lines(workspace, e))
                for e in block.get("elements") or []
            ]
            lines.append(" · ".join(parts))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "actions":
            lines.append(" ".join(_element(e, numbers) for e in block.get("elements") or []))
        elif kind == "rich_text":
            lines += _mrkdwn_lines(workspace, _rich_text(block))
        elif kind == "image":
            lines.append(_element(block, numbers))
        elif kind == "input":
            lines.append(f"{text_of(block.get('label'))}: [{block.get('element', {}).get('type', 'input')}]")
        else:
            lines.append(f"[{kind}]")
    return lines


def _element(element: JSON, numbers: dict[int, int]) -> str:
    kind = element.get("type")
    if id(element) in numbers:
        return f"[{numbers[id(element)]} {text_of(element.get('text'))}]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind == "overflow":
        return "[⋯]"
    placeholder = text_of(element.get("placeholder")) or text_of(element.get("text")) or str(kind)
    return f"[▾ {placeholder}]"


def _text_lines(workspace: Workspace, obj: Any) -> list[str]:
    if isinstance(obj, Mapping) and obj.get("type") == "plain_text":
        return text_of(obj).split("\n")
    return _mrkdwn_lines(workspace, text_of(obj))


def _rich_text(node: Any) -> str:
    if isinstance(node, Mapping):
        if node.get("type") == "user":
            return f"<@{node.get('user_id')}>"
        if node.get("type") == "channel":
            return f"<#{node.get('channel_id')}>"
        if "text" in node and isinstance(node["text"], str):
            return node["text"]
        parts = [_rich_text(e) for e in node.get("elements") or []]
        joiner = "\n" if node.get("type") in ("rich_text", "rich_text_list") else ""
        return joiner.join(parts)
    return ""


def _mrkdwn_lines(workspace: Workspace, text: str) -> list[str]:
    return _humanize(workspace, text).split("\n") if text else []


def _humanize(workspace: Workspace, text: str) -> str:
    """Turn Slack's ``<@U..>``, ``<#C..>``, ``<!subteam^S..>`` and ``<url|label>`` markup into text."""

    def replace(match: re.Match[str]) -> str:
        inner, _, label = match.group(1).partition("|")
        if inner.startswith("@"):
            return f"@{workspace.directory.name_of(inner[1:])}"
        if inner.startswith("#"):
            found = workspace.find_channel(inner[1:])
            return f"#{label or (found.name if found else inner[1:])}"
        if inner.startswith("!subteam^"):
            group = workspace.directory.usergroup(inner.split("^", 1)[1])
            return label or (f"@{group.handle}" if group else "@group")
        if inner.startswith("!"):
            return label or f"@{inner[1:].split('^', 1)[0]}"
        return f"{label} ({inner})" if label else inner

    return _LINK.sub(replace, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
