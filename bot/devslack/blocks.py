"""Block Kit helpers shared by the server, the driver and the renderer: ids, limits, buttons."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import SlackError

JSON = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
_TEXT_LIMITS = {"section": 3000, "header": 150}


class HasBlocks(Protocol):
    """Anything carrying message blocks and attachments (Message, Ephemeral)."""

    blocks: list[JSON]
    attachments: list[JSON]


@dataclass(frozen=True)
class Button:
    """A clickable button, numbered 1-based in document order within its message."""

    index: int
    text: str
    action_id: str
    block_id: str
    value: str | None
    style: str | None
    url: str | None
    element: JSON


def all_blocks(blocks: Sequence[JSON], attachments: Sequence[JSON] = ()) -> Iterator[JSON]:
    """The message blocks, then the blocks inside legacy attachments, in display order."""
    yield from blocks
    for attachment in attachments:
        yield from attachment.get("blocks") or []


def block_buttons(block: Mapping[str, Any]) -> list[JSON]:
    """The button elements of one block: an actions block's buttons or a section's button accessory."""
    if block.get("type") == "actions":
        return [e for e in block.get("elements") or [] if e.get("type") == "button"]
    accessory = block.get("accessory")
    if block.get("type") == "section" and isinstance(accessory, dict) and accessory.get("type") == "button":
        return [accessory]
    return []


def text_of(obj: Any) -> str:
    """The plain string inside a text object (or a bare string)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, Mapping):
        return str(obj.get("text", ""))
    return ""


def buttons(message: HasBlocks | Mapping[str, Any]) -> list[Button]:
    """The buttons of a message, numbered as the shell and the driver's ``click`` number them."""
    if isinstance(message, Mapping):
        blocks, attachments = message.get("blocks") or [], message.get("attachments") or []
    else:
        blocks, attachments = message.blocks, message.attachments
    found: list[Button] = []
    for block in all_blocks(blocks, attachments):
        for element in block_buttons(block):
            found.append(
                Button(
                    index=len(found) + 1,
                    text=text_of(element.get("text")),
                    action_id=str(element.get("action_id", "")),
                    block_id=str(block.get("block_id", "")),
                    value=element.get("value"),
                    style=element.get("style"),
                    url=element.get("url"),
                    element=element,
                )
            )
    return found


def _random_id() -> str:
    return secrets.token_urlsafe(4)[:5]


def normalize_blocks(blocks: Sequence[JSON]) -> list[JSON]:
    """A copy with a ``block_id`` on every block and an ``action_id`` on every element, as Slack stores."""
    result = copy.deepcopy(list(blocks))
    for block in all_blocks(result):
        block.setdefault("block_id", _random_id())
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            elements.append(accessory)
        for element in elements:
            if isinstance(element, dict):
                element.setdefault("action_id", _random_id())
    return result


def parse_blocks(value: Any, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[JSON]:
    """Validate a ``blocks`` argument (already JSON-decoded) against the Block Kit limits Slack enforces."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        raise SlackError("invalid_blocks_format")
    errors = _block_errors(value, limit)
    if errors:
        raise SlackError("invalid_blocks", errors=errors)
    return value


def _block_errors(blocks: list[JSON], limit: int) -> list[str]:
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"must be at most {limit} blocks [json-pointer:/blocks]")
    seen_block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        kind = block.get("type")
        if not isinstance(kind, str):
            errors.append(f"missing required field: type {where}")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen_block_ids:
                errors.append(f"duplicate block_id {where}")
            seen_block_ids.add(block_id)
        errors.extend(_one_block_errors(block, kind, where))
    return errors


def _one_block_errors(block: JSON, kind: str, where: str) -> list[str]:
    errors: list[str] = []
    if kind in ("section", "header"):
        text = block.get("text")
        if kind == "header" and not text:
            errors.append(f"missing required field: text {where}")
        if text is not None and not (isinstance(text, dict) and isinstance(text.get("text"), str)):
            errors.append(f"invalid text object {where}")
        elif text is not None and len(text["text"]) > _TEXT_LIMITS[kind]:
            errors.append(f"must be less than {_TEXT_LIMITS[kind] + 1} characters {where}/text")
        if kind == "section" and text is None and not block.get("fields"):
            errors.append(f"must provide text or fields {where}")
        if len(block.get("fields") or []) > 10:
            errors.append(f"must be at most 10 fields {where}")
    if kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"missing required field: elements {where}")
        elif len(elements) > 25:
            errors.append(f"must be at most 25 elements {where}")
    action_ids: set[str] = set()
    for button in block_buttons(block):
        label = text_of(button.get("text"))
        if not label:
            errors.append(f"button requires text {where}")
        elif len(label) > 75:
            errors.append(f"button text must be less than 76 characters {where}")
        if len(str(button.get("value", ""))) > 2000:
            errors.append(f"button value must be less than 2001 characters {where}")
        action_id = button.get("action_id")
        if action_id is not None:
            if action_id in action_ids:
                errors.append(f"duplicate action_id {action_id} {where}")
            action_ids.add(action_id)
    return errors


def normalize_attachments(attachments: Sequence[JSON]) -> list[JSON]:
    """A copy of legacy attachments whose inner blocks carry ids, like :func:`normalize_blocks`."""
    result = copy.deepcopy(list(attachments))
    for attachment in result:
        if attachment.get("blocks"):
            attachment["blocks"] = normalize_blocks(attachment["blocks"])
    return result


def pick_button(found: list[Button], action_index: int | None, action_id: str | None, value: str | None) -> Button:
    """The button by number, else the single one matching ``action_id``/``value``."""
    if action_index is not None:
        if not 1 <= action_index <= len(found):
            raise LookupError(f"button {action_index} does not exist ({len(found)} buttons)")
        candidates = [found[action_index - 1]]
    else:
        candidates = found
    matching = [
        b for b in candidates if (action_id is None or b.action_id == action_id) and (value is None or b.value == value)
    ]
    if not matching:
        raise LookupError(f"no button matches action_id={action_id!r} value={value!r}")
    if len(matching) > 1:
        labels = ", ".join(f"{b.index} {b.text}" for b in matching)
        raise LookupError(f"several buttons match; pick one with action_index: {labels}")
    return matching[0]
