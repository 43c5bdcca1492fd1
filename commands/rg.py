"""`/aml rg …`: create resource groups (deleting one goes through `/aml teardown rg` and an approval)."""

from __future__ import annotations

import argparse

from commands.common import backend_of
from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.options import created_by, default_resource_group, group_location, location, tag
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from commands.text import escape
from services.errors import NotFound
from services.models import ResourceGroupInfo
from services.naming import validate_resource_group
from services.ports import CloudBackend

SUMMARY = "Create resource groups."


def register(table: CommandTable) -> None:
    table.noun("rg", SUMMARY)
    table.add("rg", "create", create, arguments=_create_arguments, slow=True)


def _create_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--location", type=location, metavar="L", help="Azure region, e.g. eastus")
    parser.add_argument("--tag", type=tag, action="append", default=[], metavar="k=v", help="repeatable")


def create(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Create a resource group, or add tags to an existing one.

    Without --location it goes in the region of the bot's default resource group.
    Example: `/aml rg create ml-team-rg --location westeurope --tag team=vision --tag cost-center=42`.
    """
    name = validate_resource_group(args.name)
    tags = dict(args.tag)
    backend = backend_of(context)
    existing = _existing(backend, name)
    who = f"<@{context.invocation.user_id}>"
    if existing is None:
        region = args.location or _default_location(backend)
        info = backend.resource_groups.create_or_update(name, location=region, tags={**created_by(context), **tags})
        return Reply(
            f":white_check_mark: {who} created resource group `{info.name}` in `{info.location}`{_tags_text(tags)}.",
            in_channel=True,
        )
    if args.location and args.location != existing.location.replace(" ", "").lower():
        raise UserError(
            f"Resource group `{existing.name}` already exists in `{existing.location}`; "
            f"a resource group cannot move to `{args.location}`. Use another name for a group in `{args.location}`."
        )
    if not tags:
        return Reply(f"Resource group `{existing.name}` already exists (in `{existing.location}`). Nothing changed.")
    # Send the tags it has too: Azure replaces a group's tags with the ones given.
    info = backend.resource_groups.create_or_update(
        existing.name, location=existing.location, tags={**existing.tags, **tags}
    )
    return Reply(f":white_check_mark: {who} tagged resource group `{info.name}`{_tags_text(tags)}.", in_channel=True)


def _existing(backend: CloudBackend, name: str) -> ResourceGroupInfo | None:
    try:
        return backend.resource_groups.get(name)
    except NotFound:
        return None


def _default_location(backend: CloudBackend) -> str:
    try:
        return group_location(backend, default_resource_group(backend))
    except UserError:
        raise UserError("Which region? Add `--location`, e.g. `--location eastus`.") from None


def _tags_text(tags: dict[str, str]) -> str:
    if not tags:
        return ""
    return " with tags " + ", ".join(f"`{escape(key)}={escape(value)}`" for key, value in tags.items())
