"""Remember recent deliveries so a request Slack retries never runs its work twice."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RecentDeliveries:
    """An in-process memory of delivery keys (trigger ids), kept for `ttl` seconds."""

    def __init__(self, ttl: float = 900.0, capacity: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        """True the first time `key` is seen within the ttl, False for every repeat."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest_key, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self._ttl:
                return
            del self._seen[oldest_key]
