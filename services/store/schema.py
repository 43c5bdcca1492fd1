"""The store's schema version: Alembic migrations run from code, and the check the bot makes at start-up.

The migration scripts live in `services/store/migrations/` (they ship with the package; no alembic.ini).
Everything here runs on a connection it opens itself, in one transaction:

- PostgreSQL takes an advisory lock per schema first, so replicas (or two release steps) never migrate at once;
- SQLite runs with foreign keys off (a batch migration copies tables, and dropping the old copy must not
  cascade-delete child rows) and checks them before committing.

`create_or_upgrade` is what `create_schema` does: an empty database is created straight from the MetaData and
stamped at the newest revision (fast: the tests do it for every fresh database); any other database is migrated.
A test (tests/services/store/test_migrations.py) keeps the two paths producing the same schema.

`migrate` is `python -m bot migrate` (the release step); `prepare_at_start` is what the bot runs before serving;
`check` raises SchemaOutOfDate with the message a person needs. How to add a revision: migrations/README.md.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

MIGRATE_COMMAND = "python -m bot migrate"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Modules of services/store that are not table modules and must not be imported for their tables.
_NOT_TABLE_MODULES = frozenset({"migrations", "schema"})
# Per schema, so test runs (a schema each) and several bots sharing a database do not wait on each other.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('aml-bot schema ' || coalesce(current_schema(), '')))")


def _only_steps(record: logging.LogRecord) -> bool:
    return record.getMessage().startswith("Running ")


# Alembic logs its set-up on every connection ("Will assume non-transactional DDL": wrong here, every run is
# one transaction); only the steps it runs are worth a line.
logging.getLogger("alembic.runtime.migration").addFilter(_only_steps)


class SchemaOutOfDate(Exception):
    """The database is not at the revision this code needs; the message says why and what to run."""

    def __init__(self, message: str, *, current: str | None, required: str) -> None:
        super().__init__(message)
        self.current = current
        self.required = required


@dataclass(frozen=True)
class MigrationResult:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def all_tables() -> MetaData:
    """The store's MetaData with every module of services/store imported, so no module's tables are missed."""
    from services import store
    from services.store.tables import metadata

    for module in pkgutil.iter_modules(store.__path__):
        if module.name not in _NOT_TABLE_MODULES and not module.name.startswith("_"):
            importlib.import_module(f"services.store.{module.name}")
    return metadata


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code; env.py takes the connection from `attributes`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # "0003_add_reminders_tables.py": revision ids are numbered, so the files sort in the order they apply.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision: the one this code needs."""
    head = script_directory().get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def describe(revision: str | None) -> str:
    """`0002 (watches.services_announced)`, or `none` for a database without a revision."""
    if revision is None:
        return "none"
    script = script_directory().get_revision(revision) if _is_known(revision) else None
    return f"{revision} ({script.doc})" if script is not None and script.doc else revision


def current_revision(engine: Engine) -> str | None:
    """The revision the database is stamped with (None: not stamped)."""
    with engine.connect() as conn:
        return _current(conn)


def check(engine: Engine) -> None:
    """Raise SchemaOutOfDate unless the database is at the revision this code needs."""
    with engine.connect() as conn:
        current = _current(conn)
        has_tables = current is None and bool(_store_tables(conn))  # only the unstamped case asks
    problem = _problem(current, has_tables=has_tables)
    if problem is not None:
        raise SchemaOutOfDate(problem, current=current, required=head_revision())


def upgrade(engine: Engine) -> MigrationResult:
    """Migrate the database to the newest revision."""
    return migrate(engine, "head")


def migrate(engine: Engine, target: str = "head") -> MigrationResult:
    """Migrate up or down to `target` ("head", a revision id, or "base": no tables at all)."""
    with _schema_transaction(engine) as conn:
        before = _current(conn)
        if before is not None and not _is_known(before):
            raise SchemaOutOfDate(_newer_message(before), current=before, required=head_revision())
        wanted = _resolve(target)
        if _position(wanted) < _position(before):
            command.downgrade(alembic_config(conn), target)
        elif wanted != before:
            command.upgrade(alembic_config(conn), target)
        return MigrationResult(before, _current(conn))


def create_or_upgrade(engine: Engine) -> None:
    """An empty database: create every table and stamp the newest revision; otherwise migrate to it."""
    with _schema_transaction(engine) as conn:
        if not inspect(conn).get_table_names():
            all_tables().create_all(conn, checkfirst=False)  # known empty: no existence check per table
            MigrationContext.configure(conn).stamp(script_directory(), "head")
            return
        current = _current(conn)
        if current == head_revision():
            return
        if current is not None and not _is_known(current):
            raise SchemaOutOfDate(_newer_message(current), current=current, required=head_revision())
        command.upgrade(alembic_config(conn), "head")


def prepare_at_start(engine: Engine) -> None:
    """What the bot does before serving: SQLite is brought up to date in place, PostgreSQL is only checked.

    One process owns a SQLite file and no release step can reach it, so the bot migrates it itself. PostgreSQL
    is shared by replicas: `python -m bot migrate` (the Procfile's release step) changes it, and a bot that
    finds it behind (or ahead) refuses to start with SchemaOutOfDate saying what to run.
    """
    if engine.dialect.name == "sqlite":
        create_or_upgrade(engine)
    check(engine)


def drop_everything(engine: Engine) -> None:
    """Drop every table of the store and the revision stamp (tests and throwaway databases only)."""
    with _schema_transaction(engine) as conn:
        all_tables().drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def _problem(current: str | None, *, has_tables: bool) -> str | None:
    head = head_revision()
    if current == head:
        return None
    release = f"run `{MIGRATE_COMMAND}` (the Procfile's release step) and start the bot again."
    if current is None and not has_tables:
        return f"The database has no tables yet and this bot needs revision {describe(head)}: {release}"
    if current is None:
        return (
            "The database has the bot's tables but no migration revision (it was created before migrations "
            f"existed) and this bot needs revision {describe(head)}: {release} It adopts the existing tables."
        )
    if not _is_known(current):
        return _newer_message(current)
    return f"The database is at revision {describe(current)} but this bot needs {describe(head)}: {release}"


def _newer_message(current: str) -> str:
    head = head_revision()
    return (
        f"The database is at revision {current}, which this version of the bot does not know: it was migrated "
        f"by a newer version of the bot. Deploy that version (or a newer one) again, or downgrade the database "
        f"first by running `{MIGRATE_COMMAND} --to {head}` with that newer version."
    )


def _current(conn: Connection) -> str | None:
    heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(heads) if heads else None


def _store_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) & set(all_tables().tables)


def _is_known(revision: str) -> bool:
    return revision in revision_history()


def revision_history() -> list[str]:
    """Revision ids from the first to the newest (the history is one line: a test keeps it so)."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def _position(revision: str | None) -> int:
    return -1 if revision is None else revision_history().index(revision)


def _resolve(target: str) -> str | None:
    if target == "base":
        return None
    if target == "head":
        return head_revision()
    if not _is_known(target):
        known = ", ".join(revision_history())
        raise ValueError(f"unknown revision {target!r}: use head, base or one of {known}")
    return target


@contextmanager
def _schema_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for a schema change (see the module docstring for the lock and the foreign keys)."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _driver_execute(conn, "PRAGMA foreign_keys = OFF")  # before BEGIN: SQLite ignores it in a transaction
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(_LOCK)
                yield conn
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the migration left rows whose foreign keys point nowhere; nothing was changed")
        finally:
            if sqlite:
                _driver_execute(conn, "PRAGMA foreign_keys = ON")


def _driver_execute(conn: Connection, statement: str) -> None:
    """Run a statement on the driver's connection, outside SQLAlchemy's transaction handling."""
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(statement)
