"""Run accepted slow commands from the store's queue: claim one, run it through the router, answer via response_url.

Two ways work starts, both on the app's own WorkPool (so `pool.wait_idle` still means "every accepted command
has been answered" for the shell, tests and graceful shutdown):
- where commands run in the process that accepts them (`AMLBOT_RUNNER_PROCESSES=0`, the shell, Socket Mode),
  the request hands the pool a "claim the next one and run it" task at once, so a command starts without any poll;
- `CommandWorker.run` polls (every `poll_seconds`, or at once when an HTTP worker wakes it through
  bot/runner_wake.py: the runner processes of bot/runner.py) and starts a draining task on each idle thread,
  which claims and runs commands until none is left; it also takes over commands whose runner died
  (services.command_queue: reported interrupted, never run again).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import SQLAlchemyError

from bot.runner_wake import RunnerWake
from bot.work import PoolFull, WorkPool
from commands.context import Invocation, Reply
from commands.errors import UserError
from commands.parsing import tokenize
from commands.router import Router
from commands.table import CommandTable
from services.command_queue import (
    CRASHED,
    REPLIED,
    SPOKE_IN_CHANNEL,
    UNDELIVERED,
    CommandQueue,
    CommandRequest,
    InTransaction,
    QueuedCommand,
)
from services.container import Services
from services.redaction import redact_value

logger = logging.getLogger(__name__)

RESPONSE_TIMEOUT_SECONDS = 10
# Commands accepted elsewhere (a busy or dead replica) are looked for this often.
POLL_SECONDS = 0.5
TAKE_OVER_SECONDS = 5.0
# Finished commands are kept this long (what happened, and their trigger ids against late Slack retries).
KEEP_FINISHED = timedelta(days=1)
PRUNE_EVERY_SECONDS = 3600.0


class ResponseUndelivered(Exception):
    """Slack refused a post to a response_url (expired, used five times, malformed); the URL is not in the text."""


class ResponseUrlPoster:
    """Posts to a command's response_url as Bolt's `respond` does (slack_sdk WebhookClient), checking the answer."""

    def __init__(self, timeout: int = RESPONSE_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        # slack_sdk logs the URL it posts to at DEBUG and INFO: a response_url is a secret, so only warnings pass.
        self._quiet = logging.getLogger("bot.response_url")
        self._quiet.setLevel(logging.WARNING)

    def post(self, response_url: str, payload: Mapping[str, Any]) -> None:
        client = WebhookClient(
            response_url,
            timeout=self.timeout,
            logger=self._quiet,
            retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler()],
        )
        # A new message beside the command, as the in-process path's respond(replace_original=False) posts.
        response = client.send_dict({**payload, "replace_original": False})
        if response.status_code != 200:
            raise ResponseUndelivered(f"Slack answered {response.status_code}: {str(response.body)[:200]}")

    def notify(self, request: CommandRequest, text: str) -> None:
        """The queue's port for a final message (the interrupted notice)."""
        self.post(request.response_url, reply_payload(Reply(text)))


def reply_payload(reply: Reply) -> dict[str, Any]:
    """The ack / response_url body for a reply: every text in it redacted on its way to Slack."""
    payload: dict[str, Any] = {
        "text": reply.text,
        "response_type": "in_channel" if reply.in_channel else "ephemeral",
    }
    if reply.blocks:
        payload["blocks"] = list(reply.blocks)
    redacted: dict[str, Any] = redact_value(payload)
    return redacted


def request_of(invocation: Invocation, response_url: str) -> CommandRequest:
    """What the queue keeps of an invocation."""
    return CommandRequest(
        command=invocation.command,
        text=invocation.text,
        user_id=invocation.user_id,
        channel_id=invocation.channel_id,
        response_url=response_url,
        team_id=invocation.team_id,
        delivery_key=invocation.trigger_id,
    )


def invocation_of(request: CommandRequest) -> Invocation:
    """The invocation rebuilt from a row, for the router to parse again."""
    return Invocation(
        text=request.text,
        user_id=request.user_id,
        channel_id=request.channel_id,
        team_id=request.team_id,
        trigger_id=request.delivery_key,
        command=request.command,
    )


def check_hint(table: CommandTable, request: CommandRequest) -> str:
    """The command that shows where an interrupted command got to: its noun's `list`, else its noun's help."""
    try:
        words = tokenize(request.text)
        noun = table.get_noun(words[0]) if words else None
    except UserError:
        noun = None
    if noun is None:
        return f"{request.command} help"
    if "list" in noun.verbs:
        return f"{request.command} {noun.name} list"
    return f"{request.command} help {noun.name}"


def new_owner() -> str:
    """A worker's name in the queue: host, process and a random part (a restarted process is someone new)."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class CommandRunner:
    """Claims queued commands one at a time and runs each: router (re-parsing its text), reply, finish."""

    def __init__(
        self, queue: CommandQueue, router: Router, poster: ResponseUrlPoster, *, owner: str | None = None
    ) -> None:
        self.queue = queue
        self.router = router
        self.poster = poster
        self.owner = owner or new_owner()
        self.stopping = threading.Event()  # set when the process stops: running commands finish, no new claims

    def run_next(self) -> bool:
        """Claim the oldest queued command and run it here; False when there was none left to claim."""
        claimed = self.queue.claim(self.owner, 1)
        for command in claimed:
            self.run(command)
        return bool(claimed)

    def drain(self) -> int:
        """Claim and run queued commands one after another until none is left or the process stops (what is
        left waits in the store for the next runner); returns how many ran."""
        ran = 0
        command = next(iter(self.queue.claim(self.owner, 1)), None)
        while command is not None:
            command = self.run(command, claim_next=not self.stopping.is_set())
            ran += 1
        return ran

    def run(self, command: QueuedCommand, *, claim_next: bool = False) -> QueuedCommand | None:
        """Run a command this runner has claimed, answer the person, and record how it ended.

        With `claim_next`, the oldest queued command is claimed as this one is recorded, and returned.
        """
        request = command.request
        with self.queue.keep_lease(command.id, self.owner):  # posting the reply happens under the lease too
            reply, outcome, audit_row = self._execute(command)
            if reply.text or reply.blocks:
                try:
                    self.poster.post(request.response_url, reply_payload(reply))
                except Exception as err:  # only our own error's text is known to leave the URL out
                    reason = str(err) if isinstance(err, ResponseUndelivered) else type(err).__name__
                    logger.warning("command %s: its reply could not be posted (%s)", command.id, reason)
                    outcome = UNDELIVERED
            elif outcome == REPLIED:
                outcome = SPOKE_IN_CHANNEL
        finished, following = self._finish(command, outcome, audit_row, claim_next)
        if not finished:
            logger.warning("command %s finished after it had been reported interrupted", command.id)
        return following

    def _finish(
        self, command: QueuedCommand, outcome: str, audit_row: InTransaction | None, claim_next: bool
    ) -> tuple[bool, QueuedCommand | None]:
        """Record the end with the command's audit row in one transaction; the trail must not cost the record."""

        def finish(also: InTransaction | None) -> tuple[bool, QueuedCommand | None]:
            if claim_next:
                return self.queue.finish_and_claim(command.id, self.owner, outcome, also=also)
            return self.queue.finish(command.id, self.owner, outcome, also=also), None

        try:
            return finish(audit_row)
        except SQLAlchemyError:
            if audit_row is None:
                raise
            logger.warning("could not write the audit row of command %s", command.id, exc_info=True)
            return finish(None)

    def check(self, request: CommandRequest) -> str:
        return check_hint(self.router.table, request)

    def retry_safe(self, request: CommandRequest) -> bool:
        """Whether the command's subcommand may run again after a runner died in the middle of it."""
        try:
            words = tokenize(request.text)
            return bool(words) and self.router.table.resolve(words)[0].retry_safe
        except UserError:
            return False

    def _execute(self, command: QueuedCommand) -> tuple[Reply, str, InTransaction | None]:
        """Run the command; returns the reply, how it ended, and its audit row (written with the finish)."""
        request = command.request
        invocation = invocation_of(request)
        try:
            dispatch = self.router.route(invocation)
            if dispatch.run is None:
                # The text names no slow work any more (a newer version's table): its quick answer is the reply.
                if dispatch.audit is not None:
                    dispatch.audit()
                return dispatch.reply or Reply("Done."), REPLIED, None
            reply, audited = dispatch.run()
            return reply, REPLIED, self.router.audit_row(invocation, audited)
        except Exception:  # the router answers every known failure itself: this is a bug, told plainly
            reference = uuid.uuid4().hex[:8]
            logger.exception("queued command %s failed (ref %s)", command.id, reference)
            typed = request.typed.replace("`", "'")
            text = (
                f"Something went wrong on my side while running `{typed}` (ref `{reference}`), so it may "
                f"not have finished. Check with `{self.check(request)}` before trying again; if it keeps failing, "
                "give the ref to whoever runs the bot."
            )
            return Reply(text), CRASHED, None


class CommandWorker:
    """One process's loop: takes over commands whose runner died, and hands queued ones to idle pool threads."""

    def __init__(
        self,
        runner: CommandRunner,
        pool: WorkPool,
        *,
        poll_seconds: float = POLL_SECONDS,
        take_over_seconds: float = TAKE_OVER_SECONDS,
        keep_finished: timedelta = KEEP_FINISHED,
        wake: RunnerWake | None = None,
        on_woken: Callable[[], None] | None = None,
    ) -> None:
        self.runner = runner
        self.wake = wake
        self.on_woken = on_woken
        self.queue = runner.queue
        self.pool = pool
        self.poll_seconds = poll_seconds
        self.take_over_seconds = take_over_seconds
        self.keep_finished = keep_finished

    def poll_once(self) -> int:
        """One full pass: report lapsed commands, then start queued ones; returns how many were started."""
        self.take_over()
        return self.start_queued()

    def take_over(self) -> int:
        """Report commands whose runner died (never running them again); returns how many."""
        taken = self.queue.take_over_lapsed(
            self.runner.owner, self.runner.poster.notify, check=self.runner.check, retry_safe=self.runner.retry_safe
        )
        return len(taken)

    def start_queued(self) -> int:
        """Start a draining task on each idle thread, as many as commands wait; returns how many started."""
        idle = self.pool.idle_threads
        if idle == 0:
            return 0  # busy threads drain the queue themselves when their command ends
        started = 0
        for _ in range(self.queue.count_queued(idle)):
            try:
                self.pool.submit(self.runner.drain)
            except PoolFull:  # requests filled the pool meanwhile: what is left waits for the next pass
                break
            started += 1
        return started

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set (a background loop: bot.background); the first pass runs at once."""
        try:
            self._poll(stop)
        finally:
            self.runner.stopping.set()  # draining threads finish their command and claim no more

    def _poll(self, stop: threading.Event) -> None:
        last_take_over = last_prune = -float("inf")
        while not stop.is_set():
            now = time.monotonic()
            try:
                if now - last_take_over >= self.take_over_seconds:  # leases last a minute: no need to look often
                    last_take_over = now
                    self.take_over()
                self.start_queued()
                if now - last_prune >= PRUNE_EVERY_SECONDS:
                    last_prune = now
                    self.queue.prune(older_than=self.queue.clock() - self.keep_finished)
            except Exception:  # a store hiccup must not end the loop; the next pass catches up
                logger.warning("command queue poll failed", exc_info=True)
            if self.wake is None:
                stop.wait(self.poll_seconds)
            # An HTTP worker wakes it when it queues a command or a message for the outbox.
            elif self.wake.wait(self.poll_seconds, stop) and self.on_woken is not None:
                self.on_woken()


def build_command_worker(
    services: Services, router: Router, pool: WorkPool, wake: RunnerWake | None = None
) -> CommandWorker | None:
    """The worker loop for `services`' command queue, or None when commands run in process only.

    With `wake` (a runner process), a wake-up also wakes the outbox delivery: HTTP workers wake through it both
    when they queue a command and when they queue a message (a click's answer).
    """
    queue = command_queue_of(services)
    if queue is None:
        return None
    delivery = services.delivery
    return CommandWorker(
        CommandRunner(queue, router, ResponseUrlPoster()),
        pool,
        wake=wake,
        on_woken=delivery.wake if delivery is not None else None,
    )


def command_queue_of(services: Services) -> CommandQueue | None:
    """The configured queue, or None when commands run in this process's pool only."""
    return services.command_queue
