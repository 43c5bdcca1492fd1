"""One SQLite writer at a time, queued on locks that wake the next writer at once.

SQLite lets one transaction write at a time. Left to itself, a writer that finds the file locked sleeps in
SQLite's busy handler (1, 2, 5, 10 … 100 ms between tries), so under a burst of short transactions writers
wait long after the lock came free. Here every transaction first takes a per-file lock: a thread lock for
the threads of this process, then `flock` on a side file for the other processes on the same database
(gunicorn workers, a shell). Both hand over as soon as the holder commits or rolls back.
Writers on the request path go first (UrgentFlag). SQLite's own busy timeout still guards against writers
that do not take these locks (another tool).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

# While waiting for another process within a budget, try again this often (its transaction takes ~1 ms).
_POLL_SECONDS = 0.0005


class WriterLock:
    """The write lock of one database file, for the threads of one process and across processes.

    Urgent writers (the request path, which has Slack's 3 s to answer in) go first: while one waits, the
    others (command runners, sweeps) wait before they even queue for the lock (see UrgentFlag).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self.urgent = UrgentFlag(path + "-urgent")

    def acquire(self, timeout: float, *, urgent: bool = False) -> bool:
        """Take the lock, waiting at most `timeout` seconds; False on timeout."""
        deadline = time.monotonic() + timeout
        if urgent:
            with self.urgent.raised():
                return self._acquire(deadline, blocking=False)
        self.urgent.wait_lowered()
        return self._acquire(deadline, blocking=True)

    def _acquire(self, deadline: float, *, blocking: bool) -> bool:
        if not self._threads.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            if self._lock_file(deadline, blocking):
                return True
        except BaseException:
            self._threads.release()
            raise
        self._threads.release()
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def _lock_file(self, deadline: float, blocking: bool) -> bool:
        if self._fd is None:
            self._fd = _open(self.path)
        if blocking:  # the other process holds it for one transaction; urgent writers keep to their budget
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while it waits
            return True
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_POLL_SECONDS)


class UrgentFlag:
    """Raised while an urgent writer waits for the lock, in any process: a shared flock on a side file.

    Other writers wait for it to be lowered by asking for an exclusive flock of their own on the same file,
    one thread per process at a time (the kernel wakes it when the last urgent writer is through), and let
    it go at once. The request path's writers each wait at most their short budget, so the flag stays up
    only while requests keep coming; then the others go on.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._guard = threading.Lock()
        self._waiters = 0
        self._raised_fd: int | None = None
        self._probe = threading.Lock()
        self._probe_fd: int | None = None  # a second open file: its lock conflicts with this process's own flag

    @contextlib.contextmanager
    def raised(self) -> Iterator[None]:
        with self._guard:
            if self._waiters == 0:
                if self._raised_fd is None:
                    self._raised_fd = _open(self.path)
                fcntl.flock(self._raised_fd, fcntl.LOCK_SH)  # only waits while a probe holds it, an instant
            self._waiters += 1
        try:
            yield
        finally:
            with self._guard:
                self._waiters -= 1
                if self._waiters == 0 and self._raised_fd is not None:
                    fcntl.flock(self._raised_fd, fcntl.LOCK_UN)

    def wait_lowered(self) -> None:
        """Return once no urgent writer waits (at once when none does)."""
        with self._probe:
            if self._probe_fd is None:
                self._probe_fd = _open(self.path)
            fcntl.flock(self._probe_fd, fcntl.LOCK_EX)  # releases the GIL while it waits
            fcntl.flock(self._probe_fd, fcntl.LOCK_UN)


def _open(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


_locks: dict[str, WriterLock] = {}
_locks_guard = threading.Lock()


def writer_lock(database: str) -> WriterLock:
    """The process's lock for a database file (every engine on the file shares it)."""
    path = os.path.realpath(database) + "-writer.lock"
    with _locks_guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = WriterLock(path)
        return lock


def _forget_locks() -> None:
    # A forked child must not share the parent's flock (one open file) nor inherit a thread lock held mid-fork.
    global _locks_guard
    _locks.clear()
    _locks_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks)


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its transaction's write lock back when the transaction ends."""

    writer: WriterLock | None = None
    wait_seconds: float = 30.0
    urgent = False  # the request path's connections: they go first
    _holding = False

    def take_writer_lock(self) -> bool:
        """Called before BEGIN; False when the lock was not free within `wait_seconds`."""
        if self.writer is None or self._holding:
            return True
        if not self.writer.acquire(self.wait_seconds, urgent=self.urgent):
            return False
        self._holding = True
        return True

    def give_back(self) -> None:
        if self._holding and self.writer is not None:
            self._holding = False
            self.writer.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_back()


def attach(dbapi_connection: Any, database: str | None, wait_seconds: float, *, urgent: bool = False) -> None:
    """Give a new connection its file's lock (in-memory databases have one connection each: no lock)."""
    if not isinstance(dbapi_connection, LockingConnection) or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return  # URI filenames (shared-cache test databases) keep SQLite's own locking
    dbapi_connection.writer = writer_lock(database)
    dbapi_connection.wait_seconds = wait_seconds
    dbapi_connection.urgent = urgent
