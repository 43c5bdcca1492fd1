"""A bot killed with SIGKILL while a job runs, then restarted, announces the job's end exactly once."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from bot.devslack import LocalSlack, SlackDriver
from bot.localrun import BotProcess
from services.catalog import JobCatalog
from services.cloud.local import build_local_backend

ROOT = Path(__file__).parents[2]
SLEEPY = """\
type: command
command: echo "started"; sleep ${{inputs.seconds}}; echo "done"
compute: azureml:cpu-cluster
inputs:
  seconds:
    type: integer
    default: 5
"""


def test_sigkill_while_a_job_runs_then_restart_announces_the_end_once(local_slack: LocalSlack, tmp_path: Path) -> None:
    catalog = tmp_path / "jobs"
    shutil.copytree(ROOT / "jobs", catalog, ignore=shutil.ignore_patterns("__pycache__"))
    (catalog / "sleepy.yml").write_text(SLEEPY)
    env = {"AMLBOT_DATA_DIR": str(tmp_path / "data"), "AMLBOT_JOB_CATALOG_DIR": str(catalog)}
    workspace = local_slack.workspace

    def root_text() -> str:
        bot_messages = [m for m in workspace.messages("C_ML") if m.user == workspace.bot.user_id]
        return bot_messages[0].text if bot_messages else ""

    first = BotProcess(local_slack.api_url, bot_token=local_slack.bot_token, log_path=tmp_path / "first.log", env=env)
    first.start()
    SlackDriver(first.events_url, first.signing_secret, local_slack).slash("job submit sleepy --set seconds=6")
    assert workspace.wait_until(lambda: "Running" in root_text(), 30), first.log_tail()
    first.kill()

    name = re.search(r"\((sleepy-[0-9a-f]{10})\)", root_text())
    assert name
    jobs = build_local_backend(tmp_path / "data" / "local", JobCatalog(catalog)).jobs
    deadline = time.monotonic() + 30
    while not jobs.get(name.group(1)).status.is_terminal:  # the job finishes while the bot is down
        assert time.monotonic() < deadline
        time.sleep(0.2)
    root_ts = workspace.messages("C_ML")[0].ts
    assert not any("Completed" in r.text for r in workspace.replies("C_ML", root_ts))

    with BotProcess(local_slack.api_url, bot_token=local_slack.bot_token, log_path=tmp_path / "second.log", env=env):
        assert workspace.wait_until(lambda: any(" after " in r.text for r in workspace.replies("C_ML", root_ts)), 30), (
            tmp_path / "second.log"
        ).read_text()[-2000:]
        time.sleep(2)  # room for a duplicate to show up, if there were one
    replies = [r.text for r in workspace.replies("C_ML", root_ts)]
    assert sum(" after " in text for text in replies) == 1, replies
    assert sum(text.endswith(": Completed") for text in replies) == 1, replies
    assert "Completed" in root_text()
