"""`/aml teardown …` and every deletion: nothing is deleted at once, an approval request is posted instead.

The verbs here (`teardown workspace`, `teardown rg`) and `compute delete` / `storage delete` all go through
`ask_approval`: read what would be deleted (services.teardown), open the request in this channel, and tell the
caller alone what happens next.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from commands.blocks import when
from commands.common import backend_of, channel_defaults
from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.options import add_resource_group, close_names, resource_group_of
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from commands.text import escape
from services.naming import validate_resource_group, validate_workspace
from services.rbac import TEARDOWN_RG, TEARDOWN_WORKSPACE
from services.teardown import TeardownPlan, TeardownPlanner

SUMMARY = "Delete a workspace or resource group after someone else approves."
REASON_LIMIT = 300

Plan = Callable[[TeardownPlanner], TeardownPlan]


def register(table: CommandTable) -> None:
    table.noun("teardown", SUMMARY)
    table.add("teardown", "workspace", teardown_workspace, arguments=_workspace_arguments, slow=True)
    table.add("teardown", "rg", teardown_rg, arguments=_rg_arguments, slow=True)


def add_reason(parser: ArgumentParser) -> None:
    """`--reason TEXT`: words after it (quotes optional) up to the next option."""
    parser.add_argument("--reason", nargs="+", metavar="TEXT", help="why, shown to the approvers")


def _workspace_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    add_resource_group(parser, "the workspace's resource group (default: this channel's, else the bot's)")
    parser.add_argument(
        "--keep-dependents", action="store_true", help="keep its storage account, key vault, insights and registry"
    )
    add_reason(parser)


def _rg_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    add_reason(parser)


def teardown_workspace(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Ask for approval to delete a workspace, with its storage account, key vault, Application Insights and
    container registry unless --keep-dependents.

    Nothing is deleted until someone else approves the request posted in this channel; its compute goes too.
    Example: `/aml teardown workspace old-ws --resource-group ml-team-rg --reason project finished`.
    """
    name = validate_workspace(args.name)
    group = channel_resource_group(context, args.resource_group)
    backend = backend_of(context)

    def plan(planner: TeardownPlanner) -> TeardownPlan:
        with close_names("workspace", name, lambda: [w.name for w in backend.workspaces.list(resource_group=group)]):
            return planner.workspace(name, resource_group=group, keep_dependents=args.keep_dependents)

    return ask_approval(context, TEARDOWN_WORKSPACE, name, args.reason, plan)


def teardown_rg(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Ask for approval to delete a resource group and everything in it (the request lists what it holds).

    Nothing is deleted until someone else approves the request posted in this channel.
    Example: `/aml teardown rg old-team-rg --reason "moved to the new subscription"`.
    """
    name = validate_resource_group(args.name)
    return ask_approval(context, TEARDOWN_RG, name, args.reason, lambda planner: planner.resource_group(name))


def channel_resource_group(context: CommandContext, given: str | None) -> str:
    """--resource-group if given, else this channel's default (`/aml config set resource-group`), else the bot's."""
    if given is not None:
        return validate_resource_group(given)
    return channel_defaults(context).resource_group or resource_group_of(backend_of(context), None)


def ask_approval(
    context: CommandContext, action: str, target: str, reason_words: list[str] | None, plan: Plan
) -> Reply:
    """Open an approval request to delete `target` (what goes with it read by `plan`) and tell the caller.

    Who may ask is checked by the router before this runs, and again by ApprovalService.request (its Forbidden
    names the role needed and who holds it)."""
    approvals = context.services.approvals
    if approvals is None:
        raise UserError(
            "Deletions are not set up in this bot: they wait for someone else's approval, and it runs without "
            "approvals. Nothing was deleted. Ask whoever runs the bot to configure them."
        )
    invocation = context.invocation
    reason = escape(" ".join(reason_words), REASON_LIMIT) if reason_words else None
    planned = plan(TeardownPlanner(backend_of(context)))
    request = approvals.request(
        planned.action,
        planned.target,
        planned.details,
        requester=invocation.user_id,
        channel=invocation.channel_id,
        reason=reason,
    )
    approvals_needed = f"{request.needed} approval{'' if request.needed == 1 else 's'}"
    kept = " Its dependent resources are kept." if planned.details.get("keep_dependents") else ""
    return Reply(
        f"I asked for approval to delete {request.what} (request #{request.id}); it is posted in this channel and "
        f"needs {approvals_needed} from someone else before anything is deleted.{kept} "
        f"It expires {when(request.expires_at)}; you can withdraw it with its Reject button."
    )
