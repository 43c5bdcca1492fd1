"""The outbox's upload step: a row of a file kind (services.chat.FILE_KINDS) becomes one file in its thread.

The file is made at delivery time by the kind's FileRenderer (so big data never sits in an outbox row), and
shared at most once: an upload that may have landed (a crash or timeout after the call) is looked up by its
file name before it is ever uploaded again, as posts are looked up by their dedupe key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.chat import ChatError, ChatPermanentError, ChatPort, FileRenderer

log = logging.getLogger(__name__)
_warned_unrendered: set[str] = set()  # kinds already reported as having no renderer (once per process)


class CallCounter(Protocol):
    calls: int  # Slack calls made so far in this delivery pass


@dataclass(frozen=True)
class Shared:
    file_id: str | None  # None: there was nothing to share (no renderer, or the renderer made no file)
    recovered: bool = False  # found already shared by an earlier attempt, not uploaded again


def share_file(
    chat: ChatPort,
    renderer: FileRenderer | None,
    kind: str,
    payload: Mapping[str, Any],
    *,
    channel: str,
    thread_ts: str | None,
    maybe_shared: bool,
    counter: CallCounter,
) -> Shared:
    """Upload the file `payload` stands for into `channel`/`thread_ts`; raises the Chat* errors only."""
    if renderer is None:
        # A delivery built without this kind's renderer (tests, benchmarks): the story goes on without it.
        if kind not in _warned_unrendered:
            _warned_unrendered.add(kind)
            log.warning("outbox: no file renderer for %s rows; they are skipped, nothing is uploaded", kind)
        return Shared(None)
    try:
        filename = renderer.filename(payload)
    except Exception as err:
        raise ChatPermanentError(f"cannot name the {kind} file: {err!r}") from None
    if maybe_shared:
        counter.calls += 1
        found = chat.find_uploaded(channel, filename, thread_ts)
        if found:
            return Shared(found, recovered=True)
    try:
        file = renderer.render_file(payload)
    except ChatError:
        raise
    except Exception as err:
        log.exception("outbox: cannot render %s %s", kind, filename)
        raise ChatPermanentError(f"render failed: {err!r}") from None
    if file is None:
        return Shared(None)
    counter.calls += 1
    file_id = chat.upload_file(channel, thread_ts, filename, file)
    return Shared(file_id)
