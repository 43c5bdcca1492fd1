"""What every button listener on the bot's messages does the same way: read the click from Slack's payload,
acknowledge at once, let a Slack retry of the same click through only once, do the work in the bot's pool
(or say the bot is busy), and tell the clicker, ephemerally, what their click did.

A listener brings only its parsing (`Click.from_body`, or a subclass's) and its work: see
`approval_actions` and `reminder_actions`, which hand both to `register_buttons`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient

from bot.deliveries import RecentDeliveries
from bot.work import PoolFull, WorkPool
from services.container import Services
from services.deliveries import DeliveryLedger
from services.redaction import redact

logger = logging.getLogger(__name__)

Answer = Callable[[str], None]


@dataclass(frozen=True)
class Click:
    """One click on a button, as Slack delivered it (a `block_actions` payload)."""

    action_id: str
    value: str
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    action_ts: str | None
    response_url: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any], **extra: Any) -> Self:
        """The click in `body`; `extra` fills the fields a subclass adds."""
        action = next(iter(body.get("actions") or []), None) or {}
        channel = body.get("channel") or {}
        container = body.get("container") or {}
        return cls(
            action_id=str(action.get("action_id") or ""),
            value=str(action.get("value") or ""),
            user_id=str((body.get("user") or {}).get("id") or ""),
            channel_id=channel.get("id") or container.get("channel_id"),
            trigger_id=body.get("trigger_id"),
            action_ts=action.get("action_ts"),
            response_url=body.get("response_url"),
            **extra,
        )

    @property
    def delivery_key(self) -> str | None:
        """What a Slack retry of this very click shares with it (a second click has a new trigger id)."""
        if self.trigger_id:
            return self.trigger_id
        return f"click:{self.user_id}:{self.action_ts}" if self.action_ts else None


ClickT = TypeVar("ClickT", bound=Click)


class Delivered(Protocol):
    """Something Slack may deliver more than once, with a key its retries share (None: no such key)."""

    @property
    def delivery_key(self) -> str | None: ...


def register_buttons(
    app: App,
    parsers: Mapping[str, Callable[[Mapping[str, Any]], ClickT]],
    work: Callable[[ClickT, Answer], None],
    *,
    pool: WorkPool,
    deliveries: RecentDeliveries,
    busy: str,
    kind: str,
) -> None:
    """Listen to each button in `parsers` (action id → how its click is read): parse the click, then run
    `work(click, answer)` in the pool, or answer `busy` when the pool is full. `kind` names the click in logs.
    """

    def listener(parse: Callable[[Mapping[str, Any]], ClickT]) -> Callable[..., None]:
        def handle_click(
            ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, request: BoltRequest
        ) -> None:
            ack()  # nothing slow before this: the work runs in the pool
            click = parse(body)
            if not first_delivery(request, click, deliveries):
                return  # Slack retried a click this process already handles; its answer is on its way
            answer = ClickAnswer(click, respond, client, kind=kind)
            try:
                pool.submit(lambda: work(click, answer))
            except PoolFull:
                answer(busy)

        return handle_click

    for action_id, parse in parsers.items():
        app.action(action_id)(listener(parse))


class ClickAnswer:
    """Tells the clicker something only they see: through the click's response_url, as Slack intends."""

    def __init__(self, click: Click, respond: Respond, client: WebClient, *, kind: str) -> None:
        self.click = click
        self.respond = respond
        self.client = client
        self.kind = kind

    def __call__(self, text: str) -> None:
        text = redact(text)
        try:
            if self.click.response_url:
                response = self.respond(text=text, response_type="ephemeral", replace_original=False)
                if response.status_code != 200:
                    logger.warning("Slack refused the answer to a click: %s %s", response.status_code, response.body)
            elif self.click.channel_id:
                self.client.chat_postEphemeral(channel=self.click.channel_id, user=self.click.user_id, text=text)
        except Exception:
            logger.warning("could not answer %s's %s click", self.click.user_id, self.kind, exc_info=True)


def first_delivery(request: BoltRequest, delivered: Delivered, deliveries: RecentDeliveries) -> bool:
    """Whether this is the first time this process sees the delivery (a Slack retry of it is not)."""
    key = delivered.delivery_key
    if key is not None:
        return deliveries.claim(key)
    # Without a key a retry cannot be matched to its first delivery: the clicker should not get two answers.
    return not request.headers.get("x-slack-retry-num")


def claimed(ledger: DeliveryLedger | None, delivered: Delivered) -> bool:
    """Whether this process handles the click; a store that cannot answer must not cost the person their click."""
    key = delivered.delivery_key
    if ledger is None or key is None:
        return True
    try:
        return ledger.claim(key)
    except Exception:
        logger.warning("could not record delivery %s; handling it anyway", key, exc_info=True)
        return True


def failure_reference(log: logging.Logger, message: str, *args: object) -> str:
    """Log the exception being handled with a short reference the person can quote; return the reference."""
    reference = uuid.uuid4().hex[:8]
    log.exception(message + " (ref %s)", *args, reference)
    return reference


def wake_delivery(services: Services) -> None:
    """Thread notes and message edits are queued: send them now rather than at the next poll."""
    if services.delivery is not None:
        services.delivery.wake()
