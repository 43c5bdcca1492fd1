"""Leader election for the background sweeps: one process runs them at a time, another takes over in seconds.

PostgreSQL: a session advisory lock held on a connection of the election's own, outside SQLAlchemy's pool (a
pooled connection would lend the lock to whoever borrows it next), with TCP keepalives on both ends so a dead
peer is noticed in seconds. The server releases the lock when that connection goes, whatever killed the
process. The holder heartbeats every `heartbeat_seconds` and gives up leadership the moment the connection
fails; followers wait on the lock in slices of `retry_seconds`, so the next one gets it as soon as it is free.

Fencing: the winner adds 1 to its row of `leader_epochs` right after taking the lock. `fence(conn)` reads that
row inside a write transaction, holding a share lock until COMMIT (the next winner's +1 waits for it), and
raises NotLeader when the epoch is no longer ours: a leader that lost the lock without noticing yet (paused,
cut off) cannot commit after its successor began. `with election.fencing():` fences every commit that the
current thread makes on the election's engine (what a leader-only loop wants; see bot.background).

SQLite is for one host: an exclusive flock on `<database file>.leader` stands in for the lock, so a single
process always leads and several worker processes on one file elect one of them (the kernel drops the lock
when its process dies). A database without a file (in memory) takes no lock: its one process leads.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import Connection, Engine, event, insert, select, text, update

from services.store.clock import utc_now
from services.store.leader_tables import leader_epochs

log = logging.getLogger(__name__)

DEFAULT_NAME = "aml-bot scheduler"
# libpq keepalives: first probe after 2 s idle, then every 1 s, 3 misses = dead (~5 s); unacknowledged sends
# give up after 5 s. The server-side settings let the server drop a vanished client as fast.
CLIENT_KEEPALIVES: dict[str, Any] = dict(
    keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=3, tcp_user_timeout=5000, connect_timeout=5
)
SERVER_KEEPALIVES = "-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3"
# The new leader's epoch +1 waits for the old leader's sweep transactions (they hold a share lock on the row).
CLAIM_LOCK_TIMEOUT = "30s"

ChangeCallback = Callable[[bool, int | None], None]


class NotLeader(Exception):
    """This process does not lead (or no longer does): the sweep's transaction must not commit."""


def lock_key(name: str, namespace: str = "") -> int:
    """The advisory lock's 64-bit key: a stable hash of the election's name (and the schema it lives in)."""
    digest = hashlib.blake2b(f"{name}\0{namespace}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


class _Seat(Protocol):
    """What holds the lock for an election: take it, claim the next epoch, prove it still holds it, let go."""

    def take(self, timeout: float, stop: threading.Event) -> bool: ...
    def claim_epoch(self, name: str, holder: str) -> int: ...
    def beat(self, name: str, epoch: int) -> bool: ...
    def leave(self) -> None: ...
    def close(self) -> None: ...
    def interrupt(self) -> None: ...


class _PostgresSeat:
    """The advisory lock on a dedicated psycopg connection (only the election's thread uses it)."""

    def __init__(self, engine: Engine, name: str, application_name: str) -> None:
        self._engine = engine
        self._name = name
        self._application_name = application_name[:63]
        self._conn: psycopg.Connection[Any] | None = None
        self._search_path: str | None = None
        self.key: int | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self.close()
        if self._search_path is None:
            # The pooled connections' search_path (a schema per deployment or test): same tables, own lock.
            with self._engine.connect() as pooled:
                self._search_path = str(pooled.execute(text("SHOW search_path")).scalar_one())
            self.key = lock_key(self._name, self._search_path)
        _, params = self._engine.dialect.create_connect_args(self._engine.url)
        params = {k: v for k, v in params.items() if k != "context"}
        params["options"] = f"{params.get('options', '')} {SERVER_KEEPALIVES}".strip()
        conn = psycopg.connect(
            **{**params, **CLIENT_KEEPALIVES}, autocommit=True, application_name=self._application_name
        )
        conn.execute("SELECT set_config('search_path', %s, false)", [self._search_path])
        self._conn = conn
        return conn

    def take(self, timeout: float, stop: threading.Event) -> bool:
        conn = self._connection()
        conn.execute("SELECT set_config('lock_timeout', %s, false)", [f"{max(1, int(timeout * 1000))}ms"])
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", [self.key])
        except (pg_errors.LockNotAvailable, pg_errors.QueryCanceled):
            return False  # someone else leads (or stop() interrupted the wait)
        return True

    def claim_epoch(self, name: str, holder: str) -> int:
        conn = self._connection()
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{CLAIM_LOCK_TIMEOUT}'")
            row = conn.execute(
                "INSERT INTO leader_epochs (name, epoch, holder, since, heartbeat_at) "
                "VALUES (%s, 1, %s, now(), now()) ON CONFLICT (name) DO UPDATE SET "
                "epoch = leader_epochs.epoch + 1, holder = excluded.holder, since = excluded.since, "
                "heartbeat_at = excluded.heartbeat_at RETURNING epoch",
                [name, holder],
            ).fetchone()
        assert row is not None
        return int(row[0])

    def beat(self, name: str, epoch: int) -> bool:
        conn = self._connection()
        row = conn.execute("SELECT epoch FROM leader_epochs WHERE name = %s", [name]).fetchone()
        if row is None or int(row[0]) != epoch:
            return False
        # our own sweeps may hold the row a moment: skip this write then, the read above proved enough
        with suppress(pg_errors.LockNotAvailable), conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '100ms'")
            conn.execute("UPDATE leader_epochs SET heartbeat_at = now() WHERE name = %s AND epoch = %s", [name, epoch])
        return True

    def leave(self) -> None:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock_all()")

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def interrupt(self) -> None:
        conn = self._conn
        if conn is not None and not conn.closed:
            with suppress(Exception):
                conn.cancel_safe(timeout=2.0)


class _FileSeat:
    """SQLite: an flock on a file beside the database (no database file, no lock: always taken)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        database = engine.url.database
        on_disk = database and database != ":memory:" and not database.startswith("file:")
        self.path = Path(f"{database}.leader") if on_disk else None
        self._fd: int | None = None

    def take(self, timeout: float, stop: threading.Event) -> bool:
        if self.path is None:
            return True
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                # the kernel cannot wake a waiter with a timeout: look again every 0.1 s
                if remaining <= 0 or stop.wait(min(0.1, remaining)):
                    return False

    def claim_epoch(self, name: str, holder: str) -> int:
        now = utc_now()
        t = leader_epochs
        with self._engine.begin() as conn:  # BEGIN IMMEDIATE: no other writer between the update and the insert
            moved = conn.execute(
                update(t)
                .where(t.c.name == name)
                .values(epoch=t.c.epoch + 1, holder=holder, since=now, heartbeat_at=now)
            )
            if moved.rowcount == 0:
                conn.execute(insert(t).values(name=name, epoch=1, holder=holder, since=now, heartbeat_at=now))
            return int(conn.execute(select(t.c.epoch).where(t.c.name == name)).scalar_one())

    def beat(self, name: str, epoch: int) -> bool:
        t = leader_epochs
        with self._engine.begin() as conn:
            moved = conn.execute(update(t).where(t.c.name == name, t.c.epoch == epoch).values(heartbeat_at=utc_now()))
            return bool(moved.rowcount == 1)

    def leave(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock too

    def interrupt(self) -> None:
        pass  # take() waits on the stop event itself


_fenced = threading.local()


def _fence_commit(conn: Connection) -> None:
    """SQLAlchemy's commit hook: fence the commit when the current thread runs under `election.fencing()`."""
    term: tuple[LeaderElection, int | None] | None = getattr(_fenced, "term", None)
    if term is not None and conn.engine is term[0].engine:
        term[0]._fence(conn, term[1])


def install_commit_fence(engine: Engine) -> None:
    """Make threads inside `election.fencing()` fence each commit on `engine` (idempotent; others are untouched)."""
    if not event.contains(engine, "commit", _fence_commit):
        event.listen(engine, "commit", _fence_commit)


@contextmanager
def unfenced() -> Iterator[None]:
    """Commit without the fence inside a `fencing()` block: for recording the result of work that was claimed
    under the fence and is guarded by its own lease or token (a sent message, a finished deletion)."""
    previous = getattr(_fenced, "term", None)
    _fenced.term = None
    try:
        yield
    finally:
        _fenced.term = previous


class LeaderElection:
    """Elects one leader among the processes on one database; thread-safe. start() it, stop() it at exit.

    on_change callbacks run in the thread that saw the change, with (is_leader, epoch); keep them quick and
    do not call stop() from one.
    """

    def __init__(
        self,
        engine: Engine,
        name: str = DEFAULT_NAME,
        *,
        retry_seconds: float = 2.0,
        heartbeat_seconds: float = 1.0,
        holder: str | None = None,
        application_name: str = "aml-bot leader election",
    ) -> None:
        self.engine = engine
        self.name = name
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._seat: _Seat
        if engine.dialect.name == "postgresql":
            self._seat = _PostgresSeat(engine, name, application_name)
        else:
            self._seat = _FileSeat(engine)
        install_commit_fence(engine)
        self._transition = threading.RLock()  # one state change (and its callbacks) at a time, in order
        self._epoch: int | None = None
        self._leading = threading.Event()
        self._stopping = threading.Event()
        self._callbacks: list[ChangeCallback] = []
        self._thread: threading.Thread | None = None
        self._trouble: str | None = None

    # ---------------------------------------------------------------- public

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    @property
    def epoch(self) -> int | None:
        """The fencing token of the current term while this process leads, else None."""
        with self._transition:
            return self._epoch

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"leader-election:{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Step down and release the lock (a follower takes over at once)."""
        self._stopping.set()
        self._seat.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_until_leader(self, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Block until this process leads (True), `stop` is set or `timeout` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._leading.is_set():
            if stop is not None and stop.is_set():
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            # `stop` cannot wake this wait: look at it every 0.1 s
            slice_ = remaining if stop is None else min(0.1, remaining if remaining is not None else 0.1)
            self._leading.wait(slice_)
        return True

    def on_change(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call `callback(is_leader, epoch)` on every change; returns a function that unsubscribes it."""
        with self._transition:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._transition, suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def fence(self, conn: Connection) -> int:
        """Raise NotLeader unless this process leads and its epoch is still the current one; call inside the
        write transaction. PostgreSQL keeps a share lock on the epoch row until the transaction ends, so no
        new leader can begin between this check and the COMMIT. Returns the epoch.
        """
        return self._fence(conn, self.epoch)

    def _fence(self, conn: Connection, epoch: int | None) -> int:
        if epoch is None:
            raise NotLeader(f"this process does not lead {self.name!r}; the leader's sweeps run elsewhere")
        query = select(leader_epochs.c.epoch).where(leader_epochs.c.name == self.name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        current = conn.execute(query).scalar()
        if current != epoch or not self.is_leader:
            self._lose(f"epoch {current} superseded ours ({epoch})", only_epoch=epoch)
            raise NotLeader(f"the term of epoch {epoch} of {self.name!r} is over (the current epoch is {current})")
        return epoch

    @contextmanager
    def fencing(self) -> Iterator[None]:
        """Fence every commit this thread makes on the election's engine while inside the block, against the
        epoch of entry: after a change of term (even back to this process) the block's commits fail."""
        previous = getattr(_fenced, "term", None)
        _fenced.term = (self, self.epoch)
        try:
            yield
        finally:
            _fenced.term = previous

    # ---------------------------------------------------------------- the election's thread

    def _run(self) -> None:
        holding = False
        while not self._stopping.is_set():
            try:
                if holding and not self.is_leader:  # lost through fence() or a failed heartbeat
                    self._seat.leave()
                    holding = False
                if not holding:
                    taken = self._seat.take(self.retry_seconds, self._stopping)
                    self._recovered()
                    if not taken:
                        continue
                    holding = True
                    epoch = self._seat.claim_epoch(self.name, self.holder)
                    if not self._stopping.is_set():
                        self._become(epoch)
                elif not self._stopping.wait(self.heartbeat_seconds):
                    current = self.epoch
                    if current is not None and not self._seat.beat(self.name, current):
                        self._lose("another process claimed a newer epoch", only_epoch=current)
                self._recovered()
            except Exception as err:
                self._lose(f"the database connection failed ({_first_line(err)})")
                self._seat.close()
                holding = False
                if self._stopping.is_set():
                    break  # stop() interrupted a statement: nothing to report
                self._report_trouble(err)
                self._stopping.wait(self.retry_seconds)
        self._lose("stopping")
        with suppress(Exception):
            self._seat.leave()
        self._seat.close()

    def _become(self, epoch: int) -> None:
        with self._transition:
            self._epoch = epoch
            self._leading.set()
            log.info("%s: became leader (epoch %d) as %s", self.name, epoch, self.holder)
            self._notify(True, epoch)

    def _lose(self, reason: str, *, only_epoch: int | None = None) -> None:
        with self._transition:
            epoch = self._epoch
            if epoch is None or (only_epoch is not None and epoch != only_epoch):
                return
            self._epoch = None
            self._leading.clear()
            if reason == "stopping":
                log.info("%s: stepped down (epoch %d): stopping", self.name, epoch)
            else:
                log.warning("%s: lost leadership (epoch %d): %s", self.name, epoch, reason)
            self._notify(False, None)

    def _notify(self, leading: bool, epoch: int | None) -> None:
        for callback in list(self._callbacks):
            try:
                callback(leading, epoch)
            except Exception:
                log.exception("%s: a leadership callback failed", self.name)

    def _report_trouble(self, err: Exception) -> None:
        """Say once that the election cannot work, and why; the loop keeps trying every retry_seconds."""
        trouble = _first_line(err)
        if trouble != self._trouble:
            hint = " (run `python -m bot migrate`?)" if "leader_epochs" in trouble else ""
            log.warning(
                "%s: leader election cannot use the database: %s%s; trying again every %g s",
                self.name,
                trouble,
                hint,
                self.retry_seconds,
            )
        self._trouble = trouble

    def _recovered(self) -> None:
        if self._trouble is not None:
            log.info("%s: leader election reaches the database again", self.name)
            self._trouble = None
