"""The table of `/aml <noun> <verb>` subcommands, with did-you-mean for words it does not know."""

from __future__ import annotations

import argparse
import difflib
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.parsing import ArgumentParser
from commands.text import escape

Handler = Callable[[CommandContext, argparse.Namespace], Reply]
ArgumentSpec = Callable[[ArgumentParser], None]


@dataclass
class Subcommand:
    """One `/aml noun verb`: how to parse its arguments and what runs it."""

    noun: str
    verb: str | None
    handler: Handler
    arguments: ArgumentSpec | None = None
    # Slow work runs after the ack in the bot's work pool and its reply is posted afterwards.
    slow: bool = False
    available: bool = True
    # Safe to run again after the process running it died (it names what it creates after the request's id).
    retry_safe: bool = False
    command: str = "/aml"
    _parser: ArgumentParser | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return f"{self.noun} {self.verb}" if self.verb else self.noun

    @property
    def action(self) -> str:
        """The permission name of this command: `job.submit`, `audit`."""
        return f"{self.noun}.{self.verb}" if self.verb else self.noun

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.handler) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def details(self) -> str:
        """The docstring after its first line (examples, notes)."""
        doc = inspect.getdoc(self.handler) or ""
        return "\n".join(doc.splitlines()[1:]).strip()

    @property
    def parser(self) -> ArgumentParser:
        if self._parser is None:
            parser = ArgumentParser(prog=f"{self.command} {self.path}", description=self.summary)
            if self.arguments:
                self.arguments(parser)
            self._parser = parser
        return self._parser

    @property
    def usage(self) -> str:
        return self.parser.usage_line()


@dataclass
class Noun:
    name: str
    summary: str
    verbs: dict[str, Subcommand] = field(default_factory=dict)
    # A noun that is a command by itself (e.g. `help`, `audit`).
    bare: Subcommand | None = None


class CommandTable:
    """Every subcommand, looked up by dictionary; registration order is help order."""

    def __init__(self, command: str = "/aml") -> None:
        self.command = command
        self._nouns: dict[str, Noun] = {}

    def noun(self, name: str, summary: str) -> Noun:
        """Declare a noun with the one-line summary `/aml help` shows."""
        return self._nouns.setdefault(name, Noun(name, summary))

    def add(
        self,
        noun: str,
        verb: str | None,
        handler: Handler,
        *,
        arguments: ArgumentSpec | None = None,
        slow: bool = False,
        available: bool = True,
        retry_safe: bool = False,
    ) -> Subcommand:
        entry = self._nouns.get(noun)
        if entry is None:
            raise KeyError(f"declare noun {noun!r} with CommandTable.noun() first")
        sub = Subcommand(noun, verb, handler, arguments, slow, available, retry_safe, self.command)
        if verb is None:
            entry.bare = sub
        else:
            entry.verbs[verb] = sub
        return sub

    def nouns(self) -> list[Noun]:
        return list(self._nouns.values())

    def get_noun(self, name: str) -> Noun:
        noun = self._nouns.get(name.lower())
        if noun is None:
            raise UserError(self._unknown("command", name, self._nouns))
        return noun

    def resolve(self, words: Sequence[str]) -> tuple[Subcommand, list[str]]:
        """Find the subcommand the words name; the rest are its arguments."""
        noun = self.get_noun(words[0])
        rest = list(words[1:])
        if noun.bare is not None and (not noun.verbs or not rest or rest[0].lower() not in noun.verbs):
            return noun.bare, rest
        if not rest:
            raise UserError(
                f"`{self.command} {noun.name}` needs one of: {_listing(noun.verbs)}. "
                f"Example: `{self.command} {noun.name} {next(iter(noun.verbs))}`. "
                f"More: `{self.command} help {noun.name}`."
            )
        verb = noun.verbs.get(rest[0].lower())
        if verb is None:
            raise UserError(self._unknown(f"{noun.name} command", rest[0], noun.verbs, prefix=noun.name))
        return verb, rest[1:]

    def _unknown(self, what: str, word: str, known: Iterable[str], prefix: str = "") -> str:
        names = list(known)
        message = f"I don't know the {what} `{escape(word, 40)}`."
        close = difflib.get_close_matches(word.lower(), names, n=3, cutoff=0.6)
        lead = f"{self.command} {prefix} ".replace("  ", " ")
        if close:
            message += " Did you mean " + " or ".join(f"`{lead}{c}`" for c in close) + "?"
        else:
            message += f" Try one of: {_listing(names)}."
        return message + f" `{self.command} help` lists everything."


def _listing(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)
