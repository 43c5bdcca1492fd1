"""Block Kit for approval requests: the request with Approve / Reject, its edits, and its thread replies.

Payloads are the snapshots `services.approvals.request_payload` documents (datetimes as ISO strings, as the
outbox stores them). While a request is pending its message carries the two buttons (value: the request id);
once it is decided, expired or run, a context line with the decision stands in their place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, PlainTextObject

from bot.blocks.common import (
    confirm_dialog,
    header,
    keep_mentions,
    listed_within,
    plural,
    stored_time,
    thread_reply,
)
from commands.blocks import SECTION_LIMIT, context, cut, mention, section, to_dicts, when
from commands.text import escape
from services.approvals import KIND_PROGRESS, KIND_REQUEST, KIND_STATUS, TARGET_NOUNS
from services.chat import RenderedMessage
from services.rbac import TEARDOWN_RG

Payload = Mapping[str, Any]

APPROVE_ACTION = "approval.approve"
REJECT_ACTION = "approval.reject"

RESOURCE_NAME_LIMIT = 200
REASON_LIMIT = 1000

# The header says where the request stands, in words a reader takes in at a glance.
_TITLES = {
    "pending": "Approval needed: delete {what}",
    "approved": "Approved: deleting {what}",
    "executing": "Approved: deleting {what}",
    "done": "Deleted {what}",
    "failed": "Deleting {what} failed",
    "rejected": "Rejected: {what} stays",
    "expired": "Expired: {what} stays",
}

_PROGRESS_EMOJI = {
    "executing": ":hourglass_flowing_sand:",
    "done": ":white_check_mark:",
    "failed": ":x:",
    "interrupted": ":warning:",
}


def approval_request(payload: Payload) -> RenderedMessage:
    """The request message (also each of its edits): what goes, who asked and why, buttons or the decision."""
    pending = bool(payload.get("pending"))
    blocks: list[Block] = [
        header(_title(payload)),
        section(_what_section(payload)),
        section(_who_section(payload, pending)),
    ]
    if pending:
        blocks.append(_buttons(payload))
        blocks.append(context(_waiting_line(payload)))
    else:
        blocks.append(context(keep_mentions(str(payload.get("decision") or "This request is closed."))))
    return RenderedMessage(text=_fallback(payload, pending), blocks=tuple(to_dicts(blocks)))


def approval_progress(payload: Payload) -> RenderedMessage:
    """A reply in the request's thread: deleting…, done, or what went wrong in plain words."""
    emoji = _PROGRESS_EMOJI.get(str(payload.get("stage") or ""), ":information_source:")
    return thread_reply(emoji, str(payload.get("text") or ""))


# kind → renderer, for BlockKitRenderer's table
APPROVAL_KINDS: Mapping[str, Callable[[Payload], RenderedMessage]] = {
    KIND_REQUEST: approval_request,
    KIND_STATUS: approval_request,
    KIND_PROGRESS: approval_progress,
}


# ------------------------------------------------------------------------------------------------ parts


def _target_words(payload: Payload) -> str:
    """"workspace ws1", without markup (for the plain-text header and the confirm dialog)."""
    action = str(payload.get("action") or "")
    return f"{TARGET_NOUNS.get(action, action or 'resource')} {payload.get('target') or '?'}"


def _title(payload: Payload) -> str:
    template = _TITLES.get(str(payload.get("state") or ""), "Approval request: delete {what}")
    return template.format(what=_target_words(payload))


def _what_section(payload: Payload) -> str:
    what = keep_mentions(str(payload.get("what") or _target_words(payload)))
    head = f"*Deletes:* {what} (request #{payload.get('request_id')})"
    resources = [escape(str(item), RESOURCE_NAME_LIMIT) for item in payload.get("resources") or []]
    details = payload.get("details") or {}
    tail = "_Its dependent resources are kept._" if details.get("keep_dependents") else ""
    if not resources:
        return "\n".join(line for line in (head, tail) if line)
    label = "Everything in it" if payload.get("action") == TEARDOWN_RG else "With it"
    heading = f"{head}\n*{label} ({len(resources)}):*"
    room = SECTION_LIMIT - len(heading) - (len(tail) + 1 if tail else 0)
    listed = listed_within(resources, room)
    return "\n".join(line for line in (heading, listed, tail) if line)


def _who_section(payload: Payload, pending: bool) -> str:
    reason = payload.get("reason")
    asked_at = when(stored_time(payload.get("created_at")))
    lines = [
        f"*Asked by:* {mention(payload.get('requester')) or 'someone'} · {asked_at}",
        f"*Reason:* {escape(str(reason), REASON_LIMIT) if reason else '_none given_'}",
    ]
    if pending:
        lines.append(f"*Expires:* {when(stored_time(payload.get('expires_at')))}")
        needed = _needed(payload)
        lines.append(f"*Needs:* {plural(needed, 'approval')} from someone other than the requester")
    return "\n".join(lines)


def _buttons(payload: Payload) -> ActionsBlock:
    request_id = str(payload.get("request_id"))
    resources = len(payload.get("resources") or [])
    also = f" and the {plural(resources, 'resource')} listed with it" if resources else ""
    deletes = f"deletes {_target_words(payload)}{also}. It cannot be undone."
    warning = f"This {deletes}" if _needed(payload) == 1 else f"Once enough people approve, this {deletes}"
    approve = ButtonElement(
        text=PlainTextObject(text="Approve"),
        action_id=APPROVE_ACTION,
        value=request_id,
        style="primary",
        confirm=confirm_dialog("Approve this deletion?", warning, "Yes, approve"),
    )
    reject = ButtonElement(
        text=PlainTextObject(text="Reject"), action_id=REJECT_ACTION, value=request_id, style="danger"
    )
    return ActionsBlock(block_id=f"approval-{request_id}", elements=[approve, reject])


def _waiting_line(payload: Payload) -> str:
    needed = _needed(payload)
    approvers = [str(a.get("user")) for a in payload.get("approvals") or [] if isinstance(a, Mapping)]
    if not approvers:
        return f"Waiting for {plural(needed, 'approval')}."
    left = max(needed - len(approvers), 0)
    names = ", ".join(mention(user) for user in approvers)
    return f"Approved so far by {names} ({len(approvers)} of {needed}); waiting for {plural(left, 'more approval')}."


def _fallback(payload: Payload, pending: bool) -> str:
    """The notification text (and what clients without blocks show)."""
    what = str(payload.get("what") or _target_words(payload))
    request = f"request #{payload.get('request_id')}"
    if pending:
        who = mention(payload.get("requester")) or "someone"
        return f"Approval needed: delete {what} ({request}), asked by {who}. Approve or reject it here."
    decision = str(payload.get("decision") or "closed")
    return cut(f"{_title(payload)} ({request}): {decision}", SECTION_LIMIT)


# ------------------------------------------------------------------------------------------------ words


def _needed(payload: Payload) -> int:
    value = payload.get("needed")
    return value if isinstance(value, int) and value > 0 else 1
