"""Turn outbox payloads (kind + JSON) into Slack messages with a readable notification text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block

from bot.blocks.approvals import APPROVAL_KINDS
from bot.blocks.reminders import REMINDER_KINDS
from commands.blocks import context, link, mention, section, status_badge, to_dicts, when
from commands.text import escape
from services.chat import RenderedMessage, TextRenderer
from services.durations import format_duration
from services.models import JobStatus

Payload = Mapping[str, Any]


class BlockKitRenderer:
    """MessageRenderer for Slack; kinds it does not know fall back to plain text."""

    def __init__(self) -> None:
        self._fallback = TextRenderer()
        self._kinds: dict[str, Callable[[Payload], RenderedMessage]] = {
            "job.root": job_root,
            "job.transition": job_transition,
            "job.summary": job_summary,
            "job.services": job_services,
            **APPROVAL_KINDS,
            **REMINDER_KINDS,
        }

    def render(self, kind: str, payload: Mapping[str, Any]) -> RenderedMessage:
        render = self._kinds.get(kind)
        return render(payload) if render else self._fallback.render(kind, payload)


def _status(value: Any) -> JobStatus:
    return JobStatus.parse(str(value or ""))


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _message(text: str, blocks: list[Block]) -> RenderedMessage:
    return RenderedMessage(text=text, blocks=tuple(to_dicts(blocks)))


def job_root(payload: Payload) -> RenderedMessage:
    job = payload.get("job") or {}
    status = _status(job.get("status"))
    title = escape(job.get("display_name") or job.get("name") or "job", 150)
    who = mention(payload.get("requested_by")) or escape(job.get("created_by") or "someone")
    lines = [
        f"*{title}*  `{job.get('name')}`",
        f"{status_badge(status)} · template `{payload.get('template') or '—'}` · compute `{job.get('compute') or '—'}`"
        f" · experiment `{job.get('experiment') or '—'}`",
        f"Submitted by {who} · {when(_time(job.get('created_at')))}",
    ]
    if job.get("studio_url"):
        lines.append(_studio(job["studio_url"]))
    services = [s for s in job.get("services") or [] if s.get("url")]
    if services:
        lines.append(
            " · ".join(f"{escape(s.get('kind') or s.get('name'))}: {link(s['url'], s['name'])}" for s in services)
        )
    blocks: list[Block] = [section("\n".join(lines))]
    if job.get("error"):
        blocks.append(section(f"*Error:* {escape(job['error'], 1500)}"))
    if not payload.get("ended"):
        blocks.append(context("The story of this job is in the thread below."))
    text = f"{status_badge(status)} {job.get('display_name') or job.get('name')} ({job.get('name')})"
    return _message(text, blocks)


def job_transition(payload: Payload) -> RenderedMessage:
    to_status = _status(payload.get("to_status"))
    before = payload.get("from_status")
    was = f" (was {before})" if before else ""
    text = f"{status_badge(to_status)}{was}"
    observed = _time(payload.get("observed_at"))
    detail = f"{text} · seen {when(observed)}" if observed else text
    return _message(f"{payload.get('job_name')}: {to_status.value}", [section(detail)])


def job_summary(payload: Payload) -> RenderedMessage:
    status = _status(payload.get("status"))
    name = payload.get("job_name")
    duration = _duration(payload.get("duration_seconds"))
    head = f"{status_badge(status)} `{name}` ended after {duration} on `{payload.get('compute') or '—'}`."
    blocks: list[Block] = [section(f"*{head}*")]
    metrics = payload.get("metrics") or {}
    if metrics:
        rows = [f"`{escape(key, 60)}` {_number(value.get('last'))}" + _range(value) for key, value in metrics.items()]
        blocks.append(section("*Metrics (last value):*\n" + "\n".join(rows)))
    elif payload.get("metrics_error"):
        blocks.append(context(f"Metrics could not be read: {escape(payload['metrics_error'], 300)}"))
    if payload.get("output_uri"):
        blocks.append(section(f"*Outputs:* `{escape(payload['output_uri'], 500)}`"))
    if payload.get("error"):
        blocks.append(section(f"*Error:* {escape(payload['error'], 1500)}"))
    if payload.get("log_tail"):
        tail = str(payload["log_tail"])[-2800:].replace("```", "ˋˋˋ")
        blocks.append(section("*Last lines of the log:*\n```" + tail + "```"))
    if payload.get("studio_url"):
        blocks.append(context(_studio(payload["studio_url"])))
    who = mention(payload.get("requested_by"))
    if who:
        blocks.append(section(f"{who} your job `{name}` {_ENDED.get(status, 'ended')}."))
    return _message(f"{who + ' ' if who else ''}{name} {status.value} after {duration}", blocks)


# ServiceEndpoint.kind → what people call it
SERVICE_LABELS = {"jupyter": "JupyterLab", "vscode": "VS Code", "tensorboard": "TensorBoard"}


def service_label(service: Payload) -> str:
    kind = str(service.get("kind") or "")
    return SERVICE_LABELS.get(kind) or str(service.get("name") or kind or "Service")


def job_services(payload: Payload) -> RenderedMessage:
    """A thread reply: the service endpoints that just became available, as links."""
    services = [s for s in payload.get("services") or [] if s.get("url")]
    lines = [f"{escape(service_label(s), 60)}: {link(s['url'], 'open')}" for s in services]
    name = payload.get("job_name")
    blocks: list[Block] = [section(f"*Available now for `{name}`:*\n" + "\n".join(lines))]
    labels = ", ".join(service_label(s) for s in services)
    return _message(f"{name}: {labels or 'services'} available", blocks)


_ENDED = {JobStatus.COMPLETED: "has completed", JobStatus.FAILED: "failed", JobStatus.CANCELED: "was cancelled"}


def _duration(seconds: Any) -> str:
    return format_duration(seconds) if isinstance(seconds, int | float) else "an unknown time"


def _studio(url: str) -> str:
    # The local backend's "studio" is the job's folder on the bot's machine.
    return link(url, "Open in Azure ML studio") if url.startswith("https://") else f"Job folder: `{escape(url, 400)}`"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else escape(str(value))


def _range(value: Mapping[str, Any]) -> str:
    points = value.get("points")
    if not isinstance(points, int) or points < 2:
        return ""
    return f"  (min {_number(value.get('min'))}, max {_number(value.get('max'))}, {points} points)"
