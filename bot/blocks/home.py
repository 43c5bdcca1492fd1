"""Block Kit for a person's App Home: their jobs, the team's running compute, the requests waiting for them.

Built with slack_sdk's models (validated when serialised), within a Home's limits: at most 100 blocks, each
section at most 3,000 characters; long lists end in "…and N more". Approval requests are drawn by the same
builder as the channel message (`bot.blocks.approvals.approval_request`), so their Approve / Reject buttons
carry the same action ids and values and a click on them is handled exactly as one in the channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock, PlainTextObject
from slack_sdk.models.views import View

from bot.blocks.approvals import approval_request, listed_within
from commands.blocks import SECTION_LIMIT, context, link, mention, section, status_badge, when
from commands.text import escape
from services.approvals import request_payload
from services.durations import format_duration
from services.home import ComputeReport, HomeJob, HomeSnapshot, PersonalView, TeamCompute
from services.models import ComputeKind, JobStatus
from services.reminder_sweep import money

MAX_VIEW_BLOCKS = 100
CALLBACK_ID = "aml.home"
NO_JOBS = "No jobs of yours are being followed. Submit one with `/aml job submit` in a channel: it opens a form."


def home_view(snapshot: HomeSnapshot) -> dict[str, Any]:
    """The Home tab of `snapshot.user` as the `view` argument of views.publish."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Your Azure ML jobs, compute and approvals", emoji=True)),
        context(
            f"Updated {when(snapshot.taken_at)} · it refreshes when one of your jobs changes or a request "
            "needs you. `/aml help` in a channel lists everything else."
        ),
    ]
    if snapshot.notice:
        blocks.append(section(f":information_source: *Your click:* {snapshot.notice}"))
    blocks += [DividerBlock(), *_jobs(snapshot.personal), DividerBlock(), *_compute(snapshot.compute), DividerBlock()]
    blocks += _decisions(snapshot.personal, room=MAX_VIEW_BLOCKS - len(blocks))
    return View(type="home", callback_id=CALLBACK_ID, blocks=fit(blocks, MAX_VIEW_BLOCKS)).to_dict()


def fit(blocks: Sequence[Block], limit: int) -> list[Block]:
    """At most `limit` blocks: the last one kept says how many were left out."""
    if len(blocks) <= limit:
        return list(blocks)
    dropped = len(blocks) - (limit - 1)
    return [*blocks[: limit - 1], context(f"…and {dropped} more (this view holds {limit} blocks at most).")]


# ------------------------------------------------------------------------------------------------ jobs


def _jobs(personal: PersonalView) -> list[Block]:
    blocks: list[Block] = [_heading("Your jobs")]
    if not personal.jobs_available:
        return [*blocks, context("This bot runs without its job store, so it follows no jobs.")]
    if not personal.running and not personal.recent:
        return [*blocks, context(NO_JOBS)]
    if personal.running:
        lines = [_job_line(job, ended=False) for job in personal.running]
        total = len(lines) + personal.running_more
        more = f"\n…and {personal.running_more} more: `/aml job list --mine --active`" if personal.running_more else ""
        blocks.append(section(_listing(f"*Running ({total})*", lines, reserve=len(more)) + more))
    else:
        blocks.append(context("Nothing of yours is running now."))
    if personal.recent:
        lines = [_job_line(job, ended=True) for job in personal.recent]
        blocks.append(section(_listing("*Finished in the last 7 days*", lines)))
    return blocks


def _job_line(job: HomeJob, *, ended: bool) -> str:
    watch = job.watch
    status = status_badge(JobStatus.parse(watch.last_status)) if watch.last_status else ":grey_question: checking…"
    parts = [f"{status}  `{watch.job_name}`"]
    if watch.template:
        parts.append(f"template `{escape(watch.template, 80)}`")
    parts.append(f"<#{watch.channel}>")
    moment = watch.ended_at if ended else watch.status_since
    if moment is not None:
        parts.append(f"{'ended' if ended else 'since'} {when(moment)}")
    if job.studio_url:
        parts.append(link(job.studio_url, "studio"))
    return " · ".join(parts)


# ------------------------------------------------------------------------------------------------ compute


def _compute(report: ComputeReport | None) -> list[Block]:
    blocks: list[Block] = [_heading("Running compute")]
    if report is None:
        return [*blocks, context("This bot has no cloud backend configured, so it sees no compute.")]
    if report.computes:
        lines = [_compute_line(c) for c in report.computes]
        blocks.append(section(_listing(f"*{len(lines)} costing money now · {money(report.per_hour)}/h in all*", lines)))
        blocks.append(
            context(
                f"“Today” is since midnight {escape(report.time_zone, 60)}; “if left on” adds the hours until the "
                f"next midnight. Stop an instance with `/aml compute stop NAME`. As of {when(report.taken_at)}."
            )
        )
    elif not report.errors:
        blocks.append(context(f"Nothing is costing money right now (as of {when(report.taken_at)})."))
    blocks += [context(f":warning: {escape(error, 500)}") for error in report.errors[:3]]
    return blocks


def _compute_line(compute: TeamCompute) -> str:
    costly = compute.costly
    info = costly.info
    what = [info.kind.value, escape(info.size or "size unknown", 60)]
    if info.kind is ComputeKind.CLUSTER:
        what.append(f"{costly.nodes} node{'s' if costly.nodes != 1 else ''}")
    currency = costly.price.currency if costly.price else None
    parts = [f"`{info.name}` ({', '.join(what)})"]
    if costly.per_hour is None:
        parts.append("price unknown")
    else:
        parts.append(f"*{money(costly.per_hour, currency)}/h*")
        if compute.today_so_far is not None and compute.today_if_left_on is not None:
            parts.append(
                f"today ≈ {money(compute.today_so_far, currency)} so far, "
                f"≈ {money(compute.today_if_left_on, currency)} if left on"
            )
    if costly.running_seconds is not None:
        parts.append(f"running {format_duration(costly.running_seconds)}")
    if costly.creator_slack_id:
        parts.append(f"started by {mention(costly.creator_slack_id)}")
    line = " · ".join(parts)
    return f"{line} _[{escape(costly.price.label, 120)}]_" if costly.price else line


# ------------------------------------------------------------------------------------------------ approvals


def _decisions(personal: PersonalView, *, room: int) -> list[Block]:
    """The requests waiting for the person, each whole (buttons included) while `room` blocks allow."""
    blocks: list[Block] = [_heading("Waiting for your decision")]
    if not personal.approvals_available:
        return [*blocks, context("Approvals are not set up on this bot.")]
    if not personal.approvals:
        return [*blocks, context("No deletion request is waiting for you.")]
    left_out = personal.approvals_more
    for index, request in enumerate(personal.approvals):
        drawn = approval_request(request_payload(request))
        parsed = (Block.parse(dict(block)) for block in drawn.blocks)
        one = [block for block in parsed if block is not None]
        one.append(context(f"Asked in <#{request.channel}>; progress and the result go in its thread there."))
        if len(blocks) + len(one) + 1 > room:  # keep one block for "…and N more"
            left_out += len(personal.approvals) - index
            break
        blocks += one
    if left_out:
        blocks.append(context(f"…and {left_out} more waiting: they are in their channels."))
    return blocks


# ------------------------------------------------------------------------------------------------ parts


def _heading(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=text, emoji=True))


def _listing(title: str, lines: Sequence[str], *, reserve: int = 0) -> str:
    """A title and one line per item, as many as fit in a section (less `reserve`), then "…and N more"."""
    return f"{title}\n{listed_within(lines, SECTION_LIMIT - len(title) - 1 - reserve)}"
