"""`/aml compute …`: create, list, show, start and stop compute of the channel's workspace (`/aml config set
workspace`), else the bot's.

Deleting compute waits for someone else's approval (`compute delete`, through commands/teardown.py).
"""

from __future__ import annotations

import argparse
import re
from contextlib import AbstractContextManager
from typing import Any

from commands.blocks import compute_line, key_values, lines_blocks, section, to_dicts, when
from commands.common import backend_of, channel_defaults, positive
from commands.context import CommandContext, Reply
from commands.options import close_names, finish, non_negative, usage_error
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from commands.teardown import add_reason, ask_approval
from commands.text import escape
from services.models import ComputeInfo, ComputeKind, WorkspaceScope
from services.naming import validate_compute
from services.ports import CloudBackend, Operation
from services.rbac import COMPUTE_DELETE
from services.teardown import TeardownPlan, TeardownPlanner

SUMMARY = "Create, start, stop, list and delete compute."
CREATE_TIMEOUT_SECONDS = 20 * 60
START_STOP_TIMEOUT_SECONDS = 15 * 60
TIERS = ("dedicated", "low_priority")
_VM_SIZE = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,63}")


def register(table: CommandTable) -> None:
    table.noun("compute", SUMMARY)
    table.add("compute", "create", create, arguments=_create_arguments, slow=True)
    table.add("compute", "list", list_computes, slow=True)
    table.add("compute", "show", show, arguments=_name, slow=True)
    table.add("compute", "start", start, arguments=_name, slow=True)
    table.add("compute", "stop", stop, arguments=_name, slow=True)
    table.add("compute", "delete", delete, arguments=_delete_arguments, slow=True)


def vm_size(text: str) -> str:
    """argparse type: an Azure VM size such as Standard_DS3_v2."""
    if not _VM_SIZE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a VM size; sizes look like Standard_DS3_v2")
    return text


def _name(parser: ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")


def _delete_arguments(parser: ArgumentParser) -> None:
    _name(parser)
    add_reason(parser)


def _create_arguments(parser: ArgumentParser) -> None:
    _name(parser)
    parser.add_argument("--size", required=True, type=vm_size, metavar="SIZE", help="VM size, e.g. Standard_DS3_v2")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--cluster", dest="kind", action="store_const", const=ComputeKind.CLUSTER)
    kind.add_argument("--instance", dest="kind", action="store_const", const=ComputeKind.INSTANCE)
    parser.add_argument("--min-nodes", type=non_negative, metavar="N", help="cluster only (default 0)")
    parser.add_argument("--max-nodes", type=positive, metavar="N", help="cluster only (default 1)")
    parser.add_argument("--idle-minutes", type=positive, metavar="M", help="instance: shut down; cluster: scale down")
    parser.add_argument("--tier", choices=TIERS, help="cluster only (default dedicated)")


def create(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Create a compute instance, or a cluster with --cluster (or any of --min-nodes, --max-nodes, --tier).

    Example: `/aml compute create dev-box --size Standard_DS11_v2 --idle-minutes 60`.
    Example: `/aml compute create gpu-cluster --size Standard_NC6s_v3 --cluster --max-nodes 4 --tier low_priority`.
    --idle-minutes: an instance shuts down after that long idle; a cluster's idle nodes go away after it.
    """
    cluster_options = [
        option
        for option, value in (("--min-nodes", args.min_nodes), ("--max-nodes", args.max_nodes), ("--tier", args.tier))
        if value is not None
    ]
    if args.kind is ComputeKind.INSTANCE and cluster_options:
        raise usage_error(
            context,
            "compute create",
            _create_arguments,
            f"{' and '.join(cluster_options)} only apply to clusters: use `--cluster` instead of `--instance`, "
            "or leave them out.",
        )
    if args.min_nodes is not None and args.max_nodes is not None and args.min_nodes > args.max_nodes:
        raise usage_error(
            context,
            "compute create",
            _create_arguments,
            f"--min-nodes {args.min_nodes} is more than --max-nodes {args.max_nodes}.",
        )
    kind = args.kind or (ComputeKind.CLUSTER if cluster_options else ComputeKind.INSTANCE)
    name = validate_compute(args.name)
    computes = backend_of(context).computes
    scope = channel_defaults(context).scope

    def begin() -> Operation[ComputeInfo]:
        if kind is ComputeKind.INSTANCE:
            return computes.begin_create_instance(
                name, size=args.size, idle_shutdown_minutes=args.idle_minutes, scope=scope
            )
        min_nodes = args.min_nodes or 0
        optional: dict[str, Any] = {"tier": args.tier} if args.tier else {}
        if args.idle_minutes is not None:
            optional["idle_scale_down_seconds"] = args.idle_minutes * 60
        return computes.begin_create_cluster(
            name,
            size=args.size,
            min_nodes=min_nodes,
            max_nodes=args.max_nodes if args.max_nodes is not None else max(1, min_nodes),
            scope=scope,
            **optional,
        )

    return finish(
        context,
        begin,
        timeout=CREATE_TIMEOUT_SECONDS,
        done=_created,
        doing=f"creating compute {kind.value} `{name}`",
        asked=f"create compute {kind.value} `{name}`",
        check=f"`/aml compute show {name}` tells when it is ready.",
    )


def list_computes(context: CommandContext, args: argparse.Namespace) -> Reply:
    """List compute with its state, size, nodes and hourly rate.

    Example: `/aml compute list`.
    """
    scope = channel_defaults(context).scope
    computes = sorted(backend_of(context).computes.list(scope=scope), key=lambda c: c.name.lower())
    heading = f"*{len(computes)} compute{'' if len(computes) == 1 else 's'}*"
    empty = "No compute yet. Create some with `/aml compute create NAME --size Standard_DS3_v2`."
    return Reply(heading if computes else empty, blocks=lines_blocks(heading, map(compute_line, computes), empty))


def show(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Show one compute's details.

    Example: `/aml compute show cpu-cluster`.
    """
    name = validate_compute(args.name)
    backend = backend_of(context)
    scope = channel_defaults(context).scope
    with _close_computes(backend, name, scope):
        info = backend.computes.get(name, scope=scope)
    return Reply(f"{info.name}: {info.state}", blocks=_details_blocks(info))


def start(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Start a stopped compute instance (clusters start nodes by themselves).

    Example: `/aml compute start dev-instance`.
    """
    name = _existing_compute(context, args.name)
    computes = backend_of(context).computes
    scope = channel_defaults(context).scope
    return finish(
        context,
        lambda: computes.begin_start(name, scope=scope),
        timeout=START_STOP_TIMEOUT_SECONDS,
        done=lambda info: (
            f"started compute `{info.name}` ({info.state}). "
            f"It costs money while it runs: `/aml compute stop {info.name}` when you are done."
        ),
        doing=f"starting compute `{name}`",
        asked=f"start compute `{name}`",
        check=f"`/aml compute show {name}` tells when it is running.",
    )


def stop(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Stop a running compute instance so it stops costing money.

    Example: `/aml compute stop dev-instance`.
    """
    name = _existing_compute(context, args.name)
    computes = backend_of(context).computes
    scope = channel_defaults(context).scope
    return finish(
        context,
        lambda: computes.begin_stop(name, scope=scope),
        timeout=START_STOP_TIMEOUT_SECONDS,
        done=lambda info: f"stopped compute `{info.name}` ({info.state}).",
        doing=f"stopping compute `{name}`",
        asked=f"stop compute `{name}`",
        check=f"`/aml compute show {name}` tells when it has stopped.",
    )


def delete(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Ask for approval to delete a compute instance or cluster (of this channel's workspace, if it has one).

    Nothing is deleted until someone else approves the request posted in this channel.
    Example: `/aml compute delete old-gpu-cluster --reason replaced by gpu-cluster-2`.
    """
    name = validate_compute(args.name)
    scope = channel_defaults(context).scope
    backend = backend_of(context)

    def plan(planner: TeardownPlanner) -> TeardownPlan:
        with _close_computes(backend, name, scope):
            return planner.compute(name, scope=scope)

    return ask_approval(context, COMPUTE_DELETE, name, args.reason, plan)


def _existing_compute(context: CommandContext, given: str) -> str:
    """The name of a compute that exists, checked before anything is said in the channel: a typo answers
    the caller alone, with the close names ("Did you mean …?")."""
    name = validate_compute(given)
    backend = backend_of(context)
    scope = channel_defaults(context).scope
    with _close_computes(backend, name, scope):
        return backend.computes.get(name, scope=scope).name


def _close_computes(backend: CloudBackend, name: str, scope: WorkspaceScope | None) -> AbstractContextManager[None]:
    return close_names("compute", name, lambda: [c.name for c in backend.computes.list(scope=scope)])


def _created(info: ComputeInfo) -> str:
    if info.kind is ComputeKind.INSTANCE:
        idle = f", shuts down after {info.idle_shutdown_minutes} idle min" if info.idle_shutdown_minutes else ""
        return (
            f"created compute instance `{info.name}` ({info.size}, {info.state}{idle}). "
            f"It costs money while it runs: `/aml compute stop {info.name}` when you are done."
        )
    return (
        f"created compute cluster `{info.name}` ({info.size}, {info.min_nodes or 0}–{info.max_nodes} nodes, "
        f"{info.tier or 'dedicated'}{_scale_down(info)}). Jobs sent to it start its nodes."
    )


def _scale_down(info: ComputeInfo) -> str:
    seconds = info.idle_scale_down_seconds
    if not seconds:
        return ""
    return f", idle nodes go after {seconds // 60} min" if seconds % 60 == 0 else f", idle nodes go after {seconds} s"


def _details_blocks(info: ComputeInfo) -> list[dict[str, Any]]:
    fields: dict[str, object] = {
        "Kind": info.kind.value,
        "Size": info.size,
        "State": f"*{info.state}*",
    }
    if info.kind is ComputeKind.CLUSTER:
        fields["Nodes"] = f"{info.current_nodes or 0} now (min {info.min_nodes or 0}, max {info.max_nodes})"
        fields["Tier"] = info.tier
        seconds = info.idle_scale_down_seconds
        fields["Idle scale-down"] = f"{seconds} s" if seconds else None
    else:
        minutes = info.idle_shutdown_minutes
        fields["Idle shutdown"] = f"after {minutes} min" if minutes else "off"
    fields["Running since"] = when(info.running_since) if info.running_since else None
    fields["Hourly rate"] = f"${info.hourly_rate:.2f}" if info.hourly_rate else None
    fields["Location"] = info.location
    fields["Created by"] = escape(info.created_by or "", 80)
    return to_dicts([section(f"*Compute* `{info.name}`"), section(key_values(fields))])
