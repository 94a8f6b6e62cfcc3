"""Outbound webhook deliveries of the tenant: what was sent where, and the manual replay of a dead letter.

    GET  /webhooks/deliveries                   newest first; ?status=, ?eventId=, ?page=, ?limit=
    GET  /webhooks/deliveries/{id}              one delivery
    POST /webhooks/deliveries/{id}/replay       a failed delivery back to pending, due now

Invariants
- All three need `webhooks.manage` (the core checks it); another tenant's delivery is 404
  `RESOURCE_NOT_FOUND`; replaying anything but a failed delivery is 400 `INVALID_OPERATION`.
- No answer carries an event's payload, a signature or a secret: only ids, status and the short
  `lastError` the worker chose ("HTTP 500", "timeout").
- The use cases are the facade's `deliveries` (`payments_core.services.deliveries` bound to the
  delivery store and sender the composition root chose); without them every route answers 503
  `PROVIDER_UNAVAILABLE` and nothing is read or written.
"""

from __future__ import annotations

from math import ceil
from typing import Annotated, Any, Final

from litestar import Controller, get, post
from litestar.params import FromPath, QueryParameter

from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime
from entrypoints.http.runtime import HttpRuntime
from entrypoints.http.views import iso
from payments_core.errors import ProviderUnavailable
from payments_core.ports.deliveries import WebhookDelivery
from payments_core.services.deliveries import MAX_ID_LENGTH, MAX_PAGE
from payments_core.states import DeliveryStatus

DEFAULT_LIMIT: Final = 20
_QUEUED: Final = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


def _deliveries(runtime: HttpRuntime) -> Any:
    """The facade's bound delivery use cases, or 503 when this deployment runs no delivery worker."""
    bound = getattr(runtime.core, "deliveries", None)
    if bound is None:
        raise ProviderUnavailable("webhook deliveries are not configured", provider="webhooks")
    return bound


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "eventId": delivery.event_id,
        "eventType": delivery.event_type,
        "endpointId": delivery.endpoint_id,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "nextAttemptAt": iso(delivery.next_attempt_at) if delivery.status in _QUEUED else None,
        "deliveredAt": iso(delivery.delivered_at) if delivery.delivered_at is not None else None,
        "createdAt": iso(delivery.created_at),
    }


class DeliveriesController(Controller):
    path = "/webhooks/deliveries"
    tags = ["webhook deliveries"]

    @get("/", sync_to_thread=True)
    def list_deliveries(
        self,
        runtime: Runtime,
        principal: Caller,
        page: Annotated[int, QueryParameter(ge=1, le=100_000)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = DEFAULT_LIMIT,
        status: Annotated[str | None, QueryParameter(max_length=20)] = None,
        event_id: Annotated[str | None, QueryParameter(name="eventId", max_length=MAX_ID_LENGTH)] = None,
    ) -> dict[str, Any]:
        found = _deliveries(runtime).list_deliveries(
            principal, status=status, event_id=event_id, offset=(page - 1) * limit, limit=limit
        )
        return {
            "deliveries": [delivery_json(delivery) for delivery in found.items],
            "pagination": {
                "currentPage": page,
                "totalPages": ceil(found.total / limit),
                "totalItems": found.total,
                "itemsPerPage": limit,
            },
        }

    @get("/{delivery_id:str}", sync_to_thread=True)
    def get_delivery(self, runtime: Runtime, principal: Caller, delivery_id: FromPath[str]) -> dict[str, Any]:
        return delivery_json(_deliveries(runtime).get_delivery(principal, delivery_id))

    @post("/{delivery_id:str}/replay", status_code=200, sync_to_thread=True, opt={"idempotent": True})
    def replay_delivery(
        self,
        runtime: Runtime,
        principal: Caller,
        delivery_id: FromPath[str],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Due now; a fresh 3-day retry window starts with it."""
        return delivery_json(_deliveries(runtime).replay(principal, delivery_id))


ROUTES = [DeliveriesController]
