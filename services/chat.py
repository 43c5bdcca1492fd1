"""The port to the chat (Slack), as services see it: no Slack SDK here, `bot/` implements it.

The outbox stores *semantic* payloads (kind + JSON); a `MessageRenderer` turns them into text + blocks at
delivery time (the bot's renderer builds Block Kit; `TextRenderer` is the plain fallback used by tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.durations import format_duration

Blocks = Sequence[Mapping[str, Any]]


class ChatError(Exception):
    """Base of the errors a ChatPort raises."""


class ChatRateLimited(ChatError):
    """HTTP 429: nothing was posted; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message} (retry after {retry_after:g} s)")
        self.retry_after = max(0.0, float(retry_after))


class ChatTransientError(ChatError):
    """A failure worth retrying (5xx, network, timeout).

    `maybe_delivered`: the request may have reached Slack (e.g. a read timeout), so before posting again the
    outbox asks `find_posted`. Set False when it certainly did not (connection refused, DNS failure).
    """

    def __init__(self, message: str, *, maybe_delivered: bool = True) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class ChatPermanentError(ChatError):
    """Retrying will not help (channel_not_found, not_in_channel, invalid_blocks, msg_too_long…)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ChatPort(Protocol):
    """What services need from Slack. Every method raises only the Chat* errors above."""

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        """Post a message (a reply when `thread_ts` is set); return its ts.

        `dedupe_key` must travel with the message (Slack: `metadata={"event_type": "amlbot_outbox",
        "event_payload": {"dedupe_key": …}}`) so that `find_posted` can recognise it later.
        """
        ...

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        """Replace the text and blocks of the message `ts` (idempotent)."""
        ...

    def post_ephemeral(self, channel: str, user: str, *, text: str, blocks: Blocks | None = None) -> None: ...

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, file: RenderedFile) -> str:
        """Share `file` as `filename` in `channel` (in the thread `thread_ts` when set), its `comment` being the
        message that carries it; return the file's id. Slack: files upload v2 (`files_upload_v2`)."""
        ...

    def find_uploaded(self, channel: str, filename: str, thread_ts: str | None) -> str | None:
        """The id of a file named `filename` shared earlier in the thread `thread_ts` (or the channel's recent
        history), or None. Uploads carry no metadata: the outbox names each file uniquely per thread instead.
        Raise ChatTransientError when the answer is not known right now; never guess "None" on an error."""
        ...

    def find_posted(self, channel: str, dedupe_key: str, thread_ts: str | None) -> str | None:
        """The ts of a message posted earlier with `dedupe_key` (in the thread `thread_ts`, or the channel's
        recent history), or None when there is none.

        Slack: `conversations.replies` / `conversations.history` with `include_all_metadata=true`, looking
        back a bounded window (the outbox only asks about posts it attempted recently). Raise
        ChatTransientError when the answer is not known right now; never guess "None" on an error.
        """
        ...


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    blocks: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


class MessageRenderer(Protocol):
    def render(self, kind: str, payload: Mapping[str, Any]) -> RenderedMessage:
        """Text + blocks for an outbox payload; raise (any exception) when the payload cannot be shown."""
        ...


# Outbox kinds delivered as a file upload (made by a FileRenderer at delivery time) instead of a message.
KIND_JOB_CHART = "job.chart"
FILE_KINDS = frozenset({KIND_JOB_CHART})


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    title: str
    comment: str | None = None  # the message that carries the file in the thread
    alt_text: str | None = None  # what the file shows, for screen readers


class FileRenderer(Protocol):
    """Makes the file an outbox row of a file kind stands for (the row keeps only what names it)."""

    def filename(self, payload: Mapping[str, Any]) -> str:
        """The file's name, unique in its thread (no I/O: it is also how an earlier upload is recognised)."""
        ...

    def render_file(self, payload: Mapping[str, Any]) -> RenderedFile | None:
        """The file; None when there is nothing to share. Raise ChatTransientError to be asked again later
        (its data cannot be read right now); any other exception gives the row up."""
        ...


# --------------------------------------------------------------------------------------------- plain text


def _fmt_duration(seconds: Any) -> str | None:
    return format_duration(seconds) if isinstance(seconds, int | float) and seconds >= 0 else None


def _mention(user: Any) -> str:
    return f"<@{user}>" if user else "someone"


class TextRenderer:
    """Plain text for every kind the services emit (tests, logs, a fallback when blocks fail)."""

    def render(self, kind: str, payload: Mapping[str, Any]) -> RenderedMessage:
        method = getattr(self, "_" + kind.replace(".", "_"), None)
        text = method(payload) if method else f"{kind}: {dict(payload)}"
        return RenderedMessage(text=text)

    def _job_root(self, p: Mapping[str, Any]) -> str:
        job = p.get("job", {})
        name = job.get("display_name") or job.get("name")
        parts = [f"Job {name} ({job.get('name')}): {job.get('status')}"]
        if job.get("compute"):
            parts.append(f"on {job['compute']}")
        if p.get("requested_by"):
            parts.append(f"by {_mention(p['requested_by'])}")
        if job.get("studio_url"):
            parts.append(job["studio_url"])
        return " · ".join(parts)

    def _job_transition(self, p: Mapping[str, Any]) -> str:
        return f"{p.get('job_name')}: {p.get('from_status') or '—'} → {p.get('to_status')}"

    def _job_summary(self, p: Mapping[str, Any]) -> str:
        lines = [f"{p.get('job_name')} {p.get('status')} · {_mention(p.get('requested_by'))}"]
        duration = _fmt_duration(p.get("duration_seconds"))
        if duration:
            lines.append(f"duration: {duration}")
        if p.get("compute"):
            lines.append(f"compute: {p['compute']}")
        metrics = p.get("metrics") or {}
        if metrics:
            lines.append("metrics: " + ", ".join(f"{k}={v.get('last'):g}" for k, v in metrics.items()))
        elif p.get("metrics_error"):
            lines.append(f"metrics unavailable: {p['metrics_error']}")
        if p.get("output_uri"):
            lines.append(f"outputs: {p['output_uri']}")
        if p.get("error"):
            lines.append(f"error: {p['error']}")
        if p.get("log_tail"):
            lines.append("log tail:\n" + str(p["log_tail"]))
        return "\n".join(lines)

    def _job_services(self, p: Mapping[str, Any]) -> str:
        labels = {"jupyter": "JupyterLab", "vscode": "VS Code", "tensorboard": "TensorBoard"}
        links = [
            f"{labels.get(s.get('kind') or '', s.get('name'))}: <{s['url']}|open>"
            for s in p.get("services") or []
            if s.get("url")
        ]
        return f"{p.get('job_name')}: " + " · ".join(links)

    def _job_gone(self, p: Mapping[str, Any]) -> str:
        return f"{p.get('job_name')}: no longer found ({p.get('reason')}); stopped watching."

    def _op_result(self, p: Mapping[str, Any]) -> str:
        return str(p.get("text") or p)

    def _reminder(self, p: Mapping[str, Any]) -> str:
        return str(p.get("text") or "")  # reminder_payload's text already says it all in plain words

    def _reminder_progress(self, p: Mapping[str, Any]) -> str:
        return str(p.get("text") or "")
