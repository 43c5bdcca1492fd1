"""Who created a compute, as a Slack user: the port reminders use to mention (or DM) the creator.

Azure names a compute's creator by their Azure identity (usually an email, e.g. the instance's
`createdBy.userName`); the local backend may record a Slack user id directly. `slack_user_for(created_by,
directory)` turns either into a Slack user id, or None when there is no match (the reminder then names no one).

`SlackUserDirectory` asks Slack's `users.lookupByEmail` through a slack_sdk `WebClient` (any object with a
`users_lookupByEmail(email=…)` method), caching answers, "no such user" included. `StaticUserDirectory` is the
fake for tests (and a way to map addresses by configuration).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)

_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserDirectory(Protocol):
    def lookup_by_email(self, email: str) -> str | None:
        """The Slack user id of the person with this email, or None when there is none (or it cannot be told)."""
        ...


class StaticUserDirectory:
    """Emails → Slack user ids from a mapping (case-insensitive); counts lookups."""

    def __init__(self, users: Mapping[str, str] | None = None) -> None:
        self.users = {email.lower(): user for email, user in (users or {}).items()}
        self.lookups = 0

    def lookup_by_email(self, email: str) -> str | None:
        self.lookups += 1
        return self.users.get(email.strip().lower())


class SlackUserDirectory:
    """`users.lookupByEmail` with a cache: hits for `ttl` seconds, misses for `miss_ttl`, errors not cached.

    Needs the `users:read.email` scope; without it (or on any other error) the lookup answers None and logs once
    per error code, so a reminder still goes out without the mention.
    """

    def __init__(
        self,
        client: Any,
        *,
        ttl: float = 24 * 3600,
        miss_ttl: float = 3600,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self.monotonic = monotonic
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def lookup_by_email(self, email: str) -> str | None:
        key = email.strip().lower()
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[1] > now:
                return cached[0]
        try:
            response = self.client.users_lookupByEmail(email=key)
            user = (response.get("user") or {}).get("id") or None
        except Exception as err:
            code = _error_code(err)
            if code != "users_not_found":
                if code not in self._warned:
                    self._warned.add(code)
                    log.warning("users.lookupByEmail failed (%s); creators are not mentioned meanwhile", code)
                return None
            user = None
        with self._lock:
            self._cache[key] = (user, now + (self.ttl if user else self.miss_ttl))
        return user


def _error_code(err: Exception) -> str:
    """Slack's error code of a SlackApiError (`err.response["error"]`), else the exception's type."""
    response = getattr(err, "response", None)
    try:
        code = response.get("error") if response is not None else None
    except Exception:
        code = None
    return str(code) if code else type(err).__name__


def slack_user_for(created_by: str | None, directory: UserDirectory | None) -> str | None:
    """A creator as a Slack user id: a Slack id as it is, an email through `directory`, anything else None."""
    if not created_by:
        return None
    value = created_by.strip()
    if _SLACK_USER_ID.match(value):
        return value
    if directory is not None and _EMAIL.match(value):
        try:
            return directory.lookup_by_email(value)
        except Exception:  # a mention is a courtesy: never fail the sweep for it
            log.warning("could not look up the Slack user of a compute's creator", exc_info=True)
    return None
