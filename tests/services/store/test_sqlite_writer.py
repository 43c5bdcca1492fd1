"""SQLite writers queue on the store's own lock: threads and processes on one file never fail to write, a
transaction that ends in any way gives the lock back, and a caller with a budget gives up when it runs out."""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from services.store import make_engine


def _counter(path: Path, **kwargs: object) -> Engine:
    engine = make_engine(f"sqlite:///{path}", **kwargs)  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL)"))
        if conn.execute(text("SELECT COUNT(*) FROM counter")).scalar_one() == 0:
            conn.execute(text("INSERT INTO counter VALUES (0)"))
    return engine


def _add(engine: Engine, times: int) -> None:
    for _ in range(times):
        with engine.begin() as conn:  # read, then write: a lost update would show in the total
            n = conn.execute(text("SELECT n FROM counter")).scalar_one()
            conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})


def _add_in_threads(path: str, threads: int, times: int) -> None:
    engine = _counter(Path(path))
    workers = [threading.Thread(target=_add, args=(engine, times)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _hold(path: str, holding: Event, release: Event) -> None:
    engine = _counter(Path(path))
    with engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = n + 1"))
        holding.set()
        release.wait(30)


def test_threads_of_two_processes_all_write_and_no_update_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = _counter(path)
    context = multiprocessing.get_context("fork")
    other = context.Process(target=_add_in_threads, args=(str(path), 4, 50))
    other.start()
    _add_in_threads(str(path), 4, 50)
    other.join(60)
    assert other.exitcode == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 400


def test_a_budgeted_writer_gives_up_while_another_process_writes_and_succeeds_after(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    budgeted = _counter(path, wait_budget_ms=100)
    context = multiprocessing.get_context("fork")
    holding, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(path), holding, release))
    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(OperationalError, match="locked"):
            _add(budgeted, 1)
    finally:
        release.set()
        holder.join(30)
    _add(budgeted, 1)
    with budgeted.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 2


def test_a_transaction_that_fails_gives_the_lock_back(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = _counter(path)
    with pytest.raises(ZeroDivisionError), engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = n + 1"))
        1 / 0  # noqa: B018
    budgeted = make_engine(f"sqlite:///{path}", wait_budget_ms=100)
    writer = threading.Thread(target=_add, args=(budgeted, 1))
    writer.start()
    writer.join(10)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 1
