"""Parse a `/aml` text into a subcommand call, decide whether it answers in the ack or after it."""

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
from services.container import Services
from services.errors import ServiceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dispatch:
    """The ack path's decision: a reply to send in the ack, or work to run after it."""

    reply: Reply | None = None
    work: Callable[[], Reply] | None = None
    subcommand: Subcommand | None = None


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
            return Dispatch(reply=Reply(err.message))
        context = CommandContext(invocation, self.services)
        if sub.slow:
            return Dispatch(work=lambda: run_handler(sub, context, args), subcommand=sub)
        return Dispatch(reply=run_handler(sub, context, args), subcommand=sub)


_EMPTY = "You typed the command with nothing after it. Here is what it can do:\n\n"


def _parse(sub: Subcommand, rest: list[str]) -> argparse.Namespace:
    try:
        return sub.parser.parse(rest)
    except UsageError as err:
        raise UserError(f"{err.message}\nUsage: `{sub.usage}`") from err


def run_handler(sub: Subcommand, context: CommandContext, args: argparse.Namespace) -> Reply:
    """Run a handler; user and service errors become their message, anything else a short apology."""
    try:
        return sub.handler(context, args)
    except (UserError, ServiceError) as err:
        return Reply(str(err))
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("`%s` failed (ref %s)", sub.path, reference)
        return Reply(
            f"Something went wrong on my side while running `{sub.command} {sub.path}` (ref `{reference}`). "
            "Nothing more was done. Try again in a minute; if it keeps failing, "
            "give the ref to whoever runs the bot."
        )


def describe(sub: Subcommand) -> str:
    """Usage and docstring of one subcommand."""
    text = f"*{sub.summary}*\nUsage: `{sub.usage}`"
    return f"{text}\n{sub.details}" if sub.details else text
