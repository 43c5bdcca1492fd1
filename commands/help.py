"""`/aml help`: generated from the table and the handlers' docstrings, never a hand-kept list."""

from __future__ import annotations

import argparse

from commands.context import CommandContext, Reply
from commands.parsing import ArgumentParser
from commands.table import CommandTable, Noun, Subcommand

_COMING = " _(not available yet)_"


def register(table: CommandTable) -> None:
    table.noun("help", "Show what the bot can do.")

    def show_help(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Show every command, or the commands of one topic.

        Examples: `/aml help`, `/aml help job`.
        """
        if args.topic:
            return Reply(noun_help(table, table.get_noun(args.topic)))
        return Reply(overview(table))

    def arguments(parser: ArgumentParser) -> None:
        parser.add_argument("topic", nargs="?", metavar="TOPIC", help="a command, e.g. job")

    table.add("help", None, show_help, arguments=arguments)


def overview(table: CommandTable) -> str:
    lines = [f"*{table.command}* runs Azure Machine Learning from Slack. Commands:"]
    for noun in table.nouns():
        verbs = " | ".join(noun.verbs) if noun.verbs else ""
        ready = noun.bare is not None and noun.bare.available or any(s.available for s in noun.verbs.values())
        lines.append(
            f"• `{table.command} {noun.name}{' ' + verbs if verbs else ''}` — {noun.summary}"
            + ("" if ready else _COMING)
        )
    lines.append(f"Details of one: `{table.command} help COMMAND`, e.g. `{table.command} help job`.")
    return "\n".join(lines)


def noun_help(table: CommandTable, noun: Noun) -> str:
    lines = [f"*{table.command} {noun.name}* — {noun.summary}"]
    subs: list[Subcommand] = ([noun.bare] if noun.bare else []) + list(noun.verbs.values())
    for sub in subs:
        lines.append(f"• `{sub.usage}` — {sub.summary}" + ("" if sub.available else _COMING))
        if sub.details and sub.available:
            lines.extend(f"    {line}" for line in sub.details.splitlines())
    return "\n".join(lines)
