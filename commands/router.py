"""Parse a `/aml` text into a subcommand call, check who may run it, decide whether it answers in the ack or after."""

from __future__ import annotations

import argparse
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from commands.context import CommandContext, Invocation, Reply
from commands.errors import UsageError, UserError
from commands.help import overview
from commands.parsing import tokenize
from commands.table import CommandTable, Subcommand
from services.audit import COMMAND
from services.audited import acting
from services.command_queue import InTransaction
from services.container import Services
from services.errors import Forbidden, ServiceError

logger = logging.getLogger(__name__)

# Audit outcomes of a command.
OK, INVALID, REFUSED, FAILED, ERROR = "ok", "invalid", "refused", "failed", "error"


@dataclass(frozen=True)
class Dispatch:
    """The ack path's decision: a reply to send in the ack, or work to run after it."""

    reply: Reply | None = None
    work: Callable[[], Reply] | None = None
    subcommand: Subcommand | None = None
    # Writes the command's audit row; the listener runs it after the ack (slow work records its own).
    audit: Callable[[], None] | None = None
    # Slow work that leaves its audit row to the caller: the reply and the row's outcome (see Router.audit_row).
    run: Callable[[], tuple[Reply, str]] | None = None


class Router:
    """Route one invocation through the table; never raises, never shows a stack trace."""

    def __init__(self, table: CommandTable, services: Services) -> None:
        self.table = table
        self.services = services

    def route(self, invocation: Invocation) -> Dispatch:
        try:
            words = tokenize(invocation.text)
            if not words:
                return Dispatch(reply=Reply(_EMPTY + overview(self.table)))
            sub, rest = self.table.resolve(words)
            if any(word in ("--help", "-h") for word in rest):
                return Dispatch(reply=Reply(describe(sub)), subcommand=sub)
            args = _parse(sub, rest)
        except UserError as err:
            return Dispatch(reply=Reply(err.message), audit=self._auditor(invocation, INVALID))
        context = CommandContext(invocation, self.services)
        if sub.slow:

            def run() -> tuple[Reply, str]:
                return self.run(sub, context, args)

            def work() -> Reply:
                reply, outcome = run()
                self._auditor(invocation, outcome)()
                return reply

            return Dispatch(work=work, subcommand=sub, run=run)
        reply, outcome = self.run(sub, context, args)
        return Dispatch(reply=reply, subcommand=sub, audit=self._auditor(invocation, outcome))

    def run(self, sub: Subcommand, context: CommandContext, args: argparse.Namespace) -> tuple[Reply, str]:
        """Check the caller's role (on the server, every time), then run the handler; returns reply and outcome."""
        authorizer = self.services.authorizer
        if authorizer is not None and sub.available:
            invocation = context.invocation
            try:
                authorizer.check(invocation.user_id, invocation.channel_id, sub.action)
            except Forbidden as err:
                return Reply(str(err)), REFUSED
        with acting(context.invocation.user_id, context.invocation.channel_id):
            return run_handler(sub, context, args)

    def audit_row(self, invocation: Invocation, outcome: str) -> InTransaction | None:
        """The command's audit row, to add in a transaction of the caller's (None without an audit log)."""
        audit = self.services.audit
        if audit is None:
            return None
        typed = _typed(invocation)
        return lambda conn: audit.record(COMMAND, invocation.user_id, invocation.channel_id, typed, outcome, conn=conn)

    def _auditor(self, invocation: Invocation, outcome: str) -> Callable[[], None]:
        audit = self.services.audit

        def record() -> None:
            if audit is None:
                return
            try:
                audit.record(COMMAND, invocation.user_id, invocation.channel_id, _typed(invocation), outcome)
            except Exception:  # the trail must not cost the person their answer
                logger.warning("could not write the audit row of a command", exc_info=True)

        return record


def _typed(invocation: Invocation) -> str:
    return f"{invocation.command} {invocation.text}"


_EMPTY = "You typed the command with nothing after it. Here is what it can do:\n\n"


def _parse(sub: Subcommand, rest: list[str]) -> argparse.Namespace:
    try:
        return sub.parser.parse(rest)
    except UsageError as err:
        raise UserError(f"{err.message}\nUsage: `{sub.usage}`") from err


def run_handler(sub: Subcommand, context: CommandContext, args: argparse.Namespace) -> tuple[Reply, str]:
    """Run a handler; user and service errors become their message, anything else a short apology."""
    try:
        return sub.handler(context, args), OK
    except UserError as err:
        return Reply(err.message), INVALID
    except Forbidden as err:
        return Reply(str(err)), REFUSED
    except ServiceError as err:
        return Reply(str(err)), FAILED
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("`%s` failed (ref %s)", sub.path, reference)
        return (
            Reply(
                f"Something went wrong on my side while running `{sub.command} {sub.path}` (ref `{reference}`). "
                "Nothing more was done. Try again in a minute; if it keeps failing, "
                "give the ref to whoever runs the bot."
            ),
            ERROR,
        )


def describe(sub: Subcommand) -> str:
    """Usage and docstring of one subcommand."""
    text = f"*{sub.summary}*\nUsage: `{sub.usage}`"
    return f"{text}\n{sub.details}" if sub.details else text
