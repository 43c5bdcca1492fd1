"""The lock, change counter and timestamp clock shared by every part of a workspace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class SharedState:
    """One condition guards all workspace state, so waiters wake on any change."""

    def __init__(self) -> None:
        # Re-entrant: wait_until predicates call query helpers that take the same lock.
        self.cond = threading.Condition(threading.RLock())
        self.version = 0
        self._last_micros = 0

    @contextmanager
    def change(self) -> Iterator[None]:
        """Hold the lock for a mutation, then bump the version and wake waiters."""
        with self.cond:
            yield
            self.version += 1
            self.cond.notify_all()

    def next_ts(self) -> str:
        """A unique, increasing Slack timestamp (``"1700000000.000100"`` style) near the wall clock."""
        with self.cond:
            micros = max(int(time.time() * 1_000_000), self._last_micros + 1)
            self._last_micros = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
