"""LeaderElection: one leader per database, hand-over in seconds, epochs that grow, and fencing of a stale leader.

PostgreSQL from AMLBOT_TEST_DATABASE_URL (a fresh schema per test; these tests FAIL without it unless
AMLBOT_TEST_ALLOW_NO_POSTGRES=1); every election gets a name of its own, so nothing else can hold its lock.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select, text

from services.leader import LeaderElection, NotLeader, unfenced
from services.store import make_engine
from services.store.leader_tables import leader_epochs
from tests.services.store.db_fixtures import ALLOW_NO_PG_ENV, PG_URL_ENV

writes = Table("leader_test_writes", MetaData(), Column("id", Integer, primary_key=True), Column("by", String(64)))
Start = Callable[..., LeaderElection]


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def pg_url() -> str:
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    if os.environ.get(ALLOW_NO_PG_ENV) == "1":
        pytest.skip(f"{PG_URL_ENV} not set and {ALLOW_NO_PG_ENV}=1")
    pytest.fail(f"{PG_URL_ENV} is not set: these tests need PostgreSQL (scripts/test.sh starts one)")


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """An engine on a fresh schema holding the leader table and a table to write to."""
    url = pg_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, schema=schema, pool_pre_ping=False)
    try:
        leader_epochs.create(engine)
        writes.create(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    leader_epochs.create(engine)
    writes.create(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def start() -> Iterator[Start]:
    """Start elections (fast timings, one name per test); all are stopped at the end."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    started: list[LeaderElection] = []

    def start_election(engine: Engine, **options: Any) -> LeaderElection:
        options = {"retry_seconds": 0.5, "heartbeat_seconds": 0.2, **options}
        tag = f"test-leader-{uuid.uuid4().hex[:8]}"
        election = LeaderElection(engine, name, holder=tag, application_name=tag, **options)
        election.start()
        started.append(election)
        return election

    yield start_election
    for election in started:
        election.stop()


def only_leader(*elections: LeaderElection, timeout: float = 15.0) -> LeaderElection:
    wait_until(lambda: any(e.is_leader for e in elections), timeout, "a leader")
    leaders = [e for e in elections if e.is_leader]
    assert len(leaders) == 1, [e.holder for e in leaders]
    return leaders[0]


def terminate_lock_connection(engine: Engine, election: LeaderElection) -> None:
    """What a crashed replica (or a cut network) looks like to the server: its lock connection is gone."""
    with engine.begin() as conn:
        ended = conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": election.holder},
        ).all()
    assert ended == [(True,)]


def claim_waits_on_the_epoch_row(engine: Engine, election: LeaderElection) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO leader_epochs%'"
                ),
                {"name": election.holder},
            ).scalar_one()
        )


def written(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row.by for row in conn.execute(select(writes).order_by(writes.c.id))]


def lost_event(election: LeaderElection) -> threading.Event:
    lost = threading.Event()
    election.on_change(lambda leading, _epoch: None if leading else lost.set())
    return lost


# -- PostgreSQL --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_elections_on_one_database_elect_exactly_one_leader(pg_engine: Engine, start: Start) -> None:
    a, b = start(pg_engine), start(pg_engine)
    leader = only_leader(a, b)
    follower = b if leader is a else a
    # several retry rounds later the follower still follows
    assert not follower.wait_until_leader(timeout=4 * follower.retry_seconds)
    assert leader.is_leader and leader.epoch == 1
    with pg_engine.connect() as conn:
        row = conn.execute(select(leader_epochs).where(leader_epochs.c.name == leader.name)).one()
    assert (row.epoch, row.holder) == (1, leader.holder)


@pytest.mark.postgres
def test_stopping_the_leader_hands_over_to_the_follower(pg_engine: Engine, start: Start) -> None:
    a, b = start(pg_engine), start(pg_engine)
    leader = only_leader(a, b)
    follower = b if leader is a else a
    first_epoch = leader.epoch
    assert first_epoch is not None

    leader.stop()

    assert follower.wait_until_leader(timeout=10)
    assert not leader.is_leader and leader.epoch is None
    assert follower.epoch == first_epoch + 1


@pytest.mark.postgres
def test_a_leader_whose_connection_the_server_ended_steps_down_and_the_other_takes_over(
    pg_engine: Engine, start: Start
) -> None:
    a, b = start(pg_engine), start(pg_engine)
    leader = only_leader(a, b)
    follower = b if leader is a else a
    lost = lost_event(leader)
    first_epoch = leader.epoch
    assert first_epoch is not None

    terminate_lock_connection(pg_engine, leader)

    assert lost.wait(10), "the old leader did not notice it lost its connection"
    assert follower.wait_until_leader(timeout=10)
    assert follower.epoch == first_epoch + 1
    # the old leader reconnects as a follower: still one leader
    assert only_leader(a, b) is follower


@pytest.mark.postgres
def test_the_epoch_grows_with_every_new_leader(pg_engine: Engine, start: Start) -> None:
    epochs = []
    for _ in range(3):
        election = start(pg_engine)
        assert election.wait_until_leader(timeout=10)
        epochs.append(election.epoch)
        election.stop()
    assert epochs == [1, 2, 3]


@pytest.mark.postgres
def test_a_stale_leader_cannot_commit_after_its_successor_began(pg_engine: Engine, start: Start) -> None:
    # the stale leader heartbeats too rarely to notice its lost connection during the test
    stale = start(pg_engine, heartbeat_seconds=300)
    assert stale.wait_until_leader(timeout=10)
    successor = start(pg_engine)
    terminate_lock_connection(pg_engine, stale)
    assert successor.wait_until_leader(timeout=10)
    assert stale.is_leader, "the stale leader should not know yet"

    with pytest.raises(NotLeader), stale.fencing(), pg_engine.begin() as conn:
        conn.execute(insert(writes).values(by="stale"))

    assert written(pg_engine) == []
    assert not stale.is_leader  # the fence told it
    with successor.fencing(), pg_engine.begin() as conn:
        conn.execute(insert(writes).values(by="successor"))
    assert written(pg_engine) == ["successor"]


@pytest.mark.postgres
def test_an_explicit_fence_inside_the_transaction_rolls_the_write_back(pg_engine: Engine, start: Start) -> None:
    stale = start(pg_engine, heartbeat_seconds=300)
    assert stale.wait_until_leader(timeout=10)
    successor = start(pg_engine)
    terminate_lock_connection(pg_engine, stale)
    assert successor.wait_until_leader(timeout=10)

    with pytest.raises(NotLeader), pg_engine.begin() as conn:
        conn.execute(insert(writes).values(by="stale"))
        stale.fence(conn)

    assert written(pg_engine) == []


@pytest.mark.postgres
def test_a_new_leader_begins_only_after_the_old_leaders_open_transaction_ends(
    pg_engine: Engine, start: Start
) -> None:
    old = start(pg_engine, heartbeat_seconds=300)
    assert old.wait_until_leader(timeout=10)
    new = start(pg_engine)
    with old.fencing(), pg_engine.begin() as conn:
        old.fence(conn)  # holds the epoch row until COMMIT
        conn.execute(insert(writes).values(by="old"))
        terminate_lock_connection(pg_engine, old)
        wait_until(lambda: claim_waits_on_the_epoch_row(pg_engine, new), what="the new leader's epoch claim to wait")
        assert not new.is_leader
    assert new.wait_until_leader(timeout=10)
    assert written(pg_engine) == ["old"]  # committed before the new epoch: not a stale write
    assert new.epoch == 2


@pytest.mark.postgres
def test_commits_outside_a_fencing_block_are_not_fenced(pg_engine: Engine, start: Start) -> None:
    election = start(pg_engine)
    assert election.wait_until_leader(timeout=10)
    election.stop()
    # request threads (slash commands, Event Grid) write on every replica, leader or not
    with pg_engine.begin() as conn:
        conn.execute(insert(writes).values(by="request"))
    assert written(pg_engine) == ["request"]


# -- SQLite ------------------------------------------------------------------------------------------------


def test_sqlite_a_single_process_always_leads_and_its_fenced_writes_commit(sqlite_engine: Engine, start: Start) -> None:
    election = start(sqlite_engine)
    assert election.wait_until_leader(timeout=10)
    assert election.epoch == 1
    with election.fencing(), sqlite_engine.begin() as conn:
        conn.execute(insert(writes).values(by="leader"))
    assert written(sqlite_engine) == ["leader"]


def test_sqlite_worker_processes_on_one_file_elect_one_and_hand_over(sqlite_engine: Engine, start: Start) -> None:
    a, b = start(sqlite_engine), start(sqlite_engine)
    leader = only_leader(a, b)
    follower = b if leader is a else a
    assert not follower.wait_until_leader(timeout=4 * follower.retry_seconds)

    leader.stop()

    assert follower.wait_until_leader(timeout=10)
    assert follower.epoch == 2
    with pytest.raises(NotLeader), leader.fencing(), sqlite_engine.begin() as conn:
        conn.execute(insert(writes).values(by="stepped down"))
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(writes)).scalar_one() == 0


def test_sqlite_a_result_recorded_unfenced_lands_after_leadership_went(sqlite_engine: Engine, start: Start) -> None:
    election = start(sqlite_engine)
    assert election.wait_until_leader(timeout=10)
    with election.fencing():
        election.stop()  # e.g. lost while a claimed message was being sent
        with unfenced(), sqlite_engine.begin() as conn:
            conn.execute(insert(writes).values(by="result of claimed work"))
        with pytest.raises(NotLeader), sqlite_engine.begin() as conn:
            conn.execute(insert(writes).values(by="new work"))
    assert written(sqlite_engine) == ["result of claimed work"]
