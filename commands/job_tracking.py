"""`/aml job submit|rerun|watch`: jobs whose story is told in a thread of the channel."""

from __future__ import annotations

import argparse
import uuid

from commands.common import channel_defaults, tracking_of
from commands.context import CommandContext, Reply
from commands.parsing import ArgumentParser, key_value
from commands.table import CommandTable
from services.models import JobRequest

SERVICES = ("jupyter", "vscode", "tensorboard")


def register(table: CommandTable) -> None:
    # The job's name, its placeholder and its watch all derive from the trigger id: running one again is safe.
    table.add("job", "submit", submit, arguments=_submit_arguments, slow=True, retry_safe=True)
    table.add("job", "rerun", rerun, arguments=_rerun_arguments, slow=True, retry_safe=True)
    table.add("job", "watch", watch, arguments=_watch_arguments, slow=True, retry_safe=True)


def _services(text: str) -> list[str]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVICES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"services are a comma list of {', '.join(SERVICES)} (got '{text}')")
    return names


def _submit_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("template", metavar="TEMPLATE")
    parser.add_argument("--compute", metavar="C")
    parser.add_argument("--set", action="append", type=key_value, default=[], metavar="k=v", dest="overrides")
    parser.add_argument("--name", metavar="N")
    parser.add_argument("--experiment", metavar="E")
    parser.add_argument("--display-name", metavar="D")
    parser.add_argument("--services", type=_services, default=[], metavar="jupyter,vscode,tensorboard")


def _watch_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB")


def _rerun_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB")
    parser.add_argument("--set", action="append", type=key_value, default=[], metavar="k=v", dest="overrides")


def _request_id(context: CommandContext) -> str:
    # Slack's trigger id is unique per invocation and repeated on a retry: the same request, the same job.
    return context.invocation.trigger_id or uuid.uuid4().hex


def submit(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Submit a job from a template in the job catalog; its story follows in a thread here.

    Example: `/aml job submit train-tiny --set epochs=5 --set lr=0.3 --compute cpu-cluster`.
    The channel's default compute (`/aml config set compute NAME`) is used when --compute is not given.
    """
    defaults = channel_defaults(context)
    request = JobRequest(
        template=args.template,
        request_id=_request_id(context),
        requested_by=context.invocation.user_id,
        channel=context.invocation.channel_id,
        overrides=dict(args.overrides),
        compute=args.compute or defaults.compute,
        experiment=args.experiment,
        display_name=args.display_name,
        name=args.name,
        services=tuple(args.services),
    )
    tracking_of(context).submit(request, scope=defaults.scope)
    return Reply("")  # the root message in the channel says the rest


def rerun(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Submit an existing job again, with changed inputs; the new job gets its own thread.

    Example: `/aml job rerun train-tiny-1a2b3c4d5e --set lr=0.1`.
    """
    tracking_of(context).rerun(
        args.job,
        request_id=_request_id(context),
        requested_by=context.invocation.user_id,
        channel=context.invocation.channel_id,
        overrides=dict(args.overrides),
        scope=channel_defaults(context).scope,
    )
    return Reply("")


def watch(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Follow a job submitted elsewhere: a root message and its thread appear in this channel.

    Example: `/aml job watch train-tiny-1a2b3c4d5e`.
    """
    followed = tracking_of(context).follow(
        args.job,
        channel=context.invocation.channel_id,
        requested_by=context.invocation.user_id,
        scope=channel_defaults(context).scope,
    )
    if not followed.watch.created:
        return Reply(f"`{args.job}` is already followed in <#{followed.watch.channel}>; its thread is there.")
    return Reply("")
