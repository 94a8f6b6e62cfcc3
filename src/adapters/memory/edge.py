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
    """Each (bucket, window start) counts on its own and is forgotten once its window has ended,
    so buckets with different window lengths never reset each other."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, datetime], tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, limit: int, window: timedelta, now: datetime, cost: int = 1) -> RateDecision:
        span = int(window.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // span * span, now.tzinfo)
        with self._lock:
            for ended in [key for key, (_, ends_at) in self._counts.items() if ends_at <= now]:
                del self._counts[ended]
            count, ends_at = self._counts.get((bucket, start), (0, start + window))
            count += cost
            self._counts[(bucket, start)] = (count, max(ends_at, start + window))
        return RateDecision(count <= limit, limit, limit - count, start + window)
