"""OutboxDelivery: order, pacing, Retry-After, retries, dead letters, refs, and never posting twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine

import tests.services.store.db_fixtures as db_fixtures  # noqa: E402
from services.chat import (
    ChatPermanentError,
    ChatRateLimited,
    ChatTransientError,
    RenderedMessage,
    TextRenderer,
)
from services.outbox import DEAD, SENDING, SENT, SUPERSEDED, Outbox, OutboxDelivery
from services.store import MessageRefs, utc_now
from tests.services.store.store_fakes import FakeChat, FakeClock, SimulatedCrash, drain  # noqa: E402

chat = db_fixtures.chat
clock = db_fixtures.clock
delivery = db_fixtures.delivery
engine = db_fixtures.engine
make_db_engine = db_fixtures.make_db_engine
outbox = db_fixtures.outbox


def say(engine: Engine, outbox: Outbox, channel: str, key: str, text: str = "", **refs: str) -> None:
    with engine.begin() as conn:
        outbox.enqueue(conn, channel=channel, kind="op.result", payload={"text": text or key}, dedupe_key=key, **refs)


def items(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        return {i.dedupe_key: (i.state, i.attempts) for i in Outbox.items(conn)}


def test_root_reply_and_update_resolve_the_ref_at_delivery(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "root", "v1", creates_ref="r")
    say(engine, outbox, "C1", "reply", "in thread", thread_ref="r")
    say(engine, outbox, "C1", "edit", "v2", updates_ref="r")
    drain(engine, delivery, clock)
    (root,) = chat.roots("C1")
    assert root.text == "v1" and root.edits == ["v2"] and root.dedupe_key == "root"
    assert [m.text for m in chat.replies(root)] == ["in thread"]
    with engine.connect() as conn:
        ref = MessageRefs.get(conn, "r")
        assert ref is not None and ref.ts == root.ts
        assert all(i.state == SENT and i.sent_ts for i in Outbox.items(conn))


def test_a_row_waits_for_the_message_it_refers_to(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "reply-first", "early reply", thread_ref="later")
    say(engine, outbox, "C1", "other", "unrelated")
    report = delivery.deliver_due()
    assert report.waiting == 1 and report.sent == 1
    assert [m.dedupe_key for m in chat.posts()] == ["other"]
    clock.advance(5)
    say(engine, outbox, "C1", "root", "root", creates_ref="later")
    drain(engine, delivery, clock)
    root = chat.roots("C1")[-1]
    assert root.dedupe_key == "root" and [m.dedupe_key for m in chat.replies(root)] == ["reply-first"]


def test_pacing_is_per_channel_and_a_paced_channel_blocks_no_one(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    for i in range(3):
        say(engine, outbox, "C1", f"a{i}")
        say(engine, outbox, "C2", f"b{i}")
    assert delivery.deliver_due().sent == 2
    clock.advance(0.5)
    report = delivery.deliver_due()
    assert report.sent == 0 and report.next_due_at == clock() + timedelta(seconds=0.5)
    clock.advance(0.5)
    assert delivery.deliver_due().sent == 2
    drain(engine, delivery, clock, step=0.25)
    assert [m.dedupe_key for m in chat.posts("C1")] == ["a0", "a1", "a2"]
    for channel in ("C1", "C2"):
        times = [t for t, _, ch in chat.calls if ch == channel]
        assert all(b - a >= timedelta(seconds=1) for a, b in zip(times, times[1:], strict=False))


def test_retry_after_is_honoured_for_that_channel_only_and_nothing_is_lost_or_doubled(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    for i in range(3):
        say(engine, outbox, "C1", f"a{i}")
        say(engine, outbox, "C2", f"b{i}")
    chat.fail_next(ChatRateLimited(30), channel="C1")
    report = delivery.deliver_due()
    assert (report.rate_limited, report.sent) == (1, 1)
    for _ in range(10):
        clock.advance(1)
        delivery.deliver_due()
    assert [m.dedupe_key for m in chat.posts("C2")] == ["b0", "b1", "b2"]
    assert chat.posts("C1") == []
    clock.advance(19.5)
    assert delivery.deliver_due().sent == 0  # 29.5 s after the 429
    clock.advance(0.5)
    assert delivery.deliver_due().sent == 1
    drain(engine, delivery, clock)
    assert [m.dedupe_key for m in chat.posts("C1")] == ["a0", "a1", "a2"]
    assert items(engine)["a0"] == (SENT, 1)  # a 429 is not counted as a failed attempt


def test_transient_errors_back_off_then_deliver_once(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "m1")
    say(engine, outbox, "C1", "m2")
    chat.fail_next(ChatTransientError("503", maybe_delivered=False))
    chat.fail_next(ChatTransientError("503", maybe_delivered=False))
    start = clock()
    assert delivery.deliver_due().retried == 1
    clock.advance(1.9)
    assert delivery.deliver_due().calls == 0  # backoff 2 s; m2 waits behind m1 (per-channel order)
    clock.advance(0.1)
    assert delivery.deliver_due().retried == 1  # second failure: backoff 4 s
    clock.advance(4)
    assert delivery.deliver_due().sent == 1
    drain(engine, delivery, clock)
    assert [m.dedupe_key for m in chat.posts()] == ["m1", "m2"]
    assert chat.ops("find_posted") == []  # certainly-not-delivered errors need no look-up
    assert items(engine)["m1"] == (SENT, 3)
    assert chat.posts()[0].posted_at - start == timedelta(seconds=6)


def test_an_ambiguous_failure_is_looked_up_before_posting_again(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    """A timeout after Slack accepted the post: the retry finds it (find_posted) instead of re-posting."""
    say(engine, outbox, "C1", "root", creates_ref="r")
    say(engine, outbox, "C1", "reply", thread_ref="r")
    chat.after_next_post = ChatTransientError("read timeout")
    assert delivery.deliver_due().retried == 1
    clock.advance(2)
    report = delivery.deliver_due()
    assert (report.sent, report.recovered) == (1, 1)
    drain(engine, delivery, clock)
    assert chat.dedupe_counts() == {"root": 1, "reply": 1}
    (root,) = chat.roots()
    assert [m.dedupe_key for m in chat.replies(root)] == ["reply"]


@pytest.mark.parametrize("crash_after_accept", [True, False], ids=["after-accept", "before-accept"])
def test_a_crash_while_sending_never_posts_twice(
    make_db_engine: Callable[[], Engine],
    engine: Engine,
    outbox: Outbox,
    chat: FakeChat,
    clock: FakeClock,
    crash_after_accept: bool,
) -> None:
    say(engine, outbox, "C1", "root", creates_ref="r")
    say(engine, outbox, "C1", "reply", thread_ref="r")
    first = OutboxDelivery(engine, chat, TextRenderer(), clock, lease_seconds=60)
    if crash_after_accept:
        chat.after_next_post = SimulatedCrash("killed right after chat.postMessage returned")
    else:
        chat.fail_next(SimulatedCrash("killed before the request left"), op="post")
    with pytest.raises(SimulatedCrash):
        first.deliver_due()
    assert items(engine)["root"] == (SENDING, 1)

    restarted = OutboxDelivery(make_db_engine(), chat, TextRenderer(), clock, lease_seconds=60)
    clock.advance(30)
    assert restarted.deliver_due().calls == 0  # the dead owner's lease has not expired yet
    clock.advance(30)
    report = restarted.deliver_due()
    assert report.sent == 1 and report.recovered == int(crash_after_accept)
    assert len(chat.ops("find_posted")) == 1
    drain(restarted.engine, restarted, clock)
    assert chat.dedupe_counts() == {"root": 1, "reply": 1}
    (root,) = chat.roots()
    assert [m.dedupe_key for m in chat.replies(root)] == ["reply"]


def test_a_crash_while_updating_just_updates_again(
    make_db_engine: Callable[[], Engine], engine: Engine, outbox: Outbox, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "root", "v1", creates_ref="r")
    delivery = OutboxDelivery(engine, chat, TextRenderer(), clock)
    drain(engine, delivery, clock)
    say(engine, outbox, "C1", "edit", "v2", updates_ref="r")
    chat.fail_next(SimulatedCrash("killed"), op="update")
    clock.advance(1)
    with pytest.raises(SimulatedCrash):
        delivery.deliver_due()
    clock.advance(61)
    restarted = OutboxDelivery(make_db_engine(), chat, TextRenderer(), clock)
    assert restarted.deliver_due().sent == 1
    assert chat.roots()[0].edits == ["v2"] and chat.ops("find_posted") == []


def test_when_find_posted_cannot_answer_the_post_waits(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "m")
    chat.after_next_post = ChatTransientError("timeout")
    delivery.deliver_due()
    chat.fail_next(ChatTransientError("history unavailable"), op="find_posted")
    clock.advance(2)
    assert delivery.deliver_due().retried == 1
    drain(engine, delivery, clock)
    assert chat.dedupe_counts() == {"m": 1} and len(chat.ops("post")) == 1


def test_permanent_errors_dead_letter_the_row_and_what_depends_on_it(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "root", creates_ref="r")
    say(engine, outbox, "C1", "reply", thread_ref="r")
    say(engine, outbox, "C1", "edit", updates_ref="r")
    say(engine, outbox, "C1", "next")
    chat.fail_next(ChatPermanentError("not_in_channel", code="not_in_channel"))
    report = delivery.deliver_due()
    assert [d.dedupe_key for d in report.dead] == ["root"] and "not_in_channel" in report.dead[0].error
    drain(engine, delivery, clock)
    state = items(engine)
    assert (state["root"][0], state["reply"][0], state["edit"][0], state["next"][0]) == (DEAD, DEAD, DEAD, SENT)
    with engine.begin() as conn:
        assert outbox.requeue_dead(conn) == 3
    drain(engine, delivery, clock)
    assert chat.dedupe_counts() == {"next": 1, "root": 1, "reply": 1}


def test_a_slow_call_renews_the_next_channels_lease_or_leaves_that_row_to_the_new_owner(
    make_db_engine: Callable[[], Engine], engine: Engine, outbox: Outbox, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "a")
    say(engine, outbox, "C2", "b")
    say(engine, outbox, "C3", "c")
    first = OutboxDelivery(engine, chat, TextRenderer(), clock, lease_seconds=60)
    other = OutboxDelivery(make_db_engine(), chat, TextRenderer(), clock, lease_seconds=60)
    chat.during_next(lambda: clock.advance(40), channel="C1")  # C2's lease is renewed before its call
    chat.during_next(lambda: clock.advance(40), channel="C2")  # C3's lease has expired by then
    assert first.deliver_due().sent == 2
    assert other.deliver_due().sent == 1  # took C3 over: its row was `sending`, so it looked before posting
    assert [c[1] for c in chat.calls if c[2] == "C3"] == ["find_posted", "post"]
    assert chat.dedupe_counts() == {"a": 1, "b": 1, "c": 1}


def test_a_ref_nothing_will_ever_create_times_out(
    engine: Engine, outbox: Outbox, chat: FakeChat, clock: FakeClock
) -> None:
    delivery = OutboxDelivery(engine, chat, TextRenderer(), clock, ref_wait_timeout=600)
    say(engine, outbox, "C1", "orphan", thread_ref="never")
    assert delivery.deliver_due().waiting == 1
    clock.advance(601)
    assert [d.dedupe_key for d in delivery.deliver_due().dead] == ["orphan"]
    assert chat.calls == []


def test_transient_failures_give_up_after_max_attempts(
    engine: Engine, outbox: Outbox, chat: FakeChat, clock: FakeClock
) -> None:
    delivery = OutboxDelivery(engine, chat, TextRenderer(), clock, max_attempts=3)
    say(engine, outbox, "C1", "m")
    for _ in range(3):
        chat.fail_next(ChatTransientError("502", maybe_delivered=False))
    dead = []
    for _ in range(20):
        dead += delivery.deliver_due().dead
        clock.advance(10)
    assert [d.dedupe_key for d in dead] == ["m"] and "after 3 attempts" in dead[0].error
    assert chat.posts() == []


def test_a_payload_that_cannot_be_rendered_is_dead_not_retried(
    engine: Engine, outbox: Outbox, chat: FakeChat, clock: FakeClock
) -> None:
    class Broken:
        def render(self, kind: str, payload: object) -> RenderedMessage:
            raise KeyError("job")

    delivery = OutboxDelivery(engine, chat, Broken(), clock)
    say(engine, outbox, "C1", "m")
    assert [d.dedupe_key for d in delivery.deliver_due().dead] == ["m"]
    assert chat.calls == []


def test_queued_updates_of_one_message_collapse_into_the_latest(
    engine: Engine, outbox: Outbox, delivery: OutboxDelivery, chat: FakeChat, clock: FakeClock
) -> None:
    say(engine, outbox, "C1", "root", "v0", creates_ref="r")
    for i in range(1, 4):
        say(engine, outbox, "C1", f"edit{i}", f"v{i}", updates_ref="r")
    drain(engine, delivery, clock)
    assert chat.roots()[0].edits == ["v3"]
    state = items(engine)
    assert [state[f"edit{i}"][0] for i in range(1, 4)] == [SUPERSEDED, SUPERSEDED, SENT]


def test_two_deliverers_in_parallel_post_everything_once_in_order(
    make_db_engine: Callable[[], Engine], engine: Engine, outbox: Outbox, chat: FakeChat, clock: FakeClock
) -> None:
    channels = [f"C{i}" for i in range(6)]
    for n in range(15):
        for channel in channels:
            say(engine, outbox, channel, f"{channel}-{n:02d}")
    workers = [OutboxDelivery(make_db_engine(), chat, TextRenderer(), clock, per_channel_interval=0) for _ in range(2)]
    errors: list[BaseException] = []

    def work(delivery: OutboxDelivery) -> None:
        try:
            for _ in range(200):
                delivery.deliver_due(5)
                with delivery.engine.connect() as conn:
                    if Outbox.open_count(conn) == 0:
                        return
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    counts = chat.dedupe_counts()
    assert len(counts) == 90 and set(counts.values()) == {1}
    for channel in channels:
        keys = [m.dedupe_key or "" for m in chat.posts(channel)]
        assert keys == sorted(keys)


def test_run_loop_delivers_in_real_time_and_stops(engine: Engine) -> None:
    outbox = Outbox()
    chat = FakeChat(utc_now)
    delivery = OutboxDelivery(engine, chat, TextRenderer(), per_channel_interval=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=delivery.run, args=(stop,), kwargs={"idle_seconds": 0.05})
    thread.start()
    try:
        for i in range(3):
            with engine.begin() as conn:
                outbox.enqueue(conn, channel="C1", kind="op.result", payload={"text": str(i)}, dedupe_key=f"k{i}")
            delivery.wake()
        deadline = time.monotonic() + 10
        while len(chat.posts()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert Counter(m.text for m in chat.posts()) == {"0": 1, "1": 1, "2": 1}
