"""Small helpers every noun module uses."""

from __future__ import annotations

from commands.context import CommandContext
from commands.errors import UserError
from services.ports import CloudBackend


def backend_of(context: CommandContext) -> CloudBackend:
    """The configured cloud backend, or a plain message that the bot runs without one."""
    backend = context.services.backend
    if backend is None:
        raise UserError("This bot has no cloud backend configured, so it cannot do that. Ask whoever runs it.")
    return backend


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value
