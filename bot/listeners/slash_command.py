"""The one `/aml` slash command: acknowledge at once, run slow work in the bot's own pool."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltRequest, Respond

from bot.deliveries import RecentDeliveries
from bot.work import PoolFull, WorkPool
from commands.context import Invocation, Reply
from commands.router import Dispatch, Router
from services.deliveries import DeliveryLedger
from services.redaction import redact_value

logger = logging.getLogger(__name__)

BUSY = (
    "The bot has too much work queued right now, so it did not start this. "
    "Nothing was done: send the command again in a minute."
)


def register(app: App, *, router: Router, pool: WorkPool, deliveries: RecentDeliveries) -> None:
    command = router.table.command
    ledger = router.services.deliveries

    @app.command(command)
    def handle_slash_command(ack: Ack, body: dict[str, Any], respond: Respond, request: BoltRequest) -> None:
        invocation = Invocation.from_payload(body)
        if not _first_delivery(request, invocation, deliveries):
            ack()  # Slack retried a delivery we already handle; its answer is on its way.
            return
        dispatch = router.route(invocation)
        work = dispatch.work
        if work is None:
            ack(**_payload(dispatch.reply or Reply("Done.")))
            _record_after_ack(pool, dispatch)
            return

        def run_and_reply() -> None:
            if not _claimed(ledger, invocation):
                return  # Slack's retry reached another process first: the work runs there
            reply = work()
            if reply.text or reply.blocks:  # an empty reply: the work speaks in the channel itself
                respond(**_payload(reply), replace_original=False)

        try:
            pool.submit(run_and_reply)
        except PoolFull:
            ack(**_payload(Reply(BUSY)))
            return
        ack()


def _record_after_ack(pool: WorkPool, dispatch: Dispatch) -> None:
    """Write the audit row off the request path; a full pool writes nothing rather than delay the answer."""
    if dispatch.audit is None:
        return
    try:
        pool.submit(dispatch.audit)
    except PoolFull:
        logger.warning("work pool full: a command's audit row was not written")


def _claimed(ledger: DeliveryLedger | None, invocation: Invocation) -> bool:
    """Whether this process runs the work; a store that cannot answer must not cost the person their reply."""
    if ledger is None or not invocation.trigger_id:
        return True
    try:
        return ledger.claim(invocation.trigger_id)
    except Exception:
        logger.warning("could not record delivery %s; running it anyway", invocation.trigger_id, exc_info=True)
        return True


def _first_delivery(request: BoltRequest, invocation: Invocation, deliveries: RecentDeliveries) -> bool:
    retried = bool(request.headers.get("x-slack-retry-num"))
    if invocation.trigger_id:
        return deliveries.claim(invocation.trigger_id)
    # Without a trigger id a retry cannot be matched to its first delivery: running it again risks doubles.
    return not retried


def _payload(reply: Reply) -> dict[str, Any]:
    """The ack / respond() body for a reply: every text in it redacted on its way to Slack."""
    payload: dict[str, Any] = {
        "text": reply.text,
        "response_type": "in_channel" if reply.in_channel else "ephemeral",
    }
    if reply.blocks:
        payload["blocks"] = list(reply.blocks)
    redacted: dict[str, Any] = redact_value(payload)
    return redacted
