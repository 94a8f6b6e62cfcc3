"""Idempotency keys and rate-limit counters in one process's memory: for tests and embedding.
A deployment with more than one worker needs the PostgreSQL ones, which every worker shares."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import attrs

from payments_core.ports.edge import ClaimOutcome, IdempotencyClaim, RateDecision, StoredResponse

# A claim whose request never finished (its process died) may be taken over after this long.
ABANDONED_AFTER = timedelta(minutes=5)


@attrs.define
class _Entry:
    fingerprint: str
    claimed_at: datetime
    expires_at: datetime
    response: StoredResponse | None = None


class InMemoryIdempotencyStore:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def claim(
        self, tenant_id: str, key: str, fingerprint: str, now: datetime, ttl: timedelta
    ) -> IdempotencyClaim:
        with self._lock:
            entry = self._entries.get((tenant_id, key))
            abandoned = (
                entry is not None and entry.response is None and now - entry.claimed_at > ABANDONED_AFTER
            )
            if entry is None or entry.expires_at <= now or abandoned:
                self._entries[(tenant_id, key)] = _Entry(fingerprint, now, now + ttl)
                return IdempotencyClaim(ClaimOutcome.NEW)
            if entry.fingerprint != fingerprint:
                return IdempotencyClaim(ClaimOutcome.MISMATCH)
            if entry.response is None:
                return IdempotencyClaim(ClaimOutcome.IN_FLIGHT)
            return IdempotencyClaim(ClaimOutcome.REPLAY, entry.response)

    def complete(self, tenant_id: str, key: str, response: StoredResponse) -> None:
        with self._lock:
            entry = self._entries.get((tenant_id, key))
            if entry is not None:
                entry.response = response

    def release(self, tenant_id: str, key: str) -> None:
        with self._lock:
            entry = self._entries.get((tenant_id, key))
            if entry is not None and entry.response is None:
                del self._entries[(tenant_id, key)]


class InMemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, datetime], int] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, limit: int, window: timedelta, now: datetime) -> RateDecision:
        span = int(window.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // span * span, now.tzinfo)
        with self._lock:
            for stale in [k for k in self._counts if k[1] < start]:
                del self._counts[stale]
            count = self._counts.get((bucket, start), 0) + 1
            self._counts[(bucket, start)] = count
        return RateDecision(count <= limit, limit, limit - count, start + window)
