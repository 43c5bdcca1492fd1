"""Long-running operations: an SDK poller wrapped so callers see the bot's types and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from services.cloud.azure.errors import azure_errors

T = TypeVar("T")


class PollerOperation(Generic[T]):
    """An `Operation` over an azure-core LROPoller (already polling in its own thread).

    `finish` turns the poller's result into the bot's value; it runs in the thread that calls
    `result()`, so it may make further calls (e.g. re-read the resource).
    """

    def __init__(self, poller: Any, *, description: str, what: str, finish: Callable[[Any], T]) -> None:
        self._poller = poller
        self._description = description
        self._what = what
        self._finish = finish

    @property
    def description(self) -> str:
        return self._description

    def done(self) -> bool:
        return bool(self._poller.done())

    def result(self, timeout: float | None = None) -> T:
        """Wait for the operation; TimeoutError when `timeout` passes first, a ServiceError when it failed."""
        with azure_errors(self._what):
            self._poller.wait(timeout)
            if not self._poller.done():
                raise TimeoutError(f"{self._description} is still running after {timeout} s.")
            raw = self._poller.result()
            return self._finish(raw)

    def __repr__(self) -> str:
        return f"PollerOperation({self._description!r}, done={self.done()})"


class DoneOperation(Generic[T]):
    """An operation that finished before it was returned (e.g. nothing to do)."""

    def __init__(self, value: T, *, description: str) -> None:
        self._value = value
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> T:
        return self._value
