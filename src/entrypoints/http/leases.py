"""Rate limiting without a database round trip per request: each process leases hits in chunks.

Invariants
- The shared store stays the only authority: a process admits a request only out of hits it has
  counted there, so all processes together never admit more than the limit per window.
- A chunk is 2% of the limit (at least 1): limits of up to 99 hits a window are counted one by one,
  exactly as without leases. Hits a process leased but did not use stay unused until the window
  ends: at most 2% of a limit per process, the price of not asking the store every time.
- A lease belongs to one (bucket, window start): a new window starts with no lease.
- `admit_locally` never blocks and never does I/O; it answers None when the store must be asked.
  Once the store has nothing left in a window, the process refuses locally until the window ends
  (a shared count only grows), so a throttled client costs the store nothing more.
- `X-RateLimit-Remaining` is the shared count as last read, minus what this process used since.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Final

import attrs

from payments_core.ports.edge import RateDecision, RateLimiter

LEASE_FRACTION: Final = 50  # a chunk is 1/50 of the limit


@attrs.define
class _Lease:
    window_start: datetime
    left: int  # leased hits not used yet
    shared_remaining: int  # the store's remaining count when this lease was taken
    exhausted: bool = False  # the store had nothing left for this window: counts only grow


def _window_start(now: datetime, window: timedelta) -> datetime:
    span = int(window.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // span * span, now.tzinfo)


class LeasingRateLimiter:
    def __init__(self, shared: RateLimiter) -> None:
        self._shared = shared
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def admit_locally(self, bucket: str, limit: int, window: timedelta, now: datetime) -> RateDecision | None:
        start = _window_start(now, window)
        with self._lock:
            lease = self._leases.get(bucket)
            if lease is None or lease.window_start != start:
                return None
            if lease.exhausted:
                return RateDecision(False, limit, 0, start + window)
            if lease.left <= 0:
                return None
            lease.left -= 1
            return RateDecision(True, limit, max(0, lease.shared_remaining + lease.left), start + window)

    def hit(self, bucket: str, limit: int, window: timedelta, now: datetime, cost: int = 1) -> RateDecision:
        if cost != 1:
            raise ValueError("requests are admitted one at a time")
        local = self.admit_locally(bucket, limit, window, now)
        if local is not None:
            return local
        chunk = max(1, limit // LEASE_FRACTION)
        decision = self._shared.hit(bucket, limit, window, now, chunk)
        counted_before = limit - decision.remaining - chunk
        granted = max(0, min(chunk, limit - counted_before))
        with self._lock:
            if granted == 0:
                self._leases[bucket] = _Lease(_window_start(now, window), 0, 0, exhausted=True)
                return RateDecision(False, limit, 0, decision.reset_at)
            self._forget_ended(now)
            self._leases[bucket] = _Lease(_window_start(now, window), granted - 1, max(0, decision.remaining))
        return RateDecision(True, limit, max(0, decision.remaining + granted - 1), decision.reset_at)

    def _forget_ended(self, now: datetime) -> None:
        if len(self._leases) > 10_000:
            for bucket in [
                b for b, lease in self._leases.items() if lease.window_start < now - timedelta(hours=1)
            ]:
                del self._leases[bucket]
