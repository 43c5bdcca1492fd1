"""The one `/aml` slash command: acknowledge at once; slow work is queued in the store (any replica runs it, see
bot/command_worker.py; under `serve`, the runner processes of bot/runner.py), or, without a queue (tests that
inject bare Services), run in this process's pool."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient

from bot.command_worker import (
    CommandRunner,
    ResponseUrlPoster,
    command_queue_of,
    reply_payload,
    request_of,
)
from bot.deliveries import RecentDeliveries
from bot.listeners.clicks import claimed, first_delivery
from bot.runner_wake import RunnerWake
from bot.work import PoolFull, WorkPool
from commands.context import Invocation, Reply
from commands.router import Dispatch, Router
from services.command_queue import QueueUnavailable

logger = logging.getLogger(__name__)

# Opens a modal for a command typed with nothing after it (views.open needs the trigger id, so in the ack path);
# returns the ack's answer ("" when the modal opened), or None when the command is not one it takes.
FormOpener = Callable[[Invocation, WebClient], Reply | None]

# What happens to a command once it is in the queue (it started here, or a runner process was told).
StartQueued = Callable[[CommandRunner], None]

BUSY = (
    "The bot has too much work queued right now, so it did not start this. "
    "Nothing was done: send the command again in a minute."
)


def register(
    app: App,
    *,
    router: Router,
    pool: WorkPool,
    deliveries: RecentDeliveries,
    open_form: FormOpener | None = None,
    start: StartQueued | None = None,
) -> None:
    command = router.table.command
    ledger = router.services.deliveries
    queue = command_queue_of(router.services)
    runner = CommandRunner(queue, router, ResponseUrlPoster()) if queue is not None else None
    start = start or start_here(pool)

    @app.command(command)
    def handle_slash_command(
        ack: Ack, body: dict[str, Any], respond: Respond, request: BoltRequest, client: WebClient
    ) -> None:
        invocation = Invocation.from_payload(body)
        if not first_delivery(request, invocation, deliveries):
            ack()  # Slack retried a delivery we already handle; its answer is on its way.
            return
        opened = open_form(invocation, client) if open_form is not None else None
        if opened is not None:  # a form (e.g. the job form) instead of a usage error; its answer, if any
            ack(**(_payload(opened) if opened.text else {}))
            return
        dispatch = router.route(invocation)
        work = dispatch.work
        if work is None:
            ack(**_payload(dispatch.reply or Reply("Done.")))
            _record_after_ack(pool, dispatch)
            return
        response_url = body.get("response_url")
        if runner is not None and response_url:
            if not pool.has_room:
                ack(**_payload(Reply(BUSY)))
                return
            try:
                if runner.queue.enqueue(request_of(invocation, str(response_url))):
                    start(runner)
                # else: Slack retried a command another process accepted: it runs (or ran) there
                ack()
                return
            except QueueUnavailable as err:  # the store is down: this process runs it, as before queues existed
                logger.warning("could not queue a command (%s); running it in this process", err)

        def run_and_reply() -> None:
            if not claimed(ledger, invocation):
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


def start_here(pool: WorkPool) -> StartQueued:
    """Start a queued command in this process at once, if a thread is free."""

    def start(runner: CommandRunner) -> None:
        try:
            pool.submit(runner.run_next)
        except PoolFull:  # filled meanwhile: the row waits in the store for the next poll, here or on a replica
            logger.info("work pool full: a queued command waits for the next poll")

    return start


def wake_runners(wake: RunnerWake | None) -> StartQueued:
    """Leave a queued command to the runner processes, waking one (without a wake-up, they find it by polling)."""

    def start(runner: CommandRunner) -> None:
        if wake is not None:
            wake.notify()

    return start


def _record_after_ack(pool: WorkPool, dispatch: Dispatch) -> None:
    """Write the audit row off the request path; a full pool writes nothing rather than delay the answer."""
    if dispatch.audit is None:
        return
    try:
        pool.submit(dispatch.audit)
    except PoolFull:
        logger.warning("work pool full: a command's audit row was not written")


_payload = reply_payload  # the ack and respond() bodies: redacted like every reply
