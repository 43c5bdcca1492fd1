"""The `/aml` grammar: parse, route to a handler, answer."""

from __future__ import annotations

from commands import (
    audit,
    compute,
    config,
    container,
    help,
    job,
    model,
    planned,
    remind,
    rg,
    storage,
    teardown,
    workspace,
)
from commands.table import CommandTable


def build_table(command: str = "/aml") -> CommandTable:
    """The full command table, in the order help lists it."""
    table = CommandTable(command)
    help.register(table)
    job.register(table)
    rg.register(table)
    storage.register(table)
    container.register(table)
    workspace.register(table)
    compute.register(table)
    model.register(table)
    config.register(table)
    audit.register(table)
    teardown.register(table)
    remind.register(table)  # before planned: its placeholders skip the verbs that exist
    planned.register(table)
    return table
