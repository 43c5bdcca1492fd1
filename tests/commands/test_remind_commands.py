"""`/aml remind now | status | snooze` through the router, on a SQLite store and the local backend, with the
reminder service's clock moved by hand: what each answers, what it posts, who may run it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from commands import build_table
from commands.context import Invocation, Reply
from commands.remind import cron_in_words, schedule_in_words
from commands.router import Router
from services.catalog import JobCatalog
from services.channel_config import ChannelConfig
from services.cloud.local import build_local_backend
from services.container import Services
from services.outbox import Outbox
from services.ports import CloudBackend
from services.rbac import Authorizer, PermissionConfig
from services.reminder_schedule import ReminderSchedule
from services.reminders import KIND_REMINDER, ReminderService
from services.store import create_schema, make_engine
from tests.services.store.store_fakes import FakeClock

ROOT = Path(__file__).parents[2]
CHANNEL = "C_ML"
PERMISSIONS = {
    "roles": {"admin": {"users": ["U_ADMIN"]}, "operator": {"users": ["U_OP"]}, "viewer": {"users": ["U_VIEW"]}}
}


@pytest.fixture
def backend(tmp_path: Path) -> CloudBackend:
    """cpu-cluster (idle) and dev-instance ($0.30/h), running."""
    backend = build_local_backend(tmp_path / "cloud", JobCatalog(ROOT / "jobs"), compute_transition_seconds=0)
    backend.computes.begin_start("dev-instance").result(timeout=10)
    return backend


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    create_schema(engine)
    return engine


@pytest.fixture
def clock(backend: CloudBackend) -> FakeClock:
    since = backend.computes.get("dev-instance").running_since
    assert since is not None
    return FakeClock(since + timedelta(hours=2, minutes=30))


@pytest.fixture
def make_router(engine: Engine, backend: CloudBackend, clock: FakeClock) -> Callable[..., Router]:
    def make(schedule: ReminderSchedule | None = None, **options: Any) -> Router:
        authorizer = Authorizer(PermissionConfig.from_mapping(PERMISSIONS))
        service = ReminderService(
            engine,
            backend,
            Outbox(clock),
            schedule or ReminderSchedule(),
            clock=clock,
            channels=(CHANNEL,),
            authorizer=authorizer,
            **options,
        )
        services = Services(backend=backend, reminders=service, authorizer=authorizer, channels=ChannelConfig(engine))
        return Router(build_table(), services)

    return make


@pytest.fixture
def router(make_router: Callable[..., Router]) -> Router:
    return make_router()


def service_of(router: Router) -> ReminderService:
    assert router.services.reminders is not None
    return router.services.reminders


def ask(router: Router, text: str, user: str = "U_OP", channel: str = CHANNEL, trigger: str | None = None) -> Reply:
    """What `/aml text` answers, after the slow work has run as the bot's pool would run it."""
    invocation = Invocation(text=text, user_id=user, channel_id=channel, trigger_id=trigger)
    dispatch = router.route(invocation)
    if dispatch.work is not None:
        return dispatch.work()
    assert dispatch.reply is not None
    return dispatch.reply


def reminders_queued(engine: Engine) -> list[tuple[str, list[str]]]:
    """(channel, compute names) of every reminder on its way to Slack."""
    with engine.connect() as conn:
        items = [i for i in Outbox.items(conn) if i.kind == KIND_REMINDER]
    return [(i.channel, [c["name"] for c in i.payload["items"]]) for i in items]


# ------------------------------------------------------------------------------------------------ now


def test_remind_now_posts_this_channels_reminder_and_says_what_it_found(router: Router, engine: Engine) -> None:
    reply = ask(router, "remind now", user="U_ADMIN", channel="C_GENERAL")
    assert not reply.in_channel
    assert reply.text == (
        "Found 1 compute costing money in the default workspace (about $0.30/h in all): the reminder, "
        "with Stop and Snooze buttons, is posted in this channel."
    )
    assert reminders_queued(engine) == [("C_GENERAL", ["dev-instance"])], "only the channel it was typed in"


def test_remind_now_ignores_quiet_hours_and_a_retried_request_posts_once(
    make_router: Callable[..., Router], engine: Engine
) -> None:
    router = make_router(ReminderSchedule(quiet_days=frozenset(range(7))))
    assert service_of(router).sweep().quiet
    first = ask(router, "remind now", user="U_ADMIN", trigger="1337.42")
    assert first.text.startswith("Found 1 compute costing money")
    again = ask(router, "remind now", user="U_ADMIN", trigger="1337.42")  # the command queue ran it again
    assert again.text == "This request already posted its reminder in this channel; nothing was posted again."
    assert reminders_queued(engine) == [(CHANNEL, ["dev-instance"])]


def test_remind_now_says_plainly_when_nothing_costs_money(
    router: Router, backend: CloudBackend, engine: Engine
) -> None:
    backend.computes.begin_stop("dev-instance").result(timeout=10)
    reply = ask(router, "remind now", user="U_ADMIN")
    assert reply.text == (
        "Nothing costs money in the default workspace right now: no instance is running and no cluster has nodes. "
        "Nothing was posted."
    )
    assert reminders_queued(engine) == []


def test_remind_now_says_when_everything_is_snoozed(router: Router, engine: Engine) -> None:
    assert service_of(router).snooze_for("dev-instance", timedelta(hours=1), by="U_OP", channel=CHANNEL).ok
    reply = ask(router, "remind now", user="U_ADMIN")
    assert reply.text == (
        "1 compute in the default workspace costs money, but it is snoozed, so nothing was posted. "
        "`/aml remind status` lists the snoozes."
    )
    assert reminders_queued(engine) == []


def test_remind_now_reports_a_workspace_it_cannot_read(router: Router, engine: Engine, clock: FakeClock) -> None:
    ChannelConfig(engine, clock=clock).set(CHANNEL, "workspace", "nowhere", user="U_OP")
    reply = ask(router, "remind now", user="U_ADMIN")
    assert reply.text.startswith("Could not list the computes of workspace `nowhere`")
    assert "Nothing costs money" not in reply.text, "an unreadable workspace is not an empty one"


def test_remind_now_is_for_admins(router: Router, engine: Engine) -> None:
    reply = ask(router, "remind now", user="U_OP")
    assert "needs the admin role" in reply.text and "<@U_ADMIN>" in reply.text
    assert reminders_queued(engine) == []


# ------------------------------------------------------------------------------------------------ status


def test_status_shows_the_schedule_in_words_quiet_time_and_who_snoozed_what_until_when(
    make_router: Callable[..., Router],
) -> None:
    schedule = ReminderSchedule.from_settings(None, "Europe/Amsterdam", quiet_hours="22:00-07:00", quiet_days="sat,sun")
    router = make_router(schedule)
    snoozed = ask(router, "remind snooze dev-instance 2h", user="U_OP")
    assert snoozed.text.startswith("No reminders about `dev-instance` until ")

    text = ask(router, "remind status", user="U_VIEW").text
    assert (
        "Schedule: every hour from 09:00 to 19:00, Monday to Friday, and at 19:00 every day, Europe/Amsterdam time "
        "(cron `0 9-19 * * mon-fri; 0 19 * * *`)." in text
    )
    [next_check] = [line for line in text.splitlines() if line.startswith("Next check: ")]
    assert " Europe/Amsterdam (then " in next_check
    assert "Sat" not in next_check and "Sun" not in next_check, "checks on quiet days post nothing: not listed"
    assert "Quiet hours: 22:00–07:00 every day; quiet days: Saturday, Sunday." in text
    assert f"Channels reminded: <#{CHANNEL}>." in text
    [line] = [line for line in text.splitlines() if line.startswith("• ")]
    until = service_of(router).snoozes()[0].until.astimezone(schedule.tz)
    assert line == f"• `dev-instance`: snoozed until {until:%a %d %b %H:%M} Europe/Amsterdam, by <@U_OP>"


def test_status_with_nothing_snoozed_says_how_to_snooze(router: Router) -> None:
    text = ask(router, "remind status", user="U_VIEW").text
    assert "Quiet hours: none; quiet days: none." in text
    assert text.endswith("Nothing is snoozed. `/aml remind snooze COMPUTE 2h` snoozes one compute.")


def test_schedules_read_as_words_and_unusual_ones_as_their_cron() -> None:
    assert cron_in_words("0 19 * * *") == "at 19:00 every day"
    assert cron_in_words("30 8,13 * * mon") == "at 08:30 and 13:30 on Monday"
    assert cron_in_words("0 * * * sat,sun") == "every hour at :00 on Saturday and Sunday"
    assert cron_in_words("0 9 1 * *") is None  # monthly: left to the cron text
    schedule = ReminderSchedule(("*/15 9-17 * * mon-fri", "0 9 * * 0-4"))
    assert schedule_in_words(schedule) == "cron `*/15 9-17 * * mon-fri`, and at 09:00, Monday to Friday"


# ------------------------------------------------------------------------------------------------ snooze


def test_snooze_holds_back_the_next_sweep_and_answers_only_the_caller(router: Router, clock: FakeClock) -> None:
    reply = ask(router, "remind snooze dev-instance 2 hours", user="U_OP")
    assert not reply.in_channel
    assert reply.text.startswith("No reminders about `dev-instance` until ")
    assert reply.text.endswith("A new snooze replaces it; `/aml remind status` lists every snooze.")
    service = service_of(router)
    [snooze] = service.snoozes()
    assert (snooze.compute, snooze.by, snooze.until) == ("dev-instance", "U_OP", clock() + timedelta(hours=2))
    assert service.sweep().sent == []
    clock.advance(2 * 3600 + 1)
    assert len(service.sweep().sent) == 1


def test_a_bad_duration_is_explained_with_an_example(router: Router) -> None:
    reply = ask(router, "remind snooze dev-instance soon")
    assert reply.text == (
        "`soon` is not a duration. Use something like 2h, 90m, 1d or 1h30m. "
        "Example: `/aml remind snooze dev-instance 2h`."
    )
    too_long = ask(router, "remind snooze dev-instance 30d")
    assert "Snoozes last at most 14 days" in too_long.text
    missing = ask(router, "remind snooze dev-instance")
    assert "Usage: `/aml remind snooze COMPUTE DURATION`" in missing.text
    assert service_of(router).snoozes() == []


def test_a_misspelt_compute_is_not_snoozed_and_the_close_name_is_offered(router: Router) -> None:
    reply = ask(router, "remind snooze dev-instnace 2h")
    assert "Did you mean `dev-instance`?" in reply.text
    assert service_of(router).snoozes() == []


def test_snoozing_needs_an_operator(router: Router) -> None:
    reply = ask(router, "remind snooze dev-instance 2h", user="U_VIEW")
    assert "needs the operator role" in reply.text
    assert service_of(router).snoozes() == []


def test_a_bot_without_reminders_says_so() -> None:
    router = Router(build_table(), Services())
    for text in ("remind now", "remind status", "remind snooze dev-instance 2h"):
        assert ask(router, text).text.startswith("Reminders about running compute are not set up on this bot")


def test_help_lists_the_remind_commands_as_working(router: Router) -> None:
    text = ask(router, "help remind").text
    for usage in ("/aml remind now", "/aml remind status", "/aml remind snooze COMPUTE DURATION"):
        assert usage in text
    assert "not available yet" not in text
