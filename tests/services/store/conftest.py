"""Makes this folder's helpers importable and its fixtures available to the tests here.

Tests elsewhere (tests/services/test_watch.py, test_outbox.py) do the same two steps themselves.
"""

from __future__ import annotations

import tests.services.store.db_fixtures as db_fixtures  # noqa: E402

chat = db_fixtures.chat
clock = db_fixtures.clock
delivery = db_fixtures.delivery
engine = db_fixtures.engine
jobs = db_fixtures.jobs
make_db_engine = db_fixtures.make_db_engine
outbox = db_fixtures.outbox
watcher = db_fixtures.watcher
