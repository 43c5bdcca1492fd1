"""The bot's background loops (job watcher sweeps, outbox delivery), each in its own thread.

Sweeps that must run in one process at a time are wrapped in LeaderGatedLoop: it waits for this process to
lead (services.leader.LeaderElection), runs the loop until leadership goes (or the bot stops), and waits again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

logger = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]


class Leadership(Protocol):
    """What a gated loop needs of an election (services.leader.LeaderElection is one)."""

    @property
    def is_leader(self) -> bool: ...

    def wait_until_leader(self, stop: threading.Event | None = None, timeout: float | None = None) -> bool: ...

    def on_change(self, callback: Callable[[bool, int | None], None]) -> Callable[[], None]: ...

    def fencing(self) -> AbstractContextManager[None]: ...


class BackgroundLoops:
    """Start named loops that run until told to stop; each loop returns when its stop event is set."""

    def __init__(self, loops: Mapping[str, Loop]) -> None:
        self._loops = dict(loops)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        for name, loop in self._loops.items():
            thread = threading.Thread(target=self._run, args=(name, loop), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, name: str, loop: Loop) -> None:
        try:
            loop(self._stop)
        except Exception:
            logger.exception("background loop %s stopped on an error", name)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()


class LeaderGatedLoop:
    """Run `loop` only while this process leads: its stop event is set when leadership is lost or the bot
    stops; when leadership comes back it runs again. Every commit the loop's thread makes on the election's
    engine is fenced (a stale leader's write fails with NotLeader and rolls back)."""

    def __init__(self, election: Leadership, loop: Loop, *, name: str = "loop", retry_seconds: float = 2.0) -> None:
        self.election = election
        self.loop = loop
        self.name = name
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._term: threading.Event | None = None
        self.terms = 0  # how many times the loop was started (a leadership term each)

    def __call__(self, stop: threading.Event) -> None:
        # One helper thread per gated loop passes the bot's stop on to the current term (no polling).
        threading.Thread(target=self._end_term_on, args=(stop,), name=f"{self.name}:stop", daemon=True).start()
        while not stop.is_set():
            if not self.election.wait_until_leader(stop):
                return
            term = threading.Event()
            with self._lock:
                self._term = term
            if stop.is_set():
                term.set()
            unsubscribe = self.election.on_change(_ends_on_loss(term))
            try:
                if not self.election.is_leader:  # lost between the wait and the subscription
                    continue
                self._run_term(term)
            finally:
                unsubscribe()
                term.set()

    def _run_term(self, term: threading.Event) -> None:
        self.terms += 1
        logger.info("%s: this process leads; running", self.name)
        try:
            with self.election.fencing():
                self.loop(term)
        except Exception:
            logger.exception("%s stopped on an error; starting it again in %g s", self.name, self.retry_seconds)
            term.wait(self.retry_seconds)
        else:
            if not term.is_set():  # returned by itself while leading: do not spin
                term.wait(self.retry_seconds)
        logger.info("%s: stopped (leading: %s)", self.name, self.election.is_leader)

    def _end_term_on(self, stop: threading.Event) -> None:
        stop.wait()
        with self._lock:
            term = self._term
        if term is not None:
            term.set()


def _ends_on_loss(term: threading.Event) -> Callable[[bool, int | None], None]:
    def on_change(leading: bool, _epoch: int | None) -> None:
        if not leading:
            term.set()

    return on_change


def leader_only(election: Leadership, loops: Mapping[str, Loop]) -> dict[str, Loop]:
    """The same loops, each gated on `election` (for BackgroundLoops)."""
    return {name: LeaderGatedLoop(election, loop, name=name) for name, loop in loops.items()}
