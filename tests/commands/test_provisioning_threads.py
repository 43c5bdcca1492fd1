"""Long provisioning operations tell their story like jobs: a root message, progress in its thread, the end.

Through the HTTP path with the full services (store, outbox, delivery) and the local backend.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import build_services
from bot.devslack import Message, Workspace
from bot.settings import Settings
from commands import compute, options
from commands.context import Invocation
from services.container import Services
from services.operations import OperationStory
from services.outbox import Outbox
from services.store import create_schema, make_engine
from tests.conftest import RunningBot

ROOT = Path(__file__).parents[2]
CHANNEL = "C_ML"
DONE, FAILED, WAITING = ":white_check_mark:", ":x:", ":hourglass_flowing_sand:"


class _CountingComputes:
    """The backend's computes, counting the operations begun (a retry must not begin one again)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.begun: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not name.startswith("begin_"):
            return attribute

        def begin(*args: Any, **kwargs: Any) -> Any:
            self.begun.append(name)
            return attribute(*args, **kwargs)

        return begin


@pytest.fixture
def counting() -> list[_CountingComputes]:
    return []


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], tmp_path: Path, counting: list[_CountingComputes]) -> RunningBot:
    def services(settings: Settings) -> Services:
        built = build_services(settings)
        assert built.backend is not None
        computes = _CountingComputes(built.backend.computes)
        counting.append(computes)
        return dataclasses.replace(built, backend=dataclasses.replace(built.backend, computes=computes))

    return start_bot(services=services, data_dir=str(tmp_path / "data"), job_catalog_dir=str(ROOT / "jobs"))


def roots(workspace: Workspace) -> list[Message]:
    return workspace.messages(CHANNEL)


def thread(workspace: Workspace, root: Message) -> list[str]:
    return [reply.text for reply in workspace.replies(CHANNEL, root.ts)]


def ended(workspace: Workspace, start: str = "", *, nth: int = 1) -> Message:
    """The `nth` root message once it is edited to its end (starting with `start`) and its thread has the result."""

    def done() -> bool:
        found = roots(workspace)
        return (
            len(found) >= nth
            and found[nth - 1].text.startswith(start or (DONE, FAILED))
            and any(text.startswith(found[nth - 1].text) for text in thread(workspace, found[nth - 1]))
        )

    assert workspace.wait_until(done, 30), [m.text for m in workspace.messages(CHANNEL, include_replies=True)]
    return roots(workspace)[nth - 1]


def nothing_else_said(running: RunningBot) -> None:
    workspace = running.workspace
    assert workspace.calls("response_url") == [], "the reply itself is empty: the channel tells the story"
    assert workspace.ephemerals() == []


def test_compute_start_is_a_root_edited_to_its_end_with_progress_and_result_in_the_thread(
    running: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(options, "PROGRESS_EVERY_SECONDS", 0.3)  # the local start takes 1 s
    assert running.driver.slash("compute start dev-instance", user="U_BOB").status == 200
    root = ended(running.workspace)
    assert len(roots(running.workspace)) == 1
    posted = running.workspace.calls("chat.postMessage")[0].params
    assert str(posted["text"]).startswith(f"{WAITING} <@U_BOB> is starting compute `dev-instance`…")
    assert root.edit_count == 1
    assert root.text.startswith(f"{DONE} <@U_BOB> started compute `dev-instance` (Running). It costs money")
    replies = thread(running.workspace, root)
    assert replies[0] == f"{WAITING} Still in progress after 0.3 s."
    assert 1 <= len(replies) - 1 <= options.MAX_PROGRESS_REPLIES
    assert re.fullmatch(re.escape(root.text) + r" _\(after \d+ s\)_", replies[-1])  # the result, mentioning Bob
    nothing_else_said(running)
    assert "*State:* *Running*" in running.ask("compute show dev-instance")


def test_a_refused_operation_edits_the_root_to_the_reason(running: RunningBot) -> None:
    running.driver.slash("workspace create local")  # the local backend's default workspace
    root = ended(running.workspace, FAILED)
    assert root.text == (
        f"{FAILED} <@U_ALICE> could not create workspace `local`: Workspace `local` already exists in resource "
        "group `local-rg`. Pick another name, or use the existing workspace."
    )
    assert thread(running.workspace, root)[-1].startswith(root.text)
    nothing_else_said(running)


def test_starting_a_running_instance_ends_in_the_reason_and_stop_tells_its_own_story(running: RunningBot) -> None:
    running.driver.slash("compute start dev-instance")
    ended(running.workspace, DONE)
    running.driver.slash("compute start dev-instance")
    again = ended(running.workspace, FAILED, nth=2)
    assert (
        again.text == f"{FAILED} <@U_ALICE> could not start compute `dev-instance`: `dev-instance` is already running."
    )
    running.driver.slash("compute stop dev-instance")
    stopped = ended(running.workspace, DONE, nth=3)
    assert stopped.text.startswith(f"{DONE} <@U_ALICE> stopped compute `dev-instance` (Stopped).")
    assert len(roots(running.workspace)) == 3
    nothing_else_said(running)


def test_creates_tell_their_story_and_quick_ones_stay_one_message(running: RunningBot) -> None:
    running.driver.slash("compute create dev-box --size Standard_DS11_v2")
    box = ended(running.workspace)
    assert box.text.startswith(f"{DONE} <@U_ALICE> created compute instance `dev-box` (Standard_DS11_v2, Running)")
    running.driver.slash("storage create teamdata01")
    storage = ended(running.workspace, nth=2)
    assert storage.text.startswith(f"{DONE} <@U_ALICE> created storage account `teamdata01` in resource group")
    running.driver.slash("workspace create team-ws")
    workspace = ended(running.workspace, nth=3)
    assert workspace.text.startswith(f"{DONE} <@U_ALICE> created workspace `team-ws` in resource group `local-rg`")
    container = running.ask("container create teamdata01 raw")  # quick: one in-channel reply, as before
    assert "created blob container `raw` in storage account `teamdata01`" in container
    assert thread(running.workspace, roots(running.workspace)[-1]) == []


def test_a_retried_request_still_has_one_root(running: RunningBot, counting: list[_CountingComputes]) -> None:
    first = running.driver.slash("compute start dev-instance")
    running.driver.resend(first, retry_num=1)
    running.driver.resend(first, retry_num=2, retry_reason="http_error")
    root = ended(running.workspace, DONE)
    assert running.bot.pool.wait_idle(10)
    assert len(roots(running.workspace)) == 1
    assert [t for t in thread(running.workspace, root) if not t.startswith(WAITING)] == [
        thread(running.workspace, root)[-1]
    ]
    assert counting[0].begun == ["begin_start"]


def test_a_retry_reaching_another_process_neither_begins_nor_posts_again(
    running: RunningBot, counting: list[_CountingComputes]
) -> None:
    invocation = Invocation(
        text="compute start dev-instance", user_id="U_ALICE", channel_id=CHANNEL, trigger_id="T-same-request"
    )
    for _ in range(2):  # as if a second replica ran the same delivery (its memory of deliveries is its own)
        work = running.bot.router.route(invocation).work
        assert work is not None
        assert work().text == ""
    root = ended(running.workspace, DONE)
    assert len(roots(running.workspace)) == 1 and root.edit_count == 1
    assert counting[0].begun == ["begin_start"]


def test_bad_input_answers_the_caller_alone(running: RunningBot) -> None:
    typo = running.ask("compute start dev-instanse")
    assert "There is no compute `dev-instanse`" in typo and "Did you mean `dev-instance`?" in typo
    assert "is not a valid workspace name" in running.ask("workspace create ab")
    assert "Missing: --size" in running.ask("compute create box1")
    assert "There is no resource group `nope-rg`" in running.ask("storage create teamdata02 --resource-group nope-rg")
    assert roots(running.workspace) == []


def test_an_operation_outlasting_the_wait_ends_as_still_going_with_bounded_progress(
    running: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compute, "START_STOP_TIMEOUT_SECONDS", 0.5)  # the local start takes 1 s
    monkeypatch.setattr(options, "PROGRESS_EVERY_SECONDS", 0.1)
    monkeypatch.setattr(options, "MAX_PROGRESS_REPLIES", 2)
    running.driver.slash("compute start dev-instance")
    root = ended(running.workspace, f"{WAITING} <@U_ALICE> asked to")
    assert root.text == (
        f"{WAITING} <@U_ALICE> asked to start compute `dev-instance`; it is still in progress after 0.5 s. "
        "`/aml compute show dev-instance` tells when it is running."
    )
    assert thread(running.workspace, root) == [
        f"{WAITING} Still in progress after 0.1 s.",
        f"{WAITING} Still in progress after 0.2 s.",
        root.text,
    ]


# ---------------------------------------------------------------------- the story-teller on its own
def test_the_story_is_told_once_per_request(tmp_path: Path) -> None:
    engine = make_engine(None, data_dir=tmp_path)
    create_schema(engine)
    woken: list[int] = []
    story = OperationStory(engine, Outbox(), on_enqueued=lambda: woken.append(1))
    ref = story.start("C1", "U1", "creating workspace `x`", "T1")
    again = story.start("C1", "U1", "creating workspace `x`", "T1")
    assert ref.new and not again.new and ref.key == again.key == "op:T1"
    assert story.progress(ref, "Still in progress after 2 min.", step="1")
    assert not story.progress(again, "Still in progress after 2 min.", step="1")
    assert story.finish(ref, True, "<@U1> created workspace `x`.")
    assert not story.finish(again, False, "<@U1> could not create workspace `x`: no.")
    with engine.connect() as conn:
        rows = Outbox.items(conn, channel="C1")
    assert [(r.dedupe_key, r.creates_ref, r.thread_ref, r.updates_ref) for r in rows] == [
        ("op:T1:root", "op:T1", None, None),
        ("op:T1:progress:1", None, "op:T1", None),
        ("op:T1:end", None, None, "op:T1"),
        ("op:T1:end:thread", None, "op:T1", None),
    ]
    assert rows[0].payload["text"] == (
        ":hourglass_flowing_sand: <@U1> is creating workspace `x`… Progress and the result follow in the thread."
    )
    assert rows[2].payload["text"] == ":white_check_mark: <@U1> created workspace `x`."
    assert rows[3].payload["text"].startswith(rows[2].payload["text"] + " _(after ")
    assert len(woken) == 3
    engine.dispose()
