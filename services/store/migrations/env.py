"""Alembic's environment for the store: the app's MetaData and a connection handed over by services.store.schema.

There is no alembic.ini: `services.store.schema.alembic_config(connection)` builds the configuration in code and
puts the connection in `config.attributes`, so migrations run inside the caller's transaction (and its lock).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.dialects.postgresql import JSONB

from services.store.schema import all_tables
from services.store.tables import UtcDateTime


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write the store's own column types as plain SQLAlchemy types, so a revision never imports app code."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSONB):  # Alembic's own rendering names an unimported `Text`
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    return False


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate only the tables a developer asked for (`--module`), when they asked."""
    only = context.config.attributes.get("only_tables")
    if only is None:
        return True
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in only


connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("migrations run through services.store.schema (`python -m bot migrate`), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=all_tables(),
    render_item=render_item,
    include_object=include_object,
    # batch operations are what SQLite needs to alter a table; on PostgreSQL they are plain ALTERs
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
