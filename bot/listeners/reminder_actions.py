"""Stop / Scale to zero, Snooze and Keep-until-tomorrow clicks on running-compute reminders: acknowledge at once,
act in the bot's pool, tell the clicker (ephemerally) what their click did.

`ReminderService` authorises each click on the server, like the matching command (Stop needs `compute.stop`,
Snooze and Keep `remind.snooze`, operator by default; the compute's creator may always), and runs a Stop once per
reminder and compute however many clicks, threads or replicas ask. What happens is also told in the reminder's
thread through the outbox, so the channel sees who stopped or snoozed what.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_bolt import App

from bot.blocks.reminders import KEEP_BUTTON, SNOOZE_BUTTON, STOP_BUTTON, parse_button_value
from bot.deliveries import RecentDeliveries
from bot.listeners.clicks import Answer, Click, claimed, failure_reference, register_buttons, wake_delivery
from bot.work import WorkPool
from services.container import Services
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

def register(app: App, *, services: Services, pool: WorkPool, deliveries: RecentDeliveries) -> None:
    parsers = dict.fromkeys((STOP_BUTTON, SNOOZE_BUTTON, KEEP_BUTTON), Click.from_body)
    # A stop waits on the backend for minutes: it runs in the pool.
    register_buttons(
        app,
        parsers,
        lambda click, answer: act_and_answer(click, services, answer),
        pool=pool,
        deliveries=deliveries,
        busy=BUSY,
        kind="reminder",
    )


def act_and_answer(click: Click, services: Services, answer: Answer) -> None:
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
    if not claimed(services.deliveries, click):
        return  # Slack's retry reached another process first: it answers there
    reminder_id, compute = target
    try:
        result = _act(reminders, click, reminder_id, compute)
    except Exception:
        reference = failure_reference(logger, "reminder click %s on #%s failed", click.action_id, reminder_id)
        answer(
            f"Something went wrong on my side while acting on `{compute}` (ref `{reference}`). "
            "Look at the reminder's thread for what happened, then click again in a minute."
        )
        return
    finally:
        wake_delivery(services)
    answer(result.message)


def _act(reminders: ReminderService, click: Click, reminder_id: int, compute: str) -> ActionResult:
    user, channel = click.user_id, click.channel_id
    if click.action_id == STOP_BUTTON:
        return reminders.stop(reminder_id, compute, by=user, channel=channel)
    if click.action_id == KEEP_BUTTON:
        return reminders.keep_until_tomorrow(compute, by=user, channel=channel, reminder_id=reminder_id)
    snooze = timedelta(hours=reminders.snooze_hours)
    return reminders.snooze_for(compute, snooze, by=user, channel=channel, reminder_id=reminder_id)
