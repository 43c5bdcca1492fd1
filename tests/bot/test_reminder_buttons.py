"""Running-compute reminders end to end through the local workspace and the real HTTP path: a sweep posts one
grouped, priced reminder; signed clicks on Stop / Scale to zero / Snooze / Keep → Bolt → ReminderService →
ephemeral answers and notes in the reminder's thread. The service's clock moves only when a test says so."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.blocks.reminders import KEEP_BUTTON, SNOOZE_BUTTON, STOP_BUTTON
from bot.blocks.renderer import BlockKitRenderer
from bot.bootstrap import build_services
from bot.devslack import Message, Workspace
from bot.devslack.blocks import buttons
from bot.devslack.driver import DriverResponse
from bot.settings import Settings
from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.container import Services
from services.models import ComputeInfo
from services.outbox import Outbox, jsonable
from services.ports import CloudBackend
from services.rbac import Authorizer, PermissionConfig
from services.reminder_schedule import ReminderSchedule
from services.reminder_sweep import reminder_payload
from services.reminder_users import SlackUserDirectory
from services.reminders import KIND_REMINDER, ReminderService, SweepReport
from tests.conftest import RunningBot
from tests.services.store.store_fakes import FakeClock

ROOT = Path(__file__).parents[2]
CHANNEL = "C_ML"
TIMEOUT = 30.0
PERMISSIONS = {
    "roles": {"admin": {"users": ["U_ALICE"]}, "operator": {"users": ["U_BOB"]}, "viewer": {"users": ["U_CAROL"]}}
}
# Every minute a new slot, so each sweep at a moved clock is a new one (the default schedule fires hourly).
EVERY_MINUTE = ReminderSchedule(("* * * * *",))


class CreatedComputes:
    """The local Computes port with Azure's creator emails on its computes, counting stops."""

    def __init__(self, inner: Any, creators: dict[str, str]) -> None:
        self.inner = inner
        self.creators = creators
        self.stops: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list(self, **kwargs: Any) -> list[ComputeInfo]:
        infos = self.inner.list(**kwargs)
        return [dataclasses.replace(i, created_by=self.creators.get(i.name, i.created_by)) for i in infos]

    def begin_stop(self, name: str, **kwargs: Any) -> Any:
        with self._lock:
            self.stops.append(name)
        return self.inner.begin_stop(name, **kwargs)


@dataclass
class Scene:
    """The bot served over HTTP with a reminder service on a fast local backend and a clock moved by hand."""

    running: RunningBot
    reminders: ReminderService
    computes: CreatedComputes
    clock: FakeClock

    @property
    def workspace(self) -> Workspace:
        return self.running.workspace

    def sweep(self) -> SweepReport:
        """What the scheduler runs at each fire time."""
        report = self.reminders.sweep()
        delivery = self.running.bot.services.delivery
        assert delivery is not None
        delivery.wake()
        return report

    def posted(self) -> list[Message]:
        """The reminders in the channel, oldest first."""
        return [m for m in self.workspace.messages(CHANNEL) if _dedupe_key(m).startswith(f"reminder:{CHANNEL}:")]

    def reminder(self, count: int = 1) -> Message:
        """Wait until `count` reminders are in the channel; the newest."""
        assert self.workspace.wait_until(lambda: len(self.posted()) >= count, TIMEOUT), "no reminder posted"
        return self.posted()[-1]

    def click(self, message: Message, user: str, action_id: str) -> DriverResponse:
        driver = self.running.driver
        response = driver.click(user=user, channel=CHANNEL, message_ts=message.ts, action_id=action_id)
        assert response.status == 200 and response.acked_in_time, response
        return response

    def settle(self) -> None:
        assert self.running.bot.pool.wait_idle(TIMEOUT), "click work did not finish"

    def answers(self, user: str) -> list[str]:
        return [e.text for e in self.workspace.ephemerals(CHANNEL, user)]

    def thread(self, message: Message) -> list[str]:
        return [reply.text for reply in self.workspace.replies(CHANNEL, message.ts)]

    def wait_for_reply(self, message: Message, text: str) -> None:
        found = self.workspace.wait_until(lambda: any(text in reply for reply in self.thread(message)), TIMEOUT)
        assert found, f"{text!r} not in the thread: {self.thread(message)}"


def _dedupe_key(message: Message) -> str:
    return str(((message.metadata or {}).get("event_payload") or {}).get("dedupe_key") or "")


def shown(message: Message) -> str:
    return message.text + " " + json.dumps(message.blocks, ensure_ascii=False)


def local_backend(folder: Path) -> CloudBackend:
    return build_local_backend(folder, JobCatalog(ROOT / "jobs"), compute_transition_seconds=0.05)


class _ByHand:
    """Stands in for the bot's reminder scheduler: in a scene, only `Scene.sweep` sweeps (the scene's clock does
    not follow real time, so the real fire times would sweep at arbitrary moments)."""

    def __init__(self, service: ReminderService, **_: object) -> None:
        pass

    def __call__(self, stop: threading.Event) -> None:
        stop.wait()


@pytest.fixture
def scene(start_bot: Callable[..., RunningBot], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    monkeypatch.setattr("bot.app.ReminderScheduler", _ByHand)
    backend = local_backend(tmp_path / "cloud")  # dev-instance (an instance, $0.30/h) and an idle cpu-cluster
    computes = CreatedComputes(backend.computes, {"dev-instance": "bob@example.com"})
    computes.begin_start("dev-instance").result(timeout=10)
    since = computes.get("dev-instance").running_since
    assert since is not None
    clock = FakeClock(since + timedelta(hours=2, minutes=30))
    made: list[ReminderService] = []

    def services(settings: Settings) -> Services:
        built = build_services(settings)
        assert built.tracking is not None
        authorizer = Authorizer(PermissionConfig.from_mapping(PERMISSIONS))
        slack = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
        reminders = ReminderService(
            built.tracking.engine,
            dataclasses.replace(backend, computes=computes),
            Outbox(),  # real time: the delivery loop sends what is due now
            EVERY_MINUTE,
            clock=clock,
            channels=(CHANNEL,),
            users=SlackUserDirectory(slack),
            authorizer=authorizer,
            audit=built.audit,
        )
        made.append(reminders)
        return dataclasses.replace(built, authorizer=authorizer, reminders=reminders)

    running = start_bot(services=services, data_dir=str(tmp_path / "data"), job_catalog_dir=str(ROOT / "jobs"))
    return Scene(running, made[0], computes, clock)


def test_a_running_compute_yields_one_grouped_reminder_with_its_cost(scene: Scene) -> None:
    report = scene.sweep()
    assert [(s.channel, s.computes) for s in report.sent] == [(CHANNEL, 1)]
    message = scene.reminder()
    text = shown(message)
    assert "dev-instance" in text and "Standard_DS11_v2" in text
    assert "Running *2 h 30 min* · about *$0.75* so far · *$0.30/h* _(price: configured rate)_" in text
    assert "created by <@U_BOB>" in text, "the creator's Azure email was matched to a Slack user"
    assert "<@U_BOB>" in message.text, "the notification mentions the creator"
    assert "cpu-cluster" not in text, "an idle cluster costs nothing"
    assert [b.text for b in buttons(message)] == ["Stop", "Snooze 2 h", "Keep until tomorrow"]
    assert [c.params.get("email") for c in scene.workspace.calls("users.lookupByEmail")] == ["bob@example.com"]

    again = scene.sweep()  # the same fire time, e.g. a second replica's sweep
    assert (again.sent, again.repeated) == ([], 1)


def test_stop_stops_it_once_and_the_thread_says_so(scene: Scene) -> None:
    scene.sweep()
    message = scene.reminder()
    scene.click(message, "U_BOB", STOP_BUTTON)
    scene.settle()
    assert scene.answers("U_BOB") == ["Stopped `dev-instance`: its compute hours are no longer billed."]
    assert scene.computes.get("dev-instance").state == "Stopped"
    scene.wait_for_reply(message, "Stopped `dev-instance`: its compute hours are no longer billed.")
    assert scene.thread(message)[0] == "<@U_BOB> asked to stop `dev-instance`; on it…"

    scene.click(message, "U_ALICE", STOP_BUTTON)  # the buttons are still there for everyone else
    scene.settle()
    [late] = scene.answers("U_ALICE")
    assert late.startswith("<@U_BOB> already asked to stop `dev-instance` at ")
    assert scene.computes.stops == ["dev-instance"]
    assert sum("Stopped" in reply for reply in scene.thread(message)) == 1

    scene.clock.advance(3600)
    assert scene.sweep().sent == [], "a stopped compute is not reminded about"


def test_scale_to_zero_sets_a_warm_clusters_minimum_to_zero_and_the_thread_says_so(scene: Scene) -> None:
    scene.computes.inner.begin_stop("dev-instance").result(timeout=10)
    warm = scene.computes.begin_create_cluster("warm-cluster", size="Standard_DS3_v2", min_nodes=1, max_nodes=2)
    warm.result(timeout=10)
    scene.sweep()
    message = scene.reminder()
    assert "warm-cluster" in shown(message)
    assert [b.text for b in buttons(message)] == ["Scale to zero", "Snooze 2 h", "Keep until tomorrow"]

    scene.click(message, "U_BOB", STOP_BUTTON)
    scene.settle()
    said = (
        "`warm-cluster` now scales to zero: its minimum went from 1 node(s) to 0, so its idle nodes ($0.29/h each) "
        "go away after its scale-down delay."
    )
    assert scene.answers("U_BOB") == [said]
    after = scene.computes.get("warm-cluster")
    assert (after.min_nodes, after.current_nodes) == (0, 0)
    scene.wait_for_reply(message, said)
    assert scene.thread(message)[0] == "<@U_BOB> asked to scale to zero `warm-cluster`; on it…"

    scene.clock.advance(3600)
    assert scene.sweep().sent == [], "a cluster without nodes is not reminded about"


def test_snooze_holds_the_compute_back_until_its_time_passes(scene: Scene) -> None:
    scene.sweep()
    message = scene.reminder()
    scene.click(message, "U_BOB", SNOOZE_BUTTON)
    scene.settle()
    [answer] = scene.answers("U_BOB")
    assert answer.startswith("No reminders about `dev-instance` until ")
    scene.wait_for_reply(message, "<@U_BOB> snoozed reminders about `dev-instance` until")

    scene.clock.advance(2 * 3600 - 60)
    held = scene.sweep()
    assert (held.sent, held.found, held.snoozed) == ([], 1, 1)
    scene.clock.advance(61)
    assert [s.computes for s in scene.sweep().sent] == [1]
    back = scene.reminder(count=2)
    assert back.ts != message.ts and "dev-instance" in shown(back)
    assert scene.computes.stops == []


def test_keep_until_tomorrow_keeps_it_until_nine_the_next_morning(scene: Scene) -> None:
    scene.sweep()
    message = scene.reminder()
    scene.click(message, "U_BOB", KEEP_BUTTON)
    scene.settle()
    [kept] = scene.reminders.snoozes()
    assert (kept.compute, kept.kind, kept.by) == ("dev-instance", "keep", "U_BOB")
    assert kept.until.hour == 9 and kept.until.date() == (scene.clock() + timedelta(days=1)).date()
    [answer] = scene.answers("U_BOB")
    assert answer.startswith("No reminders about `dev-instance` until ") and "09:00 UTC" in answer
    scene.wait_for_reply(message, "<@U_BOB> kept `dev-instance` running until")


def test_a_stopped_compute_yields_nothing(scene: Scene) -> None:
    scene.computes.begin_stop("dev-instance").result(timeout=10)
    report = scene.sweep()
    assert (report.sent, report.found) == ([], 0)
    engine = scene.reminders.engine
    with engine.connect() as conn:
        assert [i for i in Outbox.items(conn) if i.kind == KIND_REMINDER] == [], "nothing is on its way either"
    assert scene.posted() == []


def test_a_viewers_click_is_refused_naming_the_role(scene: Scene) -> None:
    scene.sweep()
    message = scene.reminder()
    scene.click(message, "U_CAROL", STOP_BUTTON)
    scene.click(message, "U_CAROL", SNOOZE_BUTTON)
    scene.settle()
    answers = scene.answers("U_CAROL")
    assert len(answers) == 2
    assert all("needs the operator role" in a and "The compute's creator may do it too." in a for a in answers)
    assert scene.computes.stops == [] and scene.reminders.snoozes() == []
    assert scene.thread(message) == []
    assert scene.answers("U_BOB") == [], "only the clicker hears about it"


def test_a_slack_retry_of_a_click_acts_and_answers_once(scene: Scene) -> None:
    scene.sweep()
    message = scene.reminder()
    first = scene.click(message, "U_BOB", SNOOZE_BUTTON)
    retry = scene.running.driver.resend(first, retry_num=1)
    assert retry.status == 200
    scene.settle()
    assert len(scene.answers("U_BOB")) == 1
    scene.wait_for_reply(message, "snoozed reminders about `dev-instance`")
    assert sum("snoozed" in reply for reply in scene.thread(message)) == 1


def test_remind_now_through_slack_posts_the_reminder_and_tells_the_admin(scene: Scene) -> None:
    said = scene.running.ask("remind now", user="U_ALICE")
    assert "Found 1 compute costing money in the default workspace (about $0.30/h in all)" in said
    assert "dev-instance" in shown(scene.reminder())
    refused = scene.running.ask("remind now", user="U_BOB")
    assert "needs the admin role" in refused


def test_a_button_that_names_no_reminder_gets_a_plain_answer(scene: Scene) -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Stop"}, "action_id": STOP_BUTTON}
    blocks = [{"type": "actions", "elements": [{**button, "value": "dev-instance"}]}]
    message = scene.workspace.post_message(CHANNEL, text="a reminder", blocks=blocks)
    scene.click(message, "U_BOB", STOP_BUTTON)
    scene.settle()
    [answer] = scene.answers("U_BOB")
    assert answer.startswith("I could not tell which reminder and compute this button belongs to")
    assert scene.computes.stops == []


def test_a_bot_without_reminders_says_so_instead_of_failing(start_bot: Callable[..., RunningBot]) -> None:
    running = start_bot(services=Services())
    item = {"name": "dev-instance", "action": "stop"}
    payload = reminder_payload(7, CHANNEL, "slot", [item], swept_at=datetime.now(UTC))
    drawn = BlockKitRenderer().render(KIND_REMINDER, jsonable(payload))
    message = running.workspace.post_message(CHANNEL, text=drawn.text, blocks=[dict(b) for b in drawn.blocks])
    running.driver.click(user="U_BOB", channel=CHANNEL, message_ts=message.ts, action_id=SNOOZE_BUTTON)
    assert running.bot.pool.wait_idle(TIMEOUT)
    [answer] = [e.text for e in running.workspace.ephemerals(CHANNEL, "U_BOB")]
    assert answer.startswith("Reminders are not set up on this bot")
