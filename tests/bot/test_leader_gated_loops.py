"""LeaderGatedLoop: a background loop runs only in the process that leads, stops when leadership goes, and
runs again when it comes back. Two elections on one SQLite file stand for two worker processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select, update

from bot.background import BackgroundLoops, LeaderGatedLoop, leader_only
from services.leader import LeaderElection, NotLeader
from services.store import make_engine
from services.store.leader_tables import leader_epochs

ticks = Table(
    "gated_ticks",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("by", String(32), nullable=False),
    Column("epoch", Integer, nullable=False),
)


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


class Sweeper:
    """A sweep loop that records a tick (who, epoch) every 50 ms in a fenced transaction until stopped."""

    def __init__(self, engine: Engine, election: LeaderElection, name: str) -> None:
        self.engine, self.election, self.name = engine, election, name
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.fenced = 0

    def __call__(self, stop: threading.Event) -> None:
        self.stopped.clear()
        self.running.set()
        try:
            while not stop.is_set():
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(ticks).values(by=self.name, epoch=self.election.epoch or 0))
                except NotLeader:
                    self.fenced += 1
                stop.wait(0.05)
        finally:
            self.running.clear()
            self.stopped.set()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    leader_epochs.create(engine)
    ticks.create(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def replicas(engine: Engine) -> Iterator[Callable[[str], tuple[LeaderElection, Sweeper, BackgroundLoops]]]:
    """Start a 'process': its election and its background loops with one gated sweeper; all stopped at the end."""
    started: list[tuple[LeaderElection, BackgroundLoops]] = []

    def replica(name: str) -> tuple[LeaderElection, Sweeper, BackgroundLoops]:
        election = LeaderElection(engine, "sweeps", retry_seconds=0.2, heartbeat_seconds=0.1, holder=name)
        sweeper = Sweeper(engine, election, name)
        loops = BackgroundLoops(leader_only(election, {f"sweeper-{name}": sweeper}))
        election.start()
        loops.start()
        started.append((election, loops))
        return election, sweeper, loops

    yield replica
    for election, loops in started:
        loops.stop()
        election.stop()


def ticks_by(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(row.by, row.epoch) for row in conn.execute(select(ticks).order_by(ticks.c.id))]


def test_only_the_leaders_loop_runs(engine: Engine, replicas: Callable[..., tuple]) -> None:
    a, sweeper_a, _ = replicas("a")
    b, sweeper_b, _ = replicas("b")
    wait_until(lambda: len(ticks_by(engine)) >= 5, what="five sweeps")
    leader = "a" if a.is_leader else "b"
    follower_sweeper = sweeper_b if leader == "a" else sweeper_a

    assert {by for by, _ in ticks_by(engine)} == {leader}
    assert not follower_sweeper.running.is_set()


def test_losing_leadership_stops_the_loop_and_the_other_process_takes_over(
    engine: Engine, replicas: Callable[..., tuple]
) -> None:
    a, sweeper_a, _ = replicas("a")
    assert a.wait_until_leader(timeout=10)
    wait_until(sweeper_a.running.is_set, what="a's sweeper")
    b, sweeper_b, _ = replicas("b")

    a.stop()

    assert sweeper_a.stopped.wait(10), "a's sweeper kept running after a stepped down"
    wait_until(sweeper_b.running.is_set, what="b's sweeper")
    handed_over = len(ticks_by(engine))
    wait_until(lambda: len(ticks_by(engine)) >= handed_over + 3, what="b's sweeps")
    assert {by for by, _ in ticks_by(engine)[handed_over:]} == {"b"}
    assert b.epoch == 2


def test_a_loop_whose_epoch_was_taken_stops_and_runs_again_when_this_process_leads_again(
    engine: Engine, replicas: Callable[..., tuple]
) -> None:
    a, sweeper_a, _ = replicas("a")
    assert a.wait_until_leader(timeout=10)
    wait_until(lambda: len(ticks_by(engine)) >= 2, what="sweeps in epoch 1")

    with engine.begin() as conn:  # another process claimed the lead meanwhile (it has since gone)
        conn.execute(update(leader_epochs).values(epoch=leader_epochs.c.epoch + 1))

    wait_until(lambda: a.epoch == 3, what="a to lead again with a new epoch")
    wait_until(lambda: (("a", 3) in ticks_by(engine)), what="a sweep in epoch 3")
    seen = ticks_by(engine)
    assert {epoch for _, epoch in seen} == {1, 3}  # nothing was committed under the taken epoch 2
    assert [epoch for _, epoch in seen] == sorted(epoch for _, epoch in seen)


def test_stopping_the_bot_ends_the_running_and_the_waiting_gated_loops(
    engine: Engine, replicas: Callable[..., tuple]
) -> None:
    a, sweeper_a, loops_a = replicas("a")
    assert a.wait_until_leader(timeout=10)
    wait_until(sweeper_a.running.is_set, what="a's sweeper")
    _, sweeper_b, loops_b = replicas("b")

    loops_a.stop()
    loops_b.stop()

    assert sweeper_a.stopped.is_set()
    assert not sweeper_b.running.is_set()
    alive = {t.name for t in threading.enumerate()}
    assert not alive & {"sweeper-a", "sweeper-b"}, alive


def test_a_gated_loop_that_fails_is_started_again_while_leading(engine: Engine) -> None:
    election = LeaderElection(engine, "sweeps", retry_seconds=0.2, heartbeat_seconds=0.1)
    calls: list[int] = []

    def flaky(stop: threading.Event) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the first sweep fails")
        stop.wait()

    stop = threading.Event()
    gate = LeaderGatedLoop(election, flaky, name="flaky", retry_seconds=0.05)
    thread = threading.Thread(target=gate, args=(stop,))
    election.start()
    thread.start()
    try:
        wait_until(lambda: len(calls) == 2, what="the loop to be started again")
        assert gate.terms == 2
    finally:
        stop.set()
        thread.join(10)
        election.stop()
    assert not thread.is_alive()
