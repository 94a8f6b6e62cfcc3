"""Outbound webhooks to tenants: fan out the outbox, deliver signed events, retry, replay by hand.

Invariants
- An outbox event becomes one delivery per active endpoint of its tenant that wants its type, or
  one delivery to its own endpoint when it names one (a test event); fanning out twice, or from two
  workers at once, adds nothing (the store keeps one delivery per (event, endpoint)).
- A delivery is sent by one worker at a time (`DeliveryStore.claim_due`), outside any transaction,
  as `POST` of `{"id","type","created","livemode","data"}` with `Payments-Signature:
  t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">` under the endpoint's secret (one `v1` per valid
  secret) and the event id in `Payments-Event-Id` and `Idempotency-Key`: a receiver dedupes on it,
  since a delivery may arrive more than once (a worker that dies after sending is retried).
- Status moves only through `states.WEBHOOK_DELIVERY`: a 2xx answer → delivered; anything else, or
  no answer → retrying after `retry_delay` (30 s * 2^(n-1), capped at 6 h, ±20 % jitter from the
  injected random source); a failed attempt whose next try would fall past `retry_until` (3 days
  after the event) → failed, a dead letter that `replay` (scope `webhooks.manage`) puts back to
  pending with a fresh 3-day window. A deleted endpoint fails its deliveries at once.
- `last_error` is chosen here ("HTTP 503", "timeout"): no response body, header or secret is kept.
- The core stays pure: the clock, the random source, the store and the HTTP sender are ports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs

from payments_core.errors import InvalidOperation, ValidationError
from payments_core.model.common import check_text
from payments_core.model.integrations import OutboundEvent, WebhookEndpoint
from payments_core.policies import Operation, Principal, require_scope
from payments_core.ports import Page
from payments_core.ports.deliveries import (
    ClaimedDelivery,
    DeliveryStore,
    WebhookDelivery,
    WebhookSender,
    WebhookTransportError,
)
from payments_core.services.context import Deps, audit, found
from payments_core.states import WEBHOOK_DELIVERY, DeliveryStatus

RETRY_WINDOW: Final = timedelta(days=3)
BASE_DELAY: Final = timedelta(seconds=30)
MAX_DELAY: Final = timedelta(hours=6)
JITTER: Final = 0.2
LEASE: Final = timedelta(minutes=5)  # longer than any send may take
SEND_TIMEOUT: Final = timedelta(seconds=10)
MAX_PAGE: Final = 100
MAX_ID_LENGTH: Final = 100

SIGNATURE_HEADER: Final = "Payments-Signature"
EVENT_ID_HEADER: Final = "Payments-Event-Id"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
USER_AGENT: Final = "payments-core-webhooks/1"


@attrs.frozen
class DeliveryDeps:
    """What the delivery worker and the delivery use cases need beyond the core's ports."""

    core: Deps
    store: DeliveryStore
    sender: WebhookSender
    random: Callable[[], float]  # uniform in [0, 1): the retry jitter
    timeout: timedelta = SEND_TIMEOUT
    lease: timedelta = LEASE


@attrs.frozen
class WorkReport:
    """One pass of the worker: deliveries created, attempted, and delivered."""

    fanned_out: int
    attempted: int
    delivered: int


# --- pure helpers: what a receiver can check independently ---------------------------------------


def event_body(event: OutboundEvent) -> bytes:
    """The JSON a receiver gets: compact, UTF-8, the same bytes for every attempt."""
    payload = {
        "id": event.id,
        "type": event.type,
        "created": int(event.created_at.timestamp()),
        "livemode": event.livemode,
        "data": dict(event.data),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"{t}.{body}"`, Stripe's scheme."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<sig>[,v1=<sig>]`: one v1 per secret, so a receiver mid-rotation accepts either."""
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    return ",".join([f"t={timestamp}", *(f"v1={sign(secret, timestamp, body)}" for secret in secrets)])


def retry_delay(attempts: int, random_value: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: exponential, capped, jittered by ±JITTER."""
    exponent = min(max(attempts, 1) - 1, 20)
    base: timedelta = min(BASE_DELAY * (2**exponent), MAX_DELAY)
    unit = min(max(random_value, 0.0), 1.0)
    return base * (1 + JITTER * (2 * unit - 1))


def _headers(event: OutboundEvent, signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature,
        EVENT_ID_HEADER: event.id,
        IDEMPOTENCY_HEADER: event.id,
    }


# --- the worker ---------------------------------------------------------------------------------


def fan_out(deps: DeliveryDeps, now: datetime, limit: int = 100) -> int:
    """Turn up to `limit` new outbox events into deliveries; the number of deliveries created."""
    events = deps.store.unfanned_events(now - RETRY_WINDOW, limit)
    endpoints_of: dict[str, list[WebhookEndpoint]] = {}
    created = 0
    for event in events:
        if event.tenant_id not in endpoints_of:
            with deps.core.uow.reader() as uow:
                endpoints_of[event.tenant_id] = uow.webhook_endpoints.for_tenant(event.tenant_id)
        targets = _targets(event, endpoints_of[event.tenant_id])
        deliveries = [_new_delivery(deps, event, endpoint, now) for endpoint in targets]
        deps.store.fan_out(event, deliveries)
        created += len(deliveries)
    return created


def _targets(event: OutboundEvent, active: list[WebhookEndpoint]) -> list[WebhookEndpoint]:
    """An event naming an endpoint goes there only (if it is still active); others to every taker
    that was registered when the event happened: a new endpoint is not sent the tenant's past."""
    if event.endpoint_id is not None:
        return [endpoint for endpoint in active if endpoint.id == event.endpoint_id]
    return [
        endpoint
        for endpoint in active
        if endpoint.is_active and endpoint.created_at <= event.created_at and endpoint.wants(event.type)
    ]


def _new_delivery(
    deps: DeliveryDeps, event: OutboundEvent, endpoint: WebhookEndpoint, now: datetime
) -> WebhookDelivery:
    return WebhookDelivery(
        id=deps.core.ids.new_id("whd"),
        tenant_id=event.tenant_id,
        event_id=event.id,
        endpoint_id=endpoint.id,
        event_type=event.type,
        status=WEBHOOK_DELIVERY.initial,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        retry_until=event.created_at + RETRY_WINDOW,
    )


def deliver_due(deps: DeliveryDeps, now: datetime, limit: int = 50) -> list[WebhookDelivery]:
    """Claim up to `limit` due deliveries and attempt each once; what each attempt recorded."""
    claims = deps.store.claim_due(now, limit, deps.lease)
    outcomes = [_attempt(deps, claim) for claim in claims]
    return [outcome for outcome in outcomes if outcome is not None]


def work_once(deps: DeliveryDeps, now: datetime, batch: int = 50) -> WorkReport:
    """One pass of `payments worker`: fan out, then deliver what is due."""
    fanned_out = fan_out(deps, now, batch)
    outcomes = deliver_due(deps, now, batch)
    delivered = sum(1 for outcome in outcomes if outcome.status is DeliveryStatus.DELIVERED)
    return WorkReport(fanned_out, len(outcomes), delivered)


def _attempt(deps: DeliveryDeps, claim: ClaimedDelivery) -> WebhookDelivery | None:
    """Send once and record the outcome; None when another worker took the delivery over meanwhile."""
    delivery = claim.delivery
    with deps.core.uow.reader() as uow:
        endpoint = uow.webhook_endpoints.get(delivery.tenant_id, delivery.endpoint_id)
    if endpoint is None or not endpoint.is_active:
        return _record(deps, delivery, DeliveryStatus.FAILED, None, "endpoint deleted")
    body = event_body(claim.event)
    now = deps.core.clock.now()
    secrets = [deps.core.secret_box.open(sealed) for sealed in endpoint.signing_secrets_sealed(now)]
    timestamp = int(now.timestamp())
    headers = _headers(claim.event, signature_header(secrets, timestamp, body))
    status_code: int | None = None
    problem: str | None
    try:
        status_code = deps.sender.send(endpoint.url, headers, body, deps.timeout)
    except WebhookTransportError as error:
        problem = error.reason
    else:
        problem = None if _accepted(status_code) else f"HTTP {status_code}"
    if problem is None:
        return _record(deps, delivery, DeliveryStatus.DELIVERED, status_code, None)
    retry_at = deps.core.clock.now() + retry_delay(delivery.attempts, deps.random())
    if retry_at > delivery.retry_until:
        return _record(deps, delivery, DeliveryStatus.FAILED, status_code, problem)
    return _record(deps, delivery, DeliveryStatus.RETRYING, status_code, problem, retry_at)


def _accepted(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def _record(
    deps: DeliveryDeps,
    delivery: WebhookDelivery,
    target: DeliveryStatus,
    status_code: int | None,
    problem: str | None,
    retry_at: datetime | None = None,
) -> WebhookDelivery | None:
    now = deps.core.clock.now()
    changed = attrs.evolve(
        delivery,
        status=WEBHOOK_DELIVERY.require(delivery.status, target),
        next_attempt_at=retry_at or now,
        last_status_code=status_code,
        last_error=problem,
        delivered_at=now if target is DeliveryStatus.DELIVERED else None,
    )
    return deps.store.update(changed, delivery.version)


# --- the use cases ------------------------------------------------------------------------------


def replay(deps: DeliveryDeps, principal: Principal, delivery_id: str) -> WebhookDelivery:
    """Put a failed delivery back in the queue, due now, with a fresh retry window."""
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    check_text("deliveryId", delivery_id, MAX_ID_LENGTH)
    current = _delivery_of(deps, principal, delivery_id)
    now = deps.core.clock.now()
    replayed = attrs.evolve(
        current,
        status=WEBHOOK_DELIVERY.require(current.status, DeliveryStatus.PENDING),
        attempts=0,
        next_attempt_at=now,
        retry_until=now + RETRY_WINDOW,
    )
    with deps.core.uow() as uow:
        stored = deps.store.update(replayed, current.version)
        if stored is None:
            raise InvalidOperation("the delivery changed meanwhile; read it again", deliveryId=delivery_id)
        audit(
            uow, deps.core, principal, "webhook_delivery.replayed", "webhook_delivery", stored.id,
            stored.tenant_id, eventId=stored.event_id, endpointId=stored.endpoint_id,
        )  # fmt: skip
        uow.commit()
    return stored


def get_delivery(deps: DeliveryDeps, principal: Principal, delivery_id: str) -> WebhookDelivery:
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    check_text("deliveryId", delivery_id, MAX_ID_LENGTH)
    return _delivery_of(deps, principal, delivery_id)


def list_deliveries(
    deps: DeliveryDeps,
    principal: Principal,
    status: str | None = None,
    event_id: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> Page[WebhookDelivery]:
    """The tenant's deliveries, newest first, optionally of one status or one event."""
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    wanted = parse_delivery_status(status) if status is not None else None
    check_text("eventId", event_id, MAX_ID_LENGTH, optional=True)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValidationError("offset must be a non-negative integer", field="offset")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1 to {MAX_PAGE}", field="limit", maximum=MAX_PAGE)
    return deps.store.search(principal.tenant_id, wanted, event_id, offset, limit)


def parse_delivery_status(value: str) -> DeliveryStatus:
    try:
        return DeliveryStatus(value)
    except ValueError:
        raise ValidationError(
            "status is not a delivery status",
            field="status",
            allowedValues=sorted(member.value for member in DeliveryStatus),
        ) from None


def _delivery_of(deps: DeliveryDeps, principal: Principal, delivery_id: str) -> WebhookDelivery:
    return found(deps.store.get(principal.tenant_id, delivery_id), "webhook_delivery", delivery_id)
