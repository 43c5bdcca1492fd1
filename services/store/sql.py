"""Small portable SQL helpers over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert_for(conn: Connection, table: Table) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {name!r}")


def insert_ignore(conn: Connection, table: Table, values: Mapping[str, Any], conflict: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT (conflict) DO NOTHING; True when the row was inserted.

    Unlike catching IntegrityError, this never aborts the caller's PostgreSQL transaction.
    """
    stmt = _insert_for(conn, table).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    # rowcount of an INSERT is not reliable across drivers; RETURNING says exactly whether a row went in
    key = table.c[conflict[0]]
    return conn.execute(stmt.returning(key)).first() is not None


def upsert(
    conn: Connection, table: Table, values: Mapping[str, Any], conflict: Sequence[str], update: Sequence[str]
) -> None:
    """INSERT … ON CONFLICT (conflict) DO UPDATE SET the `update` columns to the new values."""
    stmt = _insert_for(conn, table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_={col: stmt.excluded[col] for col in update})
    conn.execute(stmt)
