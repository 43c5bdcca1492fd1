"""A store too busy to take a command within the ack's budget does not cost the person their answer: the command
runs in the process that received it, as it did before the queue existed."""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable
from pathlib import Path

from commands import build_table
from commands.context import CommandContext, Reply
from commands.table import CommandTable
from services.command_queue import CommandQueue
from services.container import Services
from services.store import create_schema, make_engine
from tests.conftest import RunningBot

TIMEOUT = 10.0


def table_with_train(ran: list[str]) -> CommandTable:
    table = build_table()
    table.noun("train", "A slow command for tests.")

    def train(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Train (instantly)."""
        ran.append(context.invocation.trigger_id or "")
        return Reply("trained")

    table.add("train", None, train, slow=True)
    return table


def test_a_locked_store_falls_back_to_running_the_command_here(
    start_bot: Callable[..., RunningBot], tmp_path: Path
) -> None:
    database = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{database}")
    create_schema(engine)
    queue = CommandQueue(engine, enqueue_engine=make_engine(f"sqlite:///{database}", wait_budget_ms=50))
    ran: list[str] = []
    running = start_bot(table=table_with_train(ran), services=Services(command_queue=queue))

    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the store for longer than the ack may wait
    try:
        response = running.driver.slash("train", user="U_ALICE", channel="C_ML")
        assert response.status == 200 and response.acked_in_time
        assert running.workspace.wait_until(
            lambda: any(e.text == "trained" for e in running.workspace.ephemerals(user="U_ALICE")), TIMEOUT
        ), "the answer arrives while the store is still locked"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(ran) == 1
    assert queue.count_queued(cap=10) == 0, "nothing was left in the store to run a second time"
