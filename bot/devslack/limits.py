"""Rate limiting (Slack's ~1 message/second/channel) and injected faults for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class Pacer:
    """A token bucket per key: ``burst`` requests at once, refilled at ``rate`` per second."""

    def __init__(
        self, rate: float = 1.0, burst: int = 2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def acquire(self, key: str) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def reset(self) -> None:
        """Forget all buckets."""
        with self._lock:
            self._buckets.clear()


@dataclass
class Fault:
    """What to do to the next ``times`` calls of ``method`` (``*`` matches every method)."""

    method: str
    status: int | None
    error: str | None
    retry_after: float | None
    delay: float
    times: int

    @property
    def answers(self) -> bool:
        """False for a pure delay: the real answer follows it."""
        return self.status is not None or self.error is not None or self.retry_after is not None


class FaultInjector:
    """Pending faults, consumed in the order they were injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop all faults."""
        with self._lock:
            self._faults.clear()

    def take(self, method: str) -> Fault | None:
        """The fault for this call, if any, counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.method in (method, "*") and fault.times != 0:
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
            return None
