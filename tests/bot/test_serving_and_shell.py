"""The production server (gunicorn) and the shell, each started the way a person starts them."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.devslack import LocalSlack, SlackDriver
from bot.localrun import BotProcess
from services.store import make_engine
from services.store.command_tables import command_queue

ROOT = Path(__file__).parents[2]


def test_gunicorn_serves_healthz_and_signed_commands(local_slack: LocalSlack, tmp_path: Path) -> None:
    with BotProcess(local_slack.api_url, bot_token=local_slack.bot_token, log_path=tmp_path / "bot.log") as bot:
        with urllib.request.urlopen(bot.url + "/healthz", timeout=5) as response:
            assert response.status == 200
            assert b'"ok": true' in response.read()
        driver = SlackDriver(bot.events_url, bot.signing_secret, local_slack)
        answer = driver.slash("compute strat")
        assert answer.status == 200
        assert "Did you mean `/aml compute start`?" in answer.json()["text"]
        assert driver.slash("help", sign=False).status == 401
    assert "gthread" in (tmp_path / "bot.log").read_text()


@pytest.mark.parametrize("runners", ["1", "0"])
def test_slow_commands_run_in_the_runner_process_unless_there_is_none(
    local_slack: LocalSlack, tmp_path: Path, runners: str
) -> None:
    env = {"AMLBOT_DATA_DIR": str(tmp_path / "data"), "AMLBOT_RUNNER_PROCESSES": runners}
    log = tmp_path / "bot.log"
    with BotProcess(local_slack.api_url, bot_token=local_slack.bot_token, log_path=log, env=env) as bot:
        driver = SlackDriver(bot.events_url, bot.signing_secret, local_slack)
        answers = [driver.slash("compute list", user=user) for user in ("U_ALICE", "U_BOB", "U_ALICE")]
        assert all(answer.status == 200 and answer.acked_in_time for answer in answers)
        for user, count in (("U_ALICE", 2), ("U_BOB", 1)):
            assert local_slack.workspace.wait_until(
                lambda user=user, count=count: len(_compute_lists(local_slack, user)) == count, 30
            ), bot.log_tail()
    engine = make_engine(None, data_dir=tmp_path / "data")
    with engine.connect() as conn:
        owners = {row.owner for row in conn.execute(select(command_queue.c.owner))}
    ran_in = {int(owner.split("-")[-2]) for owner in owners}
    http_workers = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log.read_text())}
    assert http_workers and ran_in
    if runners == "1":
        assert not ran_in & http_workers, "the HTTP workers only acknowledged"
    else:
        assert ran_in <= http_workers


def _compute_lists(local_slack: LocalSlack, user: str) -> list[str]:
    return [
        e.text
        for e in local_slack.workspace.ephemerals("C_ML", user)
        if e.source == "response_url" and "compute" in e.text.lower()
    ]


def test_piped_shell_prints_the_conversation_and_exits_0(tmp_path: Path) -> None:
    script = (
        "/aml help\n/aml jbo\nas bob /aml help compute\nchannel general\n"
        "/aml compute delete dev-instance --reason demo over\nas carol click 1\nas bob click 1\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--wait", "30"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the shell writes its bot log under ./.data
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "── #ml-team ──" in out and "── #general ──" in out
    assert "» @bob in #ml-team: /aml help compute" in out  # what was typed, by whom, where
    assert "runs Azure Machine Learning from Slack" in out
    assert "Did you mean `/aml job`?" in out
    assert "(only visible to @bob)" in out and "/aml compute start" in out
    # A deletion waits for someone else: carol (not an approver) is refused, bob's approval deletes it.
    assert "needs the approver role" in out and "(only visible to @carol)" in out
    assert "Approved by @bob" in out and "Deleted compute instance `dev-instance`" in out
    assert "Traceback" not in out + result.stderr
