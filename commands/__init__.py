"""The `/aml` grammar: parse, route to a handler, answer."""

from __future__ import annotations

from commands import help, job, planned
from commands.table import CommandTable


def build_table(command: str = "/aml") -> CommandTable:
    """The full command table, in the order help lists it."""
    table = CommandTable(command)
    help.register(table)
    job.register(table)
    planned.register(table)
    return table
