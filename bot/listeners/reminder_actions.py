"""Stop / Scale to zero, Snooze and Keep-until-tomorrow clicks on running-compute reminders: acknowledge at once,
act in the bot's pool, tell the clicker (ephemerally) what their click did.

`ReminderService` authorises each click on the server, like the matching command (Stop needs `compute.stop`,
Snooze and Keep `remind.snooze`, operator by default; the compute's creator may always), and runs a Stop once per
reminder and compute however many clicks, threads or replicas ask. What happens is also told in the reminder's
thread through the outbox, so the channel sees who stopped or snoozed what.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient

from bot.blocks.reminders import KEEP_BUTTON, SNOOZE_BUTTON, STOP_BUTTON, parse_button_value
from bot.deliveries import RecentDeliveries
from bot.work import PoolFull, WorkPool
from services.container import Services
from services.deliveries import DeliveryLedger
from services.redaction import redact
from services.reminders import ActionResult, ReminderService

logger = logging.getLogger(__name__)

BUSY = (
    "The bot has too much work queued right now, so your click was not acted on. "
    "Nothing changed: click the button again in a minute."
)
NOT_SET_UP = (
    "Reminders are not set up on this bot, so your click changed nothing. "
    "`/aml compute stop NAME` stops an instance; ask whoever runs the bot to turn reminders on."
)
BAD_VALUE = (
    "I could not tell which reminder and compute this button belongs to, so nothing changed. "
    "Use the buttons of the newest reminder, or `/aml remind snooze NAME 2h` / `/aml compute stop NAME`."
)


@dataclass(frozen=True)
class ReminderClick:
    """One click on a reminder's button, as Slack delivered it (a `block_actions` payload)."""

    action_id: str
    value: str
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    action_ts: str | None
    response_url: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ReminderClick:
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
        )

    @property
    def delivery_key(self) -> str | None:
        """What a Slack retry of this very click shares with it (a second click has a new trigger id)."""
        if self.trigger_id:
            return self.trigger_id
        return f"click:{self.user_id}:{self.action_ts}" if self.action_ts else None


def register(app: App, *, services: Services, pool: WorkPool, deliveries: RecentDeliveries) -> None:
    for action_id in (STOP_BUTTON, SNOOZE_BUTTON, KEEP_BUTTON):
        app.action(action_id)(_listener(services, pool, deliveries))


def _listener(services: Services, pool: WorkPool, deliveries: RecentDeliveries) -> Callable[..., None]:
    def handle_reminder_click(
        ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, request: BoltRequest
    ) -> None:
        ack()  # nothing slow before this: a stop waits on the backend for minutes
        click = ReminderClick.from_body(body)
        if not _first_delivery(request, click, deliveries):
            return  # Slack retried a click this process already handles; its answer is on its way
        answer = ClickAnswer(click, respond, client)
        try:
            pool.submit(lambda: act_and_answer(click, services, answer))
        except PoolFull:
            answer(BUSY)

    return handle_reminder_click


def act_and_answer(click: ReminderClick, services: Services, answer: Callable[[str], None]) -> None:
    """Do what the button says through the reminder service and tell the clicker how it went."""
    reminders = services.reminders
    if reminders is None:
        answer(NOT_SET_UP)
        return
    target = parse_button_value(click.value)
    if target is None:
        logger.warning("reminder click with a value that names no reminder: %r", click.value[:100])
        answer(BAD_VALUE)
        return
    if not _claimed(services.deliveries, click):
        return  # Slack's retry reached another process first: it answers there
    reminder_id, compute = target
    try:
        result = _act(reminders, click, reminder_id, compute)
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("reminder click %s on #%s failed (ref %s)", click.action_id, reminder_id, reference)
        answer(
            f"Something went wrong on my side while acting on `{compute}` (ref `{reference}`). "
            "Look at the reminder's thread for what happened, then click again in a minute."
        )
        return
    finally:
        _wake_delivery(services)  # thread notes are queued: send them now rather than at the next poll
    answer(result.message)


def _act(reminders: ReminderService, click: ReminderClick, reminder_id: int, compute: str) -> ActionResult:
    user, channel = click.user_id, click.channel_id
    if click.action_id == STOP_BUTTON:
        return reminders.stop(reminder_id, compute, by=user, channel=channel)
    if click.action_id == KEEP_BUTTON:
        return reminders.keep_until_tomorrow(compute, by=user, channel=channel, reminder_id=reminder_id)
    snooze = timedelta(hours=reminders.snooze_hours)
    return reminders.snooze_for(compute, snooze, by=user, channel=channel, reminder_id=reminder_id)


def _wake_delivery(services: Services) -> None:
    if services.delivery is not None:
        services.delivery.wake()


class ClickAnswer:
    """Tells the clicker something only they see: through the click's response_url, as Slack intends."""

    def __init__(self, click: ReminderClick, respond: Respond, client: WebClient) -> None:
        self.click = click
        self.respond = respond
        self.client = client

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
            logger.warning("could not answer %s's reminder click", self.click.user_id, exc_info=True)


def _first_delivery(request: BoltRequest, click: ReminderClick, deliveries: RecentDeliveries) -> bool:
    key = click.delivery_key
    if key is not None:
        return deliveries.claim(key)
    # Without a key a retry cannot be matched to its first delivery: the clicker should not get two answers.
    return not request.headers.get("x-slack-retry-num")


def _claimed(ledger: DeliveryLedger | None, click: ReminderClick) -> bool:
    """Whether this process handles the click; a store that cannot answer must not cost the person their click."""
    key = click.delivery_key
    if ledger is None or key is None:
        return True
    try:
        return ledger.claim(key)
    except Exception:
        logger.warning("could not record delivery %s; handling it anyway", key, exc_info=True)
        return True
