"""Teardown end to end through the local workspace: a real `/aml …` request, real clicks, real deletions on the
local backend — across a restart of the bot, with two approvals, and with a request that expires."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bootstrap import build_services
from bot.devslack import LocalSlack, Message, SlackDriver, Workspace
from bot.devslack.blocks import buttons
from bot.localrun import BotProcess
from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.errors import NotFound
from services.ports import CloudBackend
from services.store.clock import utc_now
from tests.conftest import RunningBot

ROOT = Path(__file__).parents[2]
CHANNEL = "C_ML"
TIMEOUT = 30.0
# alice asks; @mlops (alice, bob) and carol approve; two approvals for a resource group.
PERMISSIONS = {
    "roles": {"admin": {"users": ["U_ALICE"]}, "approver": {"groups": ["@mlops"], "users": ["U_CAROL"]}},
    "approvals": {"teardown.rg": 2},
}


def local_backend(data: Path) -> CloudBackend:
    return build_local_backend(data / "local", JobCatalog(ROOT / "jobs"), compute_transition_seconds=0)


def request_message(workspace: Workspace) -> Message | None:
    """The newest approval request the bot posted in the channel."""
    found = [m for m in workspace.messages(CHANNEL) if m.user == workspace.bot.user_id and "request #" in m.text]
    return found[-1] if found else None


def thread(workspace: Workspace, root: Message) -> str:
    return "\n".join(reply.text for reply in workspace.replies(CHANNEL, root.ts))


def wait_for_request(workspace: Workspace) -> Message:
    assert workspace.wait_until(lambda: (m := request_message(workspace)) is not None and buttons(m), TIMEOUT)
    message = request_message(workspace)
    assert message is not None
    return message


def current(workspace: Workspace, message: Message) -> Message:
    return next(m for m in workspace.messages(CHANNEL) if m.ts == message.ts)


def everything(message: Message) -> str:
    return message.text + json.dumps(list(message.blocks))


def test_a_restart_between_request_and_approval_still_deletes_once(local_slack: LocalSlack, tmp_path: Path) -> None:
    data = tmp_path / "data"
    backend = local_backend(data)
    backend.computes.begin_create_instance("nb-scratch", size="Standard_DS3_v2").result(10)
    env = {
        "AMLBOT_DATA_DIR": str(data),
        "AMLBOT_JOB_CATALOG_DIR": str(ROOT / "jobs"),
        "AMLBOT_PERMISSIONS": json.dumps(PERMISSIONS),
    }
    workspace = local_slack.workspace
    first = BotProcess(local_slack.api_url, bot_token=local_slack.bot_token, log_path=tmp_path / "1.log", env=env)
    with first:
        SlackDriver(first.events_url, first.signing_secret, local_slack).slash(
            "compute delete nb-scratch --reason notebook no longer used", user="U_ALICE", channel=CHANNEL
        )
        request = wait_for_request(workspace)
        # Settled (the request delivered, nothing in motion), then the bot dies before anyone decides.
        assert workspace.wait_until(lambda: first.busy() == 0, TIMEOUT)
        first.kill()
    assert "nb-scratch" in request.text and "notebook no longer used" in everything(request)
    assert backend.computes.get("nb-scratch")  # nothing deleted by asking

    second = BotProcess(local_slack.api_url, bot_token=local_slack.bot_token, log_path=tmp_path / "2.log", env=env)
    with second:
        driver = SlackDriver(second.events_url, second.signing_secret, local_slack)
        assert driver.click(user="U_BOB", channel=CHANNEL, message_ts=request.ts, action_id="approval.approve").status
        assert workspace.wait_until(lambda: "Deleted" in thread(workspace, request), TIMEOUT), second.log_tail()
        edited = current(workspace, request)
        assert not buttons(edited) and "Approved by <@U_BOB>" in everything(edited)
    with pytest.raises(NotFound):
        backend.computes.get("nb-scratch")
    assert thread(workspace, request).count("Deleted") == 1


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], tmp_path: Path) -> RunningBot:
    data = tmp_path / "data"
    shutil.rmtree(data, ignore_errors=True)
    return start_bot(
        services=build_services,
        data_dir=str(data),
        job_catalog_dir=str(ROOT / "jobs"),
        permissions=json.dumps(PERMISSIONS),
    )


def backend_of(running: RunningBot) -> CloudBackend:
    backend = running.bot.services.backend
    assert backend is not None
    return backend


def test_a_resource_group_needing_two_approvals_waits_for_the_second(running: RunningBot) -> None:
    backend = backend_of(running)
    backend.resource_groups.create_or_update("scratch-rg", location="local")
    backend.storage.begin_create_account("stscratch01", resource_group="scratch-rg", location="local").result(10)
    running.ask("teardown rg scratch-rg --reason hackathon over", user="U_ALICE")
    request = wait_for_request(running.workspace)
    assert "stscratch01" in everything(request), "the request lists what the group holds"

    running.driver.click(user="U_BOB", channel=CHANNEL, message_ts=request.ts, action_id="approval.approve")
    assert running.workspace.wait_until(lambda: "1 of 2" in everything(current(running.workspace, request)), TIMEOUT)
    assert backend.resource_groups.get("scratch-rg"), "one approval of two deletes nothing"
    assert buttons(current(running.workspace, request)), "still open for the second approval"

    running.driver.click(user="U_CAROL", channel=CHANNEL, message_ts=request.ts, action_id="approval.approve")
    assert running.workspace.wait_until(lambda: "Deleted" in thread(running.workspace, request), TIMEOUT)
    with pytest.raises(NotFound):
        backend.resource_groups.get("scratch-rg")


def test_an_expired_request_loses_its_buttons_and_deletes_nothing(running: RunningBot) -> None:
    backend = backend_of(running)
    running.ask("compute delete dev-instance", user="U_ALICE")
    request = wait_for_request(running.workspace)
    approvals = running.bot.services.approvals
    assert approvals is not None
    assert approvals.sweep(now=utc_now() + timedelta(hours=25)).expired == 1  # what the scheduler does hourly
    assert running.workspace.wait_until(lambda: not buttons(current(running.workspace, request)), TIMEOUT)
    assert "Expired" in everything(current(running.workspace, request))
    assert backend.computes.get("dev-instance")

    running.ask("compute delete dev-instance", user="U_ALICE")  # asking again opens a new request
    assert wait_for_request(running.workspace).ts != request.ts


def test_only_admins_ask_and_the_requester_cannot_approve(running: RunningBot) -> None:
    shown = running.ask("compute delete dev-instance", user="U_BOB")
    assert "needs the admin role" in shown and "<@U_ALICE>" in shown, "requesting a deletion is for admins"

    running.ask("compute delete dev-instance --reason cleanup", user="U_ALICE")
    request = wait_for_request(running.workspace)
    before = len(running.workspace.ephemerals())
    running.driver.click(user="U_ALICE", channel=CHANNEL, message_ts=request.ts, action_id="approval.approve")
    assert running.workspace.wait_until(lambda: len(running.workspace.ephemerals()) > before, TIMEOUT)
    assert "someone else must approve" in running.workspace.ephemerals()[-1].text
    assert buttons(current(running.workspace, request))
    assert backend_of(running).computes.get("dev-instance")
