"""Issue 4: a burst of 200 job ends in one channel, with the local workspace enforcing Slack's pace: all 200
summaries delivered, none twice.

The real chain (JobWatcher → Outbox → OutboxDelivery → SlackChat over slack_sdk → LocalSlack with
enforce_pace) runs on ONE simulated clock, shared by the services and LocalSlack's pacer: Slack's own pace
(1 chat.postMessage a second per channel, bursts of 2) and its whole-second Retry-After are kept as they are,
and the clock jumps over every wait, so ~15 simulated minutes of delivery take a few seconds and every run
sees exactly the same 429s. The outbox is paced slightly too fast for Slack on purpose, so Slack answers
429s that the outbox must honour.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bot.devslack import LocalSlack, load_seed
from services.models import JobStatus
from services.outbox import SENT, Outbox
from services.watch import IntervalPolicy
from tests.bot.thread_chain import (
    CHANNEL,
    T0,
    RecordingChat,
    ScriptedJobs,
    SimClock,
    build_chain,
    drive_simulated,
    metadata_key,
    scripted_job,
    slack_chat,
)
from tests.bot.thread_view import reply_kind

JOBS = 200
USERS = ("U_ALICE", "U_BOB", "U_CAROL")
SLACK_PACE = 1.0  # chat.postMessage per second per channel (LocalSlack's default, as Slack)
# A job's end is told by an edit of its root (chat.update: not paced by Slack per channel) and two posts,
# so Slack's pace allows one call every 2/3 s on average in the burst; the outbox tries one every 0.6 s.
OUTBOX_INTERVAL = 0.6
ROOT_KEY = re.compile(r"job:(?P<name>burst-\d{3}):w\d+:root")  # the outbox dedupe key of a job's root post


def test_a_burst_of_200_job_ends_in_one_channel_is_told_once_each_at_slacks_pace(tmp_path: Path) -> None:
    clock = SimClock()
    jobs = ScriptedJobs(clock)
    with LocalSlack(load_seed(), enforce_pace=True, pace_per_second=SLACK_PACE, pace_clock=clock.seconds) as slack:
        chat = RecordingChat(slack_chat(slack), clock)
        chain = build_chain(
            tmp_path / "aml-bot.db",
            jobs,
            slack,
            clock=clock,
            policy=IntervalPolicy(),  # the production polling policy: simulated time makes it cheap
            per_channel_interval=OUTBOX_INTERVAL,
            chat=chat,
        )
        workspace = slack.workspace

        # 200 running jobs followed in one channel (`/aml job watch`), their roots posted.
        requester = {}
        for i in range(JOBS):
            name = f"burst-{i:03d}"
            requester[name] = USERS[i % len(USERS)]
            jobs.add(scripted_job(name, JobStatus.RUNNING, requested_by=requester[name], created_at=T0))
            chain.tracking.follow(name, channel=CHANNEL, requested_by=requester[name])
        drive_simulated(chain, clock, done=lambda: chain.open_messages() == 0)
        assert len(workspace.messages(CHANNEL)) == JOBS

        # They all end at once; the next sweep (one list call) records 200 transitions in one go.
        calls_before = len(workspace.api_calls)
        burst_started = clock()
        jobs.end_all(JobStatus.COMPLETED)

        drive_simulated(chain, clock, done=chain.all_told)
        assert chain.dead == [], chain.dead[:3]

        # Slack did push back during the burst, and each 429 was waited out (Retry-After on the services' clock):
        posts = workspace.calls("chat.postMessage")
        burst_posts = [c.status for c in workspace.api_calls[calls_before:] if c.method == "chat.postMessage"]
        assert Counter(burst_posts)[429] > 0, "the burst never met Slack's pace: the test proves nothing"
        assert {c.status for c in posts} == {200, 429}
        assert Counter(c.status for c in posts)[200] == 3 * JOBS  # roots, transitions, summaries: each once
        assert all(c.outcome in ("ok", "429") for c in chat.calls), [c for c in chat.calls if c.outcome == "error"]
        limited = [(i, c) for i, c in enumerate(chat.calls) if c.outcome == "429"]
        assert len(limited) == Counter(c.status for c in posts)[429]  # every 429 Slack sent reached the outbox
        for i, call in limited:
            following = chat.calls[i + 1]  # FIFO per channel: the same message is tried next, not another
            assert (following.op, following.dedupe_key) == (call.op, call.dedupe_key), following
            assert following.at >= call.at + timedelta(seconds=call.retry_after), (call, following)
            assert following.outcome == "ok", "a Retry-After waited out is enough"
        # 400 posts at 1 a second (after a burst of 2): the burst took at least that long, in simulated time
        assert clock() - burst_started >= timedelta(seconds=(2 * JOBS - 2) / SLACK_PACE)

        # What the channel shows: 200 roots, each edited to Completed, each thread with its one transition and
        # its one summary mentioning who asked.
        roots = workspace.messages(CHANNEL)
        assert len(roots) == JOBS
        summaries: Counter[str] = Counter()
        keys: Counter[str] = Counter()
        for root in roots:
            root_key = metadata_key(root)
            found = ROOT_KEY.fullmatch(root_key)
            assert found, root_key
            name = found["name"]
            assert root.text == f":white_check_mark: Completed Burst {name} ({name})" and root.edit_count == 1
            replies = workspace.replies(CHANNEL, root.ts)
            kinds = [reply_kind(metadata_key(r)) for r in replies]
            assert kinds == ["transition", "summary"], (name, [r.text for r in replies])
            assert replies[0].text == f"{name}: Completed"
            summary = replies[1]
            assert metadata_key(summary) == root_key.removesuffix(":root") + ":summary"
            assert summary.text.startswith(f"<@{requester[name]}> {name} Completed after "), summary.text
            summaries[name] += 1
            keys.update(metadata_key(m) for m in [root, *replies])
        assert set(summaries) == set(requester) and set(summaries.values()) == {1}
        every = workspace.messages(CHANNEL, include_replies=True)
        assert len(every) == 3 * JOBS and all(n == 1 for n in keys.values()) and len(keys) == 3 * JOBS
        assert sum(1 for m in every if reply_kind(metadata_key(m)) == "summary") == JOBS

        # Nothing left behind in the outbox: every row sent (no retry pending, none dead, none superseded).
        with chain.engine.connect() as conn:
            assert Outbox.open_count(conn) == 0
            assert {item.state for item in Outbox.items(conn)} == {SENT}
            # root post + root edit + transition + summary + chart (skipped: no chart renderer here) per job
            assert len(Outbox.items(conn)) == 5 * JOBS
        chain.engine.dispose()
