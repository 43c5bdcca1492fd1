"""Slack delivers a request again when its ack was late; across processes and replicas, run its work once."""

from __future__ import annotations

from sqlalchemy import Engine

from services.store import Clock, SeenEvents, utc_now


class DeliveryLedger:
    """Shared memory of delivery keys in the store; claimed by the work itself, off the ack path."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def claim(self, key: str) -> bool:
        """True for the first claim of `key` anywhere; False for every later one."""
        with self.engine.begin() as conn:
            return SeenEvents.first_time(conn, f"slack:{key}", now=self.clock())
