"""Options and helpers the provisioning nouns share: tags, regions, default resource group, waiting, close names."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.parsing import ArgumentParser, key_value
from commands.table import ArgumentSpec
from services.errors import NotFound, ServiceError
from services.models import TAG_SLACK_CHANNEL, TAG_SLACK_USER
from services.naming import validate_resource_group
from services.ports import CloudBackend, Operation

T = TypeVar("T")

_TAG_FORBIDDEN = re.compile(r"[<>%&\\?/]")
_REGION = re.compile(r"[a-z][a-z0-9]{1,39}")


def tag(text: str) -> tuple[str, str]:
    """argparse type for `--tag k=v`, with Azure's tag rules spelled out."""
    key, value = key_value(text)
    if len(key) > 512 or _TAG_FORBIDDEN.search(key):
        raise argparse.ArgumentTypeError(f"tag name '{key[:40]}' must be at most 512 characters without < > % & \\ ? /")
    if len(value) > 256:
        raise argparse.ArgumentTypeError(f"the value of tag '{key[:40]}' is longer than 256 characters")
    return key, value


def location(text: str) -> str:
    """argparse type for `--location`: an Azure region name; `West Europe` is read as `westeurope`."""
    region = re.sub(r"\s+", "", text).lower()
    if not _REGION.fullmatch(region):
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not an Azure region; regions look like eastus, westeurope")
    return region


def non_negative(text: str) -> int:
    """argparse type: a whole number of at least 0."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def add_resource_group(parser: ArgumentParser, what: str = "") -> None:
    parser.add_argument(
        "--resource-group", metavar="RG", help=what or "resource group (default: the bot's default one)"
    )


def usage_error(context: CommandContext, path: str, arguments: ArgumentSpec, message: str) -> UserError:
    """A usage mistake found after parsing, with the subcommand's usage line like the router gives."""
    parser = ArgumentParser(prog=f"{context.invocation.command} {path}")
    arguments(parser)
    return UserError(f"{message}\nUsage: `{parser.usage_line()}`")


def created_by(context: CommandContext) -> dict[str, str]:
    """Tags that trace a new resource back to who asked for it, and where."""
    return {TAG_SLACK_USER: context.invocation.user_id, TAG_SLACK_CHANNEL: context.invocation.channel_id}


def resource_group_of(backend: CloudBackend, given: str | None) -> str:
    """The resource group named with --resource-group (checked against the rule), or the bot's default one."""
    if given is not None:
        return validate_resource_group(given)
    return default_resource_group(backend)


def default_resource_group(backend: CloudBackend) -> str:
    """The backend's configured default resource group."""
    if backend.default_resource_group:
        return backend.default_resource_group
    raise UserError(
        "The bot has no default resource group to use here. "
        "Name one with `--resource-group RG` (create it with `/aml rg create RG`)."
    )


def group_location(backend: CloudBackend, resource_group: str) -> str:
    """Where a resource group is: new resources go there unless --location says otherwise."""
    return backend.resource_groups.get(resource_group).location


def finish(
    context: CommandContext,
    operation: Operation[T],
    *,
    timeout: float,
    done: Callable[[T], str],
    asked: str,
    check: str,
) -> Reply:
    """Wait for a long-running operation and tell the channel how it ended, or that it goes on without us.

    `done` words the outcome ("started compute `x` (Running)"), `asked` the request ("start compute `x`"),
    `check` how to follow it once the bot stops waiting.
    """
    who = f"<@{context.invocation.user_id}>"
    try:
        value = operation.result(timeout=timeout)
    except TimeoutError:
        waited = f"{timeout / 60:g} min" if timeout >= 60 else f"{timeout:g} s"
        return Reply(
            f":hourglass_flowing_sand: {who} asked to {asked}; it is still in progress after {waited}. {check}",
            in_channel=True,
        )
    return Reply(f":white_check_mark: {who} {done(value)}", in_channel=True)


@contextmanager
def close_names(kind: str, name: str, existing: Callable[[], Iterable[str]]) -> Iterator[None]:
    """Add "Did you mean …?" to a backend's NotFound about `name` when its message has none."""
    try:
        yield
    except NotFound as err:
        raise _with_close_names(err, kind, name, existing) from None


def _with_close_names(err: NotFound, kind: str, name: str, existing: Callable[[], Iterable[str]]) -> NotFound:
    if "Did you mean" in err.message or name.lower() not in err.message.lower():
        return err  # already suggests, or is about something else (e.g. its workspace)
    try:
        names = list(existing())
    except ServiceError:
        return err
    # A listing wider than the lookup (e.g. every resource group's workspaces) may hold the name itself.
    originals = {n.lower(): n for n in names if n.lower() != name.lower()}
    close = difflib.get_close_matches(name.lower(), list(originals), n=3, cutoff=0.6)
    if close:
        suggestion = " Did you mean " + " or ".join(f"`{originals[c]}`" for c in close) + "?"
        return NotFound(err.message + suggestion, hint=err.hint)
    if originals and err.hint is None:
        shown = ", ".join(f"`{n}`" for n in list(originals.values())[:20])
        return NotFound(err.message, hint=f"Existing {kind}s: {shown}.")
    return err
