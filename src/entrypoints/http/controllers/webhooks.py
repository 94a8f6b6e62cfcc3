"""Webhooks: the tenant's outbound endpoints, seed 003's test event, and inbound Stripe events.

    POST   /webhook-endpoints           register a URL; its `whsec_…` secret is in this answer only
    GET    /webhook-endpoints           the active endpoints, never a secret
    DELETE /webhook-endpoints/{id}      stop delivering to one
    POST   /webhook-endpoints/{id}/rotate-secret   a new `whsec_…` secret, in this answer only; the
                                        old one keeps signing for `overlapHours` (default 24, ≤ 168)
    POST   /webhooks/test               seed 003: queue a test event for one endpoint
    POST   /webhooks/stripe             seed 003: Stripe's events, verified by `Stripe-Signature`

Invariants
- An endpoint's signing secret is shown whole once, at creation or rotation; no other answer
  carries it or a part of it (the core keeps it sealed and only the delivery worker opens it).
  A rotation's `Idempotency-Key` replay answers the same body with `"secret": null`: a rotated
  secret never rests in the idempotency store (as `keys:create`).
- Managing endpoints and sending a test event need `webhooks.manage`; creating, deleting,
  rotating and testing also need a person with a fresh MFA (the core checks both).
- `/webhooks/stripe` is the platform's Stripe endpoint: it takes no credential, the signature is
  the credential, and the core has the Stripe adapter verify it over the raw body, with the
  platform's endpoint secret (`PAYMENTS_STRIPE_WEBHOOK_SECRET`), before anything is recorded.
  Without a `Stripe-Signature` header: 401 `UNAUTHENTICATED` before the core is asked. A signature
  that does not verify (forged, stale beyond 300 s, truncated body, another secret): 400
  `INVALID_SIGNATURE`, nothing recorded. Without a Stripe provider or a platform secret: 503
  `PROVIDER_UNAVAILABLE`, nothing read or written, so Stripe retries. A duplicate event answers 200
  (`"duplicate"`) so that Stripe stops retrying it. A tenant's own Stripe account posts to its own
  URL instead (`provider_webhooks`: `/stripe/{url_id}/webhook`, the tenant's secret).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody, RawBody

from entrypoints.http.controllers.provider_webhooks import require_signature, signature_checked
from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime
from entrypoints.http.views import iso
from payments_core.errors import ValidationError
from payments_core.model.integrations import WebhookEndpoint
from payments_core.services.webhooks import (
    ALL_EVENTS,
    MAX_DESCRIPTION_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    MAX_EVENT_TYPES,
    MAX_ROTATION_OVERLAP,
)

STRIPE_SIGNATURE: Final = "Stripe-Signature"
MAX_URL_LENGTH: Final = 2048
MAX_ID_LENGTH: Final = 100
DEFAULT_OVERLAP_HOURS: Final = 24
MAX_OVERLAP_HOURS: Final = int(MAX_ROTATION_OVERLAP / timedelta(hours=1))
# Stripe's events are a few KiB; anything far larger is not one of them.
MAX_INBOUND_BODY: Final = 1024 * 1024

EventType = Annotated[str, msgspec.Meta(max_length=MAX_EVENT_TYPE_LENGTH)]


# A field this API does not know is refused, not ignored: `{"events": [...]}` would otherwise
# register an endpoint for every event.
class EndpointBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(max_length=MAX_URL_LENGTH)]
    event_types: Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=MAX_EVENT_TYPES)] = (
        msgspec.field(default_factory=lambda: [ALL_EVENTS])
    )
    description: Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION_LENGTH)] | None = None


class RotateSecretBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    overlap_hours: Annotated[int, msgspec.Meta(ge=0, le=MAX_OVERLAP_HOURS)] = DEFAULT_OVERLAP_HOURS


class TestEventBody(msgspec.Struct, rename="camel"):
    event_type: EventType
    data: dict[str, Any] = {}
    endpoint_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as any later answer shows it: no secret, sealed or not."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "eventTypes": list(endpoint.event_types),
        "description": endpoint.description,
        "createdAt": iso(endpoint.created_at),
    }


def _camel_fields(error: ValidationError) -> ValidationError:
    """The core names the list `event_types`; this API calls it `eventTypes`."""
    if error.details.get("field") != "event_types":
        return error
    return ValidationError(
        error.message.replace("event_types", "eventTypes"), **{**error.details, "field": "eventTypes"}
    )


class WebhookEndpointsController(Controller):
    path = "/webhook-endpoints"
    tags = ["webhook endpoints"]

    # The signing secret is shown once: a replay answers the same endpoint with "secret": null.
    @post("/", status_code=201, sync_to_thread=True, opt={"idempotent": True, "replay_without": ("secret",)})
    def create_endpoint(
        self,
        runtime: Runtime,
        principal: Caller,
        data: JSONBody[EndpointBody],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """The signing secret is in this answer only: the receiver must store it now."""
        try:
            created = runtime.core.webhooks.create_endpoint(
                principal, data.url, data.event_types, data.description
            )
        except ValidationError as error:
            raise _camel_fields(error) from None
        return {**endpoint_json(created.endpoint), "secret": created.secret}

    @get("/", sync_to_thread=True)
    def list_endpoints(self, runtime: Runtime, principal: Caller) -> dict[str, Any]:
        endpoints = runtime.core.webhooks.list_endpoints(principal)
        return {"endpoints": [endpoint_json(endpoint) for endpoint in endpoints]}

    @delete("/{endpoint_id:str}", status_code=200, sync_to_thread=True)
    def delete_endpoint(
        self, runtime: Runtime, principal: Caller, endpoint_id: FromPath[str]
    ) -> dict[str, Any]:
        deleted = runtime.core.webhooks.delete_endpoint(principal, endpoint_id)
        return {"success": True, "id": deleted.id, "deletedAt": iso(deleted.deleted_at)}

    @post(
        "/{endpoint_id:str}/rotate-secret",
        status_code=200,
        sync_to_thread=True,
        opt={"idempotent": True, "replay_without": ("secret",)},
    )
    def rotate_secret(
        self,
        runtime: Runtime,
        principal: Caller,
        endpoint_id: FromPath[str],
        data: JSONBody[RotateSecretBody | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """The new secret is in this answer only; the old one signs too until `previousSecretExpiresAt`."""
        overlap_hours = data.overlap_hours if data is not None else DEFAULT_OVERLAP_HOURS
        rotated = runtime.core.webhooks.rotate_endpoint_secret(
            principal, endpoint_id, timedelta(hours=overlap_hours)
        )
        return {
            **endpoint_json(rotated.endpoint),
            "secret": rotated.secret,
            "previousSecretExpiresAt": iso(rotated.endpoint.previous_secret_expires_at),
        }


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ["webhooks (seed 003)"]

    @post(
        "/test",
        status_code=200,
        sync_to_thread=True,
        opt={"idempotent": True, "rate_limit": "webhooks.test"},
    )
    def send_test_event(
        self,
        runtime: Runtime,
        principal: Caller,
        data: JSONBody[TestEventBody],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        result = runtime.core.webhooks.send_test_event(
            principal, data.event_type, data.data, data.endpoint_id
        )
        return {
            "sent": result.sent,
            "webhookEventId": result.webhook_event_id,
            "targetUrl": result.target_url,
            "endpointId": result.endpoint_id,
        }

    @post(
        "/stripe",
        status_code=200,
        sync_to_thread=True,
        request_max_body_size=MAX_INBOUND_BODY,
        opt={"public": True, "rate_limit": "webhooks.inbound"},
    )
    def receive_stripe_event(
        self, runtime: Runtime, request: Request[Any, Any, Any], body: RawBody
    ) -> dict[str, Any]:
        """The raw body, byte for byte, is what Stripe signed: it is never decoded before the check."""
        headers = dict(request.headers)
        require_signature(headers, STRIPE_SIGNATURE)
        with signature_checked():
            outcomes = runtime.core.provider_events.receive_webhook("stripe", headers, bytes(body))
        return {"received": True, "events": [outcome.value for outcome in outcomes]}


ROUTES = [WebhookEndpointsController, WebhooksController]
