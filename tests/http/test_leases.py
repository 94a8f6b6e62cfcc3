"""Rate-limit leases: processes admit out of hits counted in the shared store, chunk by chunk."""

from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.edge import InMemoryRateLimiter
from adapters.postgres.edge import PostgresRateLimiter
from adapters.postgres.pool import make_pool
from entrypoints.http.leases import LeasingRateLimiter

MINUTE = timedelta(minutes=1)
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class CountingStore(InMemoryRateLimiter):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def hit(self, bucket, limit, window, now, cost=1):
        self.calls += 1
        return super().hit(bucket, limit, window, now, cost)


def test_small_limits_are_counted_one_by_one_across_processes():
    shared = CountingStore()
    first, second = LeasingRateLimiter(shared), LeasingRateLimiter(shared)
    admitted = [(first if n % 2 else second).hit("b", 10, MINUTE, T0).allowed for n in range(30)]
    assert admitted == [True] * 10 + [False] * 20
    # A chunk of one: every admitted hit asked the store; then each process learnt once that the
    # window is spent and refuses on its own until it ends.
    assert shared.calls == 10 + 2
    assert first.hit("b", 10, MINUTE, T0 + MINUTE).allowed  # a new window: room again


def test_large_limits_lease_chunks_and_never_admit_more_than_the_limit():
    shared = CountingStore()
    workers = [LeasingRateLimiter(shared) for _ in range(3)]
    admitted = sum(workers[n % 3].hit("b", 1000, MINUTE, T0).allowed for n in range(3000))
    assert 1000 - 3 * 20 <= admitted <= 1000
    assert shared.calls < 3000 // 10  # chunks of 20: the store is asked a few times per chunk


def test_remaining_counts_down_and_a_new_window_starts_without_a_lease():
    limiter = LeasingRateLimiter(InMemoryRateLimiter())
    remaining = [limiter.hit("b", 500, MINUTE, T0).remaining for _ in range(25)]
    assert remaining == list(range(499, 474, -1))
    assert limiter.admit_locally("b", 500, MINUTE, T0 + MINUTE) is None
    assert limiter.hit("b", 500, MINUTE, T0 + MINUTE).remaining == 499


def test_without_a_lease_the_fast_path_does_not_decide():
    shared = CountingStore()
    limiter = LeasingRateLimiter(shared)
    assert limiter.admit_locally("b", 1000, MINUTE, T0) is None
    assert shared.calls == 0


def test_leases_over_postgresql_from_eight_processes_admit_exactly_up_to_the_limit(pg_url):
    pool = make_pool(pg_url, max_size=2)
    try:
        workers = [LeasingRateLimiter(PostgresRateLimiter(pool)) for _ in range(8)]
        admitted = sum(workers[n % 8].hit("pg", 500, MINUTE, T0).allowed for n in range(1500))
        assert 500 - 8 * 10 <= admitted <= 500
    finally:
        pool.close()


def test_only_single_hits_are_admitted():
    with pytest.raises(ValueError, match="one at a time"):
        LeasingRateLimiter(InMemoryRateLimiter()).hit("b", 10, MINUTE, T0, cost=2)
