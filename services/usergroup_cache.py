"""Slack user-group membership: the resolver port, fixed memberships, and a cache in front of Slack.

A group is asked about by id when known, else by "@handle" (Slack: `usergroups.users.list`, handles resolved
with `usergroups.list`). Membership is cached (`CachingUserGroupResolver`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class UserGroupResolver(Protocol):
    def members(self, group_id: str) -> set[str]:
        """The user ids in a Slack user group (an id "S…", or "@handle"); raises when it cannot tell."""
        ...


class StaticUserGroups:
    """Fixed memberships (tests, the local backend, or a deployment without usergroups access)."""

    def __init__(self, groups: Mapping[str, Iterable[str]] | None = None) -> None:
        self.groups = {key: set(users) for key, users in (groups or {}).items()}

    def members(self, group_id: str) -> set[str]:
        return set(self.groups.get(group_id, set()))


@dataclass
class _Cached:
    members: frozenset[str]
    fetched_at: float
    retry_at: float = 0.0  # after a failed refresh: not before this


class CachingUserGroupResolver:
    """Caches another resolver (Slack's `usergroups.users.list` is Tier 2: ~20 calls a minute).

    A group is fetched again once `ttl` seconds old. When a refresh fails, the last known members are kept
    (stale-on-error) and the refresh is retried after `retry_after` seconds; a group never fetched
    successfully raises. `refresh()` re-reads every known group now (for the scheduler, or on
    `subteam_members_changed`); `invalidate()` forgets one group or all. Thread-safe; one fetch per group at a
    time.
    """

    def __init__(
        self,
        inner: UserGroupResolver,
        *,
        ttl: float = 300.0,
        retry_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.retry_after = retry_after
        self.clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}

    def members(self, group_id: str) -> set[str]:
        entry = self._fresh(group_id)
        if entry is not None:
            return set(entry.members)
        with self._group_lock(group_id):
            entry = self._fresh(group_id)  # another thread may have fetched it meanwhile
            if entry is not None:
                return set(entry.members)
            return set(self._fetch(group_id, force=False))

    def refresh(self, group_id: str | None = None) -> None:
        """Fetch `group_id` (or every cached group) now; failures keep the stale members and are logged."""
        with self._lock:
            keys = [group_id] if group_id is not None else list(self._cache)
        for key in keys:
            with self._group_lock(key):
                try:
                    self._fetch(key, force=True)
                except Exception:
                    log.warning("user group %s: refresh failed", key, exc_info=True)

    def invalidate(self, group_id: str | None = None) -> None:
        with self._lock:
            if group_id is None:
                self._cache.clear()
            else:
                self._cache.pop(group_id, None)

    def _group_lock(self, group_id: str) -> threading.Lock:
        with self._lock:
            return self._fetching.setdefault(group_id, threading.Lock())

    def _fresh(self, group_id: str) -> _Cached | None:
        now = self.clock()
        with self._lock:
            entry = self._cache.get(group_id)
        if entry is None:
            return None
        if now - entry.fetched_at < self.ttl or now < entry.retry_at:
            return entry
        return None

    def _fetch(self, group_id: str, *, force: bool) -> frozenset[str]:
        with self._lock:
            stale = self._cache.get(group_id)
        try:
            members = frozenset(self.inner.members(group_id))
        except Exception as err:
            if stale is None:
                raise
            log.warning("user group %s: refresh failed (%s); using members read earlier", group_id, err)
            with self._lock:
                stale.retry_at = self.clock() + self.retry_after
            return stale.members
        with self._lock:
            self._cache[group_id] = _Cached(members, self.clock())
        return members
