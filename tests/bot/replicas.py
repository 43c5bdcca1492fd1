"""Bot replicas for end-to-end tests: several `python -m bot serve` processes on one throwaway PostgreSQL
database, one shared data dir (as they would share one Azure subscription) and one local Slack workspace.

Also what such a test reads back: who leads (the `leader_epochs` row, matched to a replica by the port in
its worker's environment), what each slash command was answered, and the bot's messages by dedupe key.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, make_url, select, text

from bot.devslack import LocalSlack, Message, SlackDriver, Workspace
from bot.devslack.driver import DriverResponse
from bot.localrun import BotProcess
from services.leader import DEFAULT_NAME
from services.store import make_engine
from services.store.approvals_tables import approval_requests
from services.store.leader_tables import leader_epochs
from tests.bot.thread_chain import metadata_key
from tests.services.store.db_fixtures import ALLOW_NO_PG_ENV, PG_URL_ENV

ROOT = Path(__file__).parents[2]
T = TypeVar("T")


def postgres_url() -> str:
    """The test server's URL; the test fails without one (skips only when told to)."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get(ALLOW_NO_PG_ENV) == "1":
            pytest.skip(f"{PG_URL_ENV} not set and {ALLOW_NO_PG_ENV}=1")
        pytest.fail(f"{PG_URL_ENV} is not set: this test needs PostgreSQL (scripts/test.sh starts one)")
    return url


@contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    """A new database on the server for one test (the bot's URL has no schema option), dropped afterwards."""
    name = f"amlbot_replicas_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # a killed replica's sessions too
        admin.dispose()


def migrate(env: Mapping[str, str]) -> None:
    """`python -m bot migrate`, the release step: on PostgreSQL the bot refuses to start without it."""
    # migrate reads the same settings as serve; the Slack ones only have to be present
    slack = {"AMLBOT_SLACK_BOT_TOKEN": "xoxb-migrate", "AMLBOT_SLACK_SIGNING_SECRET": "migrate"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        env={**os.environ, **slack, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"migrate failed:\n{done.stdout}\n{done.stderr}"


@dataclass
class Replica:
    """One bot process and the driver that plays Slack towards it (signed with that process's secret)."""

    name: str
    process: BotProcess
    driver: SlackDriver

    @property
    def port(self) -> int:
        return self.process.port


def start_replicas(
    slack: LocalSlack, count: int, *, env: Mapping[str, str], logs: Path, timeout: float = 60.0
) -> list[Replica]:
    """Start `count` replicas one after the other (each answers its health check before the next starts)."""
    started: list[Replica] = []
    try:
        for number in range(1, count + 1):
            name = f"replica-{number}"
            process = BotProcess(slack.api_url, bot_token=slack.bot_token, log_path=logs / f"{name}.log", env=env)
            process.start(timeout)
            started.append(Replica(name, process, SlackDriver(process.events_url, process.signing_secret, slack)))
    except BaseException:
        stop_replicas(started)
        raise
    return started


def stop_replicas(replicas: list[Replica]) -> None:
    for replica in replicas:
        replica.process.stop(timeout=15)


# -- who leads ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leadership:
    epoch: int
    holder: str  # host:pid:id

    @property
    def pid(self) -> int:
        return int(self.holder.split(":")[-2])


def leadership(engine: Engine) -> Leadership | None:
    """The scheduler election's current row: the epoch and the process that claimed it."""
    t = leader_epochs
    with engine.connect() as conn:
        row = conn.execute(select(t.c.epoch, t.c.holder).where(t.c.name == DEFAULT_NAME)).first()
    return Leadership(int(row.epoch), str(row.holder)) if row else None


def port_of_process(pid: int) -> int | None:
    """The AMLBOT_PORT a bot process was started with (its gunicorn worker inherits the environment)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"AMLBOT_PORT="):
            return int(entry.split(b"=", 1)[1])
    return None


def replica_of(replicas: list[Replica], lead: Leadership) -> Replica | None:
    """The replica whose worker process holds `lead`."""
    port = port_of_process(lead.pid)
    return next((r for r in replicas if r.port == port), None)


# -- what Slack shows --------------------------------------------------------------------------------------


def bot_messages(workspace: Workspace, channel: str) -> list[Message]:
    """Every live message the bot posted in the channel, thread replies included."""
    return [m for m in workspace.messages(channel, include_replies=True) if m.user == workspace.bot.user_id]


def posts_per_key(workspace: Workspace, channel: str) -> Counter[str]:
    """How many messages carry each outbox dedupe key: a message posted twice shows up as a count of 2."""
    return Counter(key for m in bot_messages(workspace, channel) if (key := metadata_key(m)))


def placeholders(workspace: Workspace, channel: str, trigger_id: str | None) -> list[Message]:
    """The message a `/aml job submit` posts first (and edits into the job's root once the job exists)."""
    return [m for m in workspace.messages(channel) if metadata_key(m) == f"op:{trigger_id}:placeholder"]


def approval_request_number(workspace: Workspace, asked: DriverResponse) -> int | None:
    """The number of the approval request a command created, as the answer to the asker names it."""
    number = re.search(r"request #(\d+)", " ".join(response_url_answers(workspace, asked)))
    return int(number.group(1)) if number else None


def approval_requests_posted(workspace: Workspace, channel: str, asked: DriverResponse) -> list[Message]:
    """Every message posted for the approval request a command created."""
    number = approval_request_number(workspace, asked)
    key = f"approval:{number}:request"
    return [m for m in bot_messages(workspace, channel) if number is not None and metadata_key(m) == key]


def approval_state(engine: Engine, workspace: Workspace, asked: DriverResponse) -> str | None:
    """Where the approval request a command created stands in the store (pending, executing, done …)."""
    number = approval_request_number(workspace, asked)
    with engine.connect() as conn:
        state = conn.execute(select(approval_requests.c.state).where(approval_requests.c.id == number)).scalar()
    return None if state is None else str(state)


def response_url_answers(workspace: Workspace, sent: DriverResponse) -> list[str]:
    """The texts the bot posted (accepted by Slack) to one command's or click's response_url."""
    assert sent.response_url is not None
    target = sent.response_url.rsplit("/", 1)[-1]
    return [
        str(call.params.get("text") or "")
        for call in workspace.calls("response_url")
        if call.params.get("response_url") == target and call.status == 200
    ]


def wait_until(probe: Callable[[], object], timeout: float) -> bool:
    """Poll `probe` (it may query the database or the disk) until it is truthy; False when time ran out."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `probe` until it returns something truthy, and return that."""
    found: list[T] = []

    def seen() -> bool:
        value = probe()
        if value:
            found.append(value)
        return bool(value)

    if not wait_until(seen, timeout):
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    return found[0]
