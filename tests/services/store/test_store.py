"""The store itself: engines, time zones, the small repositories, outbox enqueue semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import StatementError

from services.outbox import Outbox
from services.store import (
    ChannelSettings,
    MessageRefs,
    SeenEvents,
    create_schema,
    default_url,
    make_engine,
)
from services.store.tables import seen_events, watches


def test_sqlite_engine_defaults_to_the_data_dir_with_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(data_dir=tmp_path / "data")
    try:
        assert str(engine.url) == default_url(tmp_path / "data")
        create_schema(engine)
        assert (tmp_path / "data" / "aml-bot.db").is_file()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_make_engine_rejects_unknown_databases_and_bad_schemas() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://x/y")
    with pytest.raises(ValueError, match="schema"):
        make_engine("postgresql+psycopg://u@127.0.0.1:1/db", schema="x; drop table y")
    with pytest.raises(ValueError, match="PostgreSQL"):
        make_engine("sqlite://", schema="s")


def test_datetimes_come_back_tz_aware_utc_and_naive_ones_are_refused(engine: Engine) -> None:
    other_zone = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        SeenEvents.first_time(conn, "e1", now=other_zone)
    with engine.connect() as conn:
        back = conn.execute(select(seen_events.c.received_at)).scalar_one()
    assert back == datetime(2026, 3, 1, 10, 0, tzinfo=UTC) and back.utcoffset() == timedelta(0)
    with pytest.raises(StatementError, match="naive"), engine.begin() as conn:
        SeenEvents.first_time(conn, "e2", now=datetime(2026, 3, 1))


def test_message_refs_first_writer_wins(engine: Engine) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        assert MessageRefs.put(conn, "job:a:root", channel="C1", ts="1.1", now=now)
        assert not MessageRefs.put(conn, "job:a:root", channel="C1", ts="9.9", now=now)
    with engine.connect() as conn:
        ref = MessageRefs.get(conn, "job:a:root")
        assert ref is not None and (ref.channel, ref.ts) == ("C1", "1.1")
        assert MessageRefs.get(conn, "nope") is None


def test_seen_events_dedupe_and_prune(engine: Engine) -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        assert SeenEvents.first_time(conn, "evt-1", now=t)
        assert not SeenEvents.first_time(conn, "evt-1", now=t + timedelta(seconds=1))
        assert SeenEvents.first_time(conn, "evt-2", now=t + timedelta(hours=2))
    with engine.begin() as conn:
        assert SeenEvents.prune(conn, older_than=t + timedelta(hours=1)) == 1
        assert SeenEvents.first_time(conn, "evt-1", now=t + timedelta(hours=3))  # forgotten after pruning


def test_channel_settings_upsert_list_delete(engine: Engine) -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        ChannelSettings.set(conn, "C1", "workspace", "ws-a", now=t, updated_by="U1")
        ChannelSettings.set(conn, "C1", "workspace", "ws-b", now=t, updated_by="U2")
        ChannelSettings.set(conn, "C1", "compute", "gpu", now=t)
        ChannelSettings.set(conn, "C2", "workspace", "other", now=t)
    with engine.begin() as conn:
        assert ChannelSettings.get(conn, "C1", "workspace") == "ws-b"
        assert ChannelSettings.all(conn, "C1") == {"compute": "gpu", "workspace": "ws-b"}
        assert ChannelSettings.delete(conn, "C1", "compute")
        assert not ChannelSettings.delete(conn, "C1", "compute")
        assert ChannelSettings.get(conn, "C1", "compute") is None


def test_enqueue_is_deduplicated_and_validated(engine: Engine, outbox: Outbox) -> None:
    with engine.begin() as conn:
        assert outbox.enqueue(conn, channel="C1", kind="op.result", payload={"text": "hi"}, dedupe_key="k1")
        assert not outbox.enqueue(conn, channel="C1", kind="op.result", payload={"text": "again"}, dedupe_key="k1")
        with pytest.raises(ValueError):
            outbox.enqueue(conn, channel="C1", kind="x", payload={}, dedupe_key="k2", updates_ref="a", creates_ref="b")
        with pytest.raises(TypeError):
            outbox.enqueue(conn, channel="C1", kind="x", payload={"o": object()}, dedupe_key="k3")
    with engine.connect() as conn:
        items = Outbox.items(conn)
        assert [(i.dedupe_key, i.payload) for i in items] == [("k1", {"text": "hi"})]
        assert Outbox.open_count(conn) == 1


def test_enqueue_rolls_back_with_the_state_change(engine: Engine, outbox: Outbox) -> None:
    """The outbox row exists iff the transaction that wrote it committed."""
    with pytest.raises(RuntimeError), engine.begin() as conn:
        outbox.enqueue(conn, channel="C1", kind="op.result", payload={"text": "x"}, dedupe_key="lost")
        raise RuntimeError("the state change failed")
    with engine.connect() as conn:
        assert Outbox.items(conn) == []
        assert conn.execute(select(watches.c.id)).first() is None
