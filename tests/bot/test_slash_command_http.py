"""`/aml` through the production request path: signed HTTP → Bolt → router → ack, slow work afterwards."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.devslack import Workspace
from commands import build_table
from commands.context import CommandContext, Reply
from commands.table import CommandTable
from services.container import Services
from services.deliveries import DeliveryLedger
from services.store import create_schema, make_engine
from tests.conftest import RunningBot


def slow_table(seconds: float, calls: list[str]) -> CommandTable:
    """The real table plus one slow command that records each run."""
    table = build_table()
    table.noun("train", "A slow command for tests.")

    def train(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Work that takes a while."""
        calls.append(context.invocation.trigger_id or "")
        time.sleep(seconds)
        return Reply(f"trained for {seconds:g}s")

    table.add("train", None, train, slow=True)
    return table


def ephemeral_texts(workspace: Workspace, user: str = "U_ALICE") -> list[str]:
    return [e.text for e in workspace.ephemerals(user=user)]


def test_slow_work_is_acknowledged_at_once_and_its_result_still_arrives(
    start_bot: Callable[..., RunningBot],
) -> None:
    calls: list[str] = []
    running = start_bot(table=slow_table(10, calls))
    response = running.driver.slash("train")
    assert response.status == 200
    assert response.elapsed < 1.0, f"ack took {response.elapsed:.3f}s"
    assert "trained" not in response.body
    assert running.workspace.wait_until(lambda: "trained for 10s" in ephemeral_texts(running.workspace), 15)
    assert len(calls) == 1


def test_a_retried_delivery_never_runs_the_work_twice(start_bot: Callable[..., RunningBot]) -> None:
    calls: list[str] = []
    running = start_bot(table=slow_table(0.5, calls))
    first = running.driver.slash("train")
    retry = running.driver.resend(first, retry_num=1, retry_reason="http_timeout")
    second_retry = running.driver.resend(first, retry_num=2, retry_reason="http_timeout")
    assert (first.status, retry.status, second_retry.status) == (200, 200, 200)
    assert running.workspace.wait_until(lambda: "trained for 0.5s" in ephemeral_texts(running.workspace), 5)
    assert running.bot.pool.wait_idle(5)
    assert len(calls) == 1
    assert ephemeral_texts(running.workspace).count("trained for 0.5s") == 1


@pytest.mark.parametrize(
    ("signature", "age_seconds"),
    [("none", 0), ("v0=" + "0" * 64, 0), ("valid", 6 * 60)],
    ids=["unsigned", "wrong-signature", "six-minutes-old"],
)
def test_requests_not_signed_by_slack_get_401_and_run_nothing(
    start_bot: Callable[..., RunningBot], signature: str, age_seconds: int
) -> None:
    calls: list[str] = []
    running = start_bot(table=slow_table(0, calls))
    timestamp = int(time.time()) - age_seconds
    if signature == "none":
        response = running.driver.slash("train", sign=False)
    elif signature == "valid":
        response = running.driver.slash("train", timestamp=timestamp)
    else:
        response = running.driver.slash("train", signature=signature)
    assert response.status == 401
    time.sleep(0.2)
    assert calls == []
    assert running.workspace.ephemerals() == []


def test_help_answers_in_the_ack(start_bot: Callable[..., RunningBot]) -> None:
    running = start_bot()
    response = running.driver.slash("help job")
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "`/aml job submit [--compute C]" in body["text"] and "TEMPLATE` — Submit a job" in body["text"]
    assert "Submit training jobs" in ephemeral_texts(running.workspace)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "nothing after it"),
        ("x" * 4000, "4,000 characters"),
        ('job submit "unbalanced', "Close every quote"),
        ("模型 训练", "I don't know the command `模型`"),
        ("help\x00job", "control character"),
        ("jbo list", "Did you mean `/aml job`?"),
        ("job lst", "Did you mean `/aml job list`?"),
        ("help job --bogus", "Usage: `/aml help [TOPIC]`"),
    ],
    ids=[
        "empty",
        "4000-chars",
        "unbalanced-quote",
        "unicode",
        "control-char",
        "unknown-noun",
        "unknown-verb",
        "bad-args",
    ],
)
def test_bad_input_gets_a_clear_ephemeral_message(
    start_bot: Callable[..., RunningBot], text: str, expected: str
) -> None:
    running = start_bot()
    response = running.driver.slash(text)
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert expected in body["text"]
    assert "Traceback" not in body["text"]
    assert running.workspace.messages("C_ML") == []  # nothing in the channel


def test_a_full_pool_refuses_new_work_plainly(start_bot: Callable[..., RunningBot]) -> None:
    gate = threading.Event()
    table = build_table()
    table.noun("block", "Blocks until released.")
    table.add("block", None, lambda context, args: Reply("released") if gate.wait(10) else Reply("x"), slow=True)
    running = start_bot(table=table, work_threads="1", work_queue_limit="1")
    assert running.driver.slash("block").status == 200
    assert running.driver.slash("block").status == 200
    refused = running.driver.slash("block")
    assert "too much work queued" in refused.json()["text"]
    gate.set()
    assert running.workspace.wait_until(lambda: ephemeral_texts(running.workspace).count("released") == 2, 5)


def test_a_retry_that_reaches_another_process_does_not_run_the_work_again(
    start_bot: Callable[..., RunningBot], tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    create_schema(engine)
    shared = Services(deliveries=DeliveryLedger(engine))  # two workers or replicas, one store
    calls: list[str] = []
    first = start_bot(table=slow_table(0.2, calls), services=shared)
    second = start_bot(table=slow_table(0.2, calls), services=shared)
    response = first.driver.slash("train")
    retry = second.driver.send(response.request_body, headers={"X-Slack-Retry-Num": "1"})
    assert (response.status, retry.status) == (200, 200)
    assert first.bot.pool.wait_idle(5) and second.bot.pool.wait_idle(5)
    assert len(calls) == 1
