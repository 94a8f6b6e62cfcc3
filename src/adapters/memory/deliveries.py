"""Webhook delivery state in memory, beside an `InMemoryStore`'s outbox.

Invariants
- Same behaviour as the PostgreSQL store (adapters/postgres/deliveries.py): one delivery per
  (event, endpoint); an event is fanned out once; a claim counts the attempt and pushes the
  delivery past its lease; every change is a compare-and-set on `version`.
- Every call runs under the store's lock (re-entrant: a use case may call it inside a unit of
  work), so claims by several threads never hand out one delivery twice.
- Outbox events are read in insertion order, the order PostgreSQL's `seq` gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from adapters.memory.uow import InMemoryStore
from payments_core.model.integrations import OutboundEvent
from payments_core.ports import Page
from payments_core.ports.deliveries import ClaimedDelivery, WebhookDelivery
from payments_core.states import DeliveryStatus

_DUE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class InMemoryDeliveryStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._deliveries: dict[str, WebhookDelivery] = {}
        self._by_target: set[tuple[str, str, str]] = set()  # (tenant, event, endpoint)
        self._fanned_out: set[tuple[str, str]] = set()  # (tenant, event)

    def unfanned_events(self, since: datetime, limit: int) -> list[OutboundEvent]:
        with self._store.lock:
            fresh = [
                event
                for event in self._store.outbox.table.rows()
                if event.created_at >= since and (event.tenant_id, event.id) not in self._fanned_out
            ]
        return fresh[:limit]

    def fan_out(self, event: OutboundEvent, deliveries: Sequence[WebhookDelivery]) -> None:
        with self._store.lock:
            self._fanned_out.add((event.tenant_id, event.id))
            for delivery in deliveries:
                target = (delivery.tenant_id, delivery.event_id, delivery.endpoint_id)
                if target in self._by_target or delivery.id in self._deliveries:
                    continue
                self._by_target.add(target)
                self._deliveries[delivery.id] = delivery

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        with self._store.lock:
            due = sorted(
                (d for d in self._deliveries.values() if d.status in _DUE and d.next_attempt_at <= now),
                key=lambda d: (d.next_attempt_at, d.id),
            )
            claimed = []
            for delivery in due[:limit]:
                event = self._store.outbox.table.get((delivery.tenant_id, delivery.event_id))
                if event is None:
                    continue
                held = attrs.evolve(
                    delivery,
                    attempts=delivery.attempts + 1,
                    next_attempt_at=now + lease,
                    version=delivery.version + 1,
                )
                self._deliveries[held.id] = held
                claimed.append(ClaimedDelivery(held, event))
            return claimed

    def update(self, delivery: WebhookDelivery, expected_version: int) -> WebhookDelivery | None:
        with self._store.lock:
            current = self._deliveries.get(delivery.id)
            if current is None or current.tenant_id != delivery.tenant_id:
                return None
            if current.version != expected_version:
                return None
            stored = attrs.evolve(delivery, version=expected_version + 1)
            self._deliveries[stored.id] = stored
            return stored

    def get(self, tenant_id: str, delivery_id: str) -> WebhookDelivery | None:
        with self._store.lock:
            delivery = self._deliveries.get(delivery_id)
        return delivery if delivery is not None and delivery.tenant_id == tenant_id else None

    def search(
        self,
        tenant_id: str,
        status: DeliveryStatus | None,
        event_id: str | None,
        offset: int,
        limit: int,
    ) -> Page[WebhookDelivery]:
        with self._store.lock:
            matches = [
                d
                for d in self._deliveries.values()
                if d.tenant_id == tenant_id
                and (status is None or d.status is status)
                and (event_id is None or d.event_id == event_id)
            ]
        matches.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return Page(tuple(matches[offset : offset + limit]), len(matches))
