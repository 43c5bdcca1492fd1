"""Turn the text Slack sends into tokens, undoing what chat clients do to punctuation."""

from __future__ import annotations

import argparse
import re
import shlex
import unicodedata
from collections.abc import Sequence
from typing import NoReturn

from commands.errors import UsageError, UserError
from commands.text import escape

MAX_TEXT_LENGTH = 2000

# Slack "smart punctuation" turns -- into a dash and quotes into curly ones; undo it before splitting.
_SMART_PUNCTUATION = {
    "\u2014": "--",  # em dash
    "\u2013": "--",  # en dash
    "\u2212": "-",  # minus sign
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u00a0": " ",  # no-break space
}
_TRANSLATION = str.maketrans(_SMART_PUNCTUATION)

# With `should_escape: true` (slack/manifest.*.yml) Slack sends a URL as `<https://…>`, or `<http://x.io|x.io>` when
# it turned typed text into a link, an email as `<mailto:a@b.c|a@b.c>`, and `&`, `<`, `>` as entities;
# mentions (`<@U…>`, `<#C…>`) stay as sent.
_LINK = re.compile(r"<((?:https?|mailto):[^|<>\s]+)(?:\|([^<>]*))?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def normalize(text: str) -> str:
    """Undo what Slack did to the text: `—name “my job”` reads as `--name "my job"`, `<https://x.io/a>` as
    `https://x.io/a`, `&amp;` as `&`."""
    text = _LINK.sub(lambda link: link.group(2) or link.group(1), text)  # the label is what the person typed
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text.translate(_TRANSLATION).strip()


def tokenize(text: str) -> list[str]:
    """Split command text into words, or raise UserError saying what is wrong with it."""
    if len(text) > MAX_TEXT_LENGTH:
        raise UserError(
            f"That command is {len(text):,} characters long; /aml accepts at most {MAX_TEXT_LENGTH:,}. "
            "Shorten it, e.g. fewer `--set` values."
        )
    for char in text:
        if unicodedata.category(char) == "Cc" and char not in "\t\n\r":
            raise UserError(
                f"The command contains an invisible control character (U+{ord(char):04X}). "
                "Retype it without pasting, then send it again."
            )
    normalized = normalize(text)
    try:
        return shlex.split(normalized)
    except ValueError as err:
        raise UserError(
            f"I could not read that command: {err.args[0].lower()}. "
            'Close every quote you open, e.g. `--name "my run"`.'
        ) from err


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser that raises UsageError instead of printing and exiting the process."""

    def __init__(self, prog: str, description: str | None = None) -> None:
        super().__init__(prog=prog, description=description, add_help=False, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        raise UsageError(_friendly(message))

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(_friendly(message or "invalid arguments"))

    def usage_line(self) -> str:
        """The one-line usage, e.g. `/aml job submit TEMPLATE [--compute C]`."""
        return " ".join(self.format_usage().removeprefix("usage:").split())

    def parse(self, words: Sequence[str]) -> argparse.Namespace:
        return self.parse_args(list(words))


def _friendly(message: str) -> str:
    """Reword argparse's terse messages a little; keep its specifics."""
    message = message.strip()
    if message.startswith("unrecognized arguments:"):
        return "I don't know these words here: " + escape(message.removeprefix("unrecognized arguments:").strip())
    if message.startswith("the following arguments are required:"):
        return "Missing: " + message.removeprefix("the following arguments are required:").strip()
    return escape(message[:1].upper() + message[1:], limit=300)


def key_value(text: str) -> tuple[str, str]:
    """Parse one `--set key=value` (argparse `type=`)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, e.g. inputs.lr=0.01 (got '{text}')")
    return key.strip(), value
