"""`/aml workspace …`: create, list and show Azure ML workspaces (deleting one is `/aml teardown workspace`)."""

from __future__ import annotations

import argparse
from typing import Any

from commands.blocks import key_values, lines_blocks, link, section, to_dicts
from commands.common import backend_of
from commands.context import CommandContext, Reply
from commands.options import (
    add_resource_group,
    close_names,
    created_by,
    default_resource_group,
    finish,
    group_location,
    location,
)
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from commands.text import escape
from services.models import TAG_SLACK_CHANNEL, TAG_SLACK_USER, WorkspaceInfo, WorkspaceSpec
from services.naming import validate_resource_group, validate_workspace

SUMMARY = "Create and inspect Azure ML workspaces."
CREATE_TIMEOUT_SECONDS = 20 * 60
_BOT_TAGS = frozenset({TAG_SLACK_USER, TAG_SLACK_CHANNEL})


def register(table: CommandTable) -> None:
    table.noun("workspace", SUMMARY)
    table.add("workspace", "create", create, arguments=_create_arguments, slow=True)
    table.add("workspace", "list", list_workspaces, arguments=add_resource_group, slow=True)
    table.add("workspace", "show", show, arguments=_show_arguments, slow=True)


def _create_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--location", type=location, metavar="L", help="default: the resource group's region")
    parser.add_argument("--display-name", metavar="D")
    parser.add_argument("--description", metavar="D")
    parser.add_argument("--hbi", action="store_true", help="high business impact: less diagnostic data to Microsoft")
    add_resource_group(parser)


def _show_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    add_resource_group(parser)


def create(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Create a workspace with its storage account, key vault and Application Insights.

    Example: `/aml workspace create ml-team-ws --resource-group ml-team-rg --display-name "ML team"`.
    """
    name = validate_workspace(args.name)
    group = validate_resource_group(args.resource_group) if args.resource_group is not None else None
    backend = backend_of(context)
    region = args.location or group_location(backend, group or default_resource_group(backend))
    spec = WorkspaceSpec(
        name=name,
        location=region,
        resource_group=group,
        display_name=args.display_name,
        description=args.description,
        hbi_workspace=args.hbi,
        tags=created_by(context),
    )

    def done(info: WorkspaceInfo) -> str:
        extras = ", ".join(
            f"{label} `{value}`"
            for label, value in (("storage account", info.storage_account), ("key vault", info.key_vault))
            if value
        )
        return (
            f"created workspace `{info.name}` in resource group `{info.resource_group or group}` "
            f"(`{info.location or region}`{', HBI' if info.hbi_workspace else ''})"
            + (f" with {extras}" if extras else "")
            + f". Details: `/aml workspace show {info.name}`."
        )

    return finish(
        context,
        lambda: backend.workspaces.begin_create(spec),
        timeout=CREATE_TIMEOUT_SECONDS,
        done=done,
        doing=f"creating workspace `{name}`",
        asked=f"create workspace `{name}`",
        check=f"`/aml workspace show {name}` finds it once it is ready.",
    )


def list_workspaces(context: CommandContext, args: argparse.Namespace) -> Reply:
    """List workspaces (of one resource group with --resource-group).

    Example: `/aml workspace list --resource-group ml-team-rg`.
    """
    group = validate_resource_group(args.resource_group) if args.resource_group is not None else None
    workspaces = sorted(backend_of(context).workspaces.list(resource_group=group), key=lambda w: w.name.lower())
    where = f" in resource group `{group}`" if group else ""
    heading = f"*{len(workspaces)} workspace{'' if len(workspaces) == 1 else 's'}{where}*"
    lines = [_line(workspace) for workspace in workspaces]
    empty = f"No workspaces{where} yet. Create one with `/aml workspace create NAME`."
    return Reply(heading if workspaces else empty, blocks=lines_blocks(heading, lines, empty))


def show(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Show a workspace's details and the resources it uses.

    Example: `/aml workspace show ml-team-ws`.
    """
    name = validate_workspace(args.name)
    group = validate_resource_group(args.resource_group) if args.resource_group is not None else None
    backend = backend_of(context)
    with close_names("workspace", name, lambda: [w.name for w in backend.workspaces.list(resource_group=group)]):
        info = backend.workspaces.get(name, resource_group=group)
    return Reply(f"Workspace {info.name} in {info.resource_group}", blocks=_details_blocks(info))


def _line(workspace: WorkspaceInfo) -> str:
    title = f"`{workspace.name}`"
    if workspace.display_name and workspace.display_name != workspace.name:
        title += f" {escape(workspace.display_name, 80)}"
    parts = [title, f"resource group `{workspace.resource_group or '—'}`", workspace.location or "—"]
    return " · ".join(parts + (["HBI"] if workspace.hbi_workspace else []))


def _details_blocks(info: WorkspaceInfo) -> list[dict[str, Any]]:
    tags = {key: value for key, value in info.tags.items() if key not in _BOT_TAGS}
    creator = info.tags.get(TAG_SLACK_USER)
    fields = {
        "Display name": escape(info.display_name or "", 150),
        "Description": escape(info.description or "", 300),
        "Resource group": f"`{info.resource_group}`" if info.resource_group else None,
        "Location": info.location,
        "High business impact": "yes" if info.hbi_workspace else "no",
        "Storage account": f"`{info.storage_account}`" if info.storage_account else None,
        "Key vault": f"`{info.key_vault}`" if info.key_vault else None,
        "Application Insights": f"`{info.application_insights}`" if info.application_insights else None,
        "Container registry": f"`{info.container_registry}`" if info.container_registry else None,
        "Created from Slack by": f"<@{creator}>" if creator else None,
        "Tags": ", ".join(f"`{escape(k)}={escape(v)}`" for k, v in tags.items()),
    }
    blocks = [section(f"*Workspace* `{info.name}`"), section(key_values(fields))]
    if info.studio_url:
        blocks.append(section(link(info.studio_url, "Open in Azure ML studio")))
    return to_dicts(blocks)
