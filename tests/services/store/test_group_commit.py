"""Rows handed in together are written together; each caller gets its own row's outcome, only after the write."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.store.group_commit import GroupCommit, NotWritten


class Store:
    """Records each batch; `gate` holds a write until the test lets it go."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail: Exception | None = None

    def write(self, rows: list[int]) -> list[int]:
        self.entered.set()
        assert self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        self.batches.append(list(rows))
        return [row * 10 for row in rows]


def test_rows_arriving_during_a_write_go_together_in_the_next_batch_and_each_gets_its_own_result() -> None:
    store = Store()
    commit = GroupCommit(store.write)
    store.gate.clear()
    with ThreadPoolExecutor(9) as threads:
        first = threads.submit(commit.submit, 0, 5)
        assert store.entered.wait(5)
        rest = [threads.submit(commit.submit, n, 5) for n in range(1, 9)]
        deadline = time.monotonic() + 10
        while len(commit._waiting) < 8:  # all eight wait behind the first write
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not any(f.done() for f in rest), "nobody answers before its row is written"
        store.gate.set()
        assert first.result(5) == 0
        assert [f.result(5) for f in rest] == [n * 10 for n in range(1, 9)]
    assert store.batches == [[0], list(range(1, 9))]


def test_a_failed_write_fails_every_row_of_its_batch() -> None:
    store = Store()
    store.fail = RuntimeError("disk full")
    commit = GroupCommit(store.write)
    with pytest.raises(RuntimeError, match="disk full"):
        commit.submit(1, 5)
    store.fail = None
    assert commit.submit(2, 5) == 20  # the next batch is written as usual


def test_a_row_still_waiting_when_its_budget_runs_out_is_never_written() -> None:
    store = Store()
    commit = GroupCommit(store.write)
    store.gate.clear()
    with ThreadPoolExecutor(2) as threads:
        stuck = threads.submit(commit.submit, 1, 5)
        assert store.entered.wait(5)
        with pytest.raises(NotWritten):
            commit.submit(2, 0.05)  # the store is busy with row 1 for longer than row 2 may wait
        store.gate.set()
        assert stuck.result(5) == 10
    assert commit.submit(3, 5) == 30
    assert store.batches == [[1], [3]], "row 2 was given up, so it must not appear later"
