"""`/aml audit`: the newest entries of the audit trail, for admins."""

from __future__ import annotations

import argparse
import re

from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from commands.text import escape
from services.audit import AuditEntry

MAX_LIMIT = 100
# Slack sends a mention as <@U123> or <@U123|name> when the command escapes users; people also type the bare id.
_USER = re.compile(r"^<?@?([UW][A-Z0-9_]{2,})(?:\|[^>]*)?>?$")


def register(table: CommandTable) -> None:
    table.noun("audit", "Show the audit trail (admins).")
    table.add("audit", None, show_audit, arguments=_arguments, slow=True)


def _arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--limit", type=_limit, default=20, metavar="N", help=f"how many entries (1–{MAX_LIMIT})")
    parser.add_argument("--user", type=_user, metavar="@USER", help="only this person's entries")


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"--limit takes a whole number from 1 to {MAX_LIMIT}, not {text!r}")
    return int(text)


def _user(text: str) -> str:
    found = _USER.match(text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"--user takes a person as @mention or Slack user id (U…), not {text!r}")
    return found.group(1)


def show_audit(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Show recent audit entries: commands, approval decisions and Azure changes (admins).

    Examples: `/aml audit`, `/aml audit --limit 50 --user @bob`.
    """
    audit = context.services.audit
    if audit is None:
        raise UserError("This bot runs without its store, so there is no audit trail to show.")
    entries = audit.recent(args.limit, args.user)
    who = f" by <@{args.user}>" if args.user else ""
    if not entries:
        return Reply(f"No audit entries{who} yet.")
    lines = [f"*The {len(entries)} newest audit entries{who}* (newest first):"]
    lines += [_line(entry) for entry in entries]
    return Reply(_cut("\n".join(lines)))


def _line(entry: AuditEntry) -> str:
    """One entry: when, who, where, what (escaped: it is what someone typed) and how it ended."""
    who = f"<@{entry.user}>" if entry.user else "the bot"
    where = f" in <#{entry.channel}>" if entry.channel else ""
    text = escape(entry.text, 200).replace("`", "'")  # inside a code span: a backtick would end it early
    return f"{entry.at:%Y-%m-%d %H:%M} UTC · {who}{where} · {entry.kind} `{text}` → {entry.outcome}"


def _cut(text: str, limit: int = 3900) -> str:
    """Keep the reply inside one Slack message; say what was left out."""
    if len(text) <= limit:
        return text
    kept = text[:limit].rsplit("\n", 1)[0]
    return kept + f"\n…and {text.count(chr(10)) - kept.count(chr(10))} more (use --limit to see fewer)."
