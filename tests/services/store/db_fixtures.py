"""Fixtures of the store, outbox and watcher tests: each runs on SQLite (a temp file) and on PostgreSQL (a fresh
schema per test). Test modules bind them to module names (see conftest.py).

PostgreSQL comes from AMLBOT_TEST_DATABASE_URL (scripts/test.sh starts a throwaway server and sets it).
Without it the postgres cases FAIL, unless AMLBOT_TEST_ALLOW_NO_POSTGRES=1 (then they are skipped).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from services.chat import TextRenderer
from services.outbox import Outbox, OutboxDelivery
from services.store import create_schema, make_engine
from services.watch import JobWatcher
from tests.services.store.store_fakes import FakeChat, FakeClock, FakeJobs

PG_URL_ENV = "AMLBOT_TEST_DATABASE_URL"
ALLOW_NO_PG_ENV = "AMLBOT_TEST_ALLOW_NO_POSTGRES"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of engines on ONE fresh database (each call: a new engine, as a separate replica would)."""
    engines: list[Engine] = []
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'aml-bot.db'}"

        def make() -> Engine:
            engine = make_engine(url)
            engines.append(engine)
            return engine

        make()
        create_schema(engines[0])
        yield make
        for engine in engines:
            engine.dispose()
        return

    pg_url = os.environ.get(PG_URL_ENV)
    if not pg_url:
        if os.environ.get(ALLOW_NO_PG_ENV) == "1":
            pytest.skip(f"{PG_URL_ENV} not set and {ALLOW_NO_PG_ENV}=1")
        pytest.fail(
            f"{PG_URL_ENV} is not set: these tests need PostgreSQL (scripts/test.sh starts one), e.g. "
            f"postgresql+psycopg://postgres@127.0.0.1:55432/postgres. "
            f"Set {ALLOW_NO_PG_ENV}=1 to skip the PostgreSQL cases instead."
        )
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def make_pg() -> Engine:
        # no pre-ping: it costs a round trip per transaction and a test's server does not drop connections
        engine = make_engine(pg_url, schema=schema, pool_size=10, max_overflow=10, pool_pre_ping=False)
        engines.append(engine)
        return engine

    try:
        create_schema(make_pg())
        yield make_pg
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(make_db_engine: Callable[[], Engine]) -> Engine:
    return make_db_engine()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def chat(clock: FakeClock) -> FakeChat:
    return FakeChat(clock)


@pytest.fixture
def jobs(clock: FakeClock) -> FakeJobs:
    return FakeJobs(clock)


@pytest.fixture
def outbox(clock: FakeClock) -> Outbox:
    return Outbox(clock)


@pytest.fixture
def delivery(engine: Engine, chat: FakeChat, clock: FakeClock) -> OutboxDelivery:
    return OutboxDelivery(engine, chat, TextRenderer(), clock)


@pytest.fixture
def watcher(engine: Engine, jobs: FakeJobs, outbox: Outbox, clock: FakeClock) -> JobWatcher:
    return JobWatcher(engine, jobs, outbox, clock)
