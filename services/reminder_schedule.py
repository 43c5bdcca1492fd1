"""When the running-compute sweep fires: cron expressions in an explicit time zone, plus quiet hours and days.

    schedule = ReminderSchedule.from_settings("0 9-19 * * mon-fri; 0 19 * * *", "Europe/Amsterdam",
                                              quiet_hours="22:00-07:00", quiet_days="sat,sun")
    schedule_sweeps(scheduler, service.sweep, schedule)   # an APScheduler 3.x BackgroundScheduler (the leader's)

The default is hourly on weekdays 09:00–19:00, plus 19:00 every day, in UTC. Cron fields are APScheduler's
`CronTrigger.from_crontab` ("minute hour day month day_of_week"); name the days (mon-fri): APScheduler
numbers them from Monday = 0, unlike crontab. Several expressions are joined with ";" and fire when any does.

A scheduled sweep that falls in quiet hours (a range that may wrap midnight) or on a quiet day posts nothing;
`/aml remind now` ignores quiet time. `slot_for(now)` names the fire time a sweep belongs to, so a sweep run
twice for the same fire time (a retry, a second replica) is recognised as the same one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from services.errors import InvalidInput
from services.store.clock import as_utc

DEFAULT_CRON = ("0 9-19 * * mon-fri", "0 19 * * *")
DEFAULT_TIMEZONE = "UTC"
SWEEP_JOB_ID = "reminders.sweep"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_LOOKBACKS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367))


@dataclass(frozen=True)
class QuietHours:
    """A daily range of local time; `start > end` wraps midnight (22:00-07:00)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ValueError(f"quiet hours {text!r} should look like 22:00-07:00") from None
        return cls(start, end)

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def parse_days(text: str | Sequence[str]) -> frozenset[int]:
    """'sat,sun' (or 'Saturday, Sunday') → {5, 6} (Monday = 0); unknown names raise ValueError listing the
    valid ones."""
    words = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [w for w in words if _day_index(w) is None]
    if unknown:
        raise ValueError(f"unknown day(s) {', '.join(unknown)}: use {', '.join(DAY_NAMES)}")
    return frozenset(i for i in map(_day_index, words) if i is not None)


def _day_index(word: str) -> int | None:
    """'sat' or 'saturday' → 5; anything else (e.g. 'someday', whose first letters happen to be a day) → None."""
    word = word.lower()
    for index, name in enumerate(DAY_NAMES):
        if word == name or word == _DAY_WORDS[index]:
            return index
    return None


class ReminderSchedule:
    """The sweep's cron schedule in a time zone, with quiet hours and days; all datetimes given are tz-aware."""

    def __init__(
        self,
        cron: Sequence[str] = DEFAULT_CRON,
        timezone: str = DEFAULT_TIMEZONE,
        *,
        quiet_hours: QuietHours | None = None,
        quiet_days: frozenset[int] = frozenset(),
        keep_until: time = time(9, 0),
    ) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}: use an IANA name such as Europe/Amsterdam") from None
        self.cron = tuple(expr.strip() for expr in cron if expr.strip())
        if not self.cron:
            raise ValueError("the reminder schedule needs at least one cron expression")
        triggers = []
        for expr in self.cron:
            try:
                triggers.append(CronTrigger.from_crontab(expr, timezone=self.tz))
            except ValueError as err:
                raise ValueError(f"cron expression {expr!r} is not valid ({err})") from None
        self._trigger: BaseTrigger = triggers[0] if len(triggers) == 1 else OrTrigger(triggers)
        self.quiet_hours = quiet_hours
        self.quiet_days = quiet_days
        self.keep_until = keep_until

    @classmethod
    def from_settings(
        cls,
        cron: str | None = None,
        timezone: str | None = None,
        *,
        quiet_hours: str | None = None,
        quiet_days: str | None = None,
    ) -> ReminderSchedule:
        """From setting strings: cron expressions joined by ';'; empty values mean the defaults."""
        return cls(
            tuple(cron.split(";")) if cron and cron.strip() else DEFAULT_CRON,
            timezone or DEFAULT_TIMEZONE,
            quiet_hours=QuietHours.parse(quiet_hours) if quiet_hours else None,
            quiet_days=parse_days(quiet_days) if quiet_days else frozenset(),
        )

    def trigger(self) -> BaseTrigger:
        """The APScheduler 3 trigger to add the sweep job with."""
        return self._trigger

    def next_fire_times(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next `count` fire times after `after`, in the schedule's time zone."""
        found: list[datetime] = []
        previous: datetime | None = None
        moment = after.astimezone(self.tz) + timedelta(microseconds=1)
        while len(found) < count:
            fire = self._trigger.get_next_fire_time(previous, moment)
            if fire is None:
                break
            found.append(fire)
            previous, moment = fire, fire + timedelta(seconds=1)
        return found

    def slot_for(self, now: datetime) -> datetime | None:
        """The latest fire time at or before `now` (within a year), or None when it never fired."""
        now = now.astimezone(self.tz)
        for lookback in _LOOKBACKS:
            fire = self._trigger.get_next_fire_time(None, now - lookback)
            if fire is None or fire > now:
                continue
            while True:
                following = self._trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
                if following is None or following > now:
                    return fire
                fire = following
        return None

    def is_quiet(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        if local.weekday() in self.quiet_days:
            return True
        return self.quiet_hours is not None and self.quiet_hours.contains(local.time())

    def tomorrow_morning(self, now: datetime) -> datetime:
        """`keep_until` (09:00) on the next day in the schedule's time zone, as UTC: what "Keep until
        tomorrow" means."""
        local = now.astimezone(self.tz)
        morning = datetime.combine(local.date() + timedelta(days=1), self.keep_until, tzinfo=self.tz)
        return as_utc(morning)

    def describe(self) -> str:
        """The schedule in words, for `/aml remind status`."""
        parts = [f"cron `{'; '.join(self.cron)}` in {self.tz.key}"]
        quiet = []
        if self.quiet_hours is not None:
            quiet.append(f"{self.quiet_hours} every day")
        if self.quiet_days:
            quiet.append("all day " + ", ".join(DAY_NAMES[d] for d in sorted(self.quiet_days)))
        parts.append("quiet " + " and ".join(quiet) if quiet else "no quiet hours")
        return "; ".join(parts)


def schedule_sweeps(
    scheduler: Any, sweep: Callable[[], object], schedule: ReminderSchedule, *, misfire_grace_seconds: int = 900
) -> Any:
    """Add (or replace) the sweep job on an APScheduler 3 scheduler: one run at a time, missed runs coalesced."""
    return scheduler.add_job(
        sweep,
        schedule.trigger(),
        id=SWEEP_JOB_ID,
        name="running-compute reminders",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=misfire_grace_seconds,
    )


_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m)(?![a-z])\s*", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60}


def parse_duration(text: str) -> timedelta:
    """'2h', '90m', '1d', '1h30m', '2 hours' → a timedelta; InvalidInput (shown as it is) otherwise."""
    value = (text or "").strip()
    total, position = 0.0, 0
    while position < len(value):
        match = _DURATION_PART.match(value, position)
        if match is None:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
        position = match.end()
    if not value or position != len(value) or total <= 0:
        raise InvalidInput(f"`{text}` is not a duration.", hint="Use something like 2h, 90m, 1d or 1h30m.")
    return timedelta(seconds=total)
