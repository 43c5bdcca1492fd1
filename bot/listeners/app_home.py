"""App Home: published when a person opens the tab, and again when something on it changes for them.

Slack's limits, and how this stays within them: `views.publish` is Tier 4 (100+ calls a minute per workspace).
A Home is published when its owner opens it (at most once per `open_interval`, 2 s, so tab-hopping costs
nothing) and after their click on it; between those, `HomeTab.run` (a background loop) looks every
`check_every` seconds (5 s) at the cheap, store-only fingerprint of each Home opened in the last `follow_for`
(1 h) and republishes one whose jobs or waiting requests changed, at most once per `min_interval` (10 s) per
person, so a burst of changes publishes once, and at most `per_minute` (50) such refreshes a minute in all,
leaving the rest of the budget to opens and clicks. A 429 pauses refreshes for its Retry-After.

Approve / Reject on the Home are the channel message's buttons (same action ids and values). Their clicks come
without a channel or a response_url, so they are taken here, before the channel listener: the decision goes
through the same `decide_and_answer` with the request's own channel (a click is authorised where the request
was asked, as in the channel), and the answer appears at the top of the clicker's refreshed Home.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.approvals import APPROVE_ACTION, REJECT_ACTION
from bot.blocks.home import home_view
from bot.deliveries import RecentDeliveries
from bot.listeners.approval_actions import BUSY, Click, decide_and_answer
from bot.listeners.clicks import first_delivery
from bot.work import PoolFull, WorkPool
from services.container import Services
from services.home import HomeService
from services.redaction import redact

logger = logging.getLogger(__name__)

NOTICE_SECONDS = 120.0  # a click's answer stays on the Home through refreshes for this long


@dataclass(frozen=True)
class _Published:
    at: float
    fingerprint: Hashable


class HomeTab:
    """Publishes Homes (one at a time per person) and refreshes those whose content changed."""

    def __init__(
        self,
        home: HomeService,
        pool: WorkPool,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        open_interval: float = 2.0,
        min_interval: float = 10.0,
        check_every: float = 5.0,
        follow_for: float = 3600.0,
        per_minute: int = 50,
    ) -> None:
        self.home = home
        self.pool = pool
        self.monotonic = monotonic
        self.open_interval = open_interval
        self.min_interval = min_interval
        self.check_every = check_every
        self.follow_for = follow_for
        self.per_minute = per_minute
        # Bolt builds each request's client with the bot token from `authorize`; refreshes reuse the latest.
        self.client: WebClient | None = None
        self._lock = threading.Lock()
        self._user_locks: dict[str, threading.Lock] = {}
        self._opened: dict[str, float] = {}
        self._published: dict[str, _Published] = {}
        self._notices: dict[str, tuple[str, float]] = {}
        self._refreshes: deque[float] = deque()
        self._paused_until = 0.0

    # ---------------------------------------------------------------- requests

    def opened(self, user: str, client: WebClient) -> None:
        """The person opened their Home: publish it soon (in the pool) and follow it for a while."""
        self.client = client
        now = self.monotonic()
        with self._lock:
            self._opened[user] = now
            last = self._published.get(user)
        if last is not None and now - last.at < self.open_interval:
            return  # just published: what they see is current
        try:
            self.pool.submit(lambda: self.publish(user))
        except PoolFull:
            logger.warning("work pool full: %s's Home was not refreshed on open", user)

    def decide(self, click: Click, services: Services) -> None:
        """A click on Approve / Reject on a Home: decided as in the channel, answered on the Home."""
        approvals = services.approvals
        request_id = click.request_id
        try:
            request = approvals.get(request_id) if approvals is not None and request_id is not None else None
        except Exception:  # the store is down: decide_and_answer meets it too and answers with a reference
            logger.warning("could not read approval request #%s", request_id, exc_info=True)
            request = None
        # Authorised where the request was asked, exactly as a click on the channel message is.
        in_channel = replace(click, channel_id=request.channel) if request is not None else click
        where = f" _(request #{request.id} in <#{request.channel}>)_" if request is not None else ""

        def answer(text: str) -> None:
            self.publish(click.user_id, notice=text + where)

        # decide_and_answer only calls answer(text); it is typed with the channel listener's own answerer.
        decide_and_answer(in_channel, services, answer)

    # ---------------------------------------------------------------- publishing

    def publish(self, user: str, *, notice: str | None = None) -> bool:
        """Build and publish `user`'s Home now; False when Slack refused it (logged)."""
        client = self.client
        if client is None:
            return False
        with self._user_lock(user):
            now = self.monotonic()
            if notice is not None:
                self._notices[user] = (notice, now)
            try:
                snapshot = self.home.snapshot(user, notice=self._notice(user, now))
                client.views_publish(user_id=user, view=home_view(snapshot))
            except SlackApiError as err:
                self._refused(user, err)
                return False
            except Exception:
                logger.warning("could not publish %s's Home", user, exc_info=True)
                return False
            with self._lock:
                self._published[user] = _Published(now, snapshot.personal.fingerprint)
            return True

    def _notice(self, user: str, now: float) -> str | None:
        kept = self._notices.get(user)
        if kept is None or now - kept[1] > NOTICE_SECONDS:
            self._notices.pop(user, None)
            return None
        return redact(kept[0])

    def _refused(self, user: str, err: SlackApiError) -> None:
        response = err.response
        if response is not None and response.status_code == 429:
            retry_after = float(response.headers.get("Retry-After") or response.headers.get("retry-after") or 30)
            self._paused_until = self.monotonic() + retry_after
            logger.warning("views.publish is rate limited: Home refreshes pause for %.0f s", retry_after)
            return
        error = response.get("error") if response is not None else None
        logger.warning("Slack refused %s's Home: %s", user, error or err)

    # ---------------------------------------------------------------- refreshing

    def refresh_changed(self) -> int:
        """One pass: republish the followed Homes whose content changed (within the limits); returns how many."""
        now = self.monotonic()
        published = 0
        for user in self._following(now):
            if now < self._paused_until:
                break
            with self._lock:
                last = self._published.get(user)
            if last is not None and now - last.at < self.min_interval:
                continue  # a burst of changes waits and goes out as one publish
            try:
                changed = last is None or self.home.fingerprint(user) != last.fingerprint
            except Exception:
                logger.warning("could not check %s's Home for changes", user, exc_info=True)
                continue
            if not changed:
                continue
            if not self._spend(now):
                break
            published += self.publish(user)
        return published

    def run(self, stop: threading.Event) -> None:
        """The refresh loop (every process runs its own: it follows the Homes opened through it)."""
        while not stop.wait(self.check_every):
            try:
                self.refresh_changed()
            except Exception:
                logger.exception("Home refresh pass failed")

    def _following(self, now: float) -> list[str]:
        with self._lock:
            for user in [u for u, at in self._opened.items() if now - at > self.follow_for]:
                del self._opened[user]
                self._published.pop(user, None)
                self._user_locks.pop(user, None)
            return sorted(self._opened, key=lambda u: self._opened[u], reverse=True)

    def _spend(self, now: float) -> bool:
        """Take one refresh from this minute's budget."""
        while self._refreshes and now - self._refreshes[0] >= 60.0:
            self._refreshes.popleft()
        if len(self._refreshes) >= self.per_minute:
            return False
        self._refreshes.append(now)
        return True

    def _user_lock(self, user: str) -> threading.Lock:
        with self._lock:
            return self._user_locks.setdefault(user, threading.Lock())


def register(app: App, *, services: Services, pool: WorkPool, deliveries: RecentDeliveries) -> HomeTab:
    """The Home's event and its approval clicks; register before the channel's approval listener."""
    tab = HomeTab(HomeService(services), pool)

    @app.event("app_home_opened")
    def handle_home_opened(event: dict[str, Any], client: WebClient) -> None:
        user = str(event.get("user") or "")
        if event.get("tab") == "home" and user:  # not the Messages tab
            tab.opened(user, client)

    for action_id, approve in ((APPROVE_ACTION, True), (REJECT_ACTION, False)):
        app.action(action_id, matchers=[_on_home])(_click_listener(approve, tab, services, pool, deliveries))
    return tab


def _on_home(body: dict[str, Any]) -> bool:
    """A click on a Home view (not on a message: those keep the channel listener)."""
    container = body.get("container") or {}
    view = body.get("view") or {}
    return container.get("type") == "view" and view.get("type") == "home"


def _click_listener(
    approve: bool, tab: HomeTab, services: Services, pool: WorkPool, deliveries: RecentDeliveries
) -> Callable[..., None]:
    def handle_home_approval_click(ack: Ack, body: dict[str, Any], client: WebClient, request: BoltRequest) -> None:
        ack()  # nothing slow before this: the decision (and maybe the deletion) runs in the pool
        tab.client = client
        click = Click.from_body(body, approve=approve)
        if not first_delivery(request, click, deliveries):
            return  # Slack retried a click this process already handles
        try:
            pool.submit(lambda: tab.decide(click, services))
        except PoolFull:
            tab.publish(click.user_id, notice=BUSY)

    return handle_home_approval_click
