"""Block Kit builders shared by command replies and thread messages (slack_sdk models, validated on output)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from commands.text import escape
from services.durations import format_duration
from services.models import ComputeInfo, JobInfo, JobStatus

MAX_BLOCKS = 50
SECTION_LIMIT = 3000

_STATUS_EMOJI = {
    JobStatus.COMPLETED: ":white_check_mark:",
    JobStatus.FAILED: ":x:",
    JobStatus.CANCELED: ":no_entry_sign:",
    JobStatus.CANCEL_REQUESTED: ":no_entry_sign:",
    JobStatus.RUNNING: ":runner:",
    JobStatus.FINALIZING: ":runner:",
    JobStatus.QUEUED: ":hourglass_flowing_sand:",
    JobStatus.NOT_STARTED: ":hourglass_flowing_sand:",
    JobStatus.STARTING: ":hourglass_flowing_sand:",
    JobStatus.PROVISIONING: ":hourglass_flowing_sand:",
    JobStatus.PREPARING: ":hourglass_flowing_sand:",
}


def status_badge(status: JobStatus) -> str:
    return f"{_STATUS_EMOJI.get(status, ':grey_question:')} {status.value}"


def section(text: str) -> SectionBlock:
    """A mrkdwn section, cut to Slack's 3,000-character limit."""
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return SectionBlock(text=MarkdownTextObject(text=text))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text[:SECTION_LIMIT])])


def to_dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """Serialise (which validates) and keep within the 50-block limit."""
    kept = list(blocks)
    if len(kept) > MAX_BLOCKS:
        dropped = len(kept) - (MAX_BLOCKS - 1)
        kept = kept[: MAX_BLOCKS - 1] + [context(f"…and {dropped} more")]
    return [block.to_dict() for block in kept]


def when(moment: datetime | None) -> str:
    """A time Slack shows in each reader's own time zone."""
    if moment is None:
        return "—"
    stamp = int(moment.astimezone(UTC).timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC>"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "—"
    return format_duration(((end or datetime.now(UTC)) - start).total_seconds())


def link(url: str | None, label: str) -> str:
    if not url:
        return label
    if url.startswith(("http://", "https://")):
        return f"<{url}|{escape(label, 200)}>"
    return f"{escape(label, 200)} (`{escape(url, 300)}`)"


def job_fields(job: JobInfo) -> str:
    lines = [
        f"*Status:* {status_badge(job.status)}",
        f"*Compute:* `{job.compute or '—'}`   *Experiment:* `{job.experiment or '—'}`",
        f"*Submitted by:* {mention(job.tags.get('slack-user')) or escape(job.created_by or '—')}",
        f"*Created:* {when(job.created_at)}   *Ran for:* {duration(job.started_at, job.ended_at)}",
    ]
    if job.studio_url:
        lines.append(link(job.studio_url, "Open in Azure ML studio"))
    for service in job.services:
        if service.url:
            lines.append(f"{service.kind}: {link(service.url, service.name)}")
    if job.error:
        lines.append(f"*Error:* {escape(job.error, 600)}")
    return "\n".join(lines)


def mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else ""


def job_status_blocks(job: JobInfo) -> list[dict[str, Any]]:
    title = f"*{escape(job.display_name or job.name, 150)}*  `{job.name}`"
    return to_dicts([section(title), section(job_fields(job))])


def job_list_blocks(jobs: Sequence[JobInfo], heading: str) -> list[dict[str, Any]]:
    blocks: list[Block] = [section(heading)]
    for job in jobs:
        blocks.append(
            section(
                f"{status_badge(job.status)}  `{job.name}` {escape(job.display_name or '', 80)}\n"
                f"compute `{job.compute or '—'}` · {mention(job.tags.get('slack-user')) or '—'} · "
                f"created {when(job.created_at)}"
            )
        )
    return to_dicts(blocks)


def compute_line(compute: ComputeInfo) -> str:
    nodes = ""
    if compute.max_nodes is not None:
        nodes = f" · nodes {compute.current_nodes or 0}/{compute.max_nodes} (min {compute.min_nodes or 0})"
    rate = f" · ${compute.hourly_rate:.2f}/h" if compute.hourly_rate else ""
    since = f" · running since {when(compute.running_since)}" if compute.running_since else ""
    return f"`{compute.name}` {compute.kind.value} · {compute.size or '—'} · *{compute.state}*{nodes}{rate}{since}"


def lines_blocks(heading: str, lines: Iterable[str], empty: str) -> list[dict[str, Any]]:
    items = list(lines)
    blocks: list[Block] = [section(heading)]
    blocks.extend(section(line) for line in items)
    if not items:
        blocks.append(context(empty))
    return to_dicts(blocks)


def key_values(pairs: Mapping[str, object]) -> str:
    return "\n".join(f"*{key}:* {value if value not in (None, '') else '—'}" for key, value in pairs.items())


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending in "…" when it had to be shortened."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
