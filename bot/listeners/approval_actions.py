"""Approve / Reject clicks on approval requests: acknowledge at once, decide in the bot's pool, answer the clicker.

The click is authorised by `ApprovalService.decide` on the server, at click time; its compare-and-set makes
double clicks, concurrent clicks and several replicas execute once. The request message itself is edited by the
outbox (`approval.status`); this listener only tells the clicker, ephemerally, what their click did.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from slack_bolt import App

from bot.blocks.approvals import APPROVE_ACTION, REJECT_ACTION
from bot.deliveries import RecentDeliveries
from bot.listeners.clicks import Answer, claimed, failure_reference, register_buttons, wake_delivery
from bot.listeners.clicks import Click as ButtonClick
from bot.work import WorkPool
from services.approvals import ApprovalService, DecisionOutcome
from services.container import Services

logger = logging.getLogger(__name__)

BUSY = (
    "The bot has too much work queued right now, so your click was not recorded. "
    "Nothing changed: click the button again in a minute."
)
NOT_SET_UP = (
    "Approvals are not set up on this bot, so your click changed nothing. "
    "Ask whoever runs the bot to configure approvals."
)
BAD_VALUE = (
    "I could not tell which approval request this button belongs to, so nothing changed. "
    "Use the buttons on the request message itself, or ask for the deletion again."
)


@dataclass(frozen=True)
class Click(ButtonClick):
    """One click on Approve or Reject: `Click.from_body(body, approve=…)` (the listener knows which button)."""

    approve: bool

    @property
    def request_id(self) -> int | None:
        value = self.value.strip()
        return int(value) if value.isdecimal() else None


def register(app: App, *, services: Services, pool: WorkPool, deliveries: RecentDeliveries) -> None:
    parsers = {
        APPROVE_ACTION: partial(Click.from_body, approve=True),
        REJECT_ACTION: partial(Click.from_body, approve=False),
    }
    # The decision (and maybe the deletion) runs in the pool.
    register_buttons(
        app,
        parsers,
        lambda click, answer: decide_and_answer(click, services, answer),
        pool=pool,
        deliveries=deliveries,
        busy=BUSY,
        kind="approval",
    )


def decide_and_answer(click: Click, services: Services, answer: Answer) -> None:
    """Record the click with the approval service and tell the clicker what it did."""
    approvals = services.approvals
    if approvals is None:
        answer(NOT_SET_UP)
        return
    request_id = click.request_id
    if request_id is None:
        logger.warning("approval click with a value that is no request id: %r", click.value[:100])
        answer(BAD_VALUE)
        return
    if not claimed(services.deliveries, click):
        return  # Slack's retry reached another process first: it answers there
    try:
        # Not executed here: the clicker hears at once; the deletion's progress and result go in the thread.
        decision = approvals.decide(request_id, click.user_id, click.channel_id, click.approve, execute=False)
    except Exception:
        reference = failure_reference(logger, "approval click on request #%s failed", request_id)
        answer(
            f"Something went wrong on my side while recording your click (ref `{reference}`). "
            "Look at the request message: if it still shows the buttons, click again in a minute."
        )
        return
    wake_delivery(services)  # the request message's edit and thread replies are queued
    answer(decision.message)
    if decision.outcome is DecisionOutcome.APPROVED:
        run_deletion(approvals, request_id, services)


def run_deletion(approvals: ApprovalService, request_id: int, services: Services) -> None:
    """Claim and run the approved deletion (once: another click, thread or replica that claims first runs it)."""
    try:
        approvals.execute(request_id)
    except Exception:
        # The claim's lease lapses and the sweep reports the request as interrupted in its thread.
        logger.exception("approval request #%s: the deletion could not be run or recorded", request_id)
    finally:
        wake_delivery(services)
