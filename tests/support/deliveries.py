"""Fakes and checks for outbound webhook tests: a scripted sender, the delivery deps of a test core,
and a receiver's own signature check (written from the published scheme, not from the core's code)."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from adapters.memory.deliveries import InMemoryDeliveryStore
from adapters.memory.uow import InMemoryStore
from adapters.postgres.deliveries import PostgresDeliveryStore
from payments_core.model.integrations import OutboundEvent
from payments_core.ports.deliveries import (
    DeliveryStore,
    WebhookDelivery,
    WebhookSender,
    WebhookTransportError,
)
from payments_core.services.context import emit
from payments_core.services.deliveries import DeliveryDeps
from payments_core.services.webhooks import CreatedEndpoint, create_endpoint
from tests.support.core import Core

URL = "https://hooks.example.com/a"
OTHER_URL = "https://hooks.example.com/b"


@attrs.frozen
class SentRequest:
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: timedelta


class FakeSender:
    """Answers each send with the next scripted outcome (a status code, or a transport failure
    reason prefixed `!`); the last one repeats. Records every request."""

    def __init__(self, *outcomes: int | str) -> None:
        self._outcomes = list(outcomes or (200,))
        self._lock = threading.Lock()
        self.sent: list[SentRequest] = []

    def script(self, *outcomes: int | str) -> None:
        self._outcomes = list(outcomes)

    def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: timedelta) -> int:
        with self._lock:
            self.sent.append(SentRequest(url, dict(headers), body, timeout))
            outcome = self._outcomes.pop(0) if len(self._outcomes) > 1 else self._outcomes[0]
        if isinstance(outcome, str):
            raise WebhookTransportError(outcome.removeprefix("!"))
        return outcome


def delivery_store(core: Core) -> DeliveryStore:
    """The store matching the core's backend: beside the in-memory store, or on its pool."""
    if isinstance(core.store, InMemoryStore):
        return InMemoryDeliveryStore(core.store)
    pool: Any = core.deps.uow.pool  # type: ignore[attr-defined]
    return PostgresDeliveryStore(pool)


def delivery_deps(
    core: Core, sender: WebhookSender, random_value: float = 0.5, store: DeliveryStore | None = None
) -> DeliveryDeps:
    """0.5 is the middle of the jitter: retry delays come out exactly 30 s, 60 s, 120 s..."""
    return DeliveryDeps(
        core=core.deps,
        store=store or delivery_store(core),
        sender=sender,
        random=lambda: random_value,
    )


def signature_values(header: str) -> tuple[int, list[str]]:
    """Parse `t=<unix>,v1=<hex>[,v1=<hex>...]` as a receiver would."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key == "t":
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    assert timestamp is not None, header
    return timestamp, signatures


def receiver_accepts(header: str, body: bytes, secret: str, now_unix: int, tolerance: int = 300) -> bool:
    """What a receiver does: recompute HMAC-SHA256 over "{t}.{body}", compare in constant time."""
    timestamp, signatures = signature_values(header)
    if abs(now_unix - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def endpoint(
    core: Core, url: str = URL, tenant_id: str = "t1", types: tuple[str, ...] = ("*",)
) -> CreatedEndpoint:
    """A new endpoint of the tenant (and its secret), made by a person with a fresh MFA."""
    return create_endpoint(core.deps, core.user("alice", tenant_id=tenant_id), url, list(types))


def event(
    core: Core, event_type: str = "payment.completed", tenant_id: str = "t1", **data: Any
) -> OutboundEvent:
    """An outbox event, written the way every use case writes one."""
    with core.deps.uow() as uow:
        emitted = emit(uow, core.deps, tenant_id, event_type, data or {"paymentId": "pay_1"}, livemode=False)
        uow.commit()
    return emitted


def all_deliveries(deps: DeliveryDeps, tenant_id: str = "t1") -> list[WebhookDelivery]:
    return list(deps.store.search(tenant_id, None, None, 0, 100).items)


def only(deps: DeliveryDeps, tenant_id: str = "t1") -> WebhookDelivery:
    [delivery] = all_deliveries(deps, tenant_id)
    return delivery
