"""Idempotency keys and rate-limit counters in PostgreSQL: one copy shared by every worker.

Invariants
- Same behaviour as the in-memory stores (adapters/memory/edge.py), decided by the caller's `now`:
  a key may be claimed anew once it expired (`expires_at <= now`) or once its request has been in
  flight for more than `ABANDONED_AFTER`; `complete` stores the answer of a key that exists;
  `release` deletes only a key still in flight.
- Every call is one short transaction sent as one pipeline (BEGIN, scope, statement, COMMIT): one
  round trip (a claim that lost a race: two). Idempotency rows are scoped by the transaction-local
  `app.tenant_id`, so row-level security backs the `tenant_id` filter of every statement.
- A claim is one INSERT … ON CONFLICT DO UPDATE that only takes over an expired or abandoned key:
  concurrent claims of one key serialise on its row, and exactly one of them answers NEW. The
  others read the row that beat them; if their statement's snapshot predates it (it was
  committed while they waited), they ask again in a new transaction.
- A hit is one INSERT … ON CONFLICT DO UPDATE SET hits = hits + cost RETURNING hits: the count is
  exact across workers.
- Every `purge_every`-th call also deletes expired rows (idempotency keys past their ttl, windows
  past their end), a bounded batch that skips rows another transaction holds.
- No psycopg exception leaves this module (`rows.guarded`).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any, Final, LiteralString

from psycopg import Connection
from psycopg_pool import ConnectionPool

from adapters.postgres.rows import ALL_TENANTS, StorageFailure, guarded
from payments_core.ports.edge import ClaimOutcome, IdempotencyClaim, RateDecision, StoredResponse

# A claim whose request never finished (its process died) may be taken over after this long.
ABANDONED_AFTER: Final = timedelta(minutes=5)
PURGE_EVERY: Final = 1000
PURGE_BATCH: Final = 1000
# A claim that lost a race reads the winner in a new transaction; past this many tries (the key
# changing hands every time) it answers IN_FLIGHT, which the caller may simply retry.
CLAIM_ATTEMPTS: Final = 3

_SCOPE: Final = "SELECT set_config('app.tenant_id', %s, true)"

_CLAIM: Final = """
WITH claimed AS (
    INSERT INTO idempotency_keys AS held (tenant_id, key, fingerprint, claimed_at, expires_at)
    VALUES (%(tenant)s, %(key)s, %(fingerprint)s, %(now)s, %(expires)s)
    ON CONFLICT (tenant_id, key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, claimed_at = EXCLUDED.claimed_at,
            expires_at = EXCLUDED.expires_at, status = NULL, body = NULL, content_type = NULL
        WHERE held.expires_at <= EXCLUDED.claimed_at
           OR (held.status IS NULL AND held.claimed_at < EXCLUDED.claimed_at - %(abandoned)s)
    RETURNING 1
)
SELECT true, NULL, NULL, NULL, NULL FROM claimed
UNION ALL
SELECT false, fingerprint, status, body, content_type FROM idempotency_keys
WHERE tenant_id = %(tenant)s AND key = %(key)s AND NOT EXISTS (SELECT FROM claimed)
  AND expires_at > %(now)s AND NOT (status IS NULL AND claimed_at < %(now)s - %(abandoned)s)
"""
# The second SELECT reads the statement's snapshot: a row that is not blocking there (absent,
# expired, abandoned) yet blocked the INSERT was committed meanwhile, so no row comes back.

_COMPLETE: Final = """
UPDATE idempotency_keys SET status = %s, body = %s, content_type = %s
WHERE tenant_id = %s AND key = %s
"""

_RELEASE: Final = "DELETE FROM idempotency_keys WHERE tenant_id = %s AND key = %s AND status IS NULL"

_PURGE_KEYS: Final = """
DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (
    SELECT tenant_id, key FROM idempotency_keys WHERE expires_at <= %s
    LIMIT %s FOR UPDATE SKIP LOCKED)
"""

_HIT: Final = """
INSERT INTO rate_limit_hits (bucket, window_start, expires_at, hits) VALUES (%s, %s, %s, %s)
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_hits.hits + EXCLUDED.hits,
    expires_at = GREATEST(rate_limit_hits.expires_at, EXCLUDED.expires_at)
RETURNING hits
"""
# A window is keyed by its start, like the in-memory one; should a bucket be counted with windows of
# two lengths, the row lives until the longer one ends, so the purge never resets a live count.

_PURGE_WINDOWS: Final = """
DELETE FROM rate_limit_hits WHERE (bucket, window_start) IN (
    SELECT bucket, window_start FROM rate_limit_hits WHERE expires_at <= %s
    LIMIT %s FOR UPDATE SKIP LOCKED)
"""


class _Housekeeping:
    """Counts calls; says when this one should also purge expired rows."""

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError("purge_every must be at least 1")
        self._every = every
        self._calls = itertools.count(1)  # next() is atomic under the GIL: threads share it safely

    def due(self) -> bool:
        return next(self._calls) % self._every == 0


def _one_row(
    pool: ConnectionPool[Any],
    scope: str | None,
    statements: list[tuple[LiteralString, Any]],
) -> tuple[Any, ...] | None:
    """Run `statements` in one transaction, in one round trip. Returns the first row the first
    statement answered (None if none, or if it answers no rows at all: UPDATE, DELETE)."""
    with guarded(), pool.connection() as conn:
        first = _pipelined(conn, scope, statements)[0]
        return first.fetchone() if first.description is not None else None


def _pipelined(
    conn: Connection[Any], scope: str | None, statements: list[tuple[LiteralString, Any]]
) -> list[Any]:
    """BEGIN … COMMIT written out in autocommit mode: psycopg's own BEGIN would wait for its answer
    (measured: 4 round trips instead of 1). The connection goes back to the pool as it came:
    outside a transaction, autocommit off."""
    conn.autocommit = True
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            if scope is not None:
                conn.execute(_SCOPE, (scope,))
            cursors = [conn.execute(query, params) for query, params in statements]
            conn.execute("COMMIT")
        return cursors
    finally:
        if not conn.broken:
            conn.rollback()  # nothing to do after COMMIT; ends the transaction a failed statement aborted
            conn.autocommit = False


class PostgresIdempotencyStore:
    def __init__(self, pool: ConnectionPool[Any], purge_every: int = PURGE_EVERY) -> None:
        self._pool = pool
        self._housekeeping = _Housekeeping(purge_every)

    def claim(
        self, tenant_id: str, key: str, fingerprint: str, now: datetime, ttl: timedelta
    ) -> IdempotencyClaim:
        params = {
            "tenant": tenant_id,
            "key": key,
            "fingerprint": fingerprint,
            "now": now,
            "expires": now + ttl,
            "abandoned": ABANDONED_AFTER,
        }
        if self._housekeeping.due():  # before the claim: should it fail, no key is left claimed
            _one_row(self._pool, ALL_TENANTS, [(_PURGE_KEYS, (now, PURGE_BATCH))])
        for _ in range(CLAIM_ATTEMPTS):
            row = _one_row(self._pool, tenant_id, [(_CLAIM, params)])
            if row is not None:
                return _outcome(row, fingerprint)
        return IdempotencyClaim(ClaimOutcome.IN_FLIGHT)

    def complete(self, tenant_id: str, key: str, response: StoredResponse) -> None:
        answer = (response.status, response.body, response.content_type, tenant_id, key)
        _one_row(self._pool, tenant_id, [(_COMPLETE, answer)])

    def release(self, tenant_id: str, key: str) -> None:
        _one_row(self._pool, tenant_id, [(_RELEASE, (tenant_id, key))])


def _outcome(row: tuple[Any, ...], fingerprint: str) -> IdempotencyClaim:
    new, stored_fingerprint, status, body, content_type = row
    if new:
        return IdempotencyClaim(ClaimOutcome.NEW)
    if stored_fingerprint != fingerprint:
        return IdempotencyClaim(ClaimOutcome.MISMATCH)
    if status is None:
        return IdempotencyClaim(ClaimOutcome.IN_FLIGHT)
    return IdempotencyClaim(ClaimOutcome.REPLAY, StoredResponse(status, bytes(body), content_type))


class PostgresRateLimiter:
    def __init__(self, pool: ConnectionPool[Any], purge_every: int = PURGE_EVERY) -> None:
        self._pool = pool
        self._housekeeping = _Housekeeping(purge_every)

    def hit(self, bucket: str, limit: int, window: timedelta, now: datetime, cost: int = 1) -> RateDecision:
        span = int(window.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // span * span, now.tzinfo)
        reset_at = start + window
        statements: list[tuple[LiteralString, Any]] = [(_HIT, (bucket, start, reset_at, cost))]
        if self._housekeeping.due():
            statements.append((_PURGE_WINDOWS, (now, PURGE_BATCH)))
        row = _one_row(self._pool, None, statements)
        if row is None:  # RETURNING answers the row it inserted or updated: never happens
            raise StorageFailure("the rate-limit counter did not answer")
        count = int(row[0])
        return RateDecision(count <= limit, limit, limit - count, reset_at)
