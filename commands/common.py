"""Small helpers every noun module uses."""

from __future__ import annotations

from commands.context import CommandContext
from commands.errors import UserError
from services.channel_config import ChannelDefaults
from services.ports import CloudBackend
from services.tracking import JobTracking


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


def tracking_of(context: CommandContext) -> JobTracking:
    tracking = context.services.tracking
    if tracking is None:
        raise UserError("This bot runs without its job store, so it cannot follow jobs. Ask whoever runs it.")
    return tracking


def channel_defaults(context: CommandContext) -> ChannelDefaults:
    """This channel's `/aml config` defaults (none when the bot runs without a store)."""
    channels = context.services.channels
    return channels.get(context.invocation.channel_id) if channels is not None else ChannelDefaults()
