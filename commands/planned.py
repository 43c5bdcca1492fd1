"""Commands announced in help that later work will fill in; until then they say so plainly."""

from __future__ import annotations

import argparse

from commands.context import CommandContext, Reply
from commands.parsing import ArgumentParser
from commands.table import CommandTable, Handler

# noun → (summary, {verb: what it will do}); a verb of None makes the noun a command by itself.
PLANNED: dict[str, tuple[str, dict[str | None, str]]] = {
    "job": (
        "Submit training jobs and follow them in a thread.",
        {
            "submit": "Submit a job from a template in the job catalog.",
            "rerun": "Submit an existing job again, with changed inputs.",
            "status": "Show a job's status, times and links.",
            "list": "List recent jobs (yours with --mine, running with --active).",
            "cancel": "Cancel a queued or running job.",
            "logs": "Show the last lines of a job's log.",
            "watch": "Follow a job submitted elsewhere in this channel.",
        },
    ),
    "model": ("Register models from job outputs.", {"register": "Register a model from a job's output."}),
    "compute": (
        "Create, start, stop and list compute.",
        {
            "create": "Create a compute instance or cluster.",
            "list": "List compute with its state and size.",
            "show": "Show one compute's details.",
            "start": "Start a stopped compute instance.",
            "stop": "Stop a running compute instance.",
            "delete": "Ask for approval to delete a compute.",
        },
    ),
    "workspace": (
        "Create and inspect Azure ML workspaces.",
        {
            "create": "Create a workspace.",
            "list": "List workspaces.",
            "show": "Show a workspace's details.",
        },
    ),
    "rg": ("Create resource groups.", {"create": "Create a resource group."}),
    "storage": (
        "Create storage accounts.",
        {"create": "Create a storage account.", "delete": "Ask for approval to delete a storage account."},
    ),
    "container": ("Create blob containers.", {"create": "Create a blob container in a storage account."}),
    "config": (
        "Per-channel defaults (workspace, resource group, compute, location).",
        {"set": "Set a default for this channel.", "show": "Show this channel's defaults."},
    ),
    "teardown": (
        "Delete a workspace or resource group after someone else approves.",
        {
            "workspace": "Ask for approval to delete a workspace.",
            "rg": "Ask for approval to delete a resource group.",
        },
    ),
    "remind": (
        "Reminders about compute that is running and costing money.",
        {
            "now": "Run the running-compute check now.",
            "status": "Show the reminder schedule and snoozes.",
            "snooze": "Snooze reminders for one compute.",
        },
    ),
    "audit": ("Show the audit trail (admins).", {None: "Show recent audit entries."}),
}


def register(table: CommandTable) -> None:
    for noun, (summary, verbs) in PLANNED.items():
        entry = table.noun(noun, summary)
        for verb, purpose in verbs.items():
            if verb in entry.verbs or (verb is None and entry.bare is not None):
                continue  # already built for real
            path = f"{noun} {verb}" if verb else noun
            table.add(noun, verb, _not_available(path, purpose), arguments=_anything, available=False)


def _anything(parser: ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _not_available(path: str, purpose: str) -> Handler:
    def handler(context: CommandContext, args: argparse.Namespace) -> Reply:
        command = context.invocation.command
        return Reply(
            f"`{command} {path}` is not available yet in this version "
            f"of the bot (it will: {purpose[0].lower()}{purpose[1:]}) "
            f"Nothing was done. `{command} help` shows what works today."
        )

    handler.__doc__ = purpose
    return handler
