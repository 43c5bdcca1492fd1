"""Approve / Reject through the local workspace and the real HTTP path: signed clicks → Bolt → ApprovalService →
ephemeral answers, and the request message edited and threaded by the outbox."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.blocks.renderer import BlockKitRenderer
from bot.bootstrap import build_services
from bot.devslack import Message, Workspace
from bot.devslack.blocks import buttons
from bot.devslack.driver import DriverResponse
from bot.settings import Settings
from services.approvals import KIND_REQUEST, ApprovalRequest, ApprovalService, ApprovalState, request_payload
from services.container import Services
from services.errors import ServiceError
from services.outbox import Outbox, jsonable
from services.rbac import Authorizer, PermissionConfig
from tests.conftest import RunningBot
from tests.services.approvals.approval_fakes import RecordingExecutor
from tests.services.store.store_fakes import FakeClock

ROOT = Path(__file__).parents[2]
CHANNEL = "C_ML"
# U_DAVE (not in the workspace) asks when two people in it must be able to approve.
PERMISSIONS = {
    "roles": {
        "admin": {"users": ["U_ALICE", "U_DAVE"]},
        "approver": {"users": ["U_BOB"]},
        "viewer": {"users": ["U_CAROL"]},
    }
}
WS_DETAILS = {"resources": [{"type": "storage account", "name": "stws1"}, {"type": "key vault", "name": "kv-ws1"}]}
TIMEOUT = 30.0
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0"


@dataclass
class Scene:
    """The bot served over HTTP, its approval service (with a clock that moves when told) and the executor."""

    running: RunningBot
    approvals: ApprovalService
    executor: RecordingExecutor
    clock: FakeClock

    @property
    def workspace(self) -> Workspace:
        return self.running.workspace

    def ask(self, requester: str = "U_ALICE", target: str = "ws1") -> tuple[ApprovalRequest, Message]:
        """Open a request to delete a workspace and wait until its message is in the channel."""
        req = self.approvals.request("teardown.workspace", target, WS_DETAILS, requester, CHANNEL, "project is over")
        assert self.workspace.wait_until(lambda: self.message_of(req) is not None, TIMEOUT), "request never posted"
        message = self.message_of(req)
        assert message is not None
        return req, message

    def message_of(self, req: ApprovalRequest) -> Message | None:
        """The request's message, found by the dedupe key the outbox posted it with."""
        key = f"approval:{req.id}:request"
        for message in self.workspace.messages(CHANNEL):
            if ((message.metadata or {}).get("event_payload") or {}).get("dedupe_key") == key:
                return message
        return None

    def current(self, message: Message) -> Message:
        found = self.workspace.message(CHANNEL, message.ts)
        assert found is not None
        return found

    def click(self, message: Message, user: str, action_id: str) -> DriverResponse:
        response = self.running.driver.click(user=user, channel=CHANNEL, message_ts=message.ts, action_id=action_id)
        assert response.status == 200 and response.acked_in_time, response
        return response

    def click_again(self, earlier: DriverResponse, user: str, action_id: str | None = None) -> DriverResponse:
        """A new click on the same message as `earlier` (by `user`), as from a client that still shows the buttons
        because the edit removing them had not reached it yet."""
        payload = copy.deepcopy(earlier.payload)
        who = self.workspace.user(user)
        assert who is not None
        slack = self.running.slack
        payload["user"] = {"id": who.id, "username": who.name, "name": who.name, "team_id": payload["team"]["id"]}
        payload["trigger_id"] = slack.new_trigger_id(who.id)
        payload["response_url"] = slack.new_response_url(
            CHANNEL, who.id, message_ts=payload["container"]["message_ts"]
        )
        payload["actions"][0]["action_ts"] = f"{time.time():.6f}"
        if action_id is not None:
            payload["actions"][0]["action_id"] = action_id
        response = self.running.driver.send(urlencode({"payload": json.dumps(payload)}))
        assert response.status == 200, response
        return response

    def settle(self) -> None:
        """Wait until every click's work (decision, answer, deletion) is finished."""
        assert self.running.bot.pool.wait_idle(TIMEOUT), "click work did not finish"

    def answers(self, user: str) -> list[str]:
        return [e.text for e in self.workspace.ephemerals(CHANNEL, user)]

    def thread(self, message: Message) -> list[str]:
        return [reply.text for reply in self.workspace.replies(CHANNEL, message.ts)]

    def state(self, req: ApprovalRequest) -> ApprovalState:
        found = self.approvals.get(req.id)
        assert found is not None
        return found.state


def shown(message: Message) -> str:
    return message.text + " " + json.dumps(message.blocks, ensure_ascii=False)


def button_labels(message: Message) -> list[str]:
    return [b.text for b in buttons(message)]


@pytest.fixture
def scene(start_bot: Callable[..., RunningBot], tmp_path: Path) -> Scene:
    executor = RecordingExecutor()
    clock = FakeClock(datetime.now(UTC))
    made: list[ApprovalService] = []

    def services(settings: Settings) -> Services:
        built = build_services(settings)
        assert built.tracking is not None
        authorizer = Authorizer(PermissionConfig.from_mapping(PERMISSIONS))
        approvals = ApprovalService(built.tracking.engine, Outbox(), authorizer, clock, executor=executor)
        made.append(approvals)
        return dataclasses.replace(built, authorizer=authorizer, approvals=approvals)

    running = start_bot(services=services, data_dir=str(tmp_path / "data"), job_catalog_dir=str(ROOT / "jobs"))
    return Scene(running, made[0], executor, clock)


def test_the_request_message_says_what_who_why_and_has_approve_and_reject(scene: Scene) -> None:
    req, message = scene.ask()
    assert button_labels(message) == ["Approve", "Reject"]
    assert {b.value for b in buttons(message)} == {str(req.id)}
    text = shown(message)
    assert "workspace `ws1`" in text and "storage account `stws1`" in text and "key vault `kv-ws1`" in text
    assert "<@U_ALICE>" in text and "project is over" in text and "<!date^" in text


def test_the_requester_cannot_approve_their_own_request(scene: Scene) -> None:
    req, message = scene.ask(requester="U_ALICE")
    scene.click(message, "U_ALICE", "approval.approve")
    scene.settle()
    assert scene.answers("U_ALICE") == [
        "You asked for this, so someone else must approve it. (You can still reject it to withdraw it.)"
    ]
    assert scene.executor.runs == []
    assert scene.state(req) is ApprovalState.PENDING
    assert button_labels(scene.current(message)) == ["Approve", "Reject"]


def test_a_viewer_is_told_which_role_is_needed_and_who_holds_it(scene: Scene) -> None:
    req, message = scene.ask()
    scene.click(message, "U_CAROL", "approval.approve")
    scene.settle()
    [answer] = scene.answers("U_CAROL")
    assert "needs the approver role" in answer and "<@U_BOB>" in answer
    assert scene.executor.runs == []
    assert scene.state(req) is ApprovalState.PENDING
    assert scene.answers("U_BOB") == [], "only the clicker hears about it"


def test_an_approvers_click_deletes_once_and_the_decision_replaces_the_buttons(scene: Scene) -> None:
    req, message = scene.ask()
    scene.click(message, "U_BOB", "approval.approve")
    scene.settle()
    assert scene.executor.runs == [req.id]
    assert scene.answers("U_BOB") == [
        "Approved: deleting workspace `ws1` now; progress is in the request's thread."
    ]
    assert scene.workspace.wait_until(
        lambda: any(text.startswith("Done. Deleted workspace `ws1`") for text in scene.thread(message)), TIMEOUT
    ), scene.thread(message)
    assert scene.workspace.wait_until(lambda: "; done " in shown(scene.current(message)), TIMEOUT)
    edited = scene.current(message)
    assert button_labels(edited) == []
    assert "Approved by <@U_BOB>" in shown(edited)
    assert edited.ts == message.ts, "the request message is edited in place, not posted again"


def test_a_double_click_and_a_slack_retry_still_delete_once(scene: Scene) -> None:
    req, message = scene.ask()
    first = scene.click(message, "U_BOB", "approval.approve")
    retry = scene.running.driver.resend(first, retry_num=1)
    assert retry.status == 200
    scene.click_again(first, "U_BOB")
    scene.settle()
    assert scene.executor.runs == [req.id]
    answers = sorted(scene.answers("U_BOB"))
    assert len(answers) == 2, f"one answer per click, none for Slack's retry: {answers}"
    assert answers[0].startswith("Approved: deleting workspace `ws1`")
    assert answers[1].startswith("This request is already closed.")


def test_two_approvers_clicking_at_once_delete_once(scene: Scene) -> None:
    req, message = scene.ask(requester="U_DAVE")
    # Carol's refused click gives the click both approvers' clients will send at the same moment.
    template = scene.click(message, "U_CAROL", "approval.approve")
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def approve(user: str) -> None:
        try:
            start.wait(TIMEOUT)
            scene.click_again(template, user)
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=approve, args=(user,)) for user in ("U_ALICE", "U_BOB")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not failures, failures
    scene.settle()
    assert scene.executor.runs == [req.id]
    answers = sorted(scene.answers("U_ALICE") + scene.answers("U_BOB"))
    assert len(answers) == 2
    assert answers[0].startswith("Approved: deleting workspace `ws1`")
    assert answers[1].startswith("This request is already closed.")
    # The result's reply is queued after the message's last edit: once it is there, everything is.
    assert scene.workspace.wait_until(lambda: any(t.startswith("Done.") for t in scene.thread(message)), TIMEOUT)
    assert sum(text.startswith("Done.") for text in scene.thread(message)) == 1
    assert "; done " in shown(scene.current(message))


def test_reject_closes_the_request_and_deletes_nothing(scene: Scene) -> None:
    req, message = scene.ask()
    scene.click(message, "U_BOB", "approval.reject")
    scene.settle()
    assert scene.answers("U_BOB") == ["Rejected: workspace `ws1` will not be deleted."]
    assert scene.workspace.wait_until(lambda: not buttons(scene.current(message)), TIMEOUT)
    assert "Rejected by <@U_BOB>" in shown(scene.current(message))
    assert scene.executor.runs == []
    assert scene.state(req) is ApprovalState.REJECTED


def test_a_click_on_a_closed_request_is_answered_and_changes_nothing(scene: Scene) -> None:
    req, message = scene.ask()
    rejected = scene.click(message, "U_BOB", "approval.reject")
    scene.settle()
    assert scene.workspace.wait_until(lambda: not buttons(scene.current(message)), TIMEOUT)
    before = scene.approvals.get(req.id)
    shown_before = shown(scene.current(message))

    scene.click_again(rejected, "U_BOB", action_id="approval.approve")
    scene.settle()
    [late] = scene.answers("U_BOB")[1:]
    assert late.startswith("This request is already closed. Rejected by <@U_BOB>")
    assert scene.approvals.get(req.id) == before, "the request did not move"
    assert shown(scene.current(message)) == shown_before
    assert scene.executor.runs == []


def test_a_click_after_expiry_closes_the_request_without_deleting(scene: Scene) -> None:
    req, message = scene.ask()
    scene.clock.advance(timedelta(hours=25).total_seconds())
    scene.click(message, "U_BOB", "approval.approve")
    scene.settle()
    [answer] = scene.answers("U_BOB")
    assert answer.startswith("This request is already closed. Expired at")
    assert scene.state(req) is ApprovalState.EXPIRED
    assert scene.workspace.wait_until(lambda: not buttons(scene.current(message)), TIMEOUT)
    assert "Expired at" in shown(scene.current(message))
    assert scene.executor.runs == []


def test_a_failed_deletion_is_reported_in_the_thread_without_its_secrets(scene: Scene) -> None:
    scene.executor.error = ServiceError(
        f"Azure refused: DefaultEndpointsProtocol=https;AccountName=st1;AccountKey={SECRET};EndpointSuffix=x"
    )
    req, message = scene.ask()
    scene.click(message, "U_BOB", "approval.approve")
    scene.settle()
    assert scene.workspace.wait_until(
        lambda: any("failed" in text for text in scene.thread(message)), TIMEOUT
    ), scene.thread(message)
    [failure] = [text for text in scene.thread(message) if "failed" in text]
    assert failure.startswith("Deleting workspace `ws1` failed: Azure refused")
    assert "not retried automatically" in failure
    assert scene.workspace.wait_until(lambda: "; failed: " in shown(scene.current(message)), TIMEOUT)
    everything = [shown(m) for m in scene.workspace.messages(CHANNEL, include_replies=True)] + [
        e.text for e in scene.workspace.ephemerals()
    ]
    assert not any(SECRET in text for text in everything)
    assert scene.state(req) is ApprovalState.FAILED


def post_buttons(workspace: Workspace, blocks: list[dict[str, Any]]) -> Message:
    return workspace.post_message(CHANNEL, text="an approval request", blocks=blocks)


def test_a_button_that_names_no_request_gets_a_plain_answer(scene: Scene) -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": "approval.approve"}
    message = post_buttons(scene.workspace, [{"type": "actions", "elements": [{**button, "value": "ws1"}]}])
    scene.click(message, "U_BOB", "approval.approve")
    scene.settle()
    [answer] = scene.answers("U_BOB")
    assert answer.startswith("I could not tell which approval request this button belongs to")
    assert scene.executor.runs == []


def test_a_bot_without_approvals_says_so_instead_of_failing(start_bot: Callable[..., RunningBot]) -> None:
    running = start_bot(services=Services())
    now = datetime.now(UTC)
    req = ApprovalRequest(
        id=7, action="teardown.workspace", target="ws1", details={}, requester="U_ALICE", channel=CHANNEL,
        reason=None, needed=1, state=ApprovalState.PENDING, version=0, created_at=now,
        expires_at=now + timedelta(hours=1), decided_at=None, decided_by=None, exec_token=None,
        exec_started_at=None, lease_until=None, finished_at=None, result=None, error=None,
    )  # fmt: skip
    drawn = BlockKitRenderer().render(KIND_REQUEST, jsonable(request_payload(req)))
    message = post_buttons(running.workspace, [dict(block) for block in drawn.blocks])
    running.driver.click(user="U_BOB", channel=CHANNEL, message_ts=message.ts, action_id="approval.approve")
    assert running.bot.pool.wait_idle(TIMEOUT)
    [answer] = [e.text for e in running.workspace.ephemerals(CHANNEL, "U_BOB")]
    assert answer.startswith("Approvals are not set up on this bot")
