"""How an HTTP worker tells the runner processes that a command (or an outbox message) waits, without waiting.

`python -m bot serve` makes one pipe in gunicorn's master before it forks anything; every HTTP worker and every
runner process (bot/runner.py) inherits both ends. An HTTP worker that queued a command writes one byte (never
blocking: a full pipe already holds enough wake-ups); a runner waiting for work reads it and claims at once.
Runners also poll, so a lost byte (or a command queued by another replica) only waits for the next poll.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading

_READ_LIMIT = 4096


class RunnerWake:
    """Both ends of the wake-up pipe (one per server, made in the master, shared by its processes)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def notify(self) -> None:
        """Wake one waiting runner (an HTTP worker calls this after it queued a command or an outbox message)."""
        # A full pipe already wakes the runners; a broken one has no runner left to wake.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._write, b"!")

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait until woken or `timeout` passes; True when woken (pending wake-ups are consumed)."""
        if stop is not None and stop.is_set():
            return False
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            return False
        try:
            return bool(os.read(self._read, _READ_LIMIT))
        except BlockingIOError:  # another runner took the byte first
            return False


_wake: RunnerWake | None = None


def open_runner_wake() -> RunnerWake:
    """Make the server's pipe (in the master, before the fork), or return the one already made."""
    global _wake
    if _wake is None:
        _wake = RunnerWake()
    return _wake


def runner_wake() -> RunnerWake | None:
    """The pipe this process inherited from its server, if it was started by `serve` with runner processes."""
    return _wake
