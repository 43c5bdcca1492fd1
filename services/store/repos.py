"""Small repositories: message refs, seen Event Grid events, channel settings. Each takes the caller's connection,
so it joins whatever transaction the caller has open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from services.store.sql import insert_ignore, upsert
from services.store.tables import channel_settings, message_refs, seen_events


@dataclass(frozen=True)
class MessageRef:
    key: str
    channel: str
    ts: str


class MessageRefs:
    """Names for Slack messages ("job:<name>@<ws>:root" → channel + ts), filled when the post is delivered."""

    @staticmethod
    def get(conn: Connection, key: str) -> MessageRef | None:
        row = conn.execute(select(message_refs.c.channel, message_refs.c.ts).where(message_refs.c.key == key)).first()
        return MessageRef(key, row.channel, row.ts) if row else None

    @staticmethod
    def put(conn: Connection, key: str, *, channel: str, ts: str, now: datetime) -> bool:
        """Record where `key` lives; the first writer wins (a ref never moves). True when recorded now."""
        return insert_ignore(conn, message_refs, {"key": key, "channel": channel, "ts": ts, "created_at": now}, ["key"])


class SeenEvents:
    """Event Grid delivers at least once: remember event ids so each is processed once."""

    @staticmethod
    def first_time(conn: Connection, event_id: str, *, now: datetime) -> bool:
        """True the first time `event_id` is seen (and records it, within the caller's transaction)."""
        return insert_ignore(conn, seen_events, {"event_id": event_id, "received_at": now}, ["event_id"])

    @staticmethod
    def prune(conn: Connection, *, older_than: datetime) -> int:
        return int(conn.execute(delete(seen_events).where(seen_events.c.received_at < older_than)).rowcount)


class ChannelSettings:
    """Per-channel settings (`/aml config set KEY VALUE`)."""

    @staticmethod
    def get(conn: Connection, channel: str, key: str) -> str | None:
        return conn.execute(
            select(channel_settings.c.value).where(channel_settings.c.channel == channel, channel_settings.c.key == key)
        ).scalar_one_or_none()

    @staticmethod
    def set(
        conn: Connection, channel: str, key: str, value: str, *, now: datetime, updated_by: str | None = None
    ) -> None:
        upsert(
            conn,
            channel_settings,
            {"channel": channel, "key": key, "value": value, "updated_by": updated_by, "updated_at": now},
            ["channel", "key"],
            ["value", "updated_by", "updated_at"],
        )

    @staticmethod
    def delete(conn: Connection, channel: str, key: str) -> bool:
        result = conn.execute(
            delete(channel_settings).where(channel_settings.c.channel == channel, channel_settings.c.key == key)
        )
        return bool(result.rowcount)

    @staticmethod
    def all(conn: Connection, channel: str) -> dict[str, str]:
        rows = conn.execute(
            select(channel_settings.c.key, channel_settings.c.value)
            .where(channel_settings.c.channel == channel)
            .order_by(channel_settings.c.key)
        )
        return {row.key: row.value for row in rows}
