"""App Home through the local workspace and the real HTTP path: app_home_opened → views.publish with the person's
jobs, the team's running compute and the requests waiting for them; Approve on the Home decides as in the
channel; the refresh loop republishes a Home once per burst of changes."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.bootstrap import build_services
from bot.devslack import View, buttons, render_view
from bot.listeners.app_home import HomeTab
from bot.settings import Settings
from services.approvals import ApprovalRequest, ApprovalService, ApprovalState
from services.container import Services
from services.home import HomeService, HomeSnapshot, PersonalView
from services.outbox import Outbox
from services.rbac import Authorizer, PermissionConfig
from tests.conftest import RunningBot
from tests.services.approvals.approval_fakes import RecordingExecutor

ROOT = Path(__file__).parents[2]
CHANNEL = "C_ML"
TIMEOUT = 30.0
PERMISSIONS = {
    "roles": {"admin": {"users": ["U_ALICE"]}, "approver": {"users": ["U_BOB"]}, "viewer": {"users": ["U_CAROL"]}},
    "default_role": "operator",
}


@dataclass
class Scene:
    running: RunningBot
    services: Services
    approvals: ApprovalService
    executor: RecordingExecutor

    def open_home(self, user: str) -> View:
        """Open the Home tab as `user` and wait for the Home the bot publishes in answer."""
        before = self.running.driver.home(user)
        response = self.running.driver.open_home(user)
        assert response.status == 200 and response.acked_in_time, response
        assert self.running.workspace.wait_until(lambda: self.running.driver.home(user) != before, TIMEOUT)
        self.settle()
        home = self.running.driver.home(user)
        assert home is not None
        return home

    def shown(self, user: str) -> str:
        home = self.running.driver.home(user)
        assert home is not None
        return render_view(self.running.workspace, home)

    def ask(self, requester: str = "U_ALICE") -> ApprovalRequest:
        return self.approvals.request("teardown.workspace", "ws1", {}, requester, CHANNEL, "project is over")

    def settle(self) -> None:
        assert self.running.bot.pool.wait_idle(TIMEOUT), "work did not finish"


@pytest.fixture
def make_scene(start_bot: Callable[..., RunningBot], tmp_path: Path) -> Callable[[dict[str, Any]], Scene]:
    """The bot on the local backend with approvals, under the given permissions."""

    def make(permissions: dict[str, Any]) -> Scene:
        executor = RecordingExecutor()
        made: list[tuple[Services, ApprovalService]] = []

        def services(settings: Settings) -> Services:
            built = build_services(settings)
            assert built.tracking is not None
            authorizer = Authorizer(PermissionConfig.from_mapping(permissions))
            approvals = ApprovalService(built.tracking.engine, Outbox(), authorizer, executor=executor)
            wired = dataclasses.replace(built, authorizer=authorizer, approvals=approvals, leader=None)
            made.append((wired, approvals))
            return wired

        running = start_bot(services=services, data_dir=str(tmp_path / "data"), job_catalog_dir=str(ROOT / "jobs"))
        wired, approvals = made[0]
        return Scene(running, wired, approvals, executor)

    return make


@pytest.fixture
def scene(make_scene: Callable[[dict[str, Any]], Scene]) -> Scene:
    return make_scene(PERMISSIONS)


def submit_and_wait(scene: Scene, text: str, user: str) -> None:
    """Submit a job and wait until the bot follows it (its root message is in the channel)."""
    workspace = scene.running.workspace
    seen = len(workspace.messages(CHANNEL))
    scene.running.driver.slash(text, user=user)
    assert workspace.wait_until(
        lambda: any("`hello-" in json.dumps(m.blocks) for m in workspace.messages(CHANNEL)[seen:]), TIMEOUT
    ), "the job's root message never appeared"


def test_opening_home_publishes_the_persons_jobs_the_running_compute_and_their_decisions(scene: Scene) -> None:
    submit_and_wait(scene, "job submit hello --set name=home", user="U_ALICE")
    backend = scene.services.backend
    assert backend is not None
    backend.computes.begin_start("dev-instance").result(timeout=TIMEOUT)
    request = scene.ask(requester="U_ALICE")

    scene.open_home("U_BOB")
    bob = scene.shown("U_BOB")
    assert "Waiting for your decision" in bob and "workspace `ws1`" in bob and "project is over" in bob
    assert "`dev-instance` (instance, Standard_DS11_v2) · *$0.30/h* · today ≈ " in bob, bob
    assert "[configured rate]" in bob and "if left on" in bob
    assert "No jobs of yours are being followed" in bob, "Alice's job is not Bob's"
    home = scene.running.driver.home("U_BOB")
    assert home is not None
    assert [(b.text, b.action_id, b.value) for b in buttons(home.definition)] == [
        ("Approve", "approval.approve", str(request.id)),
        ("Reject", "approval.reject", str(request.id)),
    ], "the channel message's own buttons"

    scene.open_home("U_ALICE")
    alice = scene.shown("U_ALICE")
    assert "`hello-" in alice and "template `hello`" in alice and "#ml-team" in alice
    assert "No deletion request is waiting for you." in alice, "nobody approves their own request"
    assert "$0.30/h" in alice, "the compute is the team's"


def test_approve_on_home_deletes_once_like_in_the_channel_and_the_home_says_so(scene: Scene) -> None:
    request = scene.ask()
    scene.open_home("U_BOB")
    first = scene.running.driver.click_in_view("U_BOB", action_id="approval.approve")
    assert first.status == 200 and first.acked_in_time
    retry = scene.running.driver.resend(first, retry_num=1)
    assert retry.status == 200
    scene.settle()

    assert scene.executor.runs == [request.id], "deleted once, Slack's retry changed nothing"
    decided = scene.approvals.get(request.id)
    assert decided is not None and decided.state is ApprovalState.DONE and decided.approvers == ("U_BOB",)
    bob = scene.shown("U_BOB")
    assert "*Your click:* Approved: deleting workspace `ws1` now" in bob
    assert "No deletion request is waiting for you." in bob
    home = scene.running.driver.home("U_BOB")
    assert home is not None and buttons(home.definition) == []
    # The channel tells the same story as after a click there.
    assert scene.running.workspace.wait_until(
        lambda: any("Approved by <@U_BOB>" in json.dumps(m.blocks) for m in scene.running.workspace.messages(CHANNEL)),
        TIMEOUT,
    )


def test_reject_on_home_closes_the_request(scene: Scene) -> None:
    request = scene.ask()
    scene.open_home("U_BOB")
    scene.running.driver.click_in_view("U_BOB", action_id="approval.reject")
    scene.settle()
    assert scene.approvals.get(request.id).state is ApprovalState.REJECTED  # type: ignore[union-attr]
    assert "*Your click:* Rejected: workspace `ws1` will not be deleted." in scene.shown("U_BOB")
    assert scene.executor.runs == []


def test_a_person_who_may_not_approve_sees_no_buttons(scene: Scene) -> None:
    scene.ask()
    scene.open_home("U_CAROL")
    carol = scene.shown("U_CAROL")
    assert "No deletion request is waiting for you." in carol
    home = scene.running.driver.home("U_CAROL")
    assert home is not None and buttons(home.definition) == []


def test_a_click_on_home_is_authorised_where_the_request_was_asked(
    make_scene: Callable[[dict[str, Any]], Scene],
) -> None:
    # Carol approves only in #ml-team (a channel grant): her Home offers the buttons and her click counts.
    scene = make_scene({"roles": {"admin": {"users": ["U_ALICE"]}, "approver": {"channels": [CHANNEL]}}})
    request = scene.ask()
    scene.open_home("U_CAROL")
    scene.running.driver.click_in_view("U_CAROL", action_id="approval.approve")
    scene.settle()
    assert scene.executor.runs == [request.id]
    assert "*Your click:* Approved: deleting workspace `ws1` now" in scene.shown("U_CAROL")


def test_a_refused_click_on_home_names_the_role_needed(scene: Scene) -> None:
    request = scene.ask()
    scene.open_home("U_BOB")
    scene.open_home("U_CAROL")
    bobs_home = scene.running.driver.home("U_BOB")
    assert bobs_home is not None
    # Carol clicks the button of a Home that still shows it (say, Bob's, shared on screen): refused at click time.
    scene.running.driver.click_in_view("U_CAROL", view_id=bobs_home.id, action_id="approval.approve")
    scene.settle()
    assert scene.executor.runs == []
    assert scene.approvals.get(request.id).state is ApprovalState.PENDING  # type: ignore[union-attr]
    carol = scene.shown("U_CAROL")
    assert "*Your click:* Approving a workspace teardown needs the approver role" in carol and "@bob" in carol


def test_opening_the_messages_tab_publishes_nothing(scene: Scene) -> None:
    response = scene.running.driver.open_home("U_BOB", tab="messages")
    assert response.status == 200
    scene.settle()
    assert scene.running.driver.home("U_BOB") is None
    assert scene.running.workspace.calls("views.publish") == []


def test_what_a_person_sees_changes_when_their_job_moves_or_a_request_opens_or_closes(scene: Scene) -> None:
    home = HomeService(scene.services)
    before = home.fingerprint("U_ALICE")
    submit_and_wait(scene, "job submit hello", user="U_ALICE")
    followed = home.fingerprint("U_ALICE")
    assert followed != before
    assert scene.running.workspace.wait_until(lambda: home.fingerprint("U_ALICE") != followed, TIMEOUT), (
        "the job's status changes (Queued → … → Completed) show in the fingerprint"
    )

    quiet = home.fingerprint("U_BOB")
    request = scene.ask()
    assert home.fingerprint("U_BOB") != quiet, "a request Bob may decide on opened"
    scene.approvals.decide(request.id, "U_ALICE", CHANNEL, approve=False)  # withdrawn by the requester
    assert home.fingerprint("U_BOB") == quiet, "and closed again"


def test_the_refresh_loop_republishes_a_home_when_its_job_moves_or_a_request_opens_and_closes(scene: Scene) -> None:
    slack, workspace = scene.running.slack, scene.running.workspace
    tab = HomeTab(HomeService(scene.services), scene.running.bot.pool, min_interval=0, check_every=0.05)
    tab.opened("U_ALICE", WebClient(token=slack.bot_token, base_url=slack.api_url))
    tab.opened("U_BOB", WebClient(token=slack.bot_token, base_url=slack.api_url))
    scene.settle()
    stop = threading.Event()
    loop = threading.Thread(target=tab.run, args=(stop,), daemon=True)  # the loop the bot runs beside the others
    loop.start()
    try:
        submit_and_wait(scene, "job submit hello", user="U_ALICE")
        assert workspace.wait_until(lambda: ":white_check_mark: Completed" in scene.shown("U_ALICE"), TIMEOUT)
        request = scene.ask()
        assert workspace.wait_until(lambda: "workspace `ws1`" in scene.shown("U_BOB"), TIMEOUT)
        scene.approvals.decide(request.id, "U_ALICE", CHANNEL, approve=False)  # withdrawn in the channel
        assert workspace.wait_until(lambda: "No deletion request is waiting" in scene.shown("U_BOB"), TIMEOUT)
    finally:
        stop.set()
        loop.join(TIMEOUT)


# ------------------------------------------------------------------------------------------------ refreshing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeHome:
    """A HomeService whose content (a number standing for what the Home shows) is set by the test."""

    def __init__(self) -> None:
        self.content: dict[str, int] = {}

    def personal(self, user: str) -> PersonalView:
        return PersonalView(user, running_more=self.content.get(user, 0))

    def fingerprint(self, user: str) -> Hashable:
        return self.personal(user).fingerprint

    def snapshot(self, user: str, *, notice: str | None = None) -> HomeSnapshot:
        return HomeSnapshot(self.personal(user), None, datetime.now(UTC), notice)


class FakeClient:
    def __init__(self) -> None:
        self.published: list[str] = []
        self.refuse_with: int | None = None

    def views_publish(self, *, user_id: str, view: dict[str, Any]) -> None:
        if self.refuse_with is not None:
            response = SlackResponse(
                client=None, http_verb="POST", api_url="views.publish", req_args={},
                data={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "30"}, status_code=self.refuse_with,
            )  # fmt: skip
            raise SlackApiError("ratelimited", response)
        self.published.append(user_id)


class InlinePool:
    def submit(self, task: Callable[[], object]) -> None:
        task()


@pytest.fixture
def tab() -> tuple[HomeTab, FakeHome, FakeClient, Clock]:
    home, client, clock = FakeHome(), FakeClient(), Clock()
    tab = HomeTab(home, InlinePool(), monotonic=clock, min_interval=10, follow_for=3600, per_minute=3)  # type: ignore[arg-type]
    tab.opened("U_BOB", client)  # type: ignore[arg-type]
    assert client.published == ["U_BOB"], "published on open"
    return tab, home, client, clock


def test_a_burst_of_changes_publishes_once_per_interval(tab: tuple[HomeTab, FakeHome, FakeClient, Clock]) -> None:
    home_tab, home, client, clock = tab
    assert home_tab.refresh_changed() == 0, "nothing changed"
    for n in range(1, 6):  # five changes within the interval
        home.content["U_BOB"] = n
        clock.now += 1
        home_tab.refresh_changed()
    assert client.published == ["U_BOB"], "within 10 s of the last publish nothing more goes out"
    clock.now += 10
    assert home_tab.refresh_changed() == 1
    assert client.published == ["U_BOB", "U_BOB"], "then the burst goes out as one publish"
    clock.now += 30
    assert home_tab.refresh_changed() == 0, "the latest content is already shown"


def test_refreshes_keep_within_the_minute_budget_and_pause_on_429(
    tab: tuple[HomeTab, FakeHome, FakeClient, Clock],
) -> None:
    home_tab, home, client, clock = tab
    for user in ("U_ALICE", "U_CAROL", "U_DAVE", "U_ERIN"):
        home_tab.opened(user, client)  # type: ignore[arg-type]
    clock.now += 11
    for user in ("U_ALICE", "U_BOB", "U_CAROL", "U_DAVE", "U_ERIN"):
        home.content[user] = 1
    assert home_tab.refresh_changed() == 3, "at most per_minute refreshes a minute"
    clock.now += 61
    client.refuse_with = 429
    assert home_tab.refresh_changed() == 0
    client.refuse_with = None
    clock.now += 10
    assert home_tab.refresh_changed() == 0, "paused for Slack's Retry-After (30 s)"
    clock.now += 21
    assert home_tab.refresh_changed() == 2, "then the two left go out"


def test_a_home_not_opened_for_an_hour_is_no_longer_refreshed(
    tab: tuple[HomeTab, FakeHome, FakeClient, Clock],
) -> None:
    home_tab, home, client, clock = tab
    clock.now += 3601
    home.content["U_BOB"] = 1
    assert home_tab.refresh_changed() == 0
    assert client.published == ["U_BOB"]
