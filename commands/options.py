"""Options and helpers the provisioning nouns share: tags, regions, default resource group, waiting, close names."""

from __future__ import annotations

import argparse
import difflib
import re
import time
import uuid
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
from services.operations import OperationStory, StoryRef
from services.ports import CloudBackend, Operation

T = TypeVar("T")

_TAG_FORBIDDEN = re.compile(r"[<>%&\\?/]")
_REGION = re.compile(r"[a-z][a-z0-9]{1,39}")
# While a long operation runs, its thread says it goes on this often, at most this many times.
PROGRESS_EVERY_SECONDS = 2 * 60.0
MAX_PROGRESS_REPLIES = 5


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


def operation_story(context: CommandContext) -> OperationStory | None:
    """The story-teller for long operations, or None when the bot runs without its store (then: one reply)."""
    return context.services.operations


def finish(
    context: CommandContext,
    begin: Callable[[], Operation[T]],
    *,
    timeout: float,
    done: Callable[[T], str],
    doing: str,
    asked: str,
    check: str,
) -> Reply:
    """Start a long-running operation and tell the channel how it goes, or that it goes on without us.

    `begin` starts it (refusals raise a ServiceError); `done` words the outcome ("started compute `x`
    (Running)"), `doing` the work under way ("starting compute `x`"), `asked` the request ("start compute
    `x`"), `check` how to follow it once the bot stops waiting.

    With the bot's store, the channel gets a root message at once, progress in its thread while it runs and
    the end (root edited, result in the thread); the reply itself is empty. Without it, one in-channel reply
    once it ends; refusals then answer the caller alone.
    """
    story = operation_story(context)
    if story is None:
        return _finish_in_one_reply(context, begin(), timeout=timeout, done=done, asked=asked, check=check)
    invocation = context.invocation
    who = f"<@{invocation.user_id}>"
    request_id = invocation.trigger_id or uuid.uuid4().hex  # repeated on Slack's retries: the same request
    ref = story.start(invocation.channel_id, invocation.user_id, doing, request_id)
    if not ref.new:
        return Reply("")  # a retry of a request whose story is already being told: do nothing twice
    try:
        operation = begin()
    except (ServiceError, UserError) as err:  # refused: the root says why
        story.finish(ref, False, f"{who} could not {asked}: {err}")
        return Reply("")
    except Exception:
        story.finish(ref, False, f"{who} could not {asked}: something went wrong on my side.")
        raise
    try:
        value = _wait(story, ref, operation, timeout)
    except TimeoutError:
        story.finish(ref, None, f"{who} asked to {asked}; it is still in progress after {_seconds(timeout)}. {check}")
    except ServiceError as err:
        story.finish(ref, False, f"{who} could not {asked}: {err}")
    except Exception:
        story.finish(ref, False, f"{who} could not {asked}: something went wrong on my side while waiting for it.")
        raise
    else:
        story.finish(ref, True, f"{who} {done(value)}")
    return Reply("")


def _wait(story: OperationStory, ref: StoryRef, operation: Operation[T], timeout: float) -> T:
    """The operation's value, saying in the thread every PROGRESS_EVERY_SECONDS that it goes on (at most
    MAX_PROGRESS_REPLIES times); TimeoutError once `timeout` has passed."""
    every = max(PROGRESS_EVERY_SECONDS, 0.01)
    deadline = time.monotonic() + timeout
    told = 0
    while True:
        left = deadline - time.monotonic()
        try:
            return operation.result(timeout=max(0.0, min(every, left)))
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
        told += 1
        if told <= MAX_PROGRESS_REPLIES:
            said = _seconds(told * every)
            story.progress(ref, f":hourglass_flowing_sand: Still in progress after {said}.", step=str(told))


def _seconds(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _finish_in_one_reply(
    context: CommandContext,
    operation: Operation[T],
    *,
    timeout: float,
    done: Callable[[T], str],
    asked: str,
    check: str,
) -> Reply:
    """Wait for the operation and tell the channel how it ended, in one reply (the bot runs without a store)."""
    who = f"<@{context.invocation.user_id}>"
    try:
        value = operation.result(timeout=timeout)
    except TimeoutError:
        return Reply(
            f":hourglass_flowing_sand: {who} asked to {asked}; it is still in progress after {_seconds(timeout)}. "
            f"{check}",
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
