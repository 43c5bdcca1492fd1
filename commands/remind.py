"""`/aml remind now | status | snooze`: the running-compute reminders from the keyboard.

The buttons on a reminder do the same as `snooze` (bot/listeners/reminder_actions.py); the schedule itself is
the bot's settings (AMLBOT_REMINDER_*), shown by `status`.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime

from commands.context import CommandContext, Reply
from commands.errors import UserError
from commands.options import close_names
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from services.errors import InvalidInput
from services.models import WorkspaceScope
from services.naming import validate_compute
from services.reminder_schedule import DAY_NAMES, ReminderSchedule, parse_duration
from services.reminder_sweep import money
from services.reminders import ReminderService, Snooze, SweepReport

SUMMARY = "Reminders about compute that is running and costing money."
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def register(table: CommandTable) -> None:
    table.noun("remind", SUMMARY)
    table.add("remind", "now", remind_now, slow=True)
    table.add("remind", "status", remind_status)
    table.add("remind", "snooze", remind_snooze, arguments=_snooze_arguments, slow=True)


def _snooze_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("compute", metavar="COMPUTE", help="the compute to stop reminding about")
    parser.add_argument("duration", metavar="DURATION", help="how long, e.g. 2h, 90m, 1d")
    # "2 hours" arrives as two words: the rest belongs to the duration (kept out of the usage line).
    parser.add_argument("more", nargs="*", help=argparse.SUPPRESS)


def reminders_of(context: CommandContext) -> ReminderService:
    reminders = context.services.reminders
    if reminders is None:
        raise UserError(
            "Reminders about running compute are not set up on this bot, so there is nothing to show or change. "
            "`/aml compute list` shows what runs; ask whoever runs the bot to turn reminders on."
        )
    return reminders


# ------------------------------------------------------------------------------------------------ now


def remind_now(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Check now for compute costing money in this channel's workspace and post the reminder here (admins).

    Quiet hours do not apply. Example: `/aml remind now`.
    """
    service = reminders_of(context)
    channel = context.invocation.channel_id
    # A retried or re-run command carries the same trigger id, so it posts no second reminder.
    request_id = context.invocation.trigger_id or uuid.uuid4().hex
    report = service.sweep_now(request_id, channels=[channel])
    if context.services.delivery is not None:
        context.services.delivery.wake()
    return Reply(_swept_words(service, report, channel))


def _swept_words(service: ReminderService, report: SweepReport, channel: str) -> str:
    lines = list(report.errors)
    sent = next((s for s in report.sent if s.channel == channel), None)
    where = _workspace_words(service.channel_config.get(channel).scope)
    if sent is not None:
        reminder = service.get(sent.reminder_id)
        rates = [i["per_hour"] for i in (reminder.items if reminder else ()) if i.get("per_hour") is not None]
        cost = f" (about {money(sum(rates))}/h in all)" if rates else ""
        lines.append(
            f"Found {_plural(sent.computes, 'compute')} costing money in {where}{cost}: the reminder, with Stop "
            "and Snooze buttons, is posted in this channel."
        )
    elif report.repeated:
        lines.append("This request already posted its reminder in this channel; nothing was posted again.")
    elif report.snoozed:
        held = "costs money, but it is" if report.snoozed == 1 else "cost money, but all are"
        lines.append(
            f"{_plural(report.snoozed, 'compute')} in {where} {held} snoozed, so nothing was posted. "
            "`/aml remind status` lists the snoozes."
        )
    elif not report.errors:
        lines.append(
            f"Nothing costs money in {where} right now: no instance is running and no cluster has nodes. "
            "Nothing was posted."
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ status


def remind_status(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Show when reminders are sent, the quiet hours and days, and what is snoozed.

    Example: `/aml remind status`.
    """
    service = reminders_of(context)
    status = service.status()
    schedule = service.schedule
    zone = schedule.tz.key
    lines = [
        "*Reminders about running compute*",
        f"Schedule: {schedule_in_words(schedule)}, {zone} time (cron `{'; '.join(schedule.cron)}`).",
    ]
    # Fire times in quiet time post nothing: the next ones that can remind anyone are what people want to know.
    fires = [f for f in schedule.next_fire_times(service.clock(), 50) if not schedule.is_quiet(f)][:3]
    if fires:
        following = ", ".join(f"{f.astimezone(schedule.tz):%a %H:%M}" for f in fires[1:])
        then = f" (then {following})" if following else ""
        lines.append(f"Next check: {_local(schedule, fires[0])}{then}.")
    lines.append(_quiet_words(schedule))
    if status.quiet_now:
        lines.append("_It is quiet time now: scheduled checks post nothing (`/aml remind now` still does)._")
    if status.channels:
        lines.append("Channels reminded: " + ", ".join(f"<#{c}>" for c in status.channels) + ".")
    else:
        lines.append(
            "No channel gets reminders yet: `/aml config set workspace NAME` in a channel adds it "
            "(or the bot's AMLBOT_REMINDER_CHANNELS setting)."
        )
    if status.snoozes:
        lines.append(f"Snoozed ({len(status.snoozes)}):")
        lines.extend(_snooze_line(schedule, s) for s in status.snoozes)
    else:
        lines.append("Nothing is snoozed. `/aml remind snooze COMPUTE 2h` snoozes one compute.")
    return Reply("\n".join(lines))


def _snooze_line(schedule: ReminderSchedule, snooze: Snooze) -> str:
    workspace = snooze.workspace_key.rsplit("/", 1)[-1]
    where = f" in workspace `{workspace}`" if workspace else ""
    held = "kept running until" if snooze.kind == "keep" else "snoozed until"
    return f"• `{snooze.compute}`{where}: {held} {_local(schedule, snooze.until)}, by <@{snooze.by}>"


def _quiet_words(schedule: ReminderSchedule) -> str:
    hours = f"{schedule.quiet_hours} every day" if schedule.quiet_hours is not None else "none"
    days = ", ".join(_WEEKDAYS[d] for d in sorted(schedule.quiet_days)) or "none"
    return f"Quiet hours: {hours}; quiet days: {days}."


def schedule_in_words(schedule: ReminderSchedule) -> str:
    """'every hour from 09:00 to 19:00, Monday to Friday, and at 19:00 every day' (cron text where words fail)."""
    said = [cron_in_words(expr) or f"cron `{expr}`" for expr in schedule.cron]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + ", and " + said[-1]


def cron_in_words(expr: str) -> str | None:
    """One cron expression of the common shapes in words; None for the rest."""
    fields = expr.split()
    if len(fields) != 5 or fields[2] != "*" or fields[3] != "*" or not fields[0].isdigit():
        return None
    minute = int(fields[0])
    times = _hours_words(fields[1], minute)
    days = _days_words(fields[4])
    return f"{times}{days}" if times is not None and days is not None else None


def _hours_words(hours: str, minute: int) -> str | None:
    if hours == "*":
        return f"every hour at :{minute:02}"
    if "-" in hours and "," not in hours:
        start, _, end = hours.partition("-")
        if start.isdigit() and end.isdigit():
            return f"every hour from {int(start):02}:{minute:02} to {int(end):02}:{minute:02}"
        return None
    parts = hours.split(",")
    if not all(p.isdigit() for p in parts):
        return None
    said = [f"{int(p):02}:{minute:02}" for p in parts]
    return "at " + (said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1])


def _days_words(days: str) -> str | None:
    if days == "*":
        return " every day"
    if "-" in days and "," not in days:
        first, _, last = days.partition("-")
        start, end = _day(first), _day(last)
        return None if start is None or end is None else f", {_WEEKDAYS[start]} to {_WEEKDAYS[end]}"
    named = [_day(d) for d in days.split(",")]
    if any(d is None for d in named):
        return None
    said = [_WEEKDAYS[d] for d in named if d is not None]
    return " on " + (said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1])


def _day(word: str) -> int | None:
    """A cron day name or APScheduler number (Monday = 0)."""
    word = word.strip().lower()
    if word[:3] in DAY_NAMES:
        return DAY_NAMES.index(word[:3])
    return int(word) if word.isdigit() and int(word) < 7 else None


# ------------------------------------------------------------------------------------------------ snooze


def remind_snooze(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Stop reminding about one compute of this channel's workspace for a while (at most 14 days).

    Example: `/aml remind snooze dev-instance 2h`, `/aml remind snooze gpu-cluster 1h30m`.
    """
    service = reminders_of(context)
    name = validate_compute(args.compute)
    typed = " ".join([args.duration, *args.more])
    try:
        duration = parse_duration(typed)
    except InvalidInput as err:
        raise UserError(f"{err} Example: `/aml remind snooze {name} 2h`.") from None
    channel = context.invocation.channel_id
    scope = service.channel_config.get(channel).scope
    computes = service.backend.computes
    # A typo would snooze nothing and the reminders would keep coming: check the compute exists first.
    with close_names("compute", name, lambda: [c.name for c in computes.list(scope=scope)]):
        name = computes.get(name, scope=scope).name
    result = service.snooze_for(name, duration, by=context.invocation.user_id, channel=channel, scope=scope)
    if not result.ok:
        raise UserError(result.message)
    return Reply(f"{result.message} A new snooze replaces it; `/aml remind status` lists every snooze.")


# ------------------------------------------------------------------------------------------------ words


def _workspace_words(scope: WorkspaceScope | None) -> str:
    if scope is None or not scope.workspace:
        return "the default workspace"
    return f"workspace `{scope.workspace}`"


def _local(schedule: ReminderSchedule, moment: datetime) -> str:
    local = moment.astimezone(schedule.tz)
    return f"{local:%a %d %b %H:%M} {schedule.tz.key}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

