"""`Operation` (services.ports) for the local backend: finished at once, or polled until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LocalOperation(Generic[T]):
    """A long-running call on this machine.

    `ready` says whether it finished (reading state from disk, so it survives restarts); `outcome`
    produces the value (and raises the ServiceError when it failed). `result(timeout)` polls `ready`
    and raises TimeoutError when the timeout passes first.
    """

    def __init__(
        self,
        description: str,
        outcome: Callable[[], T],
        *,
        ready: Callable[[], bool] | None = None,
        poll_seconds: float = 0.05,
    ) -> None:
        self._description = description
        self._outcome = outcome
        self._ready = ready
        self._poll = poll_seconds

    @classmethod
    def completed(cls, description: str, value: T) -> LocalOperation[T]:
        return cls(description, lambda: value)

    @property
    def description(self) -> str:
        return self._description

    def done(self) -> bool:
        return self._ready is None or self._ready()

    def result(self, timeout: float | None = None) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self._description} did not finish within {timeout:g} s.")
            time.sleep(self._poll)
        return self._outcome()
