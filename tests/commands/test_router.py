"""Routing: did-you-mean, usage lines, help from docstrings, and no stack trace ever reaching a person."""

from __future__ import annotations

import argparse

import pytest

from commands import build_table, help, planned
from commands.context import CommandContext, Invocation, Reply
from commands.parsing import ArgumentParser
from commands.router import Router
from commands.table import CommandTable
from services.container import Services


def route(text: str, table: CommandTable | None = None) -> Router:
    return Router(table or build_table(), Services())


def reply_to(text: str, table: CommandTable | None = None) -> str:
    dispatch = route(text, table).route(Invocation(text=text, user_id="U_ALICE", channel_id="C_ML"))
    assert dispatch.reply is not None, "expected an answer in the ack"
    return dispatch.reply.text


def test_unknown_noun_suggests_the_close_one() -> None:
    assert "Did you mean `/aml job`?" in reply_to("jbo submit")


def test_unknown_verb_suggests_the_close_one() -> None:
    assert "Did you mean `/aml job submit`?" in reply_to("job sumbit train")


def test_nothing_close_lists_what_exists() -> None:
    text = reply_to("zzzzzz")
    assert "Try one of:" in text and "`job`" in text


def test_noun_without_verb_names_its_verbs() -> None:
    text = reply_to("compute")
    assert "`start`" in text and "`stop`" in text and "/aml help compute" in text


def test_empty_text_explains_and_shows_help() -> None:
    text = reply_to("")
    assert "nothing after it" in text and "/aml job" in text


def test_bad_arguments_get_the_usage_line() -> None:
    text = reply_to("help job extra")
    assert "don't know these words here: extra" in text
    assert "Usage: `/aml help [TOPIC]`" in text


def test_help_is_generated_from_docstrings() -> None:
    table = CommandTable()
    table.noun("demo", "Things to try.")

    def wave(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Wave at someone in the channel.

        Example: `/aml demo wave @bob`.
        """
        return Reply(f"👋 {args.who}")

    def arguments(parser: ArgumentParser) -> None:
        parser.add_argument("who", metavar="USER")
        parser.add_argument("--times", type=int, default=1)

    table.add("demo", "wave", wave, arguments=arguments)
    from commands import help as help_module

    help_module.register(table)
    overview = reply_to("help", table)
    assert "`/aml demo wave` — Things to try." in overview
    detail = reply_to("help demo", table)
    assert "`/aml demo wave [--times TIMES] USER` — Wave at someone in the channel." in detail
    assert "Example: `/aml demo wave @bob`." in detail
    assert "Wave at someone" in reply_to("demo wave --help", table)


def test_planned_commands_say_they_are_not_available_and_do_nothing() -> None:
    table = CommandTable()
    help.register(table)
    planned.register(table)  # only placeholders: none of the real commands are registered
    text = reply_to("teardown workspace team-ws --reason done", table)
    assert "not available yet" in text and "Nothing was done" in text
    assert "_(not available yet)_" in reply_to("help teardown", table)


def test_a_crashing_handler_becomes_a_short_apology_with_a_reference(caplog: pytest.LogCaptureFixture) -> None:
    table = CommandTable()
    table.noun("boom", "Fails.")

    def explode(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Fail on purpose."""
        raise RuntimeError("secret internals")

    table.add("boom", None, explode)
    text = reply_to("boom", table)
    assert "Something went wrong" in text and "ref `" in text
    assert "secret internals" not in text and "Traceback" not in text
    assert "secret internals" in caplog.text


def test_slow_subcommands_become_work_for_after_the_ack() -> None:
    table = CommandTable()
    table.noun("slow", "Takes a while.")
    table.add("slow", None, lambda context, args: Reply("done"), slow=True)
    dispatch = Router(table, Services()).route(Invocation(text="slow", user_id="U", channel_id="C"))
    assert dispatch.reply is None and dispatch.work is not None
    assert dispatch.work().text == "done"
