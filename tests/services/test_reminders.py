"""Running-compute reminders through the local backend: one grouped, priced message per channel; Stop and Scale to
zero run once and the thread says so; snoozes hold until the controlled clock passes them, across restarts; quiet
time; the schedule itself. Every case runs on SQLite and PostgreSQL (see tests/services/store/db_fixtures.py)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import tests.services.store.db_fixtures as db_fixtures  # noqa: E402
from services.audit import AuditLog
from services.catalog import JobCatalog
from services.channel_config import ChannelConfig
from services.chat import RenderedMessage
from services.cloud.local import ComputeSlot, build_local_backend
from services.errors import InvalidInput
from services.models import ComputeInfo, ComputeKind, JobStatus
from services.outbox import Outbox, OutboxDelivery
from services.ports import CloudBackend
from services.rbac import Authorizer, PermissionConfig
from services.reminder_schedule import QuietHours, ReminderSchedule, parse_days, parse_duration
from services.reminder_users import SlackUserDirectory, StaticUserDirectory, slack_user_for
from services.reminders import KIND_PROGRESS, KIND_REMINDER, ActionOutcome, ReminderService
from tests.services.local.helpers_local import REPO_JOBS, TEST_TEMPLATES, job_request, wait_for_status
from tests.services.store.store_fakes import FakeChat, FakeClock

make_db_engine = db_fixtures.make_db_engine
engine = db_fixtures.engine

CHANNEL = "C_ML"
SLOTS = (
    ComputeSlot("dev-instance", size="Standard_DS11_v2", hourly_rate=0.30, kind=ComputeKind.INSTANCE, running=True),
    ComputeSlot("idle-instance", size="Standard_DS3_v2", hourly_rate=0.40, kind=ComputeKind.INSTANCE),
    ComputeSlot("cpu-cluster", size="Standard_DS3_v2", max_concurrent_jobs=2, hourly_rate=0.90),
)


class PayloadText:
    """Renders every outbox payload as its plain `text` (what the Block Kit renderer falls back to)."""

    def render(self, kind: str, payload: Any) -> RenderedMessage:
        return RenderedMessage(text=str(payload["text"]))


class CountingComputes:
    """The local Computes port, counting stops and scale-downs; `creators` stands in for who created each compute."""

    def __init__(self, inner: Any, creators: dict[str, str] | None = None) -> None:
        self.inner = inner
        self.creators = creators or {}
        self.stops: list[str] = []
        self.scaled: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list(self, **kwargs: Any) -> list[ComputeInfo]:
        return [replace(i, created_by=self.creators.get(i.name, i.created_by)) for i in self.inner.list(**kwargs)]

    def begin_stop(self, name: str, **kwargs: Any) -> Any:
        with self._lock:
            self.stops.append(name)
        return self.inner.begin_stop(name, **kwargs)

    def begin_scale_to_zero(self, name: str, **kwargs: Any) -> Any:
        with self._lock:
            self.scaled.append(name)
        return self.inner.begin_scale_to_zero(name, **kwargs)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def catalog(tmp_path: Path) -> JobCatalog:
    target = tmp_path / "jobs"
    shutil.copytree(REPO_JOBS, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in TEST_TEMPLATES.items():
        (target / name).write_text(text)
    return JobCatalog(target)


def local_backend(data_dir: Path, catalog: JobCatalog, slots: Sequence[ComputeSlot] = SLOTS) -> CloudBackend:
    return build_local_backend(data_dir, catalog, compute_slots=slots, compute_transition_seconds=0.05)


@pytest.fixture
def backend(data_dir: Path, catalog: JobCatalog) -> Iterator[CloudBackend]:
    backend = local_backend(data_dir, catalog)
    computes = CountingComputes(backend.computes, {"dev-instance": "ada@example.com"})
    yield replace(backend, computes=computes)
    for job in backend.jobs.list():
        if not job.status.is_terminal:
            backend.jobs.cancel(job.name)


@pytest.fixture
def started_at(backend: CloudBackend) -> datetime:
    since = backend.computes.get("dev-instance").running_since
    assert since is not None
    return since


@pytest.fixture
def clock(started_at: datetime) -> FakeClock:
    """Two and a half hours after dev-instance started."""
    return FakeClock(started_at + timedelta(hours=2, minutes=30))


@pytest.fixture
def make_service(engine: Engine, backend: CloudBackend, clock: FakeClock) -> Callable[..., ReminderService]:
    def make(**kwargs: Any) -> ReminderService:
        options: dict[str, Any] = {
            "clock": clock,
            "channels": (CHANNEL,),
            "users": StaticUserDirectory({"ada@example.com": "U_ADA"}),
        }
        options.update(kwargs)
        schedule = options.pop("schedule", ReminderSchedule())
        return ReminderService(
            options.pop("engine", engine), options.pop("backend", backend), Outbox(clock), schedule, **options
        )

    return make


@pytest.fixture
def service(make_service: Callable[..., ReminderService]) -> ReminderService:
    return make_service()


@pytest.fixture
def chat(clock: FakeClock) -> FakeChat:
    return FakeChat(clock)


def deliver(engine: Engine, chat: FakeChat, clock: FakeClock) -> None:
    """Deliver everything queued (no pacing, so the clock never moves)."""
    delivery = OutboxDelivery(engine, chat, PayloadText(), clock, per_channel_interval=0.0)
    for _ in range(50):
        if delivery.deliver_due(100).next_due_at is None:
            return
    raise AssertionError("the outbox did not empty")


def queued(engine: Engine, kind: str | None = None) -> list[Any]:
    with engine.connect() as conn:
        return [item for item in Outbox.items(conn) if kind is None or item.kind == kind]


def stop_everything(backend: CloudBackend, *names: str) -> None:
    for name in names:
        backend.computes.begin_stop(name).result(timeout=10)


# ------------------------------------------------------------------------------------------------ sweeping


def test_a_running_slot_yields_one_grouped_reminder_with_its_cost(
    service: ReminderService, engine: Engine, chat: FakeChat, clock: FakeClock
) -> None:
    report = service.sweep()
    assert [(s.channel, s.computes) for s in report.sent] == [(CHANNEL, 1)]
    (message,) = queued(engine)
    assert message.kind == KIND_REMINDER and message.creates_ref == f"reminder:{report.sent[0].reminder_id}"
    (item,) = message.payload["items"]  # the stopped instance and the idle cluster are not listed
    assert (item["name"], item["kind"], item["size"], item["action"]) == (
        "dev-instance",
        "instance",
        "Standard_DS11_v2",
        "stop",
    )
    assert (item["per_hour"], item["cost_so_far"], item["running_for"]) == (0.3, 0.75, "2 h 30 min")
    assert (item["price_label"], item["jobs_running"], item["creator_slack_id"]) == ("configured rate", 0, "U_ADA")
    assert message.payload["mentions"] == ["U_ADA"]

    deliver(engine, chat, clock)
    (posted,) = chat.posts(CHANNEL)
    assert "1 compute is running and costing money (about $0.30/h in all)" in posted.text
    assert (
        "`dev-instance` (instance, Standard_DS11_v2): running 2 h 30 min, $0.30/h, about $0.75 so far, "
        "no jobs running, <@U_ADA> [configured rate]" in posted.text
    )


def test_running_computes_share_one_message_dearest_first(
    data_dir: Path, catalog: JobCatalog, make_service: Callable[..., ReminderService], engine: Engine
) -> None:
    slots = [*SLOTS, ComputeSlot("gpu-box", size="Standard_NC6s_v3", hourly_rate=3.06, kind=ComputeKind.INSTANCE)]
    backend = local_backend(data_dir, catalog, slots)
    backend.computes.begin_start("gpu-box").result(timeout=10)
    report = make_service(backend=backend).sweep()
    assert len(report.sent) == 1
    (message,) = queued(engine)
    assert [i["name"] for i in message.payload["items"]] == ["gpu-box", "dev-instance"]
    assert message.payload["total_per_hour"] == 3.36


def test_a_stopped_slot_yields_nothing(service: ReminderService, backend: CloudBackend, engine: Engine) -> None:
    stop_everything(backend, "dev-instance")
    report = service.sweep()
    assert (report.sent, report.found) == ([], 0)
    assert queued(engine) == []


def test_a_sweep_repeated_for_the_same_slot_posts_once(
    service: ReminderService, engine: Engine, clock: FakeClock
) -> None:
    first = service.sweep()
    again = service.sweep()
    assert (len(first.sent), again.sent, again.repeated) == (1, [], 1)
    assert len(queued(engine)) == 1
    clock.advance(3 * 24 * 3600)  # a later fire time is a new slot (some weekday hour or 19:00 every day)
    assert len(service.sweep().sent) == 1
    assert len(queued(engine, KIND_REMINDER)) == 2


def test_a_long_list_stays_short_and_says_how_many_more(
    tmp_path: Path, catalog: JobCatalog, make_service: Callable[..., ReminderService], engine: Engine
) -> None:
    many = [
        ComputeSlot(f"ci-{n:02}", hourly_rate=0.1 + n / 100, kind=ComputeKind.INSTANCE, running=True) for n in range(20)
    ]
    backend = local_backend(tmp_path / "many", catalog, many)
    make_service(backend=backend, max_items=15).sweep()
    (message,) = queued(engine)
    assert (len(message.payload["items"]), message.payload["count"], message.payload["more"]) == (15, 20, 5)
    assert message.payload["items"][0]["name"] == "ci-19"  # dearest first
    assert "…and 5 more" in message.payload["text"]


def test_a_busy_cluster_is_listed_with_its_job_and_scale_to_zero_explains_itself(
    service: ReminderService, backend: CloudBackend, engine: Engine, chat: FakeChat, clock: FakeClock
) -> None:
    stop_everything(backend, "dev-instance")
    job = backend.jobs.submit(job_request("sleepy", compute="cpu-cluster", channel=CHANNEL))
    wait_for_status(backend, job.name, JobStatus.RUNNING)
    report = service.sweep()
    (message,) = queued(engine)
    (item,) = message.payload["items"]
    assert (item["name"], item["nodes"], item["per_hour"], item["jobs_running"]) == ("cpu-cluster", 1, 0.9, 1)
    assert item["action"] == "scale_to_zero" and item["job_names"] == [job.name]

    result = service.stop(report.sent[0].reminder_id, "cpu-cluster", by="U_OP")
    assert result.ok
    assert "already scales to zero by itself" in result.message and "1 job(s) keep its nodes busy" in result.message
    deliver(engine, chat, clock)
    (root,) = chat.roots(CHANNEL)
    assert any("already scales to zero by itself" in reply.text for reply in chat.replies(root))
    assert backend.computes.scaled == []  # type: ignore[attr-defined]  # minimum 0 already: nothing to change


def test_scale_to_zero_sets_a_warm_clusters_minimum_to_zero_once_and_the_thread_says_so(
    make_service: Callable[..., ReminderService],
    backend: CloudBackend,
    engine: Engine,
    chat: FakeChat,
    clock: FakeClock,
) -> None:
    stop_everything(backend, "dev-instance")
    warm = backend.computes.begin_create_cluster("warm-cluster", size="Standard_DS3_v2", min_nodes=1, max_nodes=2)
    warm.result(timeout=10)
    audit = AuditLog(engine, clock)
    service = make_service(audit=audit)
    reminder_id = service.sweep().sent[0].reminder_id
    (message,) = queued(engine)
    (item,) = message.payload["items"]  # no job runs on it, yet its one node is kept and billed
    assert (item["name"], item["nodes"], item["min_nodes"], item["action"]) == ("warm-cluster", 1, 1, "scale_to_zero")

    result = service.stop(reminder_id, "warm-cluster", by="U_OP")
    said = (
        "`warm-cluster` now scales to zero: its minimum went from 1 node(s) to 0, so its idle nodes ($0.29/h each) "
        "go away after its scale-down delay."
    )
    assert result.ok and result.message == said
    after = backend.computes.get("warm-cluster")
    assert (after.min_nodes, after.max_nodes, after.current_nodes, after.state) == (0, 2, 0, "Idle")

    again = service.stop(reminder_id, "warm-cluster", by="U_BOB")
    assert again.outcome is ActionOutcome.ALREADY
    assert again.message.startswith("<@U_OP> already asked to scale to zero `warm-cluster` at ")
    assert backend.computes.scaled == ["warm-cluster"]  # type: ignore[attr-defined]

    deliver(engine, chat, clock)
    (root,) = chat.roots(CHANNEL)
    assert [reply.text for reply in chat.replies(root)] == [
        "<@U_OP> asked to scale to zero `warm-cluster`; on it…",
        said,
    ]
    assert [(e.text, e.outcome) for e in reversed(audit.recent(kind="azure.mutation"))] == [
        (f"scale to zero warm-cluster (reminder #{reminder_id})", "started"),
        (f"scale to zero warm-cluster (reminder #{reminder_id})", "done"),
    ]
    clock.advance(3 * 24 * 3600)
    assert service.sweep().sent == []  # no node left: nothing to remind about


def test_scale_to_zero_keeps_the_nodes_of_running_jobs(
    service: ReminderService, backend: CloudBackend, engine: Engine
) -> None:
    stop_everything(backend, "dev-instance")
    backend.computes.begin_create_cluster("warm-cluster", size="Standard_DS3_v2", min_nodes=2, max_nodes=2).result(
        timeout=10
    )
    job = backend.jobs.submit(job_request("sleepy", compute="warm-cluster", channel=CHANNEL))
    wait_for_status(backend, job.name, JobStatus.RUNNING)
    reminder_id = service.sweep().sent[0].reminder_id

    result = service.stop(reminder_id, "warm-cluster", by="U_OP")
    assert result.ok and "minimum went from 2 node(s) to 0" in result.message
    assert "1 job(s) keep its nodes busy now" in result.message
    after = backend.computes.get("warm-cluster")
    assert (after.min_nodes, after.current_nodes, after.state) == (0, 1, "Running")  # the idle node went
    assert backend.jobs.get(job.name).status is JobStatus.RUNNING


def test_channels_default_to_those_with_settings_and_a_missing_workspace_is_reported(
    make_service: Callable[..., ReminderService], engine: Engine, clock: FakeClock
) -> None:
    config = ChannelConfig(engine, clock=clock)
    config.set("C_LOCAL", "workspace", "local", user="U_OP")
    config.set("C_ELSEWHERE", "workspace", "nowhere", user="U_OP")
    report = make_service(channels=()).sweep()
    assert [s.channel for s in report.sent] == ["C_LOCAL"]
    (error,) = report.errors
    assert error.startswith("Could not list the computes of workspace `nowhere`")


# ------------------------------------------------------------------------------------------------ snoozes


def test_snooze_suppresses_until_the_clock_passes_it(
    service: ReminderService, engine: Engine, chat: FakeChat, clock: FakeClock
) -> None:
    reminder_id = service.sweep().sent[0].reminder_id
    result = service.snooze_for("dev-instance", timedelta(hours=2), by="U_OP", reminder_id=reminder_id)
    assert result.ok and result.message.startswith("No reminders about `dev-instance` until ")

    clock.advance(3600)
    held = service.sweep(slot="a")
    assert (held.sent, held.found, held.snoozed) == ([], 1, 1)
    clock.advance(3600 - 1)
    assert service.sweep(slot="b").sent == []
    clock.advance(2)
    assert [s.computes for s in service.sweep(slot="c").sent] == [1]

    deliver(engine, chat, clock)
    root = chat.roots(CHANNEL)[0]
    assert any("<@U_OP> snoozed reminders about `dev-instance` until" in r.text for r in chat.replies(root))


def test_snoozes_are_kept_across_a_restart(
    make_service: Callable[..., ReminderService],
    make_db_engine: Callable[[], Engine],
    data_dir: Path,
    catalog: JobCatalog,
    clock: FakeClock,
) -> None:
    before = make_service()
    assert before.snooze_for("dev-instance", timedelta(hours=5), by="U_OP", channel=CHANNEL).ok
    restarted = make_service(engine=make_db_engine(), backend=local_backend(data_dir, catalog))
    (snooze,) = restarted.snoozes()
    assert (snooze.compute, snooze.by, snooze.kind) == ("dev-instance", "U_OP", "snooze")
    assert restarted.sweep().sent == []
    clock.advance(5 * 3600 + 1)
    assert len(restarted.sweep().sent) == 1


def test_keep_until_tomorrow_holds_until_nine_the_next_morning_in_the_schedules_time_zone(
    make_service: Callable[..., ReminderService], clock: FakeClock
) -> None:
    service = make_service(schedule=ReminderSchedule(timezone="America/New_York"))
    reminder_id = service.sweep().sent[0].reminder_id
    assert service.keep_until_tomorrow("dev-instance", by="U_OP", reminder_id=reminder_id).ok
    (kept,) = service.snoozes()
    local_now = clock().astimezone(service.schedule.tz)
    until = kept.until.astimezone(service.schedule.tz)
    assert (until.date(), until.hour, until.minute, kept.kind) == (local_now.date() + timedelta(days=1), 9, 0, "keep")
    clock.advance((kept.until - clock()).total_seconds() - 60)
    assert service.sweep(slot="before nine").sent == []
    clock.advance(61)
    assert len(service.sweep(slot="after nine").sent) == 1


def test_snoozing_refuses_what_makes_no_sense(service: ReminderService) -> None:
    past = service.snooze("dev-instance", service.clock() - timedelta(minutes=1), by="U_OP", channel=CHANNEL)
    assert past.outcome is ActionOutcome.INVALID and "already passed" in past.message
    too_long = service.snooze_for("dev-instance", timedelta(days=30), by="U_OP", channel=CHANNEL)
    assert too_long.outcome is ActionOutcome.INVALID and "at most 14 days" in too_long.message
    bad_name = service.snooze_for("no such!", timedelta(hours=1), by="U_OP", channel=CHANNEL)
    assert bad_name.outcome is ActionOutcome.INVALID
    unknown = service.snooze_for("dev-instance", timedelta(hours=1), by="U_OP", reminder_id=999)
    assert (unknown.outcome, unknown.message) == (ActionOutcome.NOT_FOUND, "I can't find that reminder any more.")
    assert service.snoozes() == []


# ------------------------------------------------------------------------------------------------ stopping


def test_stop_runs_once_and_the_thread_says_so(
    make_service: Callable[..., ReminderService],
    backend: CloudBackend,
    engine: Engine,
    chat: FakeChat,
    clock: FakeClock,
) -> None:
    audit = AuditLog(engine, clock)
    service = make_service(audit=audit)
    reminder_id = service.sweep().sent[0].reminder_id
    result = service.stop(reminder_id, "dev-instance", by="U_OP")
    assert result.ok and result.message == "Stopped `dev-instance`: its compute hours are no longer billed."
    assert backend.computes.get("dev-instance").state == "Stopped"

    again = service.stop(reminder_id, "dev-instance", by="U_BOB")
    assert again.outcome is ActionOutcome.ALREADY
    assert again.message.startswith("<@U_OP> already asked to stop `dev-instance` at ")
    assert backend.computes.stops == ["dev-instance"]  # type: ignore[attr-defined]

    deliver(engine, chat, clock)
    (root,) = chat.roots(CHANNEL)
    replies = [reply.text for reply in chat.replies(root)]
    assert replies == [
        "<@U_OP> asked to stop `dev-instance`; on it…",
        "Stopped `dev-instance`: its compute hours are no longer billed.",
    ]
    assert [m.kind for m in queued(engine)].count(KIND_PROGRESS) == 2
    assert [(e.user, e.text, e.outcome) for e in reversed(audit.recent(kind="azure.mutation"))] == [
        ("U_OP", f"stop dev-instance (reminder #{reminder_id})", "started"),
        ("U_OP", f"stop dev-instance (reminder #{reminder_id})", "done"),
    ]
    clock.advance(3 * 24 * 3600)
    assert service.sweep().sent == []  # stopped: nothing to remind about


def test_two_clicks_at_once_stop_once(
    make_service: Callable[..., ReminderService],
    make_db_engine: Callable[[], Engine],
    backend: CloudBackend,
) -> None:
    first = make_service()
    second = make_service(engine=make_db_engine())  # another replica
    reminder_id = first.sweep().sent[0].reminder_id
    barrier = threading.Barrier(2)
    outcomes: list[ActionOutcome] = []

    def click(service: ReminderService, user: str) -> None:
        barrier.wait()
        outcomes.append(service.stop(reminder_id, "dev-instance", by=user).outcome)

    threads = [threading.Thread(target=click, args=(s, u)) for s, u in ((first, "U_A"), (second, "U_B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == sorted([ActionOutcome.DONE, ActionOutcome.ALREADY])
    assert backend.computes.stops == ["dev-instance"]  # type: ignore[attr-defined]


def test_buttons_need_operator_or_being_the_creator(
    make_service: Callable[..., ReminderService], backend: CloudBackend, engine: Engine
) -> None:
    authorizer = Authorizer(PermissionConfig.from_mapping({"roles": {"operator": {"users": ["U_OP"]}}}))
    service = make_service(authorizer=authorizer, dm_creators=True)
    report = service.sweep()
    assert sorted(s.channel for s in report.sent) == sorted([CHANNEL, "U_ADA"])  # the channel and Ada's DM
    reminder_id = next(s.reminder_id for s in report.sent if s.channel == CHANNEL)

    refused = service.stop(reminder_id, "dev-instance", by="U_VIEW")
    assert refused.outcome is ActionOutcome.FORBIDDEN
    assert "needs the operator role" in refused.message and "creator may do it too" in refused.message
    snooze = service.snooze_for("dev-instance", timedelta(hours=2), by="U_VIEW", reminder_id=reminder_id)
    assert snooze.outcome is ActionOutcome.FORBIDDEN
    assert backend.computes.stops == []  # type: ignore[attr-defined]

    assert service.stop(reminder_id, "dev-instance", by="U_ADA").ok  # a viewer, but she created it
    assert backend.computes.stops == ["dev-instance"]  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------ quiet time, status


def test_quiet_time_holds_scheduled_sweeps_but_not_remind_now(make_service: Callable[..., ReminderService]) -> None:
    every_day = frozenset(range(7))
    service = make_service(schedule=ReminderSchedule(quiet_days=every_day))
    assert service.sweep().quiet and service.sweep().sent == []
    now = service.sweep_now("req-1")
    assert [s.channel for s in now.sent] == [CHANNEL]
    assert service.sweep_now("req-1").sent == []  # the same request (a retry) posts nothing twice


def test_status_shows_schedule_quiet_hours_and_active_snoozes(make_service: Callable[..., ReminderService]) -> None:
    schedule = ReminderSchedule.from_settings(None, "Europe/Amsterdam", quiet_hours="22:00-07:00", quiet_days="sun")
    service = make_service(schedule=schedule)
    service.snooze_for("dev-instance", timedelta(hours=2), by="U_OP", channel=CHANNEL)
    status = service.status()
    assert status.text.startswith(
        "Reminder schedule: cron `0 9-19 * * mon-fri; 0 19 * * *` in Europe/Amsterdam; "
        "quiet 22:00–07:00 every day and all day sun."
    )
    assert f"Channels reminded: <#{CHANNEL}>." in status.text
    assert "• `dev-instance` until " in status.text and "by <@U_OP>" in status.text
    assert len(status.next_fires) == 3


# ------------------------------------------------------------------------------------------------ the schedule


def test_default_schedule_fires_hourly_on_weekdays_and_at_seven_every_evening() -> None:
    schedule = ReminderSchedule(timezone="Europe/Amsterdam")
    friday_evening = datetime(2026, 1, 9, 18, 30, tzinfo=UTC)  # 19:30 in Amsterdam
    fires = [f.strftime("%a %H:%M") for f in schedule.next_fire_times(friday_evening, 4)]
    assert fires == ["Sat 19:00", "Sun 19:00", "Mon 09:00", "Mon 10:00"]
    slot = schedule.slot_for(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))  # Saturday 13:00 local
    assert slot is not None and slot.isoformat() == "2026-01-09T19:00:00+01:00"


def test_quiet_hours_wrap_midnight_and_days_are_named() -> None:
    schedule = ReminderSchedule(quiet_hours=QuietHours.parse("22:00-07:00"), quiet_days=parse_days("sat, sun"))
    assert schedule.is_quiet(datetime(2026, 1, 5, 23, 0, tzinfo=UTC))  # Monday night
    assert schedule.is_quiet(datetime(2026, 1, 6, 6, 59, tzinfo=UTC))
    assert not schedule.is_quiet(datetime(2026, 1, 6, 7, 0, tzinfo=UTC))
    assert schedule.is_quiet(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))  # Saturday
    with pytest.raises(ValueError, match="unknown day"):
        parse_days("sat,someday")
    with pytest.raises(ValueError, match="cron expression"):
        ReminderSchedule(("0 25 * * *",))
    with pytest.raises(ValueError, match="unknown time zone"):
        ReminderSchedule(timezone="Mars/Olympus")


def test_durations_people_type() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("90 min") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    with pytest.raises(InvalidInput, match="not a duration"):
        parse_duration("soon")


def test_old_reminders_are_pruned_and_their_buttons_say_so(service: ReminderService, clock: FakeClock) -> None:
    reminder_id = service.sweep().sent[0].reminder_id
    clock.advance(31 * 24 * 3600)
    assert service.prune() == 1
    gone = service.stop(reminder_id, "dev-instance", by="U_OP")
    assert (gone.outcome, gone.message) == (ActionOutcome.NOT_FOUND, "I can't find that reminder any more.")


class ScriptedSlackUsers:
    """A slack_sdk WebClient's users_lookupByEmail, answering from a script and counting calls."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def users_lookupByEmail(self, *, email: str) -> Any:
        self.calls.append(email)
        answer = self.answers[email]
        if isinstance(answer, Exception):
            raise answer
        return {"ok": True, "user": {"id": answer}}


def test_creators_are_looked_up_in_slack_by_email_and_remembered() -> None:
    from slack_sdk.errors import SlackApiError

    client = ScriptedSlackUsers(
        {
            "ada@example.com": "U_ADA",
            "gone@example.com": SlackApiError("no user", {"ok": False, "error": "users_not_found"}),
            "later@example.com": SlackApiError("missing scope", {"ok": False, "error": "missing_scope"}),
        }
    )
    directory = SlackUserDirectory(client)
    assert slack_user_for("Ada@Example.com", directory) == "U_ADA"
    assert slack_user_for("ada@example.com", directory) == "U_ADA"
    assert slack_user_for("gone@example.com", directory) is None
    assert slack_user_for("gone@example.com", directory) is None
    assert slack_user_for("later@example.com", directory) is None
    assert slack_user_for("later@example.com", directory) is None
    assert client.calls == ["ada@example.com", "gone@example.com", "later@example.com", "later@example.com"]
    assert slack_user_for("U0123ABCD", directory) == "U0123ABCD"  # the local backend may record a Slack id
    assert slack_user_for("Ada Lovelace", directory) is None  # neither an email nor a Slack id
