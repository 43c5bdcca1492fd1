"""A job's story in Slack, end to end: signed `/aml job …` → local backend runs it → thread in the workspace."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.bootstrap import build_services
from bot.devslack import Message, Workspace
from bot.settings import Settings
from services.container import Services
from tests.conftest import RunningBot

ROOT = Path(__file__).parents[2]
SLEEPY = """\
type: command
display_name: Sleeps a while
command: echo "started"; sleep ${{inputs.seconds}}; echo "done"
compute: azureml:cpu-cluster
inputs:
  seconds:
    type: integer
    default: 30
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    target = tmp_path / "jobs"
    shutil.copytree(ROOT / "jobs", target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "sleepy.yml").write_text(SLEEPY)
    return target


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], tmp_path: Path, catalog: Path) -> RunningBot:
    def services(settings: Settings) -> Services:
        return build_services(settings)

    return start_bot(services=services, data_dir=str(tmp_path / "data"), job_catalog_dir=str(catalog))


def roots(workspace: Workspace) -> list[Message]:
    return [m for m in workspace.messages("C_ML") if m.user == workspace.bot.user_id]


def thread_texts(workspace: Workspace, root: Message) -> list[str]:
    return [reply.text for reply in workspace.replies("C_ML", root.ts)]


def summarised_root(workspace: Workspace) -> Message | None:
    """The root message whose thread has reached its end summary."""
    for root in roots(workspace):
        if any(" after " in text for text in thread_texts(workspace, root)):
            return root
    return None


def wait_for_summary(workspace: Workspace, timeout: float = 60) -> Message:
    assert workspace.wait_until(lambda: summarised_root(workspace) is not None, timeout), render(workspace)
    root = summarised_root(workspace)
    assert root is not None
    return root


def render(workspace: Workspace) -> str:
    from bot.devslack import render_channel

    return render_channel(workspace, "C_ML")


def test_submit_tells_the_whole_story_in_one_thread(running: RunningBot) -> None:
    running.driver.slash("job submit train-tiny --set epochs=12 --set lr=0.4", user="U_BOB")
    root = wait_for_summary(running.workspace)
    assert len(roots(running.workspace)) == 1, "one root message per job"
    name = re.search(r"`(train-tiny-[0-9a-f]{10})`", root.text + str(root.blocks))
    assert name, root.text
    assert root.edit_count >= 1 and "Completed" in root.text  # edited in place to the final status
    replies = thread_texts(running.workspace, root)
    statuses = [text.split(": ")[-1] for text in replies if text.startswith(name.group(1) + ":")]
    assert statuses[-1] == "Completed" and statuses.count("Completed") == 1
    summary = next(r for r in running.workspace.replies("C_ML", root.ts) if " after " in r.text)
    assert summary.text.startswith("<@U_BOB>")  # the submitter is mentioned at the end
    shown = str(summary.blocks)
    assert "accuracy" in shown and "loss" in shown and "12 points" in shown
    assert "Outputs" in shown


def test_each_status_change_is_a_reply_in_order(running: RunningBot) -> None:
    running.driver.slash("job submit sleepy --set seconds=4")
    root = wait_for_summary(running.workspace)
    statuses = [text.split(": ")[-1] for text in thread_texts(running.workspace, root) if text.startswith("sleepy-")]
    assert statuses == ["Running", "Completed"]  # Queued is the root's first state; each change once, in order


def test_a_failing_job_shows_its_error_and_log_tail(running: RunningBot) -> None:
    running.driver.slash("job submit fail")
    root = wait_for_summary(running.workspace)
    summary = str(running.workspace.replies("C_ML", root.ts)[-1].blocks)
    assert "Failed" in root.text
    assert "training data not found" in summary
    assert "Last lines of the log" in summary and "step 3/3: preparing data" in summary


def test_cancel_ends_the_story_as_cancelled(running: RunningBot) -> None:
    running.driver.slash("job submit sleepy --set seconds=60")
    workspace = running.workspace
    assert workspace.wait_until(lambda: any("Running" in m.text for m in roots(workspace)), 30), render(workspace)
    name = re.search(r"\((sleepy-[0-9a-f]{10})\)", roots(workspace)[0].text)
    assert name
    answer = running.ask(f"job cancel {name.group(1)}")
    assert "cancelled" in answer
    root = wait_for_summary(workspace)
    assert "Canceled" in root.text
    assert "was cancelled" in str(workspace.replies("C_ML", root.ts)[-1].blocks)


def test_bad_input_posts_nothing_in_the_channel(running: RunningBot) -> None:
    undeclared = running.ask("job submit train-tiny --set learning_rate=0.1")
    assert "learning_rate" in undeclared and "epochs" in undeclared and "lr" in undeclared
    typo = running.ask("job submit train-tinny")
    assert "train-tiny" in typo
    not_a_number = running.ask("job submit train-tiny --set lr=0.01;rm")
    assert "number" in not_a_number
    assert running.workspace.messages("C_ML") == []


def test_a_refused_submit_edits_the_placeholder_and_leaves_no_watch(running: RunningBot) -> None:
    answer = running.ask("job submit hello --compute dev-instance")  # a stopped instance takes no jobs
    assert "start it" in answer.lower() or "stopped" in answer.lower()
    workspace = running.workspace
    assert workspace.wait_until(lambda: any("could not submit" in m.text for m in roots(workspace)), 10)
    assert len(roots(workspace)) == 1
    assert running.bot.activity()["followed_jobs"] == 0


def test_watch_follows_a_job_submitted_elsewhere_and_config_sets_the_compute(running: RunningBot) -> None:
    assert "default compute to `cpu-cluster`" in running.ask("config set compute cpu-cluster")
    assert "`cpu-cluster`" in running.ask("config show")
    running.driver.slash("job submit hello --set name=general", channel="C_GENERAL")
    general = running.workspace

    def general_roots() -> list[Message]:
        return [m for m in general.messages("C_GENERAL") if m.user == general.bot.user_id]

    assert general.wait_until(lambda: any("Completed" in m.text for m in general_roots()), 60)
    name = re.search(r"\((hello-[0-9a-f]{10})\)", general_roots()[0].text)
    assert name
    running.ask(f"job watch {name.group(1)}")
    assert "already followed in <#C_GENERAL>" in running.ask(f"job watch {name.group(1)}", channel="C_GENERAL")
