"""The outbox: everything said to Slack is a row written in the same transaction as the state change it tells
about, then delivered by `OutboxDelivery` with per-channel pacing, retries, Retry-After and no duplicates.

Rows carry a semantic payload (kind + JSON), rendered at delivery time by a `MessageRenderer`, so this module
stays Slack-free. A row either posts (optionally as a reply: `thread_ref`), or updates an earlier message
(`updates_ref`); a post may name the message it creates (`creates_ref`), and later rows refer to it by that
name before anyone knows its ts: they wait until the post is delivered and `message_refs` resolves the name.
A row of a file kind (`services.chat.FILE_KINDS`) shares a file instead, made at delivery time by that kind's
`FileRenderer` (see services/file_delivery.py); it is paced, retried and never repeated like a post.

Delivery, per channel, strictly in id order (a row waiting for its ref does not hold the others up; a row
waiting for its retry does). One pass:
1. one transaction claims due channels (`outbox_channels`: `FOR UPDATE SKIP LOCKED` on PostgreSQL, plus a
   lease with an expiry so a dead replica's channels come back), picks each one's next row and marks it
   `sending` (attempts+1), and COMMITS;
2. calls Slack (outside any transaction);
3. one transaction records the outcome: `sent` + ts (+ the message ref it creates), or a retry time
   (transient: exponential backoff; 429: Retry-After for that channel only), or `dead`; and the channel's
   `ready_at` (pacing: per_channel_interval after the call).

Never twice. The only window where Slack may have a message the store does not know about is between the
call and the commit of its outcome (a crash, or a timeout whose request did reach Slack). Such a row is left
`sending` (crash) or `pending` with `maybe_sent` (ambiguous error). Before such a row is posted again, delivery
asks `ChatPort.find_posted(channel, dedupe_key, thread_ts)`; every post carries its dedupe key as message
metadata, so a post that did land is found and recorded instead of repeated. If `find_posted` cannot answer
(ChatTransientError) the row waits; it is never re-posted blind. Updates are idempotent and simply sent again.
A `sending` row is looked at again only once its channel lease has expired, i.e. when the attempt that marked
it can no longer be in flight: `lease_seconds` must exceed twice the ChatPort's call timeout (the lease is
renewed before each call once half of it is gone).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, delete, exists, func, or_, select, update

from services.chat import (
    FILE_KINDS,
    ChatPermanentError,
    ChatPort,
    ChatRateLimited,
    ChatTransientError,
    FileRenderer,
    MessageRenderer,
    RenderedMessage,
)
from services.file_delivery import share_file
from services.leader import NotLeader, unfenced
from services.store.clock import Clock, utc_now
from services.store.repos import MessageRefs
from services.store.sql import insert_ignore
from services.store.tables import message_refs, outbox, outbox_channels

log = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
SUPERSEDED = "superseded"
_OPEN = (PENDING, SENDING)


def _page_statement() -> Any:
    """A page of a channel's open rows in id order, each with the ts of the messages it refers to and
    whether a newer update of the same message is queued (built once: aliases are costly to rebuild)."""
    thread_msg, target_msg = message_refs.alias("thread_msg"), message_refs.alias("target_msg")
    newer = outbox.alias("newer")
    newer_update = (
        exists()
        .where(
            newer.c.channel == outbox.c.channel,
            newer.c.updates_ref == outbox.c.updates_ref,
            newer.c.state == PENDING,
            newer.c.id > outbox.c.id,
        )
        .label("newer_update")
    )
    return (
        select(outbox, thread_msg.c.ts.label("thread_ts"), target_msg.c.ts.label("target_ts"), newer_update)
        .select_from(
            outbox.outerjoin(thread_msg, thread_msg.c.key == outbox.c.thread_ref).outerjoin(
                target_msg, target_msg.c.key == outbox.c.updates_ref
            )
        )
        .where(
            outbox.c.channel == bindparam("channel"),
            outbox.c.state.in_(_OPEN),
            outbox.c.id > bindparam("after"),
        )
        .order_by(outbox.c.id)
        .limit(8)
    )


_PAGE = _page_statement()


def jsonable(value: Any) -> Any:
    """`value` with datetimes (ISO 8601), enums (their value), tuples and mappings made JSON-friendly."""
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable: {value!r}")


@dataclass(frozen=True)
class OutboxItem:
    """One outbox row as stored."""

    id: int
    channel: str
    kind: str
    payload: Mapping[str, Any]
    dedupe_key: str
    thread_ref: str | None
    updates_ref: str | None
    creates_ref: str | None
    state: str
    attempts: int
    maybe_sent: bool
    next_attempt_at: datetime
    sent_ts: str | None
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> OutboxItem:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


class Outbox:
    """Writes outbox rows inside the caller's transaction (so the message exists iff the state change does)."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock

    def enqueue(
        self,
        conn: Connection,
        *,
        channel: str,
        kind: str,
        payload: Mapping[str, Any],
        dedupe_key: str,
        thread_ref: str | None = None,
        updates_ref: str | None = None,
        creates_ref: str | None = None,
    ) -> bool:
        """Add a message to send; True when added, False when `dedupe_key` was enqueued before (no-op).

        `thread_ref`: post as a reply in the thread of that message ref. `updates_ref`: edit that message
        instead of posting. `creates_ref`: the ref name the posted message gets. A row whose ref is not
        delivered yet waits for it.
        """
        if not channel or not kind or not dedupe_key:
            raise ValueError("channel, kind and dedupe_key are required")
        if updates_ref and (thread_ref or creates_ref):
            raise ValueError("an update neither threads nor creates a ref")
        data = jsonable(payload)
        json.dumps(data)  # fail here, in the caller's transaction, rather than at delivery
        now = self.clock()
        added = insert_ignore(
            conn,
            outbox,
            {
                "channel": channel,
                "kind": kind,
                "payload": data,
                "dedupe_key": dedupe_key,
                "thread_ref": thread_ref,
                "updates_ref": updates_ref,
                "creates_ref": creates_ref,
                "state": PENDING,
                "attempts": 0,
                "maybe_sent": False,
                "next_attempt_at": now,
                "created_at": now,
            },
            ["dedupe_key"],
        )
        if added:
            insert_ignore(conn, outbox_channels, {"channel": channel, "ready_at": now}, ["channel"])
        return added

    # ---------------------------------------------------------------- inspection and operations

    @staticmethod
    def get(conn: Connection, dedupe_key: str) -> OutboxItem | None:
        row = conn.execute(select(outbox).where(outbox.c.dedupe_key == dedupe_key)).first()
        return OutboxItem.from_row(row) if row else None

    @staticmethod
    def items(conn: Connection, *, channel: str | None = None, state: str | None = None) -> list[OutboxItem]:
        query = select(outbox).order_by(outbox.c.id)
        if channel is not None:
            query = query.where(outbox.c.channel == channel)
        if state is not None:
            query = query.where(outbox.c.state == state)
        return [OutboxItem.from_row(row) for row in conn.execute(query)]

    @staticmethod
    def open_count(conn: Connection) -> int:
        """Rows not delivered yet (pending or sending)."""
        return int(conn.execute(select(func.count()).where(outbox.c.state.in_(_OPEN))).scalar_one())

    def requeue_dead(self, conn: Connection, ids: Sequence[int] | None = None) -> int:
        """Give dead rows another chance (after fixing the cause, e.g. inviting the bot to the channel)."""
        query = update(outbox).where(outbox.c.state == DEAD)
        if ids is not None:
            query = query.where(outbox.c.id.in_(list(ids)))
        result = conn.execute(query.values(state=PENDING, attempts=0, next_attempt_at=self.clock()))
        return int(result.rowcount)

    @staticmethod
    def prune(conn: Connection, *, older_than: datetime) -> int:
        """Delete delivered (sent/superseded) rows created before `older_than`."""
        result = conn.execute(
            delete(outbox).where(outbox.c.state.in_((SENT, SUPERSEDED)), outbox.c.created_at < older_than)
        )
        return int(result.rowcount)


# ------------------------------------------------------------------------------------------------ delivery


@dataclass(frozen=True)
class DeadLetter:
    id: int
    channel: str
    kind: str
    dedupe_key: str
    error: str


@dataclass
class DeliveryReport:
    """What one `deliver_due` call did."""

    sent: int = 0  # posts and updates now known delivered (including `recovered`)
    recovered: int = 0  # posts found already in Slack by find_posted, recorded instead of re-posted
    calls: int = 0  # Slack calls made (post, update, find_posted)
    rate_limited: int = 0
    retried: int = 0  # transient failures scheduled for another attempt
    superseded: int = 0  # updates skipped because a newer update of the same message is queued
    waiting: int = 0  # rows skipped because the message they refer to is not posted yet
    dead: list[DeadLetter] = field(default_factory=list)
    # when to call again: a lower bound (now, after a pass that did work); None when nothing is left open
    next_due_at: datetime | None = None


@dataclass(frozen=True)
class _Pick:
    item: OutboxItem
    was_sending: bool
    thread_ts: str | None
    target_ts: str | None


@dataclass(frozen=True)
class _Outcome:
    kind: str  # sent | rate_limited | transient | permanent
    ts: str | None = None
    recovered: bool = False
    retry_after: float = 0.0
    error: str | None = None
    maybe_delivered: bool = False


class OutboxDelivery:
    """Delivers due outbox rows; safe to run in several threads or replicas on the same database."""

    def __init__(
        self,
        engine: Engine,
        chat: ChatPort,
        renderer: MessageRenderer,
        clock: Clock = utc_now,
        *,
        per_channel_interval: float = 1.0,
        lease_seconds: float = 60.0,
        max_attempts: int = 12,
        backoff_base: float = 2.0,
        backoff_max: float = 300.0,
        ref_wait_timeout: float = 3600.0,
        scan_limit: int = 100,
        owner: str | None = None,
        files: Mapping[str, FileRenderer] | None = None,
    ) -> None:
        self.engine = engine
        self.chat = chat
        self.renderer = renderer
        self.files = dict(files or {})  # per file kind (services.chat.FILE_KINDS): what makes its file
        self.clock = clock
        self.interval = timedelta(seconds=per_channel_interval)
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.ref_wait_timeout = timedelta(seconds=ref_wait_timeout)
        self.scan_limit = scan_limit
        self.owner = owner or f"delivery-{uuid.uuid4().hex[:12]}"
        self._wake = threading.Event()
        self._forward_wakes: Callable[[], None] | None = None

    # ---------------------------------------------------------------- public

    def deliver_due(self, max_items: int = 50) -> DeliveryReport:
        """Deliver what is due now, about `max_items` Slack calls at most; never waits for a paced channel."""
        report = DeliveryReport()
        claimed_at = self.clock()
        picks, idle_next_due = self._claim(max_items, report)
        if not picks:
            report.next_due_at = idle_next_due
            return report
        for pick in picks:
            # Slow calls on earlier channels may have eaten into this channel's lease: renew it (or learn that
            # it was lost) before calling Slack, so no other replica can be recovering this row meanwhile.
            if self.clock() - claimed_at > self.lease / 2 and not self._renew(pick.item.channel):
                log.warning("outbox: lease on %s expired before %s was sent", pick.item.channel, pick.item.dedupe_key)
                continue
            outcome = self._attempt(pick, report)
            if not self._settle(pick, outcome, report):
                self._drain(pick.item.channel, report, max_items)
        # Work was done: call again at once; that call, finding nothing due, computes the real next time
        # in its claim transaction (saving a query per message while busy).
        report.next_due_at = self.clock()
        return report

    def next_due_at(self, conn: Connection | None = None) -> datetime | None:
        """When some channel may next have a deliverable row (a lower bound; None when nothing is open)."""
        oc = outbox_channels
        query = (
            select(oc.c.ready_at, oc.c.lease_until, func.min(outbox.c.next_attempt_at).label("head"))
            .select_from(oc.join(outbox, outbox.c.channel == oc.c.channel))
            .where(outbox.c.state.in_(_OPEN))
            .group_by(oc.c.channel, oc.c.ready_at, oc.c.lease_until)
        )
        if conn is None:
            with self.engine.connect() as own:
                rows = own.execute(query).all()
        else:
            rows = conn.execute(query).all()
        due = [max(x for x in (row.ready_at, row.head, row.lease_until) if x is not None) for row in rows]
        return min(due, default=None)

    def wake(self) -> None:
        """Make `run` look at the outbox now (call after committing a transaction that enqueued)."""
        self._wake.set()
        if self._forward_wakes is not None:
            self._forward_wakes()

    def forward_wakes(self, wake_elsewhere: Callable[[], None]) -> None:
        """Also wake the process that delivers, when this one does not run `run` (serve's HTTP workers)."""
        self._forward_wakes = wake_elsewhere

    def run(self, stop: threading.Event, *, max_items: int = 50, idle_seconds: float = 1.0) -> None:
        """Deliver until `stop` is set: the bot runs this in a thread (the leader's, once issue 7 lands)."""
        while not stop.is_set():
            wait = idle_seconds
            try:
                report = self.deliver_due(max_items)
            except NotLeader:
                log.info("outbox delivery pass stopped: this process no longer leads")
            except Exception:
                log.exception("outbox delivery pass failed")
            else:
                if report.calls >= max_items:
                    wait = 0.0
                elif report.next_due_at is not None:
                    wait = (report.next_due_at - self.clock()).total_seconds()
                wait = min(max(wait, 0.0), idle_seconds)
            if wait > 0 and self._wake.wait(wait):
                self._wake.clear()

    # ---------------------------------------------------------------- claiming

    def _claim(self, limit: int, report: DeliveryReport) -> tuple[list[_Pick], datetime | None]:
        """In one transaction: lease up to `limit` channels with due rows (oldest-ready first) and mark each
        one's next row `sending`. With nothing to do, also say when there may be something."""
        oc = outbox_channels
        now = self.clock()
        has_due = exists().where(
            outbox.c.channel == oc.c.channel, outbox.c.state.in_(_OPEN), outbox.c.next_attempt_at <= now
        )
        claimable = (
            select(oc.c.channel)
            .where(oc.c.ready_at <= now, or_(oc.c.lease_until.is_(None), oc.c.lease_until <= now), has_due)
            .order_by(oc.c.ready_at, oc.c.channel)
            .limit(max(1, limit))
            .with_for_update(skip_locked=True, of=oc)
        )
        claim = (
            update(oc)
            .where(oc.c.channel.in_(claimable.scalar_subquery()))
            .values(lease_owner=self.owner, lease_until=now + self.lease)
            .returning(oc.c.channel, oc.c.ready_at)
        )
        picks: list[_Pick] = []
        with self.engine.begin() as conn:
            claimed = conn.execute(claim).all()
            if not claimed:
                return [], self.next_due_at(conn)
            for row in sorted(claimed, key=lambda r: (r.ready_at, r.channel)):
                pick = self._pick(conn, row.channel, now, report)
                if pick is None:
                    self._release(row.channel, conn)
                else:
                    self._mark_sending(conn, pick, now)
                    picks.append(pick)
        return picks, None

    def _renew(self, channel: str) -> bool:
        now = self.clock()
        oc = outbox_channels
        with self.engine.begin() as conn:
            result = conn.execute(
                update(oc)
                .where(oc.c.channel == channel, oc.c.lease_owner == self.owner, oc.c.lease_until > now)
                .values(lease_until=now + self.lease)
            )
            return bool(result.rowcount == 1)

    @staticmethod
    def _mark_sending(conn: Connection, pick: _Pick, now: datetime) -> None:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == pick.item.id)
            .values(state=SENDING, attempts=outbox.c.attempts + 1, sending_at=now)
        )

    def _release(self, channel: str, conn: Connection | None = None) -> None:
        stmt = (
            update(outbox_channels)
            .where(outbox_channels.c.channel == channel, outbox_channels.c.lease_owner == self.owner)
            .values(lease_owner=None, lease_until=None)
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as own:
            own.execute(stmt)

    # ---------------------------------------------------------------- one channel

    def _drain(self, channel: str, report: DeliveryReport, max_items: int) -> None:
        """Keep delivering on a leased channel while pacing allows (per_channel_interval shorter than a call)."""
        oc = outbox_channels
        while report.calls < max_items:
            now = self.clock()
            with self.engine.begin() as conn:
                state = conn.execute(
                    select(oc.c.ready_at, oc.c.lease_owner, oc.c.lease_until).where(oc.c.channel == channel)
                ).one()
                if state.lease_owner != self.owner or state.lease_until is None or state.lease_until <= now:
                    log.warning("outbox: lost the lease on %s; leaving it to its new owner", channel)
                    return
                if state.ready_at > now:
                    break
                pick = self._pick(conn, channel, now, report)
                if pick is None:
                    self._release(channel, conn)
                    return
                self._mark_sending(conn, pick, now)
                conn.execute(update(oc).where(oc.c.channel == channel).values(lease_until=now + self.lease))
            outcome = self._attempt(pick, report)
            if self._settle(pick, outcome, report):
                return
        self._release(channel)

    def _pick(self, conn: Connection, channel: str, now: datetime, report: DeliveryReport) -> _Pick | None:
        """The channel's next deliverable row (marking dead/superseded rows on the way), or None.

        One query per page brings each row with what delivery needs to decide about it: the ts of the
        messages it refers to, and whether a newer update of the same message is queued.
        """
        after, scanned = -1, 0
        while scanned < self.scan_limit:
            page = conn.execute(_PAGE, {"channel": channel, "after": after}).all()
            if not page:
                return None
            for row in page:
                item = OutboxItem.from_row(row)
                after, scanned = item.id, scanned + 1
                if item.next_attempt_at > now:
                    # FIFO: the head waits for its retry, and so does the channel.
                    conn.execute(
                        update(outbox_channels)
                        .where(outbox_channels.c.channel == channel, outbox_channels.c.ready_at < item.next_attempt_at)
                        .values(ready_at=item.next_attempt_at)
                    )
                    return None
                pick = self._deliverable(conn, item, row, now, report)
                if pick is not None:
                    return pick
        return None

    def _deliverable(
        self, conn: Connection, item: OutboxItem, row: Row[Any], now: datetime, report: DeliveryReport
    ) -> _Pick | None:
        """`item` with its refs resolved, or None when it must wait (or was just marked dead/superseded)."""
        target_ts = thread_ts = None
        if item.updates_ref:
            if row.newer_update:  # only the latest content of a message matters
                self._finish(conn, item, state=SUPERSEDED, error=None)
                report.superseded += 1
                return None
            target_ts = row.target_ts
            if target_ts is None:
                self._unresolved(conn, item, item.updates_ref, now, report)
                return None
        if item.thread_ref:
            thread_ts = row.thread_ts
            if thread_ts is None:
                self._unresolved(conn, item, item.thread_ref, now, report)
                return None
        return _Pick(item, item.state == SENDING, thread_ts, target_ts)

    def _unresolved(self, conn: Connection, item: OutboxItem, key: str, now: datetime, report: DeliveryReport) -> None:
        """`key` names no delivered message yet. The row waits while a post that creates it is still queued
        (however long its retries take); it is dead when every such post died, or when nothing has been queued
        to create it for `ref_wait_timeout` (a ref the caller promised and never delivered)."""
        creators = set(conn.execute(select(outbox.c.state).where(outbox.c.creates_ref == key).distinct()).scalars())
        error = None
        if creators and creators <= {DEAD, SUPERSEDED}:
            error = f"message {key!r} was never posted (its post failed permanently)"
        elif not creators and now - item.created_at > self.ref_wait_timeout:
            error = f"message {key!r} still not posted after {self.ref_wait_timeout}"
        if error is None:
            report.waiting += 1
            return
        self._finish(conn, item, state=DEAD, error=error)
        self._report_dead(item, error, report)

    # ---------------------------------------------------------------- the call and its outcome

    def _attempt(self, pick: _Pick, report: DeliveryReport) -> _Outcome:
        item = pick.item
        if item.kind in FILE_KINDS:
            return self._call(lambda: self._upload(pick, report), item)
        try:
            message = self.renderer.render(item.kind, item.payload)
        except Exception as err:
            log.exception("outbox: cannot render %s %s", item.kind, item.dedupe_key)
            return _Outcome("permanent", error=f"render failed: {err!r}")
        return self._call(lambda: self._send(pick, message, report), item)

    def _upload(self, pick: _Pick, report: DeliveryReport) -> _Outcome:
        item = pick.item
        shared = share_file(
            self.chat,
            self.files.get(item.kind),
            item.kind,
            item.payload,
            channel=item.channel,
            thread_ts=pick.thread_ts,
            maybe_shared=pick.was_sending or item.maybe_sent,
            counter=report,
        )
        return _Outcome("sent", ts=shared.file_id, recovered=shared.recovered)

    def _send(self, pick: _Pick, message: RenderedMessage, report: DeliveryReport) -> _Outcome:
        item = pick.item
        if pick.target_ts is not None:
            report.calls += 1
            self.chat.update(item.channel, pick.target_ts, text=message.text, blocks=message.blocks)
            return _Outcome("sent", ts=pick.target_ts)
        if pick.was_sending or item.maybe_sent:
            report.calls += 1
            found = self.chat.find_posted(item.channel, item.dedupe_key, pick.thread_ts)
            if found:
                return _Outcome("sent", ts=found, recovered=True)
        report.calls += 1
        ts = self.chat.post(
            item.channel,
            text=message.text,
            blocks=message.blocks,
            thread_ts=pick.thread_ts,
            dedupe_key=item.dedupe_key,
        )
        return _Outcome("sent", ts=ts)

    @staticmethod
    def _call(send: Callable[[], _Outcome], item: OutboxItem) -> _Outcome:
        """`send`'s outcome, with the chat port's failures sorted into retry / wait / give up."""
        try:
            return send()
        except ChatRateLimited as err:
            return _Outcome("rate_limited", retry_after=err.retry_after, error=str(err))
        except ChatTransientError as err:
            return _Outcome("transient", error=str(err), maybe_delivered=err.maybe_delivered)
        except ChatPermanentError as err:
            return _Outcome("permanent", error=str(err))
        except Exception as err:  # a ChatPort bug or an unexpected failure: retry, assume it may have landed
            log.exception("outbox: unexpected error delivering %s", item.dedupe_key)
            return _Outcome("transient", error=repr(err), maybe_delivered=True)

    def _settle(self, pick: _Pick, outcome: _Outcome, report: DeliveryReport) -> bool:
        """Record the outcome; True when the channel must now wait (its lease is then released here)."""
        item = pick.item
        now = self.clock()
        is_post = pick.target_ts is None
        # a post that may have reached Slack is looked up (find_posted) before it is ever posted again
        maybe_sent = item.maybe_sent or (is_post and pick.was_sending)
        # A message already sent is recorded even if leadership moved meanwhile (the SENDING state guards it).
        with unfenced(), self.engine.begin() as conn:
            # Slack paces posts per channel (~1/s); edits (chat.update) have a workspace-wide limit of their own.
            ready_at = now + (self.interval if is_post else timedelta(0))
            if outcome.kind == "sent":
                # ts: the message's, or the shared file's id (None when a file kind had nothing to share)
                values: dict[str, Any] = {"sent_ts": outcome.ts, "sent_at": now, "maybe_sent": False}
                if not self._finish(conn, item, state=SENT, error=None, extra=values, expect=SENDING):
                    log.warning("outbox: %s was settled by someone else meanwhile", item.dedupe_key)
                if item.creates_ref and outcome.ts is not None:
                    MessageRefs.put(conn, item.creates_ref, channel=item.channel, ts=outcome.ts, now=now)
                report.sent += 1
                report.recovered += int(outcome.recovered)
            elif outcome.kind == "rate_limited":
                retry_at = now + timedelta(seconds=outcome.retry_after)
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == item.id, outbox.c.state == SENDING)
                    .values(
                        state=PENDING,
                        attempts=outbox.c.attempts - 1,  # not a failure: Slack asked us to wait
                        next_attempt_at=retry_at,
                        maybe_sent=maybe_sent,
                        last_error=outcome.error,
                    )
                )
                ready_at = max(ready_at, retry_at)
                report.rate_limited += 1
            elif outcome.kind == "transient" and item.attempts + 1 < self.max_attempts:
                retry_at = now + timedelta(seconds=self._backoff(item.attempts + 1))
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == item.id, outbox.c.state == SENDING)
                    .values(
                        state=PENDING,
                        next_attempt_at=retry_at,
                        maybe_sent=maybe_sent or (is_post and outcome.maybe_delivered),
                        last_error=outcome.error,
                    )
                )
                ready_at = max(ready_at, retry_at)
                report.retried += 1
                log.warning("outbox: %s failed (%s); retry at %s", item.dedupe_key, outcome.error, retry_at)
            else:
                error = outcome.error or "failed"
                if outcome.kind == "transient":
                    error = f"gave up after {item.attempts + 1} attempts: {error}"
                self._finish(conn, item, state=DEAD, error=error, expect=SENDING)
                self._report_dead(item, error, report)
            # Only the lease holder writes ready_at, so setting it outright is safe; a paced channel is
            # released in the same statement (the next claim waits for ready_at anyway).
            paced = ready_at > self.clock()
            release: dict[str, Any] = {"lease_owner": None, "lease_until": None} if paced else {}
            conn.execute(
                update(outbox_channels)
                .where(outbox_channels.c.channel == item.channel, outbox_channels.c.lease_owner == self.owner)
                .values(ready_at=ready_at, **release)
            )
        return paced

    @staticmethod
    def _finish(
        conn: Connection,
        item: OutboxItem,
        *,
        state: str,
        error: str | None,
        extra: Mapping[str, Any] | None = None,
        expect: str | None = None,
    ) -> bool:
        query = update(outbox).where(outbox.c.id == item.id)
        query = query.where(outbox.c.state == expect) if expect else query.where(outbox.c.state.in_(_OPEN))
        result = conn.execute(query.values(state=state, last_error=error, **(extra or {})))
        return bool(result.rowcount == 1)

    @staticmethod
    def _report_dead(item: OutboxItem, error: str, report: DeliveryReport) -> None:
        log.error("outbox: giving up on %s %s in %s: %s", item.kind, item.dedupe_key, item.channel, error)
        report.dead.append(DeadLetter(item.id, item.channel, item.kind, item.dedupe_key, error))

    def _backoff(self, attempts: int) -> float:
        return float(min(self.backoff_max, self.backoff_base * 2 ** max(0, attempts - 1)))
