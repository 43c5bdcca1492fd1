"""Slow commands through the real HTTP path with the store's command queue: acked at once, answered through
their response_url, run once however Slack retries, and never lost when the process running them dies.

The app gets its queue through `Services.command_queue` and bot/app.py starts its worker loop; the tests start a
second, faster-polling loop of their own (two pollers on one queue are harmless: claims never overlap).
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.command_worker import CommandRunner, CommandWorker, ResponseUrlPoster
from commands import build_table
from commands.context import CommandContext, Reply
from commands.router import Router
from commands.table import CommandTable
from services.command_queue import DONE, INTERRUPTED, UNDELIVERED, CommandQueue, CommandRequest
from services.container import Services
from services.store import create_schema, make_engine
from tests.conftest import RunningBot
from tests.services.store.store_fakes import FakeClock

LEASE = 60.0
TIMEOUT = 10.0


class Gated:
    """A slow `/aml train` that runs only when the test lets it, and counts its runs."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.runs: list[str] = []

    def table(self) -> CommandTable:
        table = build_table()
        table.noun("train", "A slow command for tests.")

        def train(context: CommandContext, args: argparse.Namespace) -> Reply:
            """Work that takes as long as the test wants."""
            self.runs.append(context.invocation.trigger_id or "")
            self.started.set()
            self.gate.wait(TIMEOUT)
            return Reply("trained")

        table.add("train", None, train, slow=True)
        return table


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """Engines on one SQLite store (each call: another replica's engine)."""
    engines: list[Engine] = []

    def connect() -> Engine:
        engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
        engines.append(engine)
        return engine

    create_schema(connect())
    yield connect
    for engine in engines:
        engine.dispose()


@pytest.fixture
def workers() -> Iterator[Callable[[RunningBot, CommandQueue], CommandWorker]]:
    """Start a bot's worker loop, as bot/app.py will; stopped at the end of the test."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(running: RunningBot, queue: CommandQueue) -> CommandWorker:
        runner = CommandRunner(queue, running.bot.router, ResponseUrlPoster())
        worker = CommandWorker(runner, running.bot.pool, poll_seconds=0.05)
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
        return worker

    yield start
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT)


def ephemeral_texts(running: RunningBot, user: str = "U_ALICE") -> list[str]:
    return [e.text for e in running.workspace.ephemerals(user=user)]


def test_a_slow_command_is_acked_at_once_and_answered_through_its_response_url(
    start_bot: Callable[..., RunningBot], database: Callable[[], Engine]
) -> None:
    queue = CommandQueue(database())
    train = Gated()
    running = start_bot(table=train.table(), services=Services(command_queue=queue))
    response = running.driver.slash("train")
    assert response.status == 200  # answered while the work is still held at its gate
    assert "trained" not in response.body
    assert train.started.wait(TIMEOUT)
    train.gate.set()
    assert running.workspace.wait_until(lambda: "trained" in ephemeral_texts(running), TIMEOUT)
    assert running.bot.pool.wait_idle(TIMEOUT)
    assert [call.status for call in running.workspace.calls("response_url")] == [200]
    accepted = queue.find(response.trigger_id or "")
    assert accepted is not None and (accepted.state, accepted.outcome) == (DONE, "replied")


def test_a_retried_delivery_runs_once_even_on_another_replica(
    start_bot: Callable[..., RunningBot], database: Callable[[], Engine]
) -> None:
    train = Gated()
    train.gate.set()
    first = start_bot(table=train.table(), services=Services(command_queue=CommandQueue(database())))
    second = start_bot(table=train.table(), services=Services(command_queue=CommandQueue(database())))
    response = first.driver.slash("train")
    retries = [
        first.driver.resend(response, retry_num=1, retry_reason="http_timeout"),
        second.driver.send(response.request_body, headers={"X-Slack-Retry-Num": "2"}),
    ]
    assert [r.status for r in (response, *retries)] == [200, 200, 200]
    assert first.workspace.wait_until(lambda: "trained" in ephemeral_texts(first), TIMEOUT)
    assert first.bot.pool.wait_idle(TIMEOUT) and second.bot.pool.wait_idle(TIMEOUT)
    assert train.runs == [response.trigger_id]
    assert ephemeral_texts(first).count("trained") == 1


def test_a_command_whose_process_died_mid_run_gets_the_restarted_message_once(
    start_bot: Callable[..., RunningBot],
    database: Callable[[], Engine],
    workers: Callable[[RunningBot, CommandQueue], CommandWorker],
) -> None:
    clock = FakeClock()
    # No heartbeat within the test: the replica running the command is as good as dead once its lease lapses.
    dying = CommandQueue(database(), clock=clock, lease_seconds=LEASE, renew_seconds=3600)
    train = Gated()
    running = start_bot(table=train.table(), services=Services(command_queue=dying))
    try:
        response = running.driver.slash("train")
        assert train.started.wait(TIMEOUT)  # claimed and running; it never finishes in time
        clock.advance(LEASE + 1)
        survivors = [
            workers(running, CommandQueue(database(), clock=clock, lease_seconds=LEASE)),
            workers(running, CommandQueue(database(), clock=clock, lease_seconds=LEASE)),
        ]
        with ThreadPoolExecutor(2) as both:  # two replicas taking over at the same moment, besides the loops
            list(both.map(lambda worker: worker.poll_once(), survivors))
        restarted = "The bot restarted while running `/aml train`; it may or may not have completed."
        assert running.workspace.wait_until(
            lambda: any(text.startswith(restarted) for text in ephemeral_texts(running)), TIMEOUT
        )
        clock.advance(LEASE * 5)
        for worker in survivors:
            worker.poll_once()
        notices = [text for text in ephemeral_texts(running) if text.startswith(restarted)]
        assert notices == [restarted + " Check with `/aml help train` before trying again."]
        assert train.runs == [response.trigger_id]  # reported, never run again
        row = dying.find(response.trigger_id or "")
        assert row is not None and row.state == INTERRUPTED
    finally:
        train.gate.set()
    assert running.bot.pool.wait_idle(TIMEOUT)
    row = dying.find(response.trigger_id or "")
    assert row is not None and row.state == INTERRUPTED  # the late finish does not rewrite what was reported


def test_a_command_accepted_by_a_replica_that_died_before_running_it_is_run_by_another(
    start_bot: Callable[..., RunningBot],
    database: Callable[[], Engine],
    workers: Callable[[RunningBot, CommandQueue], CommandWorker],
) -> None:
    train = Gated()
    train.gate.set()
    queue = CommandQueue(database())
    running = start_bot(table=train.table(), services=Services(command_queue=queue))
    # What a replica that acked `/aml train` and died before claiming it leaves behind:
    response_url = running.slack.new_response_url("C_ML", "U_ALICE")
    assert CommandQueue(database()).enqueue(CommandRequest("/aml", "train", "U_ALICE", "C_ML", response_url))
    workers(running, queue)
    assert running.workspace.wait_until(lambda: "trained" in ephemeral_texts(running), TIMEOUT)
    assert len(train.runs) == 1


def test_a_full_pool_refuses_plainly_and_accepts_nothing(
    start_bot: Callable[..., RunningBot], database: Callable[[], Engine]
) -> None:
    queue = CommandQueue(database())
    train = Gated()
    running = start_bot(
        table=train.table(), services=Services(command_queue=queue), work_threads="1", work_queue_limit="1"
    )
    accepted = [running.driver.slash("train")]
    assert train.started.wait(TIMEOUT)  # the one thread is busy
    # The queue of one fills (with the next command, or a worker-loop task racing it): then a command is refused.
    refused = None
    for _ in range(3):
        sent = running.driver.slash("train")
        body = sent.json()
        if body is not None and "too much work queued" in body.get("text", ""):
            refused = sent
            break
        accepted.append(sent)
    assert refused is not None, "a full pool refuses"
    assert queue.find(refused.trigger_id or "") is None  # nothing was done, as the message says
    train.gate.set()
    assert running.workspace.wait_until(
        lambda: ephemeral_texts(running).count("trained") == len(accepted), TIMEOUT
    ), "every accepted command is answered"
    assert all(queue.find(r.trigger_id or "") is not None for r in accepted)


def test_a_reply_that_cannot_be_posted_is_recorded_and_its_url_never_logged(
    start_bot: Callable[..., RunningBot], database: Callable[[], Engine], caplog: pytest.LogCaptureFixture
) -> None:
    queue = CommandQueue(database())
    train = Gated()
    train.gate.set()
    running = start_bot(table=train.table(), services=Services(command_queue=queue))
    dead_url = running.slack.new_response_url("C_ML", "U_ALICE").rsplit("/", 1)[0] + "/no-such-target"
    with caplog.at_level(logging.DEBUG):
        response = running.driver.slash("train", response_url=dead_url)
        assert running.bot.pool.wait_idle(TIMEOUT)
    row = queue.find(response.trigger_id or "")
    assert row is not None and (row.state, row.outcome) == (DONE, UNDELIVERED)
    assert "its reply could not be posted" in caplog.text  # said in the log, without the URL
    assert "no-such-target" not in caplog.text


class _Posted:
    """A response_url poster that keeps what it was given."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def post(self, response_url: str, payload: dict[str, object]) -> None:
        self.texts.append(str(payload["text"]))


def _train(key: str) -> CommandRequest:
    return CommandRequest("/aml", "train", "U_ALICE", "C_ML", "https://hooks.slack.test/1", delivery_key=key)


def test_a_draining_runner_takes_the_next_command_until_its_process_stops(database: Callable[[], Engine]) -> None:
    queue = CommandQueue(database())
    gated = Gated()
    gated.gate.set()
    poster = _Posted()
    runner = CommandRunner(queue, Router(gated.table(), Services()), poster)  # type: ignore[arg-type]
    for key in ("t1", "t2", "t3"):
        queue.enqueue(_train(key))
    assert runner.drain() == 3 and poster.texts == ["trained"] * 3  # one after another, each claimed as the last ends

    for key in ("t4", "t5"):
        queue.enqueue(_train(key))
    runner.stopping.set()  # the process is stopping: the command in hand finishes, the rest waits for a runner
    assert runner.drain() == 1
    assert queue.count_queued(cap=10) == 1
