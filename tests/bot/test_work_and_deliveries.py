"""The work pool is bounded, and a delivery key is honoured once."""

from __future__ import annotations

import threading

import pytest

from bot.deliveries import RecentDeliveries
from bot.work import PoolFull, WorkPool


def test_pool_refuses_work_beyond_its_queue_limit() -> None:
    pool = WorkPool(threads=1, queue_limit=1)
    release = threading.Event()
    pool.submit(release.wait)
    pool.submit(release.wait)
    with pytest.raises(PoolFull):
        pool.submit(release.wait)
    release.set()
    assert pool.wait_idle(timeout=5)
    pool.submit(lambda: None)  # room again once work finished
    pool.shutdown()


def test_failing_work_does_not_leak_a_slot() -> None:
    pool = WorkPool(threads=1, queue_limit=0)

    def fail() -> None:
        raise RuntimeError("boom")

    for _ in range(3):
        pool.submit(fail)
        assert pool.wait_idle(timeout=5)
    pool.shutdown()


def test_a_key_is_claimed_once_until_it_expires() -> None:
    now = [0.0]
    deliveries = RecentDeliveries(ttl=10, clock=lambda: now[0])
    assert deliveries.claim("trigger-1")
    assert not deliveries.claim("trigger-1")
    assert deliveries.claim("trigger-2")
    now[0] = 11
    assert deliveries.claim("trigger-1")


def test_concurrent_claims_let_exactly_one_through() -> None:
    deliveries = RecentDeliveries()
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        barrier.wait()
        results.append(deliveries.claim("same"))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
