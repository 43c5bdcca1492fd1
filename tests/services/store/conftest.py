"""Makes this folder's helpers importable and its fixtures available to the tests here.

Tests elsewhere (tests/services/test_watch.py, test_outbox.py) do the same two steps themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

# pytest here does not put test folders on sys.path
sys.path.insert(0, str(Path(__file__).resolve().parent))

import db_fixtures  # noqa: E402

chat = db_fixtures.chat
clock = db_fixtures.clock
delivery = db_fixtures.delivery
engine = db_fixtures.engine
jobs = db_fixtures.jobs
make_db_engine = db_fixtures.make_db_engine
outbox = db_fixtures.outbox
watcher = db_fixtures.watcher
