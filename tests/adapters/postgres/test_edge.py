"""The PostgreSQL edge stores behave exactly like the in-memory ones, for every worker at once.

One behaviour table run against both idempotency stores (new, replay, mismatch, in flight,
abandoned, expired, release, per-tenant keys), the same hits compared decision by decision for
both rate limiters, races through threads, and what only PostgreSQL has: row-level security,
the app role's grants and the purge of expired rows.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from adapters.memory import edge as memory_edge
from adapters.memory.edge import InMemoryIdempotencyStore, InMemoryRateLimiter
from adapters.postgres import edge as postgres_edge
from adapters.postgres.edge import PostgresIdempotencyStore, PostgresRateLimiter
from adapters.postgres.migrate import available
from adapters.postgres.pool import make_pool
from payments_core.errors import DomainError
from payments_core.ports.edge import ClaimOutcome, StoredResponse

T0 = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)
TTL = timedelta(hours=24)
TICK = timedelta(microseconds=1)
ANSWER = StoredResponse(201, b'{"id": "pay_1", "amount": 9900}', "application/json")
BINARY = StoredResponse(200, bytes(range(256)), "application/octet-stream")


def fresh(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def pool(pg_url):
    pool = make_pool(pg_url, max_size=8)
    yield pool
    pool.close()


@pytest.fixture(params=["memory", "postgres"])
def keys(request):
    if request.param == "memory":
        return InMemoryIdempotencyStore()
    return PostgresIdempotencyStore(request.getfixturevalue("pool"))


@pytest.fixture(params=["memory", "postgres"])
def limiter(request):
    if request.param == "memory":
        return InMemoryRateLimiter()
    return PostgresRateLimiter(request.getfixturevalue("pool"))


# --- idempotency: the behaviour table ---------------------------------------------------------------

# A step: ("claim", fingerprint, offset from T0, expected outcome[, expected response]),
# ("complete", response), ("release",), or ("claim_ttl", fingerprint, offset, ttl, expected).
NEW, REPLAY, MISMATCH, IN_FLIGHT = (
    ClaimOutcome.NEW, ClaimOutcome.REPLAY, ClaimOutcome.MISMATCH, ClaimOutcome.IN_FLIGHT,
)  # fmt: skip
MIN = timedelta(minutes=1)
ABANDONED = timedelta(minutes=5)

BEHAVIOUR = {
    "first use is new": [("claim", "a", 0 * MIN, NEW)],
    "a finished request replays its answer": [
        ("claim", "a", 0 * MIN, NEW), ("complete", ANSWER), ("claim", "a", MIN, REPLAY, ANSWER),
        ("claim", "a", 2 * MIN, REPLAY, ANSWER),
    ],
    "any bytes replay as they were": [
        ("claim", "a", 0 * MIN, NEW), ("complete", BINARY), ("claim", "a", MIN, REPLAY, BINARY),
    ],
    "another request with a finished key is a mismatch": [
        ("claim", "a", 0 * MIN, NEW), ("complete", ANSWER), ("claim", "b", MIN, MISMATCH),
        ("claim", "a", MIN, REPLAY, ANSWER),
    ],
    "another request with a key in flight is a mismatch": [
        ("claim", "a", 0 * MIN, NEW), ("claim", "b", MIN, MISMATCH),
    ],
    "the same request while in flight waits": [
        ("claim", "a", 0 * MIN, NEW), ("claim", "a", MIN, IN_FLIGHT), ("claim", "a", ABANDONED, IN_FLIGHT),
    ],
    "a claim in flight for more than five minutes is abandoned": [
        ("claim", "a", 0 * MIN, NEW), ("claim", "a", ABANDONED + TICK, NEW), ("claim", "a", 6 * MIN, IN_FLIGHT),
    ],
    "an abandoned claim may be taken over by another request": [
        ("claim", "a", 0 * MIN, NEW), ("claim", "b", ABANDONED + TICK, NEW), ("claim", "a", 6 * MIN, MISMATCH),
    ],
    "an answered key is never abandoned": [
        ("claim", "a", 0 * MIN, NEW), ("complete", ANSWER), ("claim", "b", 60 * MIN, MISMATCH),
        ("claim", "a", 60 * MIN, REPLAY, ANSWER),
    ],
    "an expired key is new again, for any request": [
        ("claim", "a", 0 * MIN, NEW), ("complete", ANSWER), ("claim", "b", TTL - TICK, MISMATCH),
        ("claim", "b", TTL, NEW), ("claim", "a", TTL + MIN, MISMATCH), ("complete", BINARY),
        ("claim", "b", TTL + MIN, REPLAY, BINARY),
    ],
    "the ttl is the claim's own": [
        ("claim_ttl", "a", 0 * MIN, 2 * MIN, NEW), ("complete", ANSWER), ("claim", "a", MIN, REPLAY, ANSWER),
        ("claim", "a", 2 * MIN, NEW),
    ],
    "a released claim may be retried": [
        ("claim", "a", 0 * MIN, NEW), ("release",), ("claim", "a", MIN, NEW), ("release",),
        ("claim", "b", 2 * MIN, NEW),
    ],
    "release keeps an answered key": [
        ("claim", "a", 0 * MIN, NEW), ("complete", ANSWER), ("release",), ("claim", "a", MIN, REPLAY, ANSWER),
    ],
    "release and complete of an unknown key change nothing": [
        ("release",), ("complete", ANSWER), ("claim", "a", 0 * MIN, NEW), ("claim", "a", MIN, IN_FLIGHT),
    ],
    "a second complete replaces the answer": [
        ("claim", "a", 0 * MIN, NEW), ("complete", ANSWER), ("complete", BINARY),
        ("claim", "a", MIN, REPLAY, BINARY),
    ],
}  # fmt: skip


@pytest.mark.parametrize("steps", list(BEHAVIOUR.values()), ids=list(BEHAVIOUR))
def test_the_idempotency_behaviour_table(keys, steps):
    tenant, key = fresh("ten"), fresh("key")
    for number, step in enumerate(steps):
        kind = step[0]
        if kind == "complete":
            keys.complete(tenant, key, step[1])
        elif kind == "release":
            keys.release(tenant, key)
        else:
            ttl = step[3] if kind == "claim_ttl" else TTL
            expected = step[4] if kind == "claim_ttl" else step[3]
            claim = keys.claim(tenant, key, step[1], T0 + step[2], ttl)
            assert claim.outcome is expected, f"step {number}: {step}"
            expected_response = step[4] if kind == "claim" and len(step) > 4 else None
            assert claim.response == expected_response, f"step {number}: {step}"


def test_the_same_key_in_two_tenants_is_two_keys(keys):
    acme, globex, key = fresh("acme"), fresh("globex"), fresh("key")
    assert keys.claim(acme, key, "a", T0, TTL).outcome is NEW
    assert keys.claim(globex, key, "b", T0, TTL).outcome is NEW
    keys.complete(acme, key, ANSWER)
    assert keys.claim(acme, key, "a", T0 + MIN, TTL).response == ANSWER
    assert keys.claim(globex, key, "b", T0 + MIN, TTL).outcome is IN_FLIGHT
    assert keys.claim(globex, key, "a", T0 + MIN, TTL).outcome is MISMATCH
    keys.release(globex, key)
    assert keys.claim(acme, key, "a", T0 + MIN, TTL).outcome is REPLAY
    assert keys.claim(globex, key, "a", T0 + MIN, TTL).outcome is NEW


def test_both_stores_abandon_claims_after_the_same_time():
    assert postgres_edge.ABANDONED_AFTER == memory_edge.ABANDONED_AFTER == ABANDONED


def run_at_once(count, work):
    """`work(i)` in `count` threads released together; the answers in thread order."""
    start, answers, failures = threading.Barrier(count), [None] * count, []

    def run(index):
        try:
            start.wait()
            answers[index] = work(index)
        except Exception as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return answers


def test_twenty_simultaneous_claims_of_one_key_make_exactly_one_owner(keys):
    tenant, key = fresh("ten"), fresh("key")
    outcomes = run_at_once(20, lambda _: keys.claim(tenant, key, "a", T0, TTL).outcome)
    assert outcomes.count(NEW) == 1
    assert outcomes.count(IN_FLIGHT) == 19


def test_twenty_simultaneous_takeovers_of_an_abandoned_key_make_exactly_one_owner(keys):
    tenant, key = fresh("ten"), fresh("key")
    assert keys.claim(tenant, key, "old", T0, TTL).outcome is NEW
    later = T0 + ABANDONED + MIN
    outcomes = run_at_once(20, lambda i: keys.claim(tenant, key, "new", later, TTL).outcome)
    assert outcomes.count(NEW) == 1
    assert outcomes.count(IN_FLIGHT) == 19


# --- rate limits -------------------------------------------------------------------------------------


def test_eight_threads_hitting_one_bucket_are_allowed_exactly_the_limit(limiter):
    bucket = fresh("checkout.create|tenant")

    def fifty_hits(_):
        return [limiter.hit(bucket, 100, MIN, T0).allowed for _ in range(50)]

    answers = [allowed for hits in run_at_once(8, fifty_hits) for allowed in hits]
    assert len(answers) == 400
    assert answers.count(True) == 100
    final = limiter.hit(bucket, 100, MIN, T0)
    assert (final.allowed, final.remaining) == (False, 100 - 401)


def test_windows_roll_over(limiter):
    bucket = fresh("default|user")
    first = [limiter.hit(bucket, 3, MIN, T0 + timedelta(seconds=s)) for s in (0, 10, 20, 29)]
    assert [d.allowed for d in first] == [True, True, True, False]
    assert [d.remaining for d in first] == [2, 1, 0, -1]
    window_end = datetime(2025, 3, 1, 12, 1, tzinfo=UTC)
    assert {d.reset_at for d in first} == {window_end}
    assert limiter.hit(bucket, 3, MIN, window_end - TICK).allowed is False
    second = limiter.hit(bucket, 3, MIN, window_end)
    assert (second.allowed, second.remaining, second.reset_at) == (True, 2, window_end + MIN)
    assert limiter.hit(fresh("other"), 3, MIN, T0).remaining == 2  # buckets count apart


def test_the_limit_is_the_callers_and_a_window_of_an_hour_resets_on_the_hour(limiter):
    bucket, hourly_bucket = fresh("refunds.create|tenant"), fresh("report|tenant")
    assert limiter.hit(bucket, 1, MIN, T0).allowed is True
    assert limiter.hit(bucket, 1, MIN, T0).allowed is False
    assert limiter.hit(bucket, 5, MIN, T0).remaining == 2  # the same window, a higher limit
    hourly = limiter.hit(hourly_bucket, 10, timedelta(hours=1), T0)
    assert (hourly.remaining, hourly.reset_at) == (9, datetime(2025, 3, 1, 13, tzinfo=UTC))
    assert limiter.hit(hourly_bucket, 10, timedelta(hours=1), T0 + 30 * MIN).remaining == 8


@pytest.mark.parametrize("limit, seconds", [(4, 60), (30, 90), (2, 10)])
def test_both_rate_limiters_decide_the_same_hits_the_same_way(pool, limit, seconds):
    memory, postgres, bucket = InMemoryRateLimiter(), PostgresRateLimiter(pool), fresh("public|ip")
    window = timedelta(seconds=seconds)
    for now in (T0 + timedelta(seconds=s) for s in range(0, 300, 3)):
        assert postgres.hit(bucket, limit, window, now) == memory.hit(bucket, limit, window, now), now


# --- PostgreSQL only: isolation, grants, housekeeping ------------------------------------------------


def test_the_migration_runner_picks_up_the_edge_migration():
    assert "edge" in {m.name for m in available() if m.version == 8}


def test_the_pool_acts_as_the_app_role_so_row_level_security_applies(pool):
    with pool.connection() as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("payments_app",)


def test_idempotency_rows_are_visible_only_to_their_tenant(pool):
    keys, acme, globex, key = PostgresIdempotencyStore(pool), fresh("acme"), fresh("globex"), fresh("key")
    keys.claim(acme, key, "a", T0, TTL)
    keys.complete(acme, key, ANSWER)
    count = "SELECT count(*) FROM idempotency_keys WHERE key = %s"
    with pool.connection() as conn:
        assert conn.execute(count, (key,)).fetchone() == (0,)  # no tenant scope: nothing
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (globex,))
        assert conn.execute(count, (key,)).fetchone() == (0,)
        assert conn.execute("UPDATE idempotency_keys SET body = 'x' WHERE key = %s", (key,)).rowcount == 0
        assert conn.execute("DELETE FROM idempotency_keys WHERE key = %s", (key,)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the policy's check on new rows
            conn.execute(
                "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, claimed_at, expires_at)"
                " VALUES (%s, %s, 'a', now(), now())",
                (acme, fresh("key")),
            )
        conn.rollback()
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (acme,))
        assert conn.execute(count, (key,)).fetchone() == (1,)
    assert keys.claim(acme, key, "a", T0 + MIN, TTL).response == ANSWER


def test_the_schema_forces_row_level_security_on_idempotency_keys_only(pg_url):
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, count(p.polname)
               FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
               WHERE c.relname IN ('idempotency_keys', 'rate_limit_hits') GROUP BY 1, 2, 3 ORDER BY 1"""
        ).fetchall()
    assert rows == [("idempotency_keys", True, True, 1), ("rate_limit_hits", False, False, 0)]


def test_the_app_role_may_only_count_hits_and_delete_expired_windows(pool):
    PostgresRateLimiter(pool).hit(fresh("bucket"), 5, MIN, T0)
    with pool.connection() as conn:
        for statement in (
            "UPDATE rate_limit_hits SET window_start = now()",
            "UPDATE rate_limit_hits SET bucket = 'elsewhere'",
            "TRUNCATE rate_limit_hits",
            "TRUNCATE idempotency_keys",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_a_failed_call_raises_a_domain_error_and_gives_the_connection_back_clean(pg_url):
    single = make_pool(pg_url, max_size=1)
    try:
        keys, tenant, key = PostgresIdempotencyStore(single), fresh("ten"), fresh("key")
        assert keys.claim(tenant, key, "a", T0, TTL).outcome is NEW
        with pytest.raises(DomainError):  # refused by the database: no HTTP status is 700
            keys.complete(tenant, key, StoredResponse(700, b"{}"))
        with pytest.raises(DomainError):  # refused before it is sent: text cannot hold NUL
            keys.claim(tenant, "nul\x00key", "a", T0, TTL)
        with single.connection() as conn:
            assert conn.autocommit is False
            assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
        assert keys.claim(tenant, key, "a", T0 + MIN, TTL).outcome is IN_FLIGHT
        keys.complete(tenant, key, ANSWER)
        assert keys.claim(tenant, key, "a", T0 + MIN, TTL).response == ANSWER
    finally:
        single.close()


def test_every_nth_call_purges_expired_rows_and_keeps_the_rest(pool):
    limiter = PostgresRateLimiter(pool, purge_every=3)
    old, live = fresh("old"), fresh("live")
    limiter.hit(old, 5, MIN, T0)
    limiter.hit(live, 5, timedelta(hours=1), T0)
    windows = "SELECT bucket FROM rate_limit_hits WHERE bucket IN (%s, %s)"
    with pool.connection() as conn:
        assert len(conn.execute(windows, (old, live)).fetchall()) == 2
    limiter.hit(live, 5, timedelta(hours=1), T0 + 2 * MIN)  # the third call: purges
    with pool.connection() as conn:
        assert conn.execute(windows, (old, live)).fetchall() == [(live,)]
    assert limiter.hit(live, 5, timedelta(hours=1), T0 + 3 * MIN).remaining == 2

    keys = PostgresIdempotencyStore(pool, purge_every=2)
    acme, globex, stale, kept = fresh("acme"), fresh("globex"), fresh("key"), fresh("key")
    keys.claim(acme, stale, "a", T0, MIN)
    keys.complete(acme, stale, ANSWER)
    keys.claim(globex, kept, "a", T0 + 2 * MIN, TTL)  # the second call: purges every tenant's expired keys
    with pool.connection() as conn:
        conn.execute("SELECT set_config('app.tenant_id', '*', true)")
        rows = conn.execute(
            "SELECT key FROM idempotency_keys WHERE key IN (%s, %s)", (stale, kept)
        ).fetchall()
    assert rows == [(kept,)]
    assert keys.claim(globex, kept, "a", T0 + 3 * MIN, TTL).outcome is IN_FLIGHT


def test_a_window_counted_for_an_hour_outlives_a_purge_after_its_first_minute(pool):
    """A window is keyed by bucket and start (as in memory): the purge keeps it while any caller counts it."""
    limiter, bucket = PostgresRateLimiter(pool, purge_every=1), fresh("mixed")
    limiter.hit(bucket, 100, MIN, T0)
    limiter.hit(bucket, 100, timedelta(hours=1), T0)
    assert limiter.hit(bucket, 100, timedelta(hours=1), T0 + 10 * MIN).remaining == 97


def test_a_purge_never_hurts_a_store_answering_in_parallel(pool):
    keys, limiter = PostgresIdempotencyStore(pool, purge_every=1), PostgresRateLimiter(pool, purge_every=1)
    tenant, bucket = fresh("ten"), fresh("bucket")

    def work(index):
        key = f"k{index % 4}"
        return keys.claim(tenant, key, "a", T0, TTL).outcome, limiter.hit(bucket, 10, MIN, T0).allowed

    answers = run_at_once(8, work)
    assert sum(outcome is NEW for outcome, _ in answers) == 4
    assert sum(allowed for _, allowed in answers) == 8
