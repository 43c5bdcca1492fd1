"""Reminders about compute that is running and costing money: one grouped message per channel and sweep, with
Stop / Scale to zero, Snooze and Keep-until-tomorrow buttons (Slack-free: the bot renders and wires them).

    service = ReminderService(engine, backend, Outbox(clock), schedule, prices=PriceBook.in_data_dir(data_dir),
                              channels=("C_ML",), users=SlackUserDirectory(web_client), authorizer=authorizer)
    service.sweep()                                # what the scheduler runs (see reminder_schedule.schedule_sweeps)
    service.sweep_now(request_id, channels=[ch])   # /aml remind now (admins): ignores quiet hours
    service.status()                               # /aml remind status: schedule, quiet hours, snoozes
    service.snooze_for("gpu-ci", timedelta(hours=2), by=user, channel=channel)       # /aml remind snooze
    service.snooze_for(name, timedelta(hours=2), by=user, reminder_id=rid)           # the Snooze 2 h button
    service.keep_until_tomorrow(name, by=user, reminder_id=rid)                      # the Keep button
    service.stop(rid, name, by=user)               # the Stop / Scale to zero button (run it after the ack)

Channels: the `channels` given (the bot's setting), else every channel that has channel settings
(`/aml config set …`). Each channel's computes are those of its workspace (its `workspace` / `resource-group`
settings, else the backend's default); a workspace is listed once per sweep however many channels share it.
With `dm_creators`, each creator whose Azure identity maps to a Slack user also gets their own computes in a DM
(the outbox posts to their user id), besides the mention in the channel.

A sweep (`sweep(now)`): nothing in quiet hours (unless forced); otherwise, per channel with something due (not
snoozed), ONE outbox message (kind `reminder`, payload: `reminder_sweep.reminder_payload`, creates_ref
`reminder:<id>`), written in the same transaction as the `reminders` row that records it. That row is unique per
(channel, slot), the slot being the schedule's fire time the sweep belongs to, so repeating a sweep for the same
slot posts nothing twice. Nothing due: no row, no message.

Buttons are authorised like commands: Stop needs `compute.stop`, Snooze and Keep `remind.snooze` (operator by
default), or being the compute's creator. Snoozes (a row per workspace and compute, until a time) live in the
store, so every replica and restart respects them. A Stop runs exactly once per reminder and compute: inserting
the `reminder_stops` row is the claim (a second click finds it and runs nothing); the result is posted in the
reminder's thread (kind `reminder.progress`: {reminder_id, compute, stage, text}). A claim left `running` by a
crash is not run again. "Scale to zero" sets a cluster's minimum nodes to 0 (`Computes.begin_scale_to_zero`); a
cluster already at minimum 0 is only explained (it scales down by itself).

Modules: reminder_sweep (what costs money, the payload), reminder_schedule (cron, quiet time, durations),
reminder_stop (the one stop), reminder_users (creator → Slack user), reminder_models (value types), pricing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from services.approvals import plain_error
from services.audit import COMMAND, AuditLog
from services.channel_config import ChannelConfig
from services.errors import ServiceError
from services.models import WorkspaceScope
from services.naming import validate_compute
from services.outbox import Outbox
from services.ports import CloudBackend
from services.pricing import PriceBook
from services.rbac import Authorizer
from services.reminder_models import (
    KIND_PROGRESS,
    KIND_REMINDER,
    SNOOZE_ACTION,
    STOP_ACTION,
    ActionOutcome,
    ActionResult,
    Reminder,
    ReminderStatus,
    SentReminder,
    Snooze,
    SweepReport,
    message_ref,
    not_found,
    post_progress,
    refusal,
)
from services.reminder_schedule import ReminderSchedule
from services.reminder_stop import ReminderStopper
from services.reminder_sweep import CostlyCompute, find_costly, reminder_payload, scope_of
from services.reminder_users import UserDirectory
from services.store.clock import Clock, as_utc, utc_now
from services.store.reminders_tables import reminder_snoozes, reminder_stops, reminders
from services.store.sql import insert_ignore, upsert
from services.store.tables import channel_settings
from services.store.watching import workspace_key

__all__ = [
    "KIND_PROGRESS",
    "KIND_REMINDER",
    "MAX_SNOOZE",
    "SNOOZE_ACTION",
    "STOP_ACTION",
    "ActionOutcome",
    "ActionResult",
    "Reminder",
    "ReminderService",
    "ReminderStatus",
    "SentReminder",
    "Snooze",
    "SweepReport",
    "message_ref",
]

log = logging.getLogger(__name__)

MAX_SNOOZE = timedelta(days=14)


class ReminderService:
    """Sweeps, snoozes and stops (see the module docstring). Safe with several replicas on one database."""

    def __init__(
        self,
        engine: Engine,
        backend: CloudBackend,
        outbox: Outbox,
        schedule: ReminderSchedule,
        *,
        prices: PriceBook | None = None,
        clock: Clock = utc_now,
        channels: Sequence[str] = (),
        users: UserDirectory | None = None,
        authorizer: Authorizer | None = None,
        audit: AuditLog | None = None,
        dm_creators: bool = False,
        max_items: int = 15,
        snooze_hours: float = 2.0,
        stop_wait: timedelta = timedelta(minutes=10),
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.outbox = outbox
        self.schedule = schedule
        self.prices = prices
        self.clock = clock
        self.channels = tuple(channels)
        self.users = users
        self.authorizer = authorizer
        self.audit = audit
        self.dm_creators = dm_creators
        self.max_items = max_items
        self.snooze_hours = snooze_hours
        self.stop_wait = stop_wait
        self.channel_config = ChannelConfig(engine, clock=clock)
        self.stopper = ReminderStopper(
            engine, backend, outbox, clock, authorizer=authorizer, audit=audit, stop_wait=stop_wait
        )

    # ---------------------------------------------------------------- sweeping

    def sweep(
        self,
        now: datetime | None = None,
        *,
        slot: str | None = None,
        force: bool = False,
        channels: Sequence[str] | None = None,
    ) -> SweepReport:
        """Remind every channel of the compute costing money now (see the module docstring); with `channels`,
        only those (and no DMs: `/aml remind now` answers the channel it was typed in)."""
        now = now or self.clock()
        if not force and self.schedule.is_quiet(now):
            return SweepReport(slot=None, quiet=True)
        report = SweepReport(slot=slot or self._slot(now))
        chosen = self.target_channels() if channels is None else list(dict.fromkeys(channels))
        targets = {channel: self.channel_config.get(channel).scope for channel in chosen}
        found: dict[str, list[CostlyCompute]] = {}
        for scope in {workspace_key(s): s for s in targets.values()}.values():
            try:
                found[workspace_key(scope)] = find_costly(
                    self.backend, scope, now, prices=self.prices, users=self.users
                )
            except Exception as err:  # one unreachable workspace must not silence the others
                log.warning("reminders: cannot list computes of %s", workspace_key(scope), exc_info=True)
                report.errors.append(f"Could not list the computes of {_workspace_words(scope)}: {plain_error(err)}")
        snoozed = {(s.workspace_key, s.compute.lower()) for s in self.snoozes(now)}
        everything = {(c.workspace_key, c.info.name.lower()): c for cs in found.values() for c in cs}
        report.found = len(everything)
        report.snoozed = len(everything.keys() & snoozed)
        due = {key: c for key, c in everything.items() if key not in snoozed}
        for channel, scope in targets.items():
            listed = found.get(workspace_key(scope), [])
            items = [c for c in listed if (c.workspace_key, c.info.name.lower()) in due]
            self._send(report, channel, items, now, snoozed=len(listed) - len(items))
        if self.dm_creators and channels is None:
            for creator in sorted({c.creator_slack_id for c in due.values() if c.creator_slack_id}):
                mine = sorted(
                    (c for c in due.values() if c.creator_slack_id == creator),
                    key=lambda c: (-(c.per_hour or 0.0), c.info.name.lower()),
                )
                self._send(report, creator, mine, now, snoozed=0)
        return report

    def sweep_now(
        self, request_id: str, now: datetime | None = None, *, channels: Sequence[str] | None = None
    ) -> SweepReport:
        """`/aml remind now`: a sweep outside the schedule and quiet hours, once per request id (of `channels`
        only, when given)."""
        return self.sweep(now, slot=f"manual:{request_id}", force=True, channels=channels)

    def target_channels(self) -> list[str]:
        """The configured channels, else every channel with channel settings."""
        if self.channels:
            return list(self.channels)
        with self.engine.connect() as conn:
            rows = conn.execute(select(channel_settings.c.channel).distinct().order_by(channel_settings.c.channel))
            return [str(channel) for channel in rows.scalars()]

    def _slot(self, now: datetime) -> str:
        fire = self.schedule.slot_for(now)
        return fire.isoformat() if fire is not None else f"at:{as_utc(now):%Y-%m-%dT%H:%M}Z"

    def _send(
        self, report: SweepReport, channel: str, items: list[CostlyCompute], now: datetime, *, snoozed: int
    ) -> None:
        if not items:
            return
        assert report.slot is not None
        slot = report.slot if len(report.slot) <= 64 else "h:" + hashlib.sha256(report.slot.encode()).hexdigest()[:40]
        snapshot = [c.to_item() for c in items]
        with self.engine.begin() as conn:
            values = {"channel": channel, "slot": slot, "items": snapshot, "created_at": now}
            if not insert_ignore(conn, reminders, values, ["channel", "slot"]):
                report.repeated += 1
                return
            reminder_id = int(
                conn.execute(
                    select(reminders.c.id).where(reminders.c.channel == channel, reminders.c.slot == slot)
                ).scalar_one()
            )
            payload = reminder_payload(
                reminder_id,
                channel,
                slot,
                snapshot,
                swept_at=now,
                snoozed=snoozed,
                max_items=self.max_items,
                snooze_hours=self.snooze_hours,
            )
            self.outbox.enqueue(
                conn,
                channel=channel,
                kind=KIND_REMINDER,
                payload=payload,
                dedupe_key=f"reminder:{channel}:{slot}",
                creates_ref=message_ref(reminder_id),
            )
        report.sent.append(SentReminder(channel, reminder_id, len(items)))

    # ---------------------------------------------------------------- reading

    def get(self, reminder_id: int) -> Reminder | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(reminders).where(reminders.c.id == reminder_id)).first()
        return Reminder.from_row(row) if row else None

    def reminders(self, channel: str | None = None) -> list[Reminder]:
        query = select(reminders).order_by(reminders.c.id)
        if channel is not None:
            query = query.where(reminders.c.channel == channel)
        with self.engine.connect() as conn:
            return [Reminder.from_row(row) for row in conn.execute(query)]

    def prune(self, older_than: timedelta = timedelta(days=30), now: datetime | None = None) -> int:
        """Forget reminders older than `older_than` (their buttons then answer "can't find that reminder") and
        snoozes that ended; returns how many reminders went."""
        cutoff = (now or self.clock()) - older_than
        with self.engine.begin() as conn:
            conn.execute(delete(reminder_snoozes).where(reminder_snoozes.c.until < cutoff))
            conn.execute(
                delete(reminder_stops).where(
                    reminder_stops.c.reminder_id.in_(select(reminders.c.id).where(reminders.c.created_at < cutoff))
                )
            )
            return int(conn.execute(delete(reminders).where(reminders.c.created_at < cutoff)).rowcount)

    def snoozes(self, now: datetime | None = None) -> list[Snooze]:
        """Snoozes still in force at `now`, soonest to end first."""
        now = now or self.clock()
        s = reminder_snoozes
        with self.engine.connect() as conn:
            rows = conn.execute(select(s).where(s.c.until > now).order_by(s.c.until, s.c.compute_key)).all()
        return [Snooze(r.compute, r.workspace_key, r.until, r.kind, r.by, r.channel) for r in rows]

    def status(self, now: datetime | None = None) -> ReminderStatus:
        """What `/aml remind status` shows."""
        now = now or self.clock()
        fires = tuple(self.schedule.next_fire_times(now, 3))
        snoozes = tuple(self.snoozes(now))
        channels = tuple(self.target_channels())
        quiet = self.schedule.is_quiet(now)
        lines = [f"Reminder schedule: {self.schedule.describe()}."]
        if fires:
            lines.append("Next sweeps: " + ", ".join(self._local(f) for f in fires) + ".")
        if quiet:
            lines.append("It is quiet time now: scheduled sweeps post nothing (`/aml remind now` still does).")
        if channels:
            lines.append("Channels reminded: " + ", ".join(f"<#{c}>" for c in channels) + ".")
        else:
            lines.append(
                "No channel gets reminders yet: `/aml config set workspace <name>` in a channel adds it "
                "(or the bot's reminder channels setting)."
            )
        if snoozes:
            lines.append("Snoozed:")
            lines.extend(
                f"• `{s.compute}` until {self._local(s.until)}"
                + (" (kept until tomorrow)" if s.kind == "keep" else "")
                + f", by <@{s.by}>"
                for s in snoozes
            )
        else:
            lines.append("Nothing is snoozed.")
        return ReminderStatus(self.schedule.describe(), fires, quiet, channels, snoozes, "\n".join(lines))

    def _local(self, moment: datetime) -> str:
        local = moment.astimezone(self.schedule.tz)
        return f"{local:%a %d %b %H:%M} {self.schedule.tz.key}"

    # ---------------------------------------------------------------- snoozing

    def snooze_for(
        self,
        compute: str,
        duration: timedelta,
        *,
        by: str,
        channel: str | None = None,
        scope: WorkspaceScope | None = None,
        reminder_id: int | None = None,
    ) -> ActionResult:
        """`snooze` for a duration from now (the Snooze button; `/aml remind snooze <compute> <duration>`, with
        `reminder_schedule.parse_duration` reading the duration)."""
        until = self.clock() + duration
        return self.snooze(compute, until, by=by, channel=channel, scope=scope, reminder_id=reminder_id)

    def keep_until_tomorrow(
        self,
        compute: str,
        *,
        by: str,
        channel: str | None = None,
        scope: WorkspaceScope | None = None,
        reminder_id: int | None = None,
    ) -> ActionResult:
        """`snooze` until 09:00 tomorrow in the schedule's time zone (the Keep until tomorrow button)."""
        until = self.schedule.tomorrow_morning(self.clock())
        return self.snooze(compute, until, by=by, channel=channel, scope=scope, reminder_id=reminder_id, kind="keep")

    def snooze(
        self,
        compute: str,
        until: datetime,
        *,
        by: str,
        channel: str | None = None,
        scope: WorkspaceScope | None = None,
        reminder_id: int | None = None,
        kind: str = "snooze",
    ) -> ActionResult:
        """Hold back reminders about `compute` until `until` (a newer snooze replaces an older one).

        From a reminder (`reminder_id`) the compute and its workspace come from the reminder's snapshot and a
        note goes to its thread; otherwise `scope`, else the channel's workspace, else the default one.
        """
        now = self.clock()
        reminder, item = None, None
        if reminder_id is not None:
            reminder = self.get(reminder_id)
            item = reminder.item(compute) if reminder else None
            if reminder is None or item is None:
                return not_found(compute, reminder)
            channel, scope, name, key = channel or reminder.channel, scope_of(item), item["name"], item["workspace_key"]
        else:
            try:
                validate_compute(compute)
            except ServiceError as err:
                return ActionResult(ActionOutcome.INVALID, str(err))
            if scope is None and channel is not None:
                scope = self.channel_config.get(channel).scope
            name, key = compute, workspace_key(scope)
        refused = refusal(self.authorizer, by, channel, SNOOZE_ACTION, item)
        if refused:
            return ActionResult(ActionOutcome.FORBIDDEN, refused)
        until = as_utc(until)
        if until <= now:
            return ActionResult(ActionOutcome.INVALID, "That time has already passed: snooze for a while, e.g. 2h.")
        if until - now > MAX_SNOOZE:
            return ActionResult(
                ActionOutcome.INVALID,
                f"Snoozes last at most {MAX_SNOOZE.days} days; stop `{name}` instead if nobody needs it for so long.",
            )
        words = f"until {self._local(until)}"
        with self.engine.begin() as conn:
            upsert(
                conn,
                reminder_snoozes,
                {
                    "workspace_key": key,
                    "compute_key": name.lower(),
                    "compute": name,
                    "until": until,
                    "kind": kind,
                    "by": by,
                    "channel": channel,
                    "reminder_id": reminder_id,
                    "created_at": now,
                },
                ["workspace_key", "compute_key"],
                ["compute", "until", "kind", "by", "channel", "reminder_id", "created_at"],
            )
            if reminder is not None:
                did = f"kept `{name}` running" if kind == "keep" else f"snoozed reminders about `{name}`"
                stage = f"{kind}:{until:%Y%m%dT%H%M}"
                post_progress(self.outbox, conn, reminder, name, stage, f"<@{by}> {did} {words}.")
            if self.audit is not None:
                self.audit.record(COMMAND, by, channel, f"snooze reminders about {name} {words}", "ok", conn=conn)
        return ActionResult(ActionOutcome.DONE, f"No reminders about `{name}` {words}.")

    # ---------------------------------------------------------------- stopping

    def stop(self, reminder_id: int, compute: str, *, by: str, channel: str | None = None) -> ActionResult:
        """The Stop / Scale to zero button: runs once per reminder and compute, the outcome posted in the
        reminder's thread (see services.reminder_stop). Blocks until the backend's operation finishes or
        `stop_wait` passes (then it says the stop goes on): call it off the request path."""
        return self.stopper.stop(self.get(reminder_id), compute, by=by, channel=channel)


def _workspace_words(scope: WorkspaceScope | None) -> str:
    if scope is None or not (scope.workspace or scope.resource_group):
        return "the default workspace"
    return f"workspace `{scope.workspace or '(default)'}`" + (
        f" in `{scope.resource_group}`" if scope.resource_group else ""
    )
