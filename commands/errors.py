"""Failures of a command that are the caller's to fix, shown to them verbatim."""

from __future__ import annotations


class UserError(Exception):
    """A message for the person who typed the command: what was wrong and what to type instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(UserError):
    """Arguments that do not fit a subcommand; the router appends that subcommand's usage line."""
