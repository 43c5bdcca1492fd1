"""What a person's App Home shows, gathered without Slack: their jobs, the team's running compute, and the
approval requests waiting for their decision.

Two reads, on purpose of different cost:
- `personal(user)`: the store only (the jobs the bot follows for them, the pending approval requests they may
  decide on). Cheap enough to run every few seconds per person; its `fingerprint` says whether what they see
  changed, so the bot republishes their Home only then.
- `snapshot(user)`: the personal part plus what costs backend calls: studio links of their jobs (one
  `jobs.list` by their tag, remembered) and the team's running compute with its price (`find_costly`, shared by
  everyone for `compute_ttl`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select

from services.approvals import ApprovalRequest, ApprovalService, ApprovalState, plain_error
from services.errors import Forbidden
from services.models import TAG_SLACK_USER
from services.pricing import PriceBook
from services.rbac import Authorizer, approve_action
from services.reminder_sweep import CostlyCompute, find_costly
from services.store.clock import Clock, as_utc, utc_now
from services.store.tables import watches
from services.store.watching import WatchRow, workspace_key

if TYPE_CHECKING:
    from services.container import Services
    from services.models import WorkspaceScope

log = logging.getLogger(__name__)

MAX_RUNNING_JOBS = 15
MAX_RECENT_JOBS = 8
RECENT_JOBS_DAYS = 7
MAX_APPROVALS = 8  # each takes ~6 blocks of the Home's 100
LINK_CACHE_SIZE = 5000


@dataclass(frozen=True)
class HomeJob:
    """One job the bot follows for the person, as the store knows it (plus its studio link when known)."""

    watch: WatchRow
    studio_url: str | None = None


@dataclass(frozen=True)
class TeamCompute:
    """One compute that costs money now, with today's cost in the team's time zone."""

    costly: CostlyCompute
    today_so_far: float | None  # since midnight (or since it started, if later)
    today_if_left_on: float | None  # what today will have cost by midnight if nobody stops it


@dataclass(frozen=True)
class ComputeReport:
    """The team's running compute, or why it could not be listed."""

    computes: tuple[TeamCompute, ...] = ()
    errors: tuple[str, ...] = ()
    taken_at: datetime | None = None
    time_zone: str = "UTC"

    @property
    def per_hour(self) -> float:
        return sum(c.costly.per_hour or 0.0 for c in self.computes)


@dataclass(frozen=True)
class PersonalView:
    """The store-backed part of a Home: cheap to read, compared to decide whether to republish."""

    user: str
    running: tuple[HomeJob, ...] = ()
    running_more: int = 0
    recent: tuple[HomeJob, ...] = ()
    approvals: tuple[ApprovalRequest, ...] = ()
    approvals_more: int = 0
    jobs_available: bool = True
    approvals_available: bool = True

    @property
    def fingerprint(self) -> Hashable:
        """Everything of this view a person would notice changing (not the studio links: they never change)."""
        jobs = tuple((j.watch.job_name, j.watch.last_status, j.watch.active) for j in (*self.running, *self.recent))
        decisions = tuple((r.id, r.version) for r in self.approvals)
        return jobs, self.running_more, decisions, self.approvals_more


@dataclass(frozen=True)
class HomeSnapshot:
    personal: PersonalView
    compute: ComputeReport | None  # None: no backend configured
    taken_at: datetime
    notice: str | None = None  # the answer to the person's last click on this Home, shown at the top

    @property
    def user(self) -> str:
        return self.personal.user


@dataclass
class _Links:
    """Studio links of jobs, remembered (a job's link never changes) in least-recently-used order."""

    urls: OrderedDict[str, str | None] = field(default_factory=OrderedDict)
    listed_at: dict[str, datetime] = field(default_factory=dict)  # per person: their last jobs.list
    lock: threading.Lock = field(default_factory=threading.Lock)


class HomeService:
    """Gathers Home snapshots; thread-safe. Every backend read is best-effort: a Home shows what it can."""

    def __init__(
        self,
        services: Services,
        *,
        clock: Clock = utc_now,
        compute_ttl: timedelta = timedelta(seconds=60),
        link_ttl: timedelta = timedelta(seconds=60),
        time_zone: tzinfo | None = None,
    ) -> None:
        self.services = services
        self.clock = clock
        self.compute_ttl = compute_ttl
        self.link_ttl = link_ttl
        reminders = services.reminders
        self.time_zone: tzinfo = time_zone or (reminders.schedule.tz if reminders is not None else UTC)
        self._links = _Links()
        self._compute: ComputeReport | None = None
        self._compute_lock = threading.Lock()

    # ---------------------------------------------------------------- the personal part (store only)

    def personal(self, user: str) -> PersonalView:
        engine = self._engine
        running: list[HomeJob] = []
        recent: list[HomeJob] = []
        more = 0
        if engine is not None:
            running_rows, more = _running_watches(engine, user, MAX_RUNNING_JOBS)
            since = self.clock() - timedelta(days=RECENT_JOBS_DAYS)
            running = [HomeJob(row, self._cached_link(row.job_name)) for row in running_rows]
            recent = [HomeJob(row, self._cached_link(row.job_name)) for row in _ended_watches(engine, user, since)]
        decisions, approvals_more = self._decisions_for(user)
        return PersonalView(
            user=user,
            running=tuple(running),
            running_more=more,
            recent=tuple(recent),
            approvals=tuple(decisions),
            approvals_more=approvals_more,
            jobs_available=engine is not None,
            approvals_available=self.services.approvals is not None,
        )

    def fingerprint(self, user: str) -> Hashable:
        return self.personal(user).fingerprint

    def may_decide(self, user: str, request: ApprovalRequest) -> bool:
        """Whether the Home offers `user` the buttons of `request`: pending, not theirs, not yet voted on by them,
        and they hold the approve role where it was asked (as a click there is authorised)."""
        if not request.is_pending or request.requester == user or request.expires_at <= self.clock():
            return False
        if any(vote.user == user for vote in request.votes):
            return False
        return _holds(self.services.authorizer, user, request)

    def _decisions_for(self, user: str) -> tuple[list[ApprovalRequest], int]:
        approvals: ApprovalService | None = self.services.approvals
        if approvals is None:
            return [], 0
        mine = [r for r in approvals.requests(state=ApprovalState.PENDING) if self.may_decide(user, r)]
        mine.sort(key=lambda r: r.expires_at)  # the most urgent first
        return mine[:MAX_APPROVALS], max(0, len(mine) - MAX_APPROVALS)

    # ---------------------------------------------------------------- the whole snapshot (backend reads too)

    def snapshot(self, user: str, *, notice: str | None = None) -> HomeSnapshot:
        personal = self.personal(user)
        jobs = (*personal.running, *personal.recent)
        if any(job.studio_url is None for job in jobs):
            self._look_up_links(user)
            personal = _with_links(personal, self._cached_link)
        compute = self.compute() if self.services.backend is not None else None
        return HomeSnapshot(personal, compute, self.clock(), notice)

    def compute(self) -> ComputeReport:
        """The team's running compute, read at most once per `compute_ttl` for everyone."""
        with self._compute_lock:
            cached = self._compute
            now = self.clock()
            if cached is not None and cached.taken_at is not None and now - cached.taken_at < self.compute_ttl:
                return cached
            self._compute = self._read_compute(now)
            return self._compute

    def _read_compute(self, now: datetime) -> ComputeReport:
        backend = self.services.backend
        assert backend is not None
        reminders = self.services.reminders
        prices: PriceBook | None = reminders.prices if reminders is not None else None
        users = reminders.users if reminders is not None else None
        found: list[TeamCompute] = []
        errors: list[str] = []
        for scope in self._scopes():
            try:
                costly = find_costly(backend, scope, now, prices=prices, users=users)
            except Exception as err:  # one unreachable workspace must not hide the others
                log.warning("home: cannot list the compute of %s", workspace_key(scope) or "the default workspace")
                where = f"workspace `{scope.workspace}`" if scope and scope.workspace else "the default workspace"
                errors.append(f"Could not list the compute of {where}: {plain_error(err)}")
                continue
            found.extend(self._today(c, now) for c in costly)
        found.sort(key=lambda c: (-(c.costly.per_hour or 0.0), c.costly.info.name.lower()))
        return ComputeReport(tuple(found), tuple(errors), now, _zone_name(self.time_zone))

    def _scopes(self) -> list[WorkspaceScope | None]:
        """The default workspace, and those the reminder channels point at."""
        scopes: dict[str, WorkspaceScope | None] = {workspace_key(None): None}
        reminders = self.services.reminders
        if reminders is not None:
            for channel in reminders.target_channels():
                scope = reminders.channel_config.get(channel).scope
                scopes.setdefault(workspace_key(scope), scope)
        return list(scopes.values())

    def _today(self, costly: CostlyCompute, now: datetime) -> TeamCompute:
        per_hour = costly.per_hour
        since = costly.info.running_since
        if per_hour is None or since is None:
            return TeamCompute(costly, None, None)
        local_now = now.astimezone(self.time_zone)
        midnight = datetime.combine(local_now.date(), time(0), self.time_zone)
        tomorrow = datetime.combine(local_now.date() + timedelta(days=1), time(0), self.time_zone)
        start = max(as_utc(since), as_utc(midnight))
        so_far = per_hour * max(0.0, (now - start).total_seconds()) / 3600
        left = per_hour * max(0.0, (as_utc(tomorrow) - now).total_seconds()) / 3600
        return TeamCompute(costly, so_far, so_far + left)

    # ---------------------------------------------------------------- studio links

    def _cached_link(self, job_name: str) -> str | None:
        with self._links.lock:
            url = self._links.urls.get(job_name)
            if url is not None:
                self._links.urls.move_to_end(job_name)
            return url

    def _look_up_links(self, user: str) -> None:
        backend = self.services.backend
        if backend is None:
            return
        now = self.clock()
        with self._links.lock:
            last = self._links.listed_at.get(user)
            if last is not None and now - last < self.link_ttl:
                return  # a job missing from a fresh listing lives elsewhere: it goes without a link for now
            self._links.listed_at[user] = now
        try:
            jobs = backend.jobs.list(tag=f"{TAG_SLACK_USER}={user}", limit=MAX_RUNNING_JOBS + MAX_RECENT_JOBS + 10)
        except Exception as err:
            log.warning("home: cannot list the jobs of %s for their links: %s", user, err)
            return
        with self._links.lock:
            for job in jobs:
                if job.studio_url:
                    self._links.urls[job.name] = job.studio_url
                    self._links.urls.move_to_end(job.name)
            while len(self._links.urls) > LINK_CACHE_SIZE:
                self._links.urls.popitem(last=False)

    @property
    def _engine(self) -> Engine | None:
        tracking = self.services.tracking
        return tracking.engine if tracking is not None else None


def _holds(authorizer: Authorizer | None, user: str, request: ApprovalRequest) -> bool:
    if authorizer is None:
        return True  # a bot without permissions lets everyone decide (ApprovalService needs one anyway)
    try:
        authorizer.authorize(user, request.channel, approve_action(request.action))
    except Forbidden:
        return False
    except Exception:  # e.g. a user group that cannot be read now: no buttons rather than a broken Home
        log.warning("home: cannot tell whether %s may decide request #%s", user, request.id, exc_info=True)
        return False
    return True


def _running_watches(engine: Engine, user: str, limit: int) -> tuple[list[WatchRow], int]:
    mine = (watches.c.requested_by == user) & watches.c.active.is_(True)
    with engine.connect() as conn:
        rows = conn.execute(
            select(watches).where(mine).order_by(watches.c.created_at.desc(), watches.c.id.desc()).limit(limit)
        ).all()
        total = int(conn.execute(select(func.count()).select_from(watches).where(mine)).scalar_one())
    return [WatchRow.from_row(row) for row in rows], max(0, total - len(rows))


def _ended_watches(engine: Engine, user: str, since: datetime) -> list[WatchRow]:
    query = (
        select(watches)
        .where(watches.c.requested_by == user, watches.c.active.is_(False), watches.c.ended_at >= since)
        .order_by(watches.c.ended_at.desc(), watches.c.id.desc())
        .limit(MAX_RECENT_JOBS)
    )
    with engine.connect() as conn:
        return [WatchRow.from_row(row) for row in conn.execute(query).all()]


def _with_links(personal: PersonalView, link: Callable[[str], str | None]) -> PersonalView:
    def linked(jobs: Sequence[HomeJob]) -> tuple[HomeJob, ...]:
        return tuple(HomeJob(j.watch, j.studio_url or link(j.watch.job_name)) for j in jobs)

    return replace(personal, running=linked(personal.running), recent=linked(personal.recent))


def _zone_name(zone: tzinfo) -> str:
    key = getattr(zone, "key", None)
    return str(key) if key else (zone.tzname(None) or "UTC")
