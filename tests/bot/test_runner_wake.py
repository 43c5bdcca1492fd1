"""The pipe through which `serve`'s HTTP workers wake a runner process the moment they queue a command."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from bot.command_worker import CommandRunner, CommandWorker, ResponseUrlPoster
from bot.runner_wake import RunnerWake
from bot.work import WorkPool
from commands import build_table
from commands.router import Router
from services.command_queue import CommandQueue
from services.container import Services
from services.store import create_schema, make_engine


def test_a_wake_up_reaches_a_waiting_runner_and_is_used_up() -> None:
    wake = RunnerWake()
    assert not wake.wait(0.01), "nothing queued: the wait times out"
    wake.notify()
    wake.notify()
    assert wake.wait(5)
    assert not wake.wait(0.01), "both wake-ups were consumed by the one that woke"


def _notify_from_child(wake: RunnerWake) -> None:
    wake.notify()


def test_a_forked_http_worker_wakes_the_runner_through_the_inherited_pipe() -> None:
    wake = RunnerWake()  # made before the fork, as `serve` makes it in gunicorn's master
    child = multiprocessing.get_context("fork").Process(target=_notify_from_child, args=(wake,))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert wake.wait(5)


def test_a_stopping_runner_leaves_a_pending_wake_up_to_the_others() -> None:
    wake = RunnerWake()
    wake.notify()
    stop = threading.Event()
    stop.set()
    assert not wake.wait(30, stop), "a stopping runner takes no more work"
    assert wake.wait(0), "the wake-up is still there for a runner that is not stopping"


def test_notify_never_blocks_when_nobody_reads() -> None:
    wake = RunnerWake()
    for _ in range(100_000):  # far more than a pipe holds
        wake.notify()
    assert wake.wait(1)


def test_a_wake_up_also_wakes_the_runners_outbox_delivery(tmp_path: Path) -> None:
    wake = RunnerWake()
    woken = threading.Event()
    pool = WorkPool(1, 1)
    queue = CommandQueue(make_engine(None, data_dir=tmp_path))
    create_schema(queue.engine)
    runner = CommandRunner(queue, Router(build_table(), Services()), ResponseUrlPoster())
    # Polls only every 30 s: what the test sees within seconds comes from the wake-up.
    worker = CommandWorker(runner, pool, poll_seconds=30, wake=wake, on_woken=woken.set)
    stop = threading.Event()
    loop = threading.Thread(target=worker.run, args=(stop,))
    loop.start()
    try:
        wake.notify()  # an HTTP worker queued a message (a click's answer)
        assert woken.wait(10)
    finally:
        stop.set()
        wake.notify()
        loop.join(10)
        pool.shutdown()
