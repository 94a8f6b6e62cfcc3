"""What the API edge needs to stay correct across many server processes: idempotent replays and
shared rate-limit counters. The core's use cases never call these; the HTTP pipeline does, and
an embedding service may too. Both live in a store every worker shares (PostgreSQL in production).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import attrs


@attrs.frozen
class StoredResponse:
    """A response as it went out the first time: replayed byte for byte."""

    status: int
    body: bytes
    content_type: str = "application/json"


class ClaimOutcome(StrEnum):
    NEW = "new"  # the caller owns the key now and must complete or release it
    REPLAY = "replay"  # the same request finished before: answer `response`
    MISMATCH = "mismatch"  # the key was used with another request
    IN_FLIGHT = "in_flight"  # the same key is being processed right now


@attrs.frozen
class IdempotencyClaim:
    outcome: ClaimOutcome
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    """Keys are scoped per tenant; a key lives `ttl` from its first use, then may be used anew."""

    def claim(
        self, tenant_id: str, key: str, fingerprint: str, now: datetime, ttl: timedelta
    ) -> IdempotencyClaim: ...

    def complete(self, tenant_id: str, key: str, response: StoredResponse) -> None: ...

    def release(self, tenant_id: str, key: str) -> None:
        """Forget a claim whose request failed and changed nothing, so it may be retried."""
        ...


@attrs.frozen
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: datetime


class RateLimiter(Protocol):
    """Fixed windows: `limit` hits per `window` per bucket, counted for every worker at once.
    `cost` hits are counted at once (a process leasing several); `allowed` means all of them fit."""

    def hit(
        self, bucket: str, limit: int, window: timedelta, now: datetime, cost: int = 1
    ) -> RateDecision: ...
