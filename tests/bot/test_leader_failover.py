"""Three replica processes on one PostgreSQL (bench.failover's replicas: LeaderElection + LeaderGatedLoop, a
fenced sweep that writes (pid, epoch, time) every 0.1 s while leading). Kill or pause the leader: another process
leads next with a higher epoch, no epoch has two writers, and nothing of an old epoch lands after a newer one."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, text

from bench.failover import (
    FENCED,
    BenchDatabase,
    Replica,
    Sweep,
    all_sweeps,
    invariants,
    last_sweep,
    spawn_replica,
    sweeps_in_epoch,
)
from tests.services.store.db_fixtures import ALLOW_NO_PG_ENV, PG_URL_ENV

pytestmark = pytest.mark.postgres
Spawn = Callable[..., list[Replica]]
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def db() -> Iterator[BenchDatabase]:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get(ALLOW_NO_PG_ENV) == "1":
            pytest.skip(f"{PG_URL_ENV} not set and {ALLOW_NO_PG_ENV}=1")
        pytest.fail(f"{PG_URL_ENV} is not set: this test needs PostgreSQL (scripts/test.sh starts one)")
    database = BenchDatabase(url).create()
    yield database
    database.drop()


@pytest.fixture
def spawn(db: BenchDatabase, tmp_path: Path) -> Iterator[Spawn]:
    started: list[Replica] = []

    def spawn_replicas(count: int, *, heartbeat: float = 0.2) -> list[Replica]:
        new = [spawn_replica(db, tmp_path, retry=0.5, heartbeat=heartbeat, every=0.1) for _ in range(count)]
        started.extend(new)
        return new

    yield spawn_replicas
    for replica in started:
        if replica.alive():
            os.kill(replica.pid, signal.SIGCONT)
        replica.stop()


def settled_leader(engine: Engine, replicas: list[Replica]) -> Sweep:
    """The leading replica's latest sweep, once it has swept three times in its epoch."""

    def probe() -> Sweep | None:
        latest = last_sweep(engine)
        return latest if latest and sweeps_in_epoch(engine, latest.epoch) >= 3 else None

    try:
        sweep = wait_for(probe, what="a leader to sweep")
    except AssertionError:
        raise AssertionError("no leader:\n" + "\n".join(r.log()[-2000:] for r in replicas)) from None
    assert sweep.pid in {r.pid for r in replicas}
    return sweep


def first_sweep_after(engine: Engine, epoch: int) -> Sweep | None:
    return next((s for s in all_sweeps(engine) if s.epoch > epoch), None)


def assert_fenced_history(engine: Engine, old: Sweep, new: Sweep) -> None:
    found = invariants(engine)
    assert found.shared_epochs == [], "two processes swept in the same epoch"
    assert found.out_of_order == [], "a stale leader committed after its successor began"
    late = [s for s in all_sweeps(engine, after_id=new.id) if s.pid == old.pid]
    assert late == [], "the old leader swept after the new leader began"


def test_sigkill_of_the_leader_hands_the_sweeps_to_another_process_with_a_higher_epoch(
    db: BenchDatabase, spawn: Spawn
) -> None:
    engine = db.engine()
    replicas = spawn(3)
    leader = settled_leader(engine, replicas)
    killed = next(r for r in replicas if r.pid == leader.pid)

    os.kill(killed.pid, signal.SIGKILL)
    killed.process.wait()

    new = wait_for(lambda: first_sweep_after(engine, leader.epoch), what="a new leader's first sweep")
    assert new.pid != killed.pid and new.pid in {r.pid for r in replicas}
    assert new.epoch > leader.epoch
    wait_for(lambda: sweeps_in_epoch(engine, new.epoch) >= 5, what="the new leader to keep sweeping")
    assert_fenced_history(engine, leader, new)


def test_a_paused_leader_that_lost_its_lock_is_fenced_when_it_wakes_up(db: BenchDatabase, spawn: Spawn) -> None:
    engine = db.engine()
    # heartbeats too rare to notice the lost lock first: the fence is what stops the woken leader
    replicas = spawn(3, heartbeat=60)
    leader = settled_leader(engine, replicas)
    paused = next(r for r in replicas if r.pid == leader.pid)

    pause_between_transactions(engine, paused)
    with engine.begin() as conn:  # the server ends its lock connection, as after a network cut
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": f"failover-replica-{paused.pid}"},
        )
    new = wait_for(lambda: first_sweep_after(engine, leader.epoch), what="a new leader's first sweep")
    os.kill(paused.pid, signal.SIGCONT)

    wait_for(lambda: FENCED in paused.output(), what="the woken leader's sweep to be fenced")
    wait_for(lambda: sweeps_in_epoch(engine, new.epoch) >= 5, what="the new leader to keep sweeping")
    assert new.pid != paused.pid and new.epoch > leader.epoch
    assert_fenced_history(engine, leader, new)


def pause_between_transactions(engine: Engine, replica: Replica) -> None:
    """SIGSTOP the replica at a moment when none of its pooled connections is inside a transaction (a
    transaction left open would rightly hold the new leader back until it ends)."""
    for _ in range(100):
        os.kill(replica.pid, signal.SIGSTOP)
        with engine.connect() as conn:
            busy = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND state <> 'idle'"),
                {"name": f"failover-pool-{replica.pid}"},
            ).scalar_one()
        if not busy:
            return
        os.kill(replica.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the replica was always inside a transaction")
