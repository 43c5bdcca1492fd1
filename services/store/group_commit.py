"""Group commit: rows handed in by many threads at once are written in one transaction.

Under a burst of requests every thread answering one wants its row written before it answers. One at a time,
each pays a transaction and a turn at the store's write lock, and they queue behind each other. Here the first
thread to arrive writes what is waiting; those arriving meanwhile wait and go together in the next batch,
written by one of them. Nobody answers before its own row is committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Row = TypeVar("Row")
Result = TypeVar("Result")


class NotWritten(Exception):
    """The row waited longer than its budget for its turn; it was not written and will not be."""


@dataclass
class _Item(Generic[Row, Result]):
    row: Row
    taken: bool = False  # in a batch being written: its outcome will come, however long that takes
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Row, Result]):
    """Write rows in batches with `write` (one transaction per batch, one result per row, in order)."""

    def __init__(self, write: Callable[[list[Row]], list[Result]]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._waiting: list[_Item[Row, Result]] = []
        self._writing = False

    def submit(self, row: Row, budget_seconds: float) -> Result:
        """Write `row` (with whatever else is waiting) and return its result; raise what the write raised, or
        NotWritten when no batch took it within `budget_seconds`."""
        item: _Item[Row, Result] = _Item(row)
        deadline = time.monotonic() + budget_seconds
        with self._changed:
            self._waiting.append(item)
            while not item.taken:
                if not self._writing:
                    batch = self._take_waiting()  # this thread writes, its own row included
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self._waiting.remove(item)
                    raise NotWritten()
                self._changed.wait(left)
            else:
                while not item.done:  # another thread writes it: the outcome is on its way
                    self._changed.wait()
                return _outcome(item)
        self._write_batch(batch)
        return _outcome(item)

    def _take_waiting(self) -> list[_Item[Row, Result]]:
        batch, self._waiting = self._waiting, []
        for item in batch:
            item.taken = True
        self._writing = True
        return batch

    def _write_batch(self, batch: list[_Item[Row, Result]]) -> None:
        results: list[Result] = []
        error: BaseException | None = None
        try:
            results = self._write([item.row for item in batch])
        except BaseException as err:  # every row of the batch shares the outcome, and the writer re-raises it
            error = err
        with self._changed:
            for index, item in enumerate(batch):
                item.error = error
                item.result = results[index] if error is None else None
                item.done = True
            self._writing = False
            self._changed.notify_all()


def _outcome(item: _Item[Row, Result]) -> Result:
    if item.error is not None:
        raise item.error
    return item.result  # type: ignore[return-value]  # set for every row when no error
