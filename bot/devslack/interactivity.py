"""Response URLs and trigger ids: issued with each interaction, limited in uses and lifetime as in Slack."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .blocks import parse_blocks
from .errors import SlackError
from .models import JSON
from .workspace import Workspace

MAX_RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
TRIGGER_TTL = 3.0


@dataclass
class ResponseTarget:
    """Where a response_url posts: the invoking user and channel, and the clicked message if any."""

    id: str
    channel: str
    user: str
    message_ts: str | None
    is_ephemeral: bool
    created: float
    uses: int = 0


@dataclass
class _Trigger:
    user: str
    created: float
    used: bool = False


class Interactivity:
    """Issues and redeems response URLs and trigger ids."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._targets: dict[str, ResponseTarget] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._serial = itertools.count(1)
        self.trigger_ttl = TRIGGER_TTL
        self.response_url_ttl = RESPONSE_URL_TTL
        self.max_uses = MAX_RESPONSE_URL_USES

    def new_response_target(
        self, channel: str, user: str, *, message_ts: str | None = None, is_ephemeral: bool = False
    ) -> str:
        """Register a response URL and return its id."""
        target_id = uuid.uuid4().hex
        with self._lock:
            self._targets[target_id] = ResponseTarget(
                target_id, channel, user, message_ts, is_ephemeral, self._clock()
            )
        return target_id

    def claim_response_target(self, target_id: str) -> ResponseTarget:
        """Count one use of a response URL, or raise ``expired_url``/``used_url``."""
        with self._lock:
            target = self._targets.get(target_id)
            if target is None or self._clock() - target.created > self.response_url_ttl:
                raise SlackError("expired_url")
            if target.uses >= self.max_uses:
                raise SlackError("used_url")
            target.uses += 1
            return target

    def new_trigger_id(self, user: str) -> str:
        """A fresh trigger id in Slack's ``<n>.<n>.<hex>`` shape."""
        trigger_id = f"{int(time.time())}.{next(self._serial)}.{uuid.uuid4().hex[:24]}"
        self.register_trigger(trigger_id, user)
        return trigger_id

    def register_trigger(self, trigger_id: str, user: str) -> None:
        """Accept a caller-chosen trigger id; re-registering keeps the original issue time."""
        with self._lock:
            self._triggers.setdefault(trigger_id, _Trigger(user, self._clock()))

    def redeem_trigger(self, trigger_id: str | None) -> str:
        """Use a trigger id once within its lifetime; returns the user it was issued to."""
        with self._lock:
            trigger = self._triggers.get(trigger_id or "")
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if trigger.used:
                raise SlackError("trigger_exchanged")
            if self._clock() - trigger.created > self.trigger_ttl:
                raise SlackError("expired_trigger_id")
            trigger.used = True
            return trigger.user


def validate_response(payload: JSON) -> None:
    """Reject a response_url payload Slack would refuse, before it counts as a use."""
    if payload.get("delete_original"):
        return
    blocks = parse_blocks(payload.get("blocks"))
    if not payload.get("text") and not blocks and not payload.get("attachments"):
        raise SlackError("no_text")


def deliver_response(workspace: Workspace, target: ResponseTarget, payload: JSON) -> None:
    """Apply a response_url payload: delete or replace the original, or post ephemeral/in-channel."""
    text = str(payload.get("text") or "")
    blocks = payload.get("blocks") or []
    attachments = payload.get("attachments") or []
    if payload.get("delete_original"):
        if target.message_ts:
            _delete_original(workspace, target)
        return
    if payload.get("replace_original") and target.message_ts:
        if target.is_ephemeral:
            workspace.replace_ephemeral(target.message_ts, text=text, blocks=blocks, attachments=attachments)
        else:
            workspace.update_message(
                target.channel, target.message_ts, text=text, blocks=blocks, attachments=attachments
            )
        return
    thread_ts = payload.get("thread_ts") or None
    if payload.get("response_type") == "in_channel":
        workspace.post_message(
            target.channel, text=text, blocks=blocks, attachments=attachments, thread_ts=thread_ts
        )
    else:
        workspace.post_ephemeral(
            target.channel,
            target.user,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            source="response_url",
        )


def _delete_original(workspace: Workspace, target: ResponseTarget) -> None:
    assert target.message_ts is not None
    if target.is_ephemeral:
        workspace.delete_ephemeral(target.message_ts)
    else:
        workspace.delete_message(target.channel, target.message_ts)
