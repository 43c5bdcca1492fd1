"""Watches (one per followed job) and their transitions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from services.models import JobStatus, WorkspaceScope
from services.store.sql import insert_ignore
from services.store.tables import transitions, watches


@dataclass(frozen=True)
class WatchRow:
    id: int
    workspace_key: str
    job_name: str
    subscription_id: str | None
    resource_group: str | None
    workspace: str | None
    channel: str
    requested_by: str | None
    template: str | None
    root_ref: str
    last_status: str | None
    version: int
    status_since: datetime | None
    status_observed_at: datetime | None
    last_seen_at: datetime | None
    next_check_at: datetime
    check_failures: int
    last_error: str | None
    created_at: datetime
    ended_at: datetime | None
    active: bool
    services_announced: str | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> WatchRow:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})

    @property
    def scope(self) -> WorkspaceScope:
        return WorkspaceScope(self.subscription_id, self.resource_group, self.workspace)

    @property
    def status(self) -> JobStatus | None:
        return JobStatus.parse(self.last_status) if self.last_status else None


@dataclass(frozen=True)
class TransitionRow:
    watch_id: int
    seq: int
    from_status: str | None
    to_status: str
    observed_at: datetime
    recorded_at: datetime
    source: str


def workspace_key(scope: WorkspaceScope | None) -> str:
    """A stable key for the workspace a scope names ('' parts mean the backend's defaults)."""
    scope = scope or WorkspaceScope()
    return "/".join(part or "" for part in (scope.subscription_id, scope.resource_group, scope.workspace))


class Watches:
    """Queries over `watches` and `transitions`; every method runs in the caller's connection."""

    @staticmethod
    def insert(conn: Connection, values: Mapping[str, Any]) -> bool:
        return insert_ignore(conn, watches, values, ["workspace_key", "job_name"])

    @staticmethod
    def get(conn: Connection, watch_id: int) -> WatchRow | None:
        row = conn.execute(select(watches).where(watches.c.id == watch_id)).first()
        return WatchRow.from_row(row) if row else None

    @staticmethod
    def by_job(conn: Connection, key: str, job_name: str) -> WatchRow | None:
        row = conn.execute(
            select(watches).where(watches.c.workspace_key == key, watches.c.job_name == job_name)
        ).first()
        return WatchRow.from_row(row) if row else None

    @staticmethod
    def by_name(conn: Connection, job_name: str, *, active_only: bool = False) -> list[WatchRow]:
        query = select(watches).where(watches.c.job_name == job_name).order_by(watches.c.id)
        if active_only:
            query = query.where(watches.c.active.is_(True))
        return [WatchRow.from_row(row) for row in conn.execute(query)]

    @staticmethod
    def active(conn: Connection, *, channel: str | None = None) -> list[WatchRow]:
        query = select(watches).where(watches.c.active.is_(True)).order_by(watches.c.id)
        if channel is not None:
            query = query.where(watches.c.channel == channel)
        return [WatchRow.from_row(row) for row in conn.execute(query)]

    @staticmethod
    def active_in(conn: Connection, keys: Iterable[str]) -> list[WatchRow]:
        query = (
            select(watches)
            .where(watches.c.active.is_(True), watches.c.workspace_key.in_(list(keys)))
            .order_by(watches.c.id)
        )
        return [WatchRow.from_row(row) for row in conn.execute(query)]

    @staticmethod
    def claim_due(conn: Connection, *, now: datetime, limit: int, hold_until: datetime) -> list[WatchRow]:
        """Due active watches, pushed to `hold_until` so other sweepers skip them (SKIP LOCKED on PostgreSQL).

        The sweeper sets each claimed watch's real next check when it is done; `hold_until` only matters
        when it dies in between.
        """
        rows = conn.execute(
            select(watches)
            .where(watches.c.active.is_(True), watches.c.next_check_at <= now)
            .order_by(watches.c.next_check_at, watches.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = [WatchRow.from_row(row) for row in rows]
        if claimed:
            conn.execute(
                update(watches).where(watches.c.id.in_([w.id for w in claimed])).values(next_check_at=hold_until)
            )
        return claimed

    @staticmethod
    def next_check_at(conn: Connection) -> datetime | None:
        return conn.execute(
            select(func.min(watches.c.next_check_at)).where(watches.c.active.is_(True))
        ).scalar_one_or_none()

    @staticmethod
    def next_check_in(conn: Connection, key: str) -> datetime | None:
        """The earliest next check among the active watches of one workspace."""
        return conn.execute(
            select(func.min(watches.c.next_check_at)).where(watches.c.active.is_(True), watches.c.workspace_key == key)
        ).scalar_one_or_none()

    @staticmethod
    def touch_many(conn: Connection, touches: Sequence[tuple[int, datetime, datetime]]) -> None:
        """(watch id, last seen at, next check at) for watches read without a change; one statement."""
        if not touches:
            return
        stmt = (
            update(watches)
            .where(watches.c.id == bindparam("w_id"), watches.c.active.is_(True))
            .values(
                last_seen_at=bindparam("w_seen"),
                next_check_at=bindparam("w_next"),
                check_failures=0,
                last_error=None,
            )
        )
        conn.execute(stmt, [{"w_id": i, "w_seen": seen, "w_next": nxt} for i, seen, nxt in touches])

    @staticmethod
    def failed_check(conn: Connection, watch_id: int, *, error: str, next_check_at: datetime) -> int:
        """Count a failed read; returns the watch's consecutive failures."""
        conn.execute(
            update(watches)
            .where(watches.c.id == watch_id)
            .values(check_failures=watches.c.check_failures + 1, last_error=error, next_check_at=next_check_at)
        )
        return int(
            conn.execute(select(watches.c.check_failures).where(watches.c.id == watch_id)).scalar_one_or_none() or 0
        )

    @staticmethod
    def _unchanged(watch: WatchRow) -> list[Any]:
        """WHERE terms matching the row only while it is as `watch` read it (version, status, services, active)."""
        status_is = (
            watches.c.last_status.is_(None) if watch.last_status is None else watches.c.last_status == watch.last_status
        )
        services_are = (
            watches.c.services_announced.is_(None)
            if watch.services_announced is None
            else watches.c.services_announced == watch.services_announced
        )
        return [
            watches.c.id == watch.id,
            watches.c.version == watch.version,
            status_is,
            services_are,
            watches.c.active.is_(True),
        ]

    @staticmethod
    def compare_and_set(conn: Connection, watch: WatchRow, values: Mapping[str, Any]) -> bool:
        """UPDATE … WHERE id = :id AND version = :seen AND last_status IS :seen_status
        AND services_announced IS :seen_services AND active.

        The single point where a transition is decided: of any number of concurrent recorders (threads,
        replicas, poll and push) that read the same version, exactly one gets rowcount 1.
        """
        result = conn.execute(
            update(watches).where(*Watches._unchanged(watch)).values(version=watch.version + 1, **values)
        )
        return bool(result.rowcount == 1)

    @staticmethod
    def set_services_announced(conn: Connection, watch: WatchRow, announced: str, *, now: datetime) -> bool:
        """Compare-and-set the announced service endpoints of a watch still as `watch` read it (the version
        stays: no status changed); of concurrent announcers exactly one gets True."""
        result = conn.execute(
            update(watches).where(*Watches._unchanged(watch)).values(services_announced=announced, last_seen_at=now)
        )
        return bool(result.rowcount == 1)

    @staticmethod
    def deactivate(conn: Connection, watch_id: int, *, now: datetime, error: str | None = None) -> bool:
        result = conn.execute(
            update(watches)
            .where(watches.c.id == watch_id, watches.c.active.is_(True))
            .values(active=False, ended_at=now, last_error=error)
        )
        return bool(result.rowcount == 1)

    @staticmethod
    def add_transition(conn: Connection, row: TransitionRow) -> None:
        conn.execute(
            transitions.insert().values(
                watch_id=row.watch_id,
                seq=row.seq,
                from_status=row.from_status,
                to_status=row.to_status,
                observed_at=row.observed_at,
                recorded_at=row.recorded_at,
                source=row.source,
            )
        )

    @staticmethod
    def transitions_of(conn: Connection, watch_id: int) -> list[TransitionRow]:
        rows = conn.execute(select(transitions).where(transitions.c.watch_id == watch_id).order_by(transitions.c.seq))
        return [
            TransitionRow(r.watch_id, r.seq, r.from_status, r.to_status, r.observed_at, r.recorded_at, r.source)
            for r in rows
        ]
