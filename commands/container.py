"""`/aml container …`: create blob containers in a storage account."""

from __future__ import annotations

import argparse

from commands.common import backend_of
from commands.context import CommandContext, Reply
from commands.options import add_resource_group, resource_group_of
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from services.naming import validate_blob_container, validate_storage_account

SUMMARY = "Create blob containers."


def register(table: CommandTable) -> None:
    table.noun("container", SUMMARY)
    table.add("container", "create", create, arguments=_create_arguments, slow=True)


def _create_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("account", metavar="ACCOUNT")
    parser.add_argument("container", metavar="CONTAINER")
    add_resource_group(parser, "the storage account's resource group (default: the bot's default one)")


def create(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Create a blob container in a storage account.

    Example: `/aml container create mlteamdata01 training-data --resource-group ml-team-rg`.
    """
    account = validate_storage_account(args.account)
    container = validate_blob_container(args.container)
    backend = backend_of(context)
    group = resource_group_of(backend, args.resource_group)
    info = backend.storage.create_container(account, container, resource_group=group)
    return Reply(
        f":white_check_mark: <@{context.invocation.user_id}> created blob container `{info.name}` "
        f"in storage account `{info.account}` (resource group `{group}`).",
        in_channel=True,
    )
