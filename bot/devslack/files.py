"""Files uploaded through the v2 flow: reserve an id, receive bytes, complete (share)."""

from __future__ import annotations

import copy
import itertools
import time

from .errors import SlackError
from .models import UploadedFile
from .state import SharedState


class FileStore:
    """Uploaded files by id."""

    def __init__(self, state: SharedState) -> None:
        self._state = state
        self._files: dict[str, UploadedFile] = {}
        self._ids = itertools.count(1)

    def reserve(
        self, name: str, length: int, user: str, *, alt_txt: str | None, snippet_type: str | None
    ) -> str:
        """Create a pending file (files.getUploadURLExternal) and return its id."""
        with self._state.change():
            file_id = f"F{next(self._ids):07d}"
            self._files[file_id] = UploadedFile(
                id=file_id,
                name=name,
                length=length,
                user=user,
                created=int(time.time()),
                alt_txt=alt_txt,
                snippet_type=snippet_type,
            )
            return file_id

    def receive(self, file_id: str, content: bytes) -> bool:
        """Store the bytes POSTed to the upload URL; False for an unknown or completed file."""
        with self._state.change():
            pending = self._files.get(file_id)
            if pending is None or pending.completed:
                return False
            pending.content = content
            return True

    def complete(
        self, items: list[tuple[str, str | None]], *, channel: str | None, thread_ts: str | None
    ) -> list[UploadedFile]:
        """Finish uploads (files.completeUploadExternal): give titles and record where they are shared."""
        with self._state.change():
            found = [self._files.get(file_id) for file_id, _ in items]
            if any(f is None or f.content is None or f.completed for f in found):
                raise SlackError("file_not_found")
            done: list[UploadedFile] = []
            for (_, title), f in zip(items, found, strict=True):
                assert f is not None  # checked above
                f.title = title or f.name
                f.completed = True
                f.channel, f.thread_ts = channel, thread_ts
                done.append(copy.deepcopy(f))
            return done

    def get(self, file_id: str) -> UploadedFile | None:
        """A file by id."""
        with self._state.cond:
            found = self._files.get(file_id)
            return copy.deepcopy(found) if found else None

    def list(self, channel: str | None = None, thread_ts: str | None = None) -> list[UploadedFile]:
        """Completed files, optionally only those shared in a channel (and thread)."""
        with self._state.cond:
            return [
                copy.deepcopy(f)
                for f in self._files.values()
                if f.completed
                and (channel is None or f.channel == channel)
                and (thread_ts is None or f.thread_ts == thread_ts)
            ]
