"""The production server (gunicorn) and the shell, each started the way a person starts them."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

from bot.devslack import LocalSlack, SlackDriver
from bot.localrun import BotProcess

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
