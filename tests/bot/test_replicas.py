"""Three bot replicas on one PostgreSQL lose nothing and double nothing when the leader is SIGKILLed mid-run.

PostgreSQL, real processes (`python -m bot serve`, one gunicorn worker each), one shared data dir and one local
Slack workspace. A stream of job submits (round robin over the replicas, across three channels) and approval
requests (asked on one replica, approved on another, one double click landing on two replicas at once) and
reminders (`/aml remind now`, and the leader's own every minute) runs while the process that leads the sweeps is
killed with SIGKILL, just after it accepted two more submits. Once everything has settled:
- every job has one root message, and each status change and the end summary appear once in its thread;
- every approved deletion ran once (the compute is gone; one "Deleted" line; one deletion in the audit log);
- every reminder the store recorded was posted once;
- every slash command and click was answered (a command the killed process was running is told "the bot
  restarted … may or may not have completed" instead; it counts as answered);
- another replica leads, with a higher epoch.

Slow by nature (40-80 s: a dead leader's claims on channels and commands lapse only after their leases).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.devslack import Channel, DriverResponse, LocalSlack, Message, Workspace, buttons, render_channel
from services.approvals import ApprovalState
from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.command_queue import DONE, INTERRUPTED
from services.errors import NotFound
from services.models import TAG_REQUEST, JobInfo, JobStatus
from services.ports import CloudBackend
from services.store import make_engine
from services.store.approvals_tables import audit_log
from services.store.command_tables import command_queue
from services.store.reminders_tables import reminders
from services.tracking import open_work
from tests.bot.replicas import (
    ROOT,
    Leadership,
    Replica,
    approval_requests_posted,
    approval_state,
    leadership,
    migrate,
    placeholders,
    postgres_url,
    posts_per_key,
    replica_of,
    response_url_answers,
    start_replicas,
    stop_replicas,
    throwaway_database,
    wait_for,
    wait_until,
)
from tests.bot.thread_chain import metadata_key
from tests.bot.thread_view import reply_kind

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

JOB_CHANNELS = ("C_JOBS_1", "C_JOBS_2", "C_JOBS_3")  # Slack paces posts per channel: three keep it quick
APPROVALS = "C_ML"
REMINDERS = "C_GENERAL"
ALL_CHANNELS = (*JOB_CHANNELS, APPROVALS, REMINDERS)
CLUSTER = "replica-cluster"
SLEEPY = f"""\
type: command
command: echo "started"; sleep ${{{{inputs.seconds}}}}; echo "done"
compute: azureml:{CLUSTER}
inputs:
  seconds:
    type: integer
    default: 5
"""
# alice asks for deletions; bob and carol approve them
PERMISSIONS = {"roles": {"admin": {"users": ["U_ALICE"]}, "approver": {"users": ["U_BOB", "U_CAROL"]}}}
NOTEBOOKS = ("nb-before", "nb-double", "nb-after")
COSTLY = "nb-costly"  # runs all along: every reminder has something to say
STEP = 60.0  # one step of the stream (a message delivered, a job running)
# A dead leader's channel claims lapse after 30 s, its running commands are reported after 60 s (bot/bootstrap.py).
SETTLE = 120.0
QUIET_SECONDS = 3.0  # room for a duplicate to show up, if there were one
INTERRUPTED_NOTICE = "may or may not have completed"
TRANSITION = re.compile(r"(\w+) \(was (\w+)\)")


@dataclass
class Fleet:
    slack: LocalSlack
    replicas: list[Replica]
    engine: Engine
    backend: CloudBackend

    @property
    def workspace(self) -> Workspace:
        return self.slack.workspace

    def diagnosis(self) -> str:
        """What a failing assertion shows: the channels as people see them and each replica's log tail."""
        parts = [f"--- #{c}\n{render_channel(self.workspace, c)}" for c in ALL_CHANNELS]
        parts += [f"--- {r.name} log\n{r.process.log_tail(40)}" for r in self.replicas]
        return "\n".join(parts)


@dataclass
class Stream:
    """What the test sent, to hold every answer against."""

    submits: list[tuple[str, DriverResponse]] = field(default_factory=list)  # (channel, response)
    asks: dict[str, DriverResponse] = field(default_factory=dict)  # compute name → `/aml compute delete`
    clicks: list[DriverResponse] = field(default_factory=list)
    reminds: list[DriverResponse] = field(default_factory=list)  # `/aml remind now`

    def submit(self, replica: Replica, number: int, seconds: int) -> None:
        channel = JOB_CHANNELS[number % len(JOB_CHANNELS)]
        sent = replica.driver.slash(f"job submit sleepy --set seconds={seconds}", user="U_BOB", channel=channel)
        assert sent.status == 200, (replica.name, sent.status, sent.body)
        self.submits.append((channel, sent))

    def remind(self, replica: Replica) -> None:
        sent = replica.driver.slash("remind now", user="U_ALICE", channel=REMINDERS)
        assert sent.status == 200, (replica.name, sent.status, sent.body)
        self.reminds.append(sent)

    def commands(self) -> list[DriverResponse]:
        return [sent for _, sent in self.submits] + list(self.asks.values()) + self.reminds


@pytest.fixture
def fleet(local_slack: LocalSlack, tmp_path: Path) -> Iterator[Fleet]:
    server = postgres_url()
    catalog = tmp_path / "jobs"
    shutil.copytree(ROOT / "jobs", catalog, ignore=shutil.ignore_patterns("__pycache__"))
    (catalog / "sleepy.yml").write_text(SLEEPY)
    data = tmp_path / "data"
    backend = build_local_backend(data / "local", JobCatalog(catalog), compute_transition_seconds=0)
    backend.computes.begin_create_cluster(CLUSTER, size="Standard_DS3_v2", max_nodes=16).result(10)
    for name in (*NOTEBOOKS, COSTLY):
        backend.computes.begin_create_instance(name, size="Standard_DS3_v2").result(10)
    for channel in JOB_CHANNELS:
        members = ("U_ALICE", "U_BOB", "U_CAROL")
        local_slack.workspace.directory.add_channel(Channel(id=channel, name=channel.lower(), members=members))

    with throwaway_database(server) as url:
        env = {
            "AMLBOT_DATABASE_URL": url,
            "AMLBOT_DATA_DIR": str(data),
            "AMLBOT_JOB_CATALOG_DIR": str(catalog),
            "AMLBOT_PERMISSIONS": json.dumps(PERMISSIONS),
            "AMLBOT_HTTP_WORKERS": "1",  # three processes on two cores
            "AMLBOT_WORK_THREADS": "8",
            # the leader's scheduled reminders fire every minute, across the kill too
            "AMLBOT_REMINDER_CHANNELS": REMINDERS,
            "AMLBOT_REMINDER_CRON": "* * * * *",
            "AMLBOT_REMINDER_TIMEZONE": "UTC",
        }
        migrate(env)
        engine = make_engine(url)
        replicas = start_replicas(local_slack, 3, env=env, logs=tmp_path / "logs")
        try:
            yield Fleet(local_slack, replicas, engine, backend)
        finally:
            stop_replicas(replicas)
            engine.dispose()


def test_sigkill_of_the_leader_loses_no_message_doubles_none_and_runs_each_approval_once(fleet: Fleet) -> None:
    workspace, replicas, stream = fleet.workspace, fleet.replicas, Stream()
    first = wait_for(lambda: leadership(fleet.engine), STEP, "a replica to lead")

    for number in range(6):  # jobs that are running when the leader dies
        stream.submit(replicas[number % 3], number, seconds=12 + number)
    ask_and_approve(fleet, stream, "nb-before", asked_on=replicas[0], approvers=[(replicas[1], "U_BOB")])
    # a double click: the same person's two clicks reach two replicas at once
    ask_and_approve(
        fleet, stream, "nb-double", asked_on=replicas[1], approvers=[(replicas[0], "U_CAROL"), (replicas[2], "U_CAROL")]
    )
    stream.remind(replicas[2])
    assert workspace.wait_until(lambda: running_roots(workspace) >= 3, STEP), fleet.diagnosis()

    lead = leadership(fleet.engine)
    assert lead is not None and lead.epoch == first.epoch, "leadership moved before the kill"
    leader = replica_of(replicas, lead)
    assert leader is not None, f"no replica holds {lead.holder}"
    survivors = [r for r in replicas if r is not leader]
    for number in range(6, 8):  # accepted by the leader just before it dies: run elsewhere, or reported
        stream.submit(leader, number, seconds=3)
    assert sum(not job.status.is_terminal for job in jobs_of(fleet)) >= 3, "the jobs ended before the kill"
    leader.process.kill()

    for number in range(8, 11):  # the survivors carry on
        stream.submit(survivors[number % 2], number, seconds=3)
    ask_and_approve(fleet, stream, "nb-after", asked_on=survivors[0], approvers=[(survivors[1], "U_BOB")])
    stream.remind(survivors[1])
    new = wait_for(lambda: newer_leadership(fleet.engine, lead), STEP, "a new leader")

    if not wait_until(lambda: settled(fleet, stream), SETTLE):
        raise AssertionError(f"still in motion after {SETTLE:g} s: {unsettled(fleet, stream)}\n{fleet.diagnosis()}")
    time.sleep(QUIET_SECONDS)
    assert settled(fleet, stream), f"work appeared again after everything had settled: {unsettled(fleet, stream)}"

    assert_nothing_posted_twice(fleet)
    assert_each_job_told_once(fleet, stream)
    assert_every_command_answered(fleet, stream)
    assert_each_approval_executed_once(fleet, stream)
    assert_each_reminder_posted_once(fleet, stream)
    assert new.epoch > lead.epoch
    successor = replica_of(survivors, new)
    assert successor is not None, f"{new.holder} leads: not one of the survivors"
    print(  # shown with -s or -rP: what this run went through (it varies with timing)
        f"{leader.name} led (epoch {lead.epoch}) and was killed; {successor.name} leads (epoch {new.epoch}); "
        f"{len(jobs_of(fleet))} jobs for {len(stream.submits)} submits; "
        f"commands reported interrupted: {len(interrupted_triggers(fleet))}; "
        f"reminders posted: {sum(k.startswith('reminder:') for k in posts_per_key(workspace, REMINDERS))}"
    )


# -- the stream's steps ------------------------------------------------------------------------------------


def ask_and_approve(
    fleet: Fleet, stream: Stream, compute: str, *, asked_on: Replica, approvers: list[tuple[Replica, str]]
) -> None:
    """Alice asks on one replica to delete `compute`; approvers click Approve at once (each on their replica);
    returns once the deletion has run (a deletion cut off by a crash is reported, not run again: not this test)."""
    asked = asked_on.driver.slash(f"compute delete {compute} --reason replicas test", user="U_ALICE", channel=APPROVALS)
    assert asked.status == 200, asked.body
    stream.asks[compute] = asked
    request = wait_for(lambda: request_message(fleet, asked), STEP, f"the request to delete {compute}")
    with ThreadPoolExecutor(len(approvers)) as clicking:
        clicks = clicking.map(lambda a: click_approve(a[0], a[1], request), approvers)
        stream.clicks.extend(clicks)
    done = ApprovalState.DONE
    wait_for(lambda: approval_state(fleet.engine, fleet.workspace, asked) == done, STEP, f"the deletion of {compute}")


def click_approve(replica: Replica, user: str, request: Message) -> DriverResponse:
    clicked = replica.driver.click(user=user, channel=APPROVALS, message_ts=request.ts, action_id="approval.approve")
    assert clicked.status == 200, (replica.name, clicked.status, clicked.body)
    return clicked


def request_message(fleet: Fleet, asked: DriverResponse) -> Message | None:
    """The request message an ask created, once it shows its buttons."""
    found = approval_requests_posted(fleet.workspace, APPROVALS, asked)
    return found[0] if len(found) == 1 and buttons(found[0]) else None


def running_roots(workspace: Workspace) -> int:
    roots = [m for c in JOB_CHANNELS for m in workspace.messages(c) if m.user == workspace.bot.user_id]
    return sum("Running" in m.text for m in roots)


def newer_leadership(engine: Engine, old: Leadership) -> Leadership | None:
    current = leadership(engine)
    return current if current is not None and current.epoch > old.epoch else None


# -- settled: nothing left in motion -------------------------------------------------------------------------


def unsettled(fleet: Fleet, stream: Stream) -> list[str]:
    """What is still in motion: commands queued or running (or an interrupted one's notice unsent), jobs not
    ended, messages undelivered, jobs followed, approved deletions not done; [] once everything has settled."""
    waiting: list[str] = []
    with fleet.engine.connect() as conn:
        commands = conn.execute(select(command_queue.c.id, command_queue.c.state, command_queue.c.finished_at)).all()
    if len(commands) < len(stream.commands()):
        waiting.append(f"{len(stream.commands()) - len(commands)} acknowledged commands not in the queue")
    waiting += [
        f"command {c.id}: {c.state}" for c in commands if c.state not in (DONE, INTERRUPTED) or not c.finished_at
    ]
    waiting += [f"job {job.name}: {job.status.value}" for job in jobs_of(fleet) if not job.status.is_terminal]
    waiting += [f"{what}: {n}" for what, n in open_work(fleet.engine).items() if n]
    waiting += [f"compute {name} not deleted" for name in stream.asks if not compute_gone(fleet, name)]
    return waiting


def settled(fleet: Fleet, stream: Stream) -> bool:
    return not unsettled(fleet, stream)


def jobs_of(fleet: Fleet) -> list[JobInfo]:
    return fleet.backend.jobs.list()


def compute_gone(fleet: Fleet, name: str) -> bool:
    try:
        fleet.backend.computes.get(name)
    except NotFound:
        return True
    return False


# -- what must hold ------------------------------------------------------------------------------------------


def assert_nothing_posted_twice(fleet: Fleet) -> None:
    for channel in ALL_CHANNELS:
        twice = {key: n for key, n in posts_per_key(fleet.workspace, channel).items() if n > 1}
        assert twice == {}, f"posted more than once in {channel}: {twice}\n{fleet.diagnosis()}"


def assert_each_job_told_once(fleet: Fleet, stream: Stream) -> None:
    """Each job the cloud ran has one root (in the channel it was asked in) whose thread tells each of its
    status changes once, in order, and ends with one summary; the root shows how it ended."""
    workspace = fleet.workspace
    interrupted = interrupted_triggers(fleet)
    asked_in = {sent.trigger_id: channel for channel, sent in stream.submits}
    jobs = jobs_of(fleet)
    assert len(jobs) >= len(stream.submits) - len(interrupted), "jobs are missing"
    assert all(TAG_REQUEST in job.tags for job in jobs)
    for job in jobs:
        trigger = job.tags.get(TAG_REQUEST)
        assert trigger in asked_in, f"{job.name} was not asked for: {job.tags}"
        channel = asked_in[trigger]
        # the placeholder is committed before the job is submitted: a job without it lost its story
        roots = placeholders(workspace, channel, trigger)
        assert len(roots) == 1, f"{job.name}: {len(roots)} root messages\n{fleet.diagnosis()}"
        root = roots[0]
        assert job.name in root.text, (
            f"{job.name} ran ({job.status.value}) but its root still reads {root.text!r}: its submit "
            f"{'was cut off by the kill' if trigger in interrupted else 'ended'} after the job was created, "
            "and nobody follows the job"
        )
        assert job.status is JobStatus.COMPLETED and "Completed" in root.text, root.text
        replies = workspace.replies(channel, root.ts)
        kinds = [reply_kind(metadata_key(r)) for r in replies]
        assert kinds.count("summary") == 1, f"{job.name}: {kinds}\n{fleet.diagnosis()}"
        changes = [TRANSITION.search(shown(r)) for r, kind in zip(replies, kinds, strict=True) if kind == "transition"]
        steps = [(m.group(2), m.group(1)) for m in changes if m]
        assert len(steps) == len(changes) and steps, f"{job.name}: {[r.text for r in replies]}"
        assert steps[-1][1] == "Completed", f"{job.name}: {steps}"
        for before, after in zip(steps, steps[1:], strict=False):
            assert after[0] == before[1], f"{job.name}: a status change is missing between {before} and {after}"
        assert len({to for _, to in steps}) == len(steps), f"{job.name}: a status announced twice: {steps}"


def assert_every_command_answered(fleet: Fleet, stream: Stream) -> None:
    """Every accepted command ran to its answer, or its person was told once that it was cut off."""
    workspace = fleet.workspace
    with fleet.engine.connect() as conn:
        rows = {r.delivery_key: r for r in conn.execute(select(command_queue)).all()}
    interrupted = interrupted_triggers(fleet)
    for channel, sent in stream.submits:
        assert sent.trigger_id in rows, f"a submit in {channel} was acknowledged but never queued"
        notices = [a for a in response_url_answers(workspace, sent) if INTERRUPTED_NOTICE in a]
        if sent.trigger_id in interrupted:
            assert len(notices) == 1, f"submit {sent.trigger_id}: {notices}"
            stale = [m.text for m in placeholders(workspace, channel, sent.trigger_id) if "is submitting" in m.text]
            assert not stale, f"a submit cut off by the kill left {stale} in {channel}, promising what never comes"
            continue
        assert notices == [], notices
        roots = placeholders(workspace, channel, sent.trigger_id)
        assert len(roots) == 1, f"submit {sent.trigger_id} in {channel}: {len(roots)} root messages"
    for compute, sent in stream.asks.items():
        assert rows[sent.trigger_id].state == DONE, f"asking to delete {compute}: {rows[sent.trigger_id].state}"
        answers = response_url_answers(workspace, sent)
        assert len(answers) == 1 and "request #" in answers[0], f"asking to delete {compute}: {answers}"
    for click in stream.clicks:
        assert len(response_url_answers(workspace, click)) == 1, "a click was answered never or twice"
    for sent in stream.reminds:
        answers = response_url_answers(workspace, sent)
        assert len(answers) == 1 and "is posted in this channel" in answers[0], f"remind now: {answers}"


def assert_each_approval_executed_once(fleet: Fleet, stream: Stream) -> None:
    """One request message per ask, closed; the compute gone; one "Deleted" line; one deletion started."""
    workspace = fleet.workspace
    for compute, asked in stream.asks.items():
        requests = approval_requests_posted(workspace, APPROVALS, asked)
        assert len(requests) == 1, f"{compute}: {len(requests)} request messages"
        assert not buttons(requests[0]), f"the request to delete {compute} still has its buttons"
        assert compute_gone(fleet, compute)
        thread = [r.text for r in workspace.replies(APPROVALS, requests[0].ts)]
        assert sum("Deleted" in text for text in thread) == 1, f"{compute}: {thread}"
        assert not any("failed" in text for text in thread), f"{compute}: {thread}"
        with fleet.engine.connect() as conn:
            started = conn.execute(
                select(func.count()).where(
                    audit_log.c.kind == "azure.mutation",
                    audit_log.c.outcome == "started",
                    audit_log.c.text.contains(f"`{compute}`"),
                )
            ).scalar_one()
        assert started == 1, f"the deletion of {compute} started {started} times"


def assert_each_reminder_posted_once(fleet: Fleet, stream: Stream) -> None:
    """Each reminder the store recorded (one per channel and fire time, or per `/aml remind now`) was posted
    once, and no reminder was posted that the store does not know."""
    with fleet.engine.connect() as conn:
        rows = conn.execute(select(reminders.c.channel, reminders.c.slot)).all()
    recorded = {f"reminder:{row.channel}:{row.slot}" for row in rows}
    posted = posts_per_key(fleet.workspace, REMINDERS)
    shown_keys = {key for key in posted if key.startswith("reminder:")}
    assert shown_keys == recorded, f"posted {sorted(shown_keys)}, recorded {sorted(recorded)}"
    for sent in stream.reminds:
        assert f"reminder:{REMINDERS}:manual:{sent.trigger_id}" in recorded, "a `/aml remind now` posted nothing"


def shown(message: Message) -> str:
    """A message's text and its blocks (the fallback text alone leaves out what the status was before)."""
    return message.text + json.dumps(list(message.blocks))


def interrupted_triggers(fleet: Fleet) -> set[str]:
    """Commands whose process died while running them (reported, never run again)."""
    with fleet.engine.connect() as conn:
        keys = conn.execute(select(command_queue.c.delivery_key).where(command_queue.c.state == INTERRUPTED))
        return {str(key) for key in keys.scalars()}
