"""Approve / Reject clicks on approval requests: acknowledge at once, decide in the bot's pool, answer the clicker.

The click is authorised by `ApprovalService.decide` on the server, at click time; its compare-and-set makes
double clicks, concurrent clicks and several replicas execute once. The request message itself is edited by the
outbox (`approval.status`); this listener only tells the clicker, ephemerally, what their click did.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient

from bot.blocks.approvals import APPROVE_ACTION, REJECT_ACTION
from bot.deliveries import RecentDeliveries
from bot.work import PoolFull, WorkPool
from services.approvals import ApprovalService, DecisionOutcome
from services.container import Services
from services.deliveries import DeliveryLedger
from services.redaction import redact

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
class Click:
    """One click on Approve or Reject, as Slack delivered it (a `block_actions` payload)."""

    approve: bool
    value: str
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    action_ts: str | None
    response_url: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any], *, approve: bool) -> Click:
        action = next(iter(body.get("actions") or []), None) or {}
        channel = body.get("channel") or {}
        container = body.get("container") or {}
        return cls(
            approve=approve,
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

    @property
    def request_id(self) -> int | None:
        value = self.value.strip()
        return int(value) if value.isdecimal() else None


def register(app: App, *, services: Services, pool: WorkPool, deliveries: RecentDeliveries) -> None:
    for action_id, approve in ((APPROVE_ACTION, True), (REJECT_ACTION, False)):
        app.action(action_id)(_listener(approve, services, pool, deliveries))


def _listener(
    approve: bool, services: Services, pool: WorkPool, deliveries: RecentDeliveries
) -> Callable[..., None]:
    def handle_approval_click(
        ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, request: BoltRequest
    ) -> None:
        ack()  # nothing slow before this: the decision (and maybe the deletion) runs in the pool
        click = Click.from_body(body, approve=approve)
        if not _first_delivery(request, click, deliveries):
            return  # Slack retried a click this process already handles; its answer is on its way
        answer = _Answer(click, respond, client)
        try:
            pool.submit(lambda: decide_and_answer(click, services, answer))
        except PoolFull:
            answer(BUSY)

    return handle_approval_click


def decide_and_answer(click: Click, services: Services, answer: Callable[[str], None]) -> None:
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
    if not _claimed(services.deliveries, click):
        return  # Slack's retry reached another process first: it answers there
    try:
        # Not executed here: the clicker hears at once; the deletion's progress and result go in the thread.
        decision = approvals.decide(request_id, click.user_id, click.channel_id, click.approve, execute=False)
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("approval click on request #%s failed (ref %s)", request_id, reference)
        answer(
            f"Something went wrong on my side while recording your click (ref `{reference}`). "
            "Look at the request message: if it still shows the buttons, click again in a minute."
        )
        return
    _wake_delivery(services)
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
        _wake_delivery(services)


def _wake_delivery(services: Services) -> None:
    """The request message's edit and thread replies are queued: send them now rather than at the next poll."""
    if services.delivery is not None:
        services.delivery.wake()


class _Answer:
    """Tells the clicker something only they see: through the click's response_url, as Slack intends."""

    def __init__(self, click: Click, respond: Respond, client: WebClient) -> None:
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
            logger.warning("could not answer %s's approval click", self.click.user_id, exc_info=True)


def _first_delivery(request: BoltRequest, click: Click, deliveries: RecentDeliveries) -> bool:
    key = click.delivery_key
    if key is not None:
        return deliveries.claim(key)
    # Without a key a retry cannot be matched to its first delivery; the service would refuse a second vote
    # anyway, but the clicker should not get two answers.
    return not request.headers.get("x-slack-retry-num")


def _claimed(ledger: DeliveryLedger | None, click: Click) -> bool:
    """Whether this process handles the click; a store that cannot answer must not cost the person their click."""
    key = click.delivery_key
    if ledger is None or key is None:
        return True
    try:
        return ledger.claim(key)
    except Exception:
        logger.warning("could not record delivery %s; handling it anyway", key, exc_info=True)
        return True
