"""`/aml job …`: look at, list, cancel and read the logs of training jobs."""

from __future__ import annotations

import argparse

from commands import job_tracking
from commands.blocks import job_list_blocks, job_status_blocks, section, status_badge, to_dicts
from commands.common import backend_of, positive
from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.parsing import ArgumentParser, tokenize
from commands.table import CommandTable
from commands.text import escape
from services.models import TAG_SLACK_USER

SUMMARY = "Submit training jobs (`/aml job submit` alone opens a form) and follow them in a thread."
LOG_LIMIT = 2800


def register(table: CommandTable) -> None:
    table.noun("job", SUMMARY)
    job_tracking.register(table)  # submit, rerun, watch first: what people come for
    table.add("job", "status", status, arguments=_job_name, slow=True)
    table.add("job", "list", list_jobs, arguments=_list_arguments, slow=True)
    table.add("job", "cancel", cancel, arguments=_job_name, slow=True)
    table.add("job", "logs", logs, arguments=_logs_arguments, slow=True)


def opens_submit_form(text: str) -> bool:
    """`/aml job submit` with nothing after it: the person gets the job form (bot/listeners/job_form.py)."""
    try:
        words = tokenize(text)
    except UserError:
        return False
    return [word.lower() for word in words] == ["job", "submit"]


def _job_name(parser: ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB")


def _list_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--mine", action="store_true", help="only jobs you submitted")
    parser.add_argument("--active", action="store_true", help="only jobs that have not ended")
    parser.add_argument("--limit", type=positive, default=10, metavar="N")


def _logs_arguments(parser: ArgumentParser) -> None:
    _job_name(parser)
    parser.add_argument("--lines", type=positive, default=40, metavar="N")


def status(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Show a job's status, times and links.

    Example: `/aml job status train-tiny-1a2b3c4d5e`.
    """
    job = backend_of(context).jobs.get(args.job)
    return Reply(f"{job.name}: {job.status.value}", blocks=job_status_blocks(job))


def list_jobs(context: CommandContext, args: argparse.Namespace) -> Reply:
    """List recent jobs, newest first (yours with --mine, unfinished with --active).

    Example: `/aml job list --mine --active`.
    """
    tag = f"{TAG_SLACK_USER}={context.invocation.user_id}" if args.mine else None
    # Ask for more than shown when filtering locally, so --active still fills the page.
    jobs = backend_of(context).jobs.list(tag=tag, limit=args.limit * 5 if args.active else args.limit)
    if args.active:
        jobs = [job for job in jobs if not job.status.is_terminal]
    jobs = jobs[: args.limit]
    whose = "your" if args.mine else "recent"
    which = "unfinished " if args.active else ""
    if not jobs:
        return Reply(f"No {which}{whose} jobs. Submit one with `/aml job submit TEMPLATE`.")
    heading = f"*{len(jobs)} {which}{whose} job{'s' if len(jobs) != 1 else ''}*"
    return Reply(heading, blocks=job_list_blocks(jobs, heading))


def cancel(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Cancel a queued or running job.

    Example: `/aml job cancel train-tiny-1a2b3c4d5e`.
    """
    job = backend_of(context).jobs.cancel(args.job)
    text = f"<@{context.invocation.user_id}> cancelled `{job.name}`: now {status_badge(job.status)}."
    return Reply(text, in_channel=True)


def logs(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Show the last lines of a job's log.

    Example: `/aml job logs train-tiny-1a2b3c4d5e --lines 20`.
    """
    tail = backend_of(context).jobs.log_tail(args.job, lines=args.lines)
    if not tail.strip():
        return Reply(f"`{args.job}` has written no log lines yet.")
    if len(tail) > LOG_LIMIT:
        tail = "…" + tail[-LOG_LIMIT:]
    heading = f"Last {args.lines} lines of `{escape(args.job)}`:"
    body = "```" + tail.replace("```", "ˋˋˋ") + "```"
    return Reply(heading, blocks=to_dicts([section(heading), section(body)]))
