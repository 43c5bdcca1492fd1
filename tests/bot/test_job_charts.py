"""A finished job's metrics chart in its thread, end to end: signed `/aml job submit` → the local backend runs
the job (MLflow file store) → the watcher's summary → the outbox uploads the chart (files upload v2) into the
thread in the local workspace."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.bootstrap import build_services
from bot.devslack import Message, UploadedFile, Workspace, render_channel
from services.chart_delivery import KIND_CHART
from services.charts import plot_metrics
from tests.conftest import RunningBot
from tests.services.test_charts import png_size

ROOT = Path(__file__).parents[2]


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], tmp_path: Path) -> RunningBot:
    catalog = tmp_path / "jobs"
    shutil.copytree(ROOT / "jobs", catalog, ignore=shutil.ignore_patterns("__pycache__"))
    return start_bot(services=build_services, data_dir=str(tmp_path / "data"), job_catalog_dir=str(catalog))


def root_of(workspace: Workspace, template: str) -> tuple[Message, str] | None:
    """The root message of the job submitted from `template`, and the job's name."""
    for message in workspace.messages("C_ML"):
        found = re.search(rf"`({template}-[0-9a-f]{{10}})`", message.text + str(message.blocks))
        if message.user == workspace.bot.user_id and found:
            return message, found.group(1)
    return None


def summarised(workspace: Workspace, template: str) -> bool:
    found = root_of(workspace, template)
    return found is not None and any(" after " in r.text for r in workspace.replies("C_ML", found[0].ts))


def charts(workspace: Workspace) -> list[UploadedFile]:
    return [f for f in workspace.files.list("C_ML") if f.name.endswith("-metrics.png")]


def submit_and_wait_for_chart(running: RunningBot, command: str) -> UploadedFile:
    delivery = running.bot.services.delivery
    assert delivery is not None and KIND_CHART in delivery.files, "bot/bootstrap.py must give the delivery charts"
    workspace = running.workspace
    before = len(charts(workspace))
    running.driver.slash(command, user="U_BOB")
    assert workspace.wait_until(lambda: len(charts(workspace)) > before, 90), render_channel(workspace, "C_ML")
    return charts(workspace)[-1]


def test_a_job_that_logged_metrics_gets_a_chart_of_them_in_its_thread(running: RunningBot) -> None:
    chart = submit_and_wait_for_chart(running, "job submit train-tiny --set epochs=6")
    workspace = running.workspace
    found = root_of(workspace, "train-tiny")
    assert found is not None
    root, name = found
    assert (chart.name, chart.thread_ts) == (f"{name}-metrics.png", root.ts)
    assert png_size(chart.content or b"") == (800, 450)

    # Its series are the job's metrics: the same picture drawn from what the job logged to MLflow.
    backend = running.bot.services.backend
    assert backend is not None
    logged = backend.jobs.metrics(name)
    drawn = plot_metrics(logged, title=f"{backend.jobs.get(name).display_name} ({name})")
    assert drawn is not None and chart.content == drawn.png
    assert sorted(drawn.series) == ["accuracy", "loss"]
    assert all([x for x, _ in line] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] for line in drawn.series.values())  # epochs

    # In the thread: the summary (with the final values) first, then the chart naming what it shows.
    replies = workspace.replies("C_ML", root.ts)
    carrier = replies[-1]
    assert [f["name"] for f in carrier.files] == [chart.name]
    assert "`accuracy`" in carrier.text and "`loss`" in carrier.text and name in carrier.text
    assert chart.alt_txt is not None and "accuracy, loss" in chart.alt_txt
    summary = replies[-2]
    assert " after " in summary.text and "accuracy" in str(summary.blocks) and "6 points" in str(summary.blocks)


def test_a_job_that_logged_no_metrics_gets_no_chart(running: RunningBot) -> None:
    workspace = running.workspace
    running.driver.slash("job submit hello", user="U_BOB")
    assert workspace.wait_until(lambda: summarised(workspace, "hello"), 60), render_channel(workspace, "C_ML")
    # A channel's messages go out in order: once a later job's chart is in, a chart of hello's would be too.
    chart = submit_and_wait_for_chart(running, "job submit train-tiny --set epochs=2")
    assert charts(workspace) == [chart] and chart.name.startswith("train-tiny-")
    hello = root_of(workspace, "hello")
    assert hello is not None
    assert workspace.files.list("C_ML", thread_ts=hello[0].ts) == []
    assert all(not r.files for r in workspace.replies("C_ML", hello[0].ts))


def test_a_failed_upload_is_retried_and_the_chart_shared_once(running: RunningBot) -> None:
    running.slack.inject_fault("files.completeUploadExternal", status=500)  # Slack fails the first share
    chart = submit_and_wait_for_chart(running, "job submit train-tiny --set epochs=2")
    workspace = running.workspace
    calls = [(c.method, c.status) for c in workspace.api_calls]
    first = calls.index(("files.completeUploadExternal", 500))
    second = calls.index(("files.completeUploadExternal", 200))
    # A 500 may hide a share that happened: the thread was looked at before uploading again.
    assert first < calls.index(("conversations.replies", 200), first) < second
    assert charts(workspace) == [chart]
    assert sum(len(r.files) for r in workspace.replies("C_ML", chart.thread_ts or "")) == 1
