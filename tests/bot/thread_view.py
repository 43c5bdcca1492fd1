"""A job's thread as a person sees it in the local workspace, split into its parts and normalised."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.devslack import Message, Workspace, render_channel
from tests.bot.thread_chain import metadata_key


@dataclass(frozen=True)
class Reply:
    kind: str  # transition | summary | other (from the outbox dedupe key the message carries)
    dedupe_key: str
    message: Message


@dataclass(frozen=True)
class ThreadView:
    top_level: list[Message]
    root: Message
    replies: list[Reply]
    render: str

    def of_kind(self, kind: str) -> list[Reply]:
        return [r for r in self.replies if r.kind == kind]


def reply_kind(dedupe_key: str) -> str:
    tail = dedupe_key.rsplit(":", 1)[-1]
    if tail == "summary":
        return "summary"
    if tail.startswith("t") and tail[1:].isdigit():
        return "transition"
    return "other"


def read_thread(workspace: Workspace, channel: str) -> ThreadView:
    """The channel's single thread (its first top-level message is the root)."""
    top = workspace.messages(channel)
    assert top, "nothing was posted"
    root = top[0]
    replies = [Reply(reply_kind(metadata_key(m)), metadata_key(m), m) for m in workspace.replies(channel, root.ts)]
    return ThreadView(top, root, replies, render_channel(workspace, channel))


_NORMALISE = (
    (re.compile(r"\[\d\d:\d\d:\d\d\]"), "[hh:mm:ss]"),  # when the message was posted (render_channel's clock)
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"), "<date>"),  # Slack date tokens' fallback text
    (re.compile(r"ended after (?:\d+ h \d+ min|\d+ min \d+ s|\d+ s)"), "ended after <duration>"),
    # the renderer links Azure ML studio, or names the local job's folder (bot/blocks/renderer.py `_studio`)
    (re.compile(r"Open in Azure ML studio \(https://[^)\s]+\)|Job folder: `file://[^`]+`"), "<job page>"),
    # artifacts: azureml://jobs/<name>/outputs/... on Azure, the job's outputs folder locally
    (re.compile(r"\*Outputs:\* `[^`]+`"), "*Outputs:* <outputs>"),
)


def normalise(text: str) -> str:
    """What differs between two runs for no reason a person would care about: clock times, durations, and
    where the job's page and outputs live."""
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return text


def entries(render: str) -> list[str]:
    """A rendered channel cut into its messages (the root, then one entry per reply)."""
    found: list[list[str]] = []
    for line in render.splitlines():
        if line.startswith("[") or line.startswith("    ↳ ["):
            found.append([line])
        else:
            assert found, render
            found[-1].append(line)
    return ["\n".join(lines) for lines in found]


def transition_statuses(view: ThreadView, job_name: str) -> list[str]:
    """The statuses the thread's transition replies announce, in thread order (their text is `<job>: <status>`)."""
    statuses = []
    for reply in view.of_kind("transition"):
        prefix = f"{job_name}: "
        assert reply.message.text.startswith(prefix), reply.message.text
        statuses.append(reply.message.text[len(prefix) :])
    return statuses
