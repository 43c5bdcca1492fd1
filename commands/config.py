"""`/aml config`: per-channel defaults for workspace, resource group, compute and region."""

from __future__ import annotations

import argparse

from commands.blocks import key_values
from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from services.channel_config import KEYS, ChannelConfig


def register(table: CommandTable) -> None:
    table.noun("config", "Per-channel defaults (workspace, resource group, compute, location).")
    table.add("config", "set", set_default, arguments=_set_arguments)
    table.add("config", "unset", unset_default, arguments=_key_argument)
    table.add("config", "show", show)


def _key_argument(parser: ArgumentParser) -> None:
    parser.add_argument("key", metavar="KEY", choices=KEYS)


def _set_arguments(parser: ArgumentParser) -> None:
    _key_argument(parser)
    parser.add_argument("value", metavar="VALUE")


def _channels(context: CommandContext) -> ChannelConfig:
    if context.services.channels is None:
        raise UserError("This bot runs without its store, so channel settings are not available.")
    return context.services.channels


def set_default(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Set a default for this channel: workspace, resource-group, compute or location.

    Example: `/aml config set compute cpu-cluster`.
    """
    _channels(context).set(context.invocation.channel_id, args.key, args.value, user=context.invocation.user_id)
    return Reply(
        f"<@{context.invocation.user_id}> set this channel's default {args.key} to `{args.value}`.", in_channel=True
    )


def unset_default(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Remove one of this channel's defaults (the bot's own default applies again).

    Example: `/aml config unset compute`.
    """
    removed = _channels(context).unset(context.invocation.channel_id, args.key)
    if not removed:
        return Reply(f"This channel has no default {args.key}; nothing to remove.")
    return Reply(f"<@{context.invocation.user_id}> removed this channel's default {args.key}.", in_channel=True)


def show(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Show this channel's defaults.

    Example: `/aml config show`.
    """
    defaults = _channels(context).get(context.invocation.channel_id)
    def shown(value: str | None, otherwise: str) -> str:
        return f"`{value}`" if value else otherwise

    values = {
        "workspace": shown(defaults.workspace, "the bot's default"),
        "resource-group": shown(defaults.resource_group, "the bot's default"),
        "compute": shown(defaults.compute, "the template's"),
        "location": shown(defaults.location, "the resource group's"),
    }
    return Reply("*Defaults for this channel*\n" + key_values(values))
