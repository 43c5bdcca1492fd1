"""The bounded pool that runs slow work after Slack has its ack."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

logger = logging.getLogger(__name__)


class PoolFull(Exception):
    """More work is waiting than the pool accepts; the caller should say so rather than queue forever."""


class WorkPool:
    """A thread pool the app owns, with a limit on queued work (Bolt's default has 5 threads, unbounded)."""

    def __init__(self, threads: int, queue_limit: int, name: str = "aml-work") -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._threads = threads
        self._capacity = threads + queue_limit
        self._slots = threading.BoundedSemaphore(self._capacity)
        self._idle = threading.Condition()
        self._pending = 0

    def submit(self, task: Callable[[], object]) -> Future[None]:
        """Run `task` soon; raise PoolFull at once when too much is already waiting."""
        if not self._slots.acquire(blocking=False):
            raise PoolFull()
        with self._idle:
            self._pending += 1
        try:
            future = self._executor.submit(self._run, task)
        except BaseException:
            self._finished()
            raise
        return future

    def _run(self, task: Callable[[], object]) -> None:
        try:
            task()
        except Exception:
            logger.exception("background work failed")
        finally:
            self._finished()

    def _finished(self) -> None:
        self._slots.release()
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def idle_threads(self) -> int:
        """Threads with nothing to do right now (work handed over now starts at once)."""
        return max(0, self._threads - self._pending)

    @property
    def has_room(self) -> bool:
        """Whether `submit` would accept more work now (a hint: another thread may take the room first)."""
        return self._pending < self._capacity

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no work is pending (used by the shell and graceful shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
