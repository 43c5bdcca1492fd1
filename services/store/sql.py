"""Small portable SQL helpers over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert_for(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")


# Statements are built once and executed with parameters: building one per call (values(), bind parameters,
# cache key) cost more CPU than running it, on paths that run for every command.
@lru_cache(maxsize=256)
def _insert_ignore(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    # rowcount of an INSERT is not reliable across drivers; RETURNING says exactly whether a row went in
    stmt = _insert_for(dialect, table).on_conflict_do_nothing(index_elements=list(conflict))
    return stmt.returning(table.c[conflict[0]])


@lru_cache(maxsize=256)
def _upsert(dialect: str, table: Table, conflict: tuple[str, ...], update: tuple[str, ...]) -> Any:
    stmt = _insert_for(dialect, table)
    return stmt.on_conflict_do_update(index_elements=list(conflict), set_={col: stmt.excluded[col] for col in update})


def insert_ignore(conn: Connection, table: Table, values: Mapping[str, Any], conflict: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT (conflict) DO NOTHING; True when the row was inserted.

    Unlike catching IntegrityError, this never aborts the caller's PostgreSQL transaction.
    """
    stmt = _insert_ignore(conn.dialect.name, table, tuple(conflict))
    return conn.execute(stmt, dict(values)).first() is not None


def upsert(
    conn: Connection, table: Table, values: Mapping[str, Any], conflict: Sequence[str], update: Sequence[str]
) -> None:
    """INSERT … ON CONFLICT (conflict) DO UPDATE SET the `update` columns to the new values."""
    conn.execute(_upsert(conn.dialect.name, table, tuple(conflict), tuple(update)), dict(values))
