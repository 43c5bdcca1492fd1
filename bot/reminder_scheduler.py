"""The running-compute reminders on their schedule: the ReminderSchedule the settings describe, and the
background loop that runs an APScheduler 3 BackgroundScheduler with the sweep job while it runs (and, when it
starts shortly after a fire time, a catch-up sweep for that fire time).

    schedule = reminder_schedule(settings)                       # for ReminderService(…, schedule, …)
    loops["reminder-scheduler"] = ReminderScheduler(service, on_swept=delivery.wake, fencing=leader.fencing)

The loop is meant to be leader-gated (bot.background.leader_only): its stop event is set when this process stops
leading, which shuts the scheduler down, so one scheduler is active at a time across replicas. A sweep that was
running then finishes, but its commits are fenced (`fencing`) and a new leader's sweep of the same fire time posts
nothing twice (reminders are unique per channel and slot). Old reminders are pruned once a day.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.settings import Settings
from services.reminder_schedule import ReminderSchedule, schedule_sweeps
from services.reminders import ReminderService

logger = logging.getLogger(__name__)

PRUNE_JOB_ID = "reminders.prune"
CATCH_UP_JOB_ID = "reminders.catch-up"
# A fire time missed while no process led is caught up by the next leader this long after it (APScheduler's
# own misfire grace for the sweep job).
CATCH_UP = timedelta(minutes=15)
PRUNE_CRON = "17 4 * * *"  # daily, at a quiet minute in the schedule's time zone

Fencing = Callable[[], AbstractContextManager[None]]


def reminder_schedule(settings: Settings) -> ReminderSchedule:
    """The schedule the AMLBOT_REMINDER_* settings describe (validated when the settings were read)."""
    return ReminderSchedule.from_settings(
        settings.reminder_cron,
        settings.reminder_timezone,
        quiet_hours=settings.reminder_quiet_hours or None,
        quiet_days=settings.reminder_quiet_days or None,
    )


class ReminderScheduler:
    """A background Loop (`Callable[[threading.Event], None]`): while it runs, a BackgroundScheduler fires the
    sweep on the service's schedule; when its stop event is set the scheduler is shut down and the loop returns.

    `scheduler` is the one running now (None between runs), for inspection; `running` is set while it runs.
    """

    def __init__(
        self,
        service: ReminderService,
        *,
        on_swept: Callable[[], None] | None = None,
        fencing: Fencing | None = None,
        led_before: Callable[[], bool] | None = None,
    ) -> None:
        self.service = service
        self.on_swept = on_swept
        self.fencing = fencing
        # Whether another process led the sweeps before this one: only then may a fire time have gone unswept.
        self.led_before = led_before
        self.scheduler: BackgroundScheduler | None = None
        self.running = threading.Event()

    def __call__(self, stop: threading.Event) -> None:
        schedule = self.service.schedule
        # One worker: the sweep job allows one run at a time anyway, and pruning can wait for it.
        scheduler = BackgroundScheduler(timezone=schedule.tz, executors={"default": ThreadPoolExecutor(1)})
        schedule_sweeps(scheduler, self.sweep, schedule)
        scheduler.add_job(
            self.prune,
            CronTrigger.from_crontab(PRUNE_CRON, timezone=schedule.tz),
            id=PRUNE_JOB_ID,
            name="forget old reminders",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self._catch_up(scheduler)
        scheduler.start()
        self.scheduler = scheduler
        self.running.set()
        logger.info("reminders: scheduled (%s)", schedule.describe())
        try:
            stop.wait()
        finally:
            self.running.clear()
            # Do not wait for a sweep in progress: leadership may already be elsewhere and its commits are fenced.
            scheduler.shutdown(wait=False)
            self.scheduler = None
            logger.info("reminders: schedule stopped in this process")

    def _catch_up(self, scheduler: BackgroundScheduler) -> None:
        """Sweep at once when the latest fire time passed shortly before this process took over the lead: the
        leader it replaces may have died just before (or while) it swept. Reminders are unique per channel and fire
        time, so whatever that leader already posted is not posted twice."""
        if self.led_before is None or not self.led_before():
            return
        now = self.service.clock()
        missed = self.service.schedule.slot_for(now)
        if missed is None or now - missed > CATCH_UP:
            return
        logger.info("reminders: catching up the sweep of %s", missed.isoformat())
        scheduler.add_job(self.sweep, id=CATCH_UP_JOB_ID, name="missed running-compute reminders", max_instances=1)

    def sweep(self) -> None:
        """The scheduled job: remind every channel; a failure is logged and the next fire time tries again."""
        try:
            with self._fenced():
                report = self.service.sweep()
        except Exception:
            logger.exception("reminders: the sweep failed; the next scheduled one tries again")
            return
        for error in report.errors:
            logger.warning("reminders: %s", error)
        if report.quiet:
            logger.info("reminders: quiet time, nothing posted")
            return
        logger.info(
            "reminders: %d costing money, %d snoozed, %d reminder(s) queued",
            report.found,
            report.snoozed,
            len(report.sent),
        )
        if report.sent and self.on_swept is not None:
            self.on_swept()

    def prune(self) -> None:
        """The daily job: forget reminders older than 30 days and snoozes that ended."""
        try:
            with self._fenced():
                pruned = self.service.prune()
        except Exception:
            logger.exception("reminders: pruning old reminders failed; tomorrow's run tries again")
            return
        if pruned:
            logger.info("reminders: forgot %d old reminder(s)", pruned)

    def _fenced(self) -> AbstractContextManager[None]:
        return self.fencing() if self.fencing is not None else nullcontext()
