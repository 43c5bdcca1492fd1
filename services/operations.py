"""A long-running operation's story in Slack, told like a job's: a root message, progress in its thread, the end.

`start` posts the root ("⏳ <@U> is creating workspace `x`…") through the outbox under the message ref
`op:<request_id>`; `progress` replies in its thread; `finish` edits the root into the final state and posts the
result in the thread (a reply mentions the requester, so it notifies them where an edit would not).

Every message has a dedupe key derived from the request id (Slack's trigger id), so a retried request never
posts twice, and `start` says whether the story is new: a retry of a request whose story was already started
must not act again (its first delivery is, or was, doing that).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from services.durations import format_duration
from services.outbox import Outbox
from services.store import Clock, utc_now

KIND_NOTE = "op.result"  # the plain {"text": …} note job placeholders use too
_ENDING = {True: ":white_check_mark:", False: ":x:", None: ":hourglass_flowing_sand:"}


@dataclass(frozen=True)
class StoryRef:
    """One operation's story: `key` names its root message (`op:<request_id>`) in `channel`."""

    key: str
    channel: str
    requested_by: str
    started_at: datetime
    # False when this request's story had been started before: a retried request, which must not act again.
    new: bool = True


class OperationStory:
    """Tell a long operation in one root message and its thread, each message enqueued exactly once."""

    def __init__(
        self,
        engine: Engine,
        outbox: Outbox,
        *,
        clock: Clock = utc_now,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.clock = clock
        # Wakes the outbox delivery loop after a commit, so messages go out at once.
        self.on_enqueued = on_enqueued

    def start(self, channel: str, requested_by: str, what: str, request_id: str) -> StoryRef:
        """Post the root message: "⏳ <@U> is `what`…" (`what` e.g. "creating workspace `x`")."""
        if not request_id:
            raise ValueError("request_id is required")
        key = f"op:{request_id}"
        text = f":hourglass_flowing_sand: <@{requested_by}> is {what}… Progress and the result follow in the thread."
        added = self._enqueue(channel, text, dedupe_key=f"{key}:root", creates_ref=key)
        return StoryRef(key, channel, requested_by, self.clock(), new=added)

    def progress(self, ref: StoryRef, text: str, *, step: str | None = None) -> bool:
        """Reply `text` in the story's thread; `step` names this reply (default: the text itself), so saying the
        same step again posts nothing. True when enqueued now."""
        name = step or hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._enqueue(ref.channel, text, dedupe_key=f"{ref.key}:progress:{name}", thread_ref=ref.key)

    def finish(self, ref: StoryRef, ok: bool | None, text: str) -> bool:
        """End the story: the root becomes ":white_check_mark: text" (ok), ":x: text" (failed) or
        ":hourglass_flowing_sand: text" (None: the bot stopped waiting, the operation goes on), and the same
        is posted in the thread. Only the first ending of a story counts. True when enqueued now."""
        ending = f"{_ENDING[ok]} {text}"
        took = "" if ok is None else f" _(after {format_duration((self.clock() - ref.started_at).total_seconds())})_"
        with self.engine.begin() as conn:
            added = self.outbox.enqueue(
                conn,
                channel=ref.channel,
                kind=KIND_NOTE,
                payload={"text": ending},
                dedupe_key=f"{ref.key}:end",
                updates_ref=ref.key,
            )
            if added:
                self.outbox.enqueue(
                    conn,
                    channel=ref.channel,
                    kind=KIND_NOTE,
                    payload={"text": ending + took},
                    dedupe_key=f"{ref.key}:end:thread",
                    thread_ref=ref.key,
                )
        if added:
            self.on_enqueued()
        return added

    def _enqueue(
        self, channel: str, text: str, *, dedupe_key: str, creates_ref: str | None = None, thread_ref: str | None = None
    ) -> bool:
        with self.engine.begin() as conn:
            added = self.outbox.enqueue(
                conn,
                channel=channel,
                kind=KIND_NOTE,
                payload={"text": text},
                dedupe_key=dedupe_key,
                creates_ref=creates_ref,
                thread_ref=thread_ref,
            )
        if added:
            self.on_enqueued()
        return added
