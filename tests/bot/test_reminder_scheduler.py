"""The reminder schedule from settings (bad values stop the start with a clear message), and the background loop
that runs an APScheduler BackgroundScheduler with the sweep job while it runs: the configured cron and time zone,
shut down on the stop event, one scheduler across replicas when leader-gated. Inspects the scheduler's jobs
rather than waiting for a fire time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.background import BackgroundLoops, leader_only
from bot.reminder_scheduler import PRUNE_JOB_ID, ReminderScheduler, reminder_schedule
from bot.settings import SettingsError, load_settings
from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.leader import LeaderElection
from services.outbox import Outbox
from services.ports import CloudBackend
from services.reminder_schedule import DEFAULT_CRON, SWEEP_JOB_ID, ReminderSchedule
from services.reminders import ReminderService
from services.store import create_schema, make_engine
from tests.services.store.store_fakes import FakeClock

ROOT = Path(__file__).parents[2]
REQUIRED = {"AMLBOT_SLACK_BOT_TOKEN": "xoxb-1", "AMLBOT_SLACK_SIGNING_SECRET": "secret"}
TIMEOUT = 15.0


def wait_until(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT:g} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def backend(tmp_path: Path) -> CloudBackend:
    return build_local_backend(tmp_path / "cloud", JobCatalog(ROOT / "jobs"), compute_transition_seconds=0)


def service(engine: Engine, backend: CloudBackend, schedule: ReminderSchedule, **options: Any) -> ReminderService:
    return ReminderService(engine, backend, Outbox(), schedule, channels=("C_ML",), **options)


@contextmanager
def running(loop: ReminderScheduler) -> Iterator[threading.Event]:
    """Run the loop in a thread, as BackgroundLoops does; set the yielded event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(stop,), daemon=True)
    thread.start()
    try:
        assert loop.running.wait(TIMEOUT), "the scheduler did not start"
        yield stop
    finally:
        stop.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the loop did not return after its stop event"


# ------------------------------------------------------------------------------------------------ settings


def test_the_settings_describe_the_schedule() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "AMLBOT_REMINDER_CHANNELS": " C0123ABCD, C0456EFGH ,",
            "AMLBOT_REMINDER_CRON": "30 8 * * mon-fri; 0 17 * * fri",
            "AMLBOT_REMINDER_TIMEZONE": "Europe/Amsterdam",
            "AMLBOT_REMINDER_QUIET_HOURS": "20:00-08:00",
            "AMLBOT_REMINDER_QUIET_DAYS": "sat,sun",
            "AMLBOT_REMINDER_DM_CREATORS": "true",
        }
    )
    assert settings.reminder_channel_ids == ("C0123ABCD", "C0456EFGH")
    assert settings.reminder_dm_creators is True
    schedule = reminder_schedule(settings)
    assert schedule.cron == ("30 8 * * mon-fri", "0 17 * * fri")
    assert schedule.tz.key == "Europe/Amsterdam"
    assert str(schedule.quiet_hours) == "20:00–08:00" and schedule.quiet_days == frozenset({5, 6})


def test_unset_settings_give_the_issues_schedule_in_utc() -> None:
    for blank in ({}, {"AMLBOT_REMINDER_CRON": "", "AMLBOT_REMINDER_TIMEZONE": ""}):
        settings = load_settings({**REQUIRED, **blank})
        schedule = reminder_schedule(settings)
        assert (schedule.cron, schedule.tz.key) == (DEFAULT_CRON, "UTC")
        assert (schedule.quiet_hours, schedule.quiet_days) == (None, frozenset())
        assert (settings.reminder_channel_ids, settings.reminder_dm_creators) == ((), False)


def test_bad_reminder_settings_stop_the_start_naming_each_one() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                **REQUIRED,
                "AMLBOT_REMINDER_CHANNELS": "#ml-team",
                "AMLBOT_REMINDER_CRON": "0 9-19 * * mon-fri; 0 25 * * *",
                "AMLBOT_REMINDER_TIMEZONE": "Mars/Olympus",
                "AMLBOT_REMINDER_QUIET_HOURS": "late",
                "AMLBOT_REMINDER_QUIET_DAYS": "sat,someday",
            }
        )
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("aml-bot cannot start: 5 settings missing or invalid")
    said = {line.split(":", 1)[0].strip(): line for line in lines[1:]}
    assert "use channel ids separated by commas, e.g. C0123ABCD" in said["AMLBOT_REMINDER_CHANNELS"]
    assert "cron expression '0 25 * * *' is not valid" in said["AMLBOT_REMINDER_CRON"]
    assert "use an IANA name such as Europe/Amsterdam" in said["AMLBOT_REMINDER_TIMEZONE"]
    assert "should look like 22:00-07:00" in said["AMLBOT_REMINDER_QUIET_HOURS"]
    assert "unknown day(s) someday" in said["AMLBOT_REMINDER_QUIET_DAYS"]


# ------------------------------------------------------------------------------------------------ the loop


def test_the_loop_schedules_the_sweep_with_the_configured_cron_and_time_zone_and_stops_on_its_event(
    engine: Engine, backend: CloudBackend
) -> None:
    schedule = ReminderSchedule(("0 9 * * mon",), "America/New_York")
    loop = ReminderScheduler(service(engine, backend, schedule))
    before = datetime.now(UTC)
    with running(loop):
        scheduler = loop.scheduler
        assert scheduler is not None and scheduler.running
        sweep = scheduler.get_job(SWEEP_JOB_ID)
        assert sweep is not None and sweep.func == loop.sweep
        assert sweep.trigger is schedule.trigger()
        assert (sweep.max_instances, sweep.coalesce) == (1, True)
        first = sweep.next_run_time
        assert first == schedule.next_fire_times(before, 1)[0]
        assert (first.tzinfo.key, first.strftime("%a %H:%M")) == ("America/New_York", "Mon 09:00")
        assert scheduler.get_job(PRUNE_JOB_ID) is not None, "old reminders are pruned daily"
    assert loop.scheduler is None and not loop.running.is_set()
    assert not scheduler.running, "the stop event shut the scheduler down"


def test_one_scheduler_runs_across_replicas_and_the_other_takes_over(engine: Engine, backend: CloudBackend) -> None:
    started: list[tuple[LeaderElection, BackgroundLoops]] = []

    def replica(name: str) -> tuple[LeaderElection, ReminderScheduler]:
        election = LeaderElection(engine, "sweeps", retry_seconds=0.2, heartbeat_seconds=0.1, holder=name)
        loop = ReminderScheduler(service(engine, backend, ReminderSchedule()), fencing=election.fencing)
        loops = BackgroundLoops(leader_only(election, {f"reminder-scheduler-{name}": loop}))
        election.start()
        loops.start()
        started.append((election, loops))
        return election, loop

    try:
        a, loop_a = replica("a")
        assert a.wait_until_leader(timeout=TIMEOUT)
        assert loop_a.running.wait(TIMEOUT)
        b, loop_b = replica("b")
        assert not b.is_leader and not loop_b.running.is_set(), "a follower runs no scheduler"

        a.stop()
        wait_until(lambda: not loop_a.running.is_set(), "a's scheduler to shut down")
        assert loop_b.running.wait(TIMEOUT), "b's scheduler starts once b leads"
        assert loop_b.scheduler is not None and loop_b.scheduler.get_job(SWEEP_JOB_ID) is not None
    finally:
        for election, loops in started:
            loops.stop()
            election.stop()


# ------------------------------------------------------------------------------------------------ the job


def test_the_sweep_job_reminds_fenced_and_wakes_delivery(engine: Engine, backend: CloudBackend) -> None:
    backend.computes.begin_start("dev-instance").result(timeout=10)
    since = backend.computes.get("dev-instance").running_since
    assert since is not None
    fenced: list[str] = []

    @contextmanager
    def fencing() -> Iterator[None]:
        fenced.append("entered")
        yield

    woken = threading.Event()
    clock = FakeClock(since + timedelta(hours=1))
    reminders = service(engine, backend, ReminderSchedule(("* * * * *",)), clock=clock)
    loop = ReminderScheduler(reminders, on_swept=woken.set, fencing=fencing)
    loop.sweep()  # what the scheduler calls at a fire time
    assert [r.channel for r in reminders.reminders()] == ["C_ML"]
    assert woken.is_set() and fenced == ["entered"]

    woken.clear()
    loop.sweep()  # the same minute: nothing new to send, nothing to wake
    assert len(reminders.reminders()) == 1 and not woken.is_set()


def test_a_failing_sweep_is_logged_and_the_schedule_goes_on(
    engine: Engine, backend: CloudBackend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    reminders = service(engine, backend, ReminderSchedule())

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store is down")

    monkeypatch.setattr(reminders, "sweep", broken)
    with caplog.at_level(logging.ERROR, logger="bot.reminder_scheduler"):
        ReminderScheduler(reminders).sweep()  # raises nothing: APScheduler would only log it anyway
    assert "the sweep failed; the next scheduled one tries again" in caplog.text


def test_a_fire_time_missed_while_no_process_led_is_swept_by_the_next_leader_once(
    engine: Engine, backend: CloudBackend
) -> None:
    backend.computes.begin_start("dev-instance").result(timeout=10)
    schedule = ReminderSchedule(("0 9 * * *",))
    nine = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    late = service(engine, backend, schedule, clock=FakeClock(nine + timedelta(minutes=4)))
    with running(ReminderScheduler(late, led_before=lambda: False)):  # the first leader ever: nothing was missed
        time.sleep(0.5)
    assert late.reminders() == []
    with running(ReminderScheduler(late, led_before=lambda: True)):  # takes over at 09:04: 09:00 went unswept
        wait_until(lambda: len(late.reminders()) == 1, "the missed 09:00 reminder")
    with running(ReminderScheduler(late, led_before=lambda: True)):  # moves again: not reminded twice
        time.sleep(0.5)
    assert [r.channel for r in late.reminders()] == ["C_ML"]

    much_later = service(engine, backend, schedule, clock=FakeClock(nine + timedelta(hours=3)))
    with running(ReminderScheduler(much_later, led_before=lambda: True)):
        time.sleep(0.5)
    assert len(much_later.reminders()) == 1, "a fire time hours ago is left to the next one"
