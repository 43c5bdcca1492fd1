"""Migrations: they build exactly the MetaData, adopt old databases, and the bot refuses a database it cannot use.

Each store case runs on SQLite (a temp file) and on PostgreSQL (a fresh schema, AMLBOT_TEST_DATABASE_URL).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from services.store import create_schema, make_engine
from services.store.schema import (
    MIGRATIONS_DIR,
    SchemaOutOfDate,
    all_tables,
    check,
    current_revision,
    head_revision,
    migrate,
    prepare_at_start,
    revision_history,
    script_directory,
    upgrade,
)
from services.store.tables import transitions, watches
from tests.services.store.db_fixtures import ALLOW_NO_PG_ENV, PG_URL_ENV

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no tables at all."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
        yield engine
        engine.dispose()
        return
    pg_url = os.environ.get(PG_URL_ENV)
    if not pg_url:
        if os.environ.get(ALLOW_NO_PG_ENV) == "1":
            pytest.skip(f"{PG_URL_ENV} not set and {ALLOW_NO_PG_ENV}=1")
        pytest.fail(f"{PG_URL_ENV} is not set (or set {ALLOW_NO_PG_ENV}=1 to skip the PostgreSQL cases)")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(pg_url, schema=schema, pool_pre_ping=False)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), all_tables()))


def add_watch(engine: Engine, job_name: str = "train-1") -> int:
    with engine.begin() as conn:
        watch_id = conn.execute(
            watches.insert()
            .values(
                workspace_key="//",
                job_name=job_name,
                channel="C_ML",
                root_ref=f"job:{job_name}",
                version=0,
                next_check_at=NOW,
                check_failures=0,
                created_at=NOW,
                active=True,
            )
            .returning(watches.c.id)
        ).scalar_one()
        conn.execute(
            transitions.insert().values(
                watch_id=watch_id, seq=0, to_status="Running", observed_at=NOW, recorded_at=NOW, source="watch"
            )
        )
    return int(watch_id)


def test_migrations_from_an_empty_database_build_exactly_the_metadata(empty_engine: Engine) -> None:
    result = upgrade(empty_engine)

    assert (result.before, result.after) == (None, head_revision())
    found = differences(empty_engine)
    assert found == [], (
        "The migrations do not build what the table modules describe. Draft the missing revision with "
        '`python -m services.store.migrations new "what changed"` (services/store/migrations/README.md). '
        f"Differences: {found}"
    )


def test_create_schema_on_an_empty_database_is_stamped_at_the_newest_revision(empty_engine: Engine) -> None:
    create_schema(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    assert differences(empty_engine) == []
    check(empty_engine)  # the bot starts on it
    assert not upgrade(empty_engine).changed


def test_revisions_form_one_numbered_line_each_file_named_after_its_id() -> None:
    history = revision_history()
    assert script_directory().get_heads() == [history[-1]]
    assert history == [f"{n:04d}" for n in range(1, len(history) + 1)]
    for revision in history:
        script = script_directory().get_revision(revision)
        assert script is not None and Path(script.path).name.startswith(f"{revision}_")
        assert script.doc, f"revision {revision} needs a first docstring line saying what it changes"
    assert {path.name.split("_")[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py")} == set(history)


def test_every_table_is_defined_in_a_store_module_so_migrations_see_it() -> None:
    defined_elsewhere = [
        str(path.relative_to(REPO))
        for folder in ("bot", "commands", "services")
        for path in (REPO / folder).rglob("*.py")
        if "store" not in path.relative_to(REPO).parts and re.search(r"=\s*Table\(", path.read_text())
    ]
    assert defined_elsewhere == [], "tables belong in services/store/*_tables.py, where all_tables() finds them"


def test_an_empty_database_is_refused_with_the_command_to_run(empty_engine: Engine) -> None:
    with pytest.raises(SchemaOutOfDate, match=r"no tables yet.*`python -m bot migrate` \(the Procfile's release"):
        check(empty_engine)


def test_an_older_revision_is_refused_with_both_revisions_and_the_command(empty_engine: Engine) -> None:
    migrate(empty_engine, "0001")

    with pytest.raises(SchemaOutOfDate) as raised:
        check(empty_engine)

    message = str(raised.value)
    assert f"at revision 0001 (initial schema) but this bot needs {head_revision()}" in message
    assert "run `python -m bot migrate` (the Procfile's release step)" in message
    upgrade(empty_engine)
    check(empty_engine)


def test_a_database_made_before_migrations_is_refused_then_adopted_with_its_rows(empty_engine: Engine) -> None:
    migrate(empty_engine, "0001")  # the tables as the old create_all made them, before services_announced
    with empty_engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    watch_id = add_watch(empty_engine)
    with pytest.raises(SchemaOutOfDate, match=r"tables but no migration revision.*`python -m bot migrate`"):
        check(empty_engine)

    result = upgrade(empty_engine)

    assert (result.before, result.after) == (None, head_revision())
    check(empty_engine)
    with empty_engine.connect() as conn:
        row = conn.execute(select(watches.c.job_name, watches.c.services_announced).where(watches.c.id == watch_id))
        assert row.one() == ("train-1", None)


def test_a_database_made_by_the_latest_create_all_without_a_stamp_is_adopted(empty_engine: Engine) -> None:
    all_tables().create_all(empty_engine)  # every table and column already there: nothing may be added twice

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    check(empty_engine)


def test_a_database_from_a_newer_bot_is_refused_everywhere_with_what_to_do(empty_engine: Engine) -> None:
    create_schema(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    for attempt in (check, create_schema, upgrade, prepare_at_start):
        with pytest.raises(SchemaOutOfDate) as raised:
            attempt(empty_engine)
        message = str(raised.value)
        assert "at revision 9999" in message and "migrated by a newer version of the bot" in message
        assert "Deploy that version" in message and f"`python -m bot migrate --to {head_revision()}`" in message
    assert current_revision(empty_engine) == "9999"


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_downgrading_to_nothing_and_back_ends_where_it_started(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    migrated = table_names(empty_engine)

    assert migrate(empty_engine, "base").after is None
    assert table_names(empty_engine) == {"alembic_version"}
    upgrade(empty_engine)
    assert table_names(empty_engine) == migrated and current_revision(empty_engine) == head_revision()


def test_a_table_rebuilt_by_a_sqlite_migration_keeps_the_rows_that_point_at_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    try:
        upgrade(engine)
        watch_id = add_watch(engine)

        migrate(engine, "0001")  # drops watches.services_announced: SQLite copies the table and drops the old one

        with engine.connect() as conn:
            assert conn.execute(select(transitions.c.watch_id)).scalars().all() == [watch_id]
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # the pool's connection is as it was
    finally:
        engine.dispose()


def test_at_start_sqlite_is_brought_up_to_date_and_postgresql_only_checked(empty_engine: Engine) -> None:
    migrate(empty_engine, "0001")

    if empty_engine.dialect.name == "sqlite":
        prepare_at_start(empty_engine)
        assert current_revision(empty_engine) == head_revision()
    else:
        with pytest.raises(SchemaOutOfDate, match="python -m bot migrate"):
            prepare_at_start(empty_engine)
        assert current_revision(empty_engine) == "0001"


def run_bot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "AMLBOT_SLACK_BOT_TOKEN": "xoxb-test",
        "AMLBOT_SLACK_SIGNING_SECRET": "test-secret",
        "AMLBOT_DATA_DIR": str(tmp_path / "data"),
        "AMLBOT_DATABASE_URL": "",
        "AMLBOT_LOG_LEVEL": "WARNING",
        **extra,
    }


def test_migrate_command_creates_the_schema_then_has_nothing_to_do(tmp_path: Path) -> None:
    env = bot_env(tmp_path)

    first = run_bot("migrate", env=env, cwd=tmp_path)
    second = run_bot("migrate", env=env, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert "Revision before: none" in first.stdout
    assert f"Revision after:  {head_revision()}" in first.stdout
    engine = make_engine(data_dir=tmp_path / "data")
    try:
        assert current_revision(engine) == head_revision()
        assert {"watches", "outbox", "approval_requests"} <= table_names(engine)
    finally:
        engine.dispose()
    assert second.returncode == 0, second.stderr
    assert f"Already at revision {head_revision()}" in second.stdout and "nothing to do" in second.stdout


def test_migrate_command_failure_says_nothing_changed_and_never_shows_the_password(tmp_path: Path) -> None:
    password = "hunter2-" + uuid.uuid4().hex[:8]
    url = f"postgresql+psycopg://amlbot:{password}@127.0.0.1:9/amlbot?connect_timeout=5"

    result = run_bot("migrate", env=bot_env(tmp_path, AMLBOT_DATABASE_URL=url), cwd=tmp_path)

    assert result.returncode == 1
    assert "nothing was changed" in result.stderr and "run `python -m bot migrate` again" in result.stderr
    assert "Database: postgresql+psycopg://amlbot:" in result.stdout and "@127.0.0.1:9/amlbot" in result.stdout
    assert password not in result.stdout + result.stderr


def test_migrate_command_refuses_an_unknown_target_revision(tmp_path: Path) -> None:
    result = run_bot("migrate", "--to", "0999", env=bot_env(tmp_path), cwd=tmp_path)

    assert result.returncode == 2
    assert "Nothing was changed: unknown revision '0999'" in result.stderr
    engine = make_engine(data_dir=tmp_path / "data")
    try:
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_migrate_command_refuses_a_database_the_store_does_not_support(tmp_path: Path) -> None:
    url = "mysql://amlbot:secret-pw@127.0.0.1:9/amlbot"

    result = run_bot("migrate", env=bot_env(tmp_path, AMLBOT_DATABASE_URL=url), cwd=tmp_path)

    assert result.returncode == 2
    assert "AMLBOT_DATABASE_URL is not usable (unsupported database 'mysql'" in result.stderr
    assert "nothing was changed" in result.stderr and "secret-pw" not in result.stdout + result.stderr


def test_serve_refuses_to_start_on_a_database_from_a_newer_bot(tmp_path: Path) -> None:
    engine = make_engine(data_dir=tmp_path / "data")
    try:
        create_schema(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()

    result = run_bot("serve", "--port", "9", env=bot_env(tmp_path, AMLBOT_BACKEND="local"), cwd=tmp_path)

    assert result.returncode == 2
    assert "aml-bot cannot start: The database is at revision 9999" in result.stderr
    assert "Traceback" not in result.stderr
