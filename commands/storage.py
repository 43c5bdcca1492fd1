"""`/aml storage …`: create storage accounts, and ask for approval to delete one (see commands/teardown.py)."""

from __future__ import annotations

import argparse
import re

from commands.common import backend_of
from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.options import add_resource_group, created_by, finish, group_location, location, resource_group_of
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from commands.teardown import add_reason, ask_approval, channel_resource_group
from services.errors import ServiceError
from services.models import NameAvailability, StorageAccountInfo
from services.naming import validate_resource_group, validate_storage_account
from services.ports import CloudBackend
from services.rbac import STORAGE_DELETE

SUMMARY = "Create and delete storage accounts."
CREATE_TIMEOUT_SECONDS = 10 * 60
_SUFFIX_TRIES = 3


def register(table: CommandTable) -> None:
    table.noun("storage", SUMMARY)
    table.add("storage", "create", create, arguments=_create_arguments, slow=True)
    table.add("storage", "delete", delete, arguments=_delete_arguments, slow=True)


def _create_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("account", metavar="ACCOUNT")
    add_resource_group(parser)
    parser.add_argument("--location", type=location, metavar="L", help="default: the resource group's region")


def _delete_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("account", metavar="ACCOUNT")
    add_resource_group(parser, "the account's resource group (default: this channel's, else the bot's)")
    add_reason(parser)


def create(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Create a storage account (its name must be free across all of Azure; checked first).

    Example: `/aml storage create mlteamdata01 --resource-group ml-team-rg`.
    """
    account = validate_storage_account(args.account)
    if args.resource_group is not None:
        validate_resource_group(args.resource_group)
    backend = backend_of(context)
    availability = backend.storage.check_name(account)
    if not availability.available:
        raise UserError(_unavailable(backend, account, availability, args.resource_group))
    group = resource_group_of(backend, args.resource_group)
    region = args.location or group_location(backend, group)
    tags = created_by(context)

    def done(info: StorageAccountInfo) -> str:
        kind = ", ".join(part for part in (info.kind, info.sku) if part)
        return (
            f"created storage account `{info.name}` in resource group `{group}` (`{info.location}`"
            f"{', ' + kind if kind else ''}). Add a container with `/aml container create {info.name} NAME`."
        )

    return finish(
        context,
        lambda: backend.storage.begin_create_account(account, resource_group=group, location=region, tags=tags),
        timeout=CREATE_TIMEOUT_SECONDS,
        done=done,
        doing=f"creating storage account `{account}` in resource group `{group}`",
        asked=f"create storage account `{account}` in resource group `{group}`",
        check=f"Once it is there, `/aml container create {account} NAME` adds a container.",
    )


def delete(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Ask for approval to delete a storage account and every blob container in it (the request lists them).

    Nothing is deleted until someone else approves the request posted in this channel.
    Example: `/aml storage delete oldteamdata01 --resource-group ml-team-rg --reason data moved`.
    """
    account = validate_storage_account(args.account)
    group = channel_resource_group(context, args.resource_group)
    return ask_approval(
        context,
        STORAGE_DELETE,
        account,
        args.reason,
        lambda planner: planner.storage_account(account, resource_group=group),
    )


def _unavailable(backend: CloudBackend, account: str, availability: NameAvailability, group: str | None) -> str:
    """Why the name cannot be used and what to type instead."""
    if availability.reason not in (None, "AlreadyExists"):
        said = f": {availability.message}" if availability.message else f" ({availability.reason})"
        return f"The storage account name `{account}` cannot be used{said}"
    ours = _own_account(backend, account, group)
    if ours is not None:
        return (
            f"Storage account `{account}` already exists in resource group `{ours}`, so there is nothing to create. "
            f"Use it as it is, e.g. `/aml container create {account} NAME`."
        )
    text = (
        f"The storage account name `{account}` is already taken: storage account names are unique across "
        "all of Azure, and this one is in use elsewhere."
    )
    free = _free_variant(backend, account)
    if free:
        return text + f" Pick another, e.g. `{free}` (free right now): add your team, project or a number."
    return text + " Pick another: add your team, project or a number, e.g. `mlteamdata01`."


def _own_account(backend: CloudBackend, account: str, group: str | None) -> str | None:
    """The resource group (the one asked for, or the default) that already holds `account`, if any."""
    try:
        resource_group = resource_group_of(backend, group)
        backend.storage.get_account(account, resource_group=resource_group)
    except (ServiceError, UserError):
        return None
    return resource_group


def _free_variant(backend: CloudBackend, account: str) -> str | None:
    """A valid name like `account` with a (next) number at its end that is free now (a few look-ups at most)."""
    match = re.fullmatch(r"(.*?)(\d*)", account)
    stem, digits = (match.group(1), match.group(2)) if match else (account, "")
    width = max(len(digits), 2)
    first = int(digits) + 1 if digits else 1
    for number in range(first, first + _SUFFIX_TRIES):
        candidate = f"{stem[: 24 - width]}{number:0{width}d}"
        try:
            if backend.storage.check_name(candidate).available:
                return candidate
        except ServiceError:
            return None
    return None
