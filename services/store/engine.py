"""Engines for the store: SQLite by default (one process), PostgreSQL for several replicas."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from services.store.sqlite_writer import LockingConnection, attach

DB_FILENAME = "aml-bot.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def default_url(data_dir: Path | str) -> str:
    """`sqlite:///<data_dir>/aml-bot.db` (the folder is created when the engine is made)."""
    return f"sqlite:///{Path(data_dir) / DB_FILENAME}"


def make_engine(
    url: str | None = None,
    *,
    data_dir: Path | str = ".data",
    schema: str | None = None,
    wait_budget_ms: int | None = None,
    **engine_kwargs: Any,
) -> Engine:
    """An Engine for `url`, or for SQLite under `data_dir` when `url` is None.

    SQLite: WAL, synchronous=NORMAL, busy_timeout, foreign keys, and every transaction starts with
    BEGIN IMMEDIATE, so a read-then-write transaction never fails on a lock upgrade; before BEGIN, writers
    queue on a lock that hands over at once (services/store/sqlite_writer.py) rather than in SQLite's
    sleeping busy handler. PostgreSQL: `postgresql+psycopg://…` (`postgres://` and `postgresql://` mean the same),
    pre-ping; `schema` sets the search_path (tests give each run its own schema; a shared database can too).
    `wait_budget_ms` bounds how long a statement may wait for a lock (SQLite's busy timeout; PostgreSQL's
    lock and statement timeouts) and for a pooled connection: for the request path, which must give up fast.
    """
    parsed = _with_driver(make_url(url or default_url(data_dir)))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("schema= is for PostgreSQL; SQLite keeps one schema per file")
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if wait_budget_ms is not None:
            engine_kwargs.setdefault("pool_timeout", wait_budget_ms / 1000)
        connect_args = {"factory": LockingConnection, **engine_kwargs.pop("connect_args", {})}
        engine = create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _configure_sqlite(engine, database, wait_budget_ms)
        return engine
    if backend == "postgresql":
        connect_args = dict(engine_kwargs.pop("connect_args", {}))
        if schema is not None:
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"not a plain schema name: {schema!r}")
            connect_args["options"] = f"{connect_args.get('options', '')} -c search_path={schema}".strip()
        if wait_budget_ms is not None:
            budget = f"-c lock_timeout={wait_budget_ms} -c statement_timeout={wait_budget_ms}"
            connect_args["options"] = f"{connect_args.get('options', '')} {budget}".strip()
            engine_kwargs.setdefault("pool_timeout", wait_budget_ms / 1000)
        engine_kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, connect_args=connect_args, **engine_kwargs)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///… or postgresql+psycopg://…")


def _with_driver(url: URL) -> URL:
    """`postgres://…` and `postgresql://…` (as Heroku-style platforms hand them out) use psycopg 3, as installed."""
    if url.drivername in ("postgres", "postgresql"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _configure_sqlite(engine: Engine, database: str | None, wait_budget_ms: int | None) -> None:
    busy_timeout_ms = wait_budget_ms or SQLITE_BUSY_TIMEOUT_MS
    wait_seconds = busy_timeout_ms / 1000

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        attach(dbapi_connection, database, wait_seconds, urgent=wait_budget_ms is not None)
        # SQLAlchemy emits BEGIN itself (below); the driver's own transaction control stays out of the way.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, LockingConnection):
            if not dbapi_connection.take_writer_lock():
                raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_connection.give_back()
                raise
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_schema(engine: Engine) -> None:
    """Bring the database to the schema this code needs (services/store/schema.py).

    An empty database is created from the MetaData and stamped at the newest migration in one step (fast:
    tests do this for every fresh database); a database at an older revision, or made before migrations
    existed, is migrated; one migrated by a newer bot raises SchemaOutOfDate. Production start-up only
    checks (`schema.check`); `python -m bot migrate` is what changes a deployed database.
    """
    from services.store.schema import create_or_upgrade  # Alembic loads only when a schema is touched

    create_or_upgrade(engine)


def drop_schema(engine: Engine) -> None:
    """Drop every table and the migration stamp, so `create_schema` starts again from nothing."""
    from services.store.schema import drop_everything

    drop_everything(engine)
