"""Outbound webhook endpoints of a tenant, and the test event of seed 003 (`POST /webhooks/test`).

Invariants
- An endpoint's signing secret (`whsec_…`) is shown once, in `CreatedEndpoint`; the repository
  keeps it sealed by `deps.secret_box`, and only the delivery worker opens it (`endpoint_secret`).
- Managing endpoints needs `webhooks.manage`; creating, deleting, rotating the secret and sending
  a test event also need a person with a fresh MFA (an API key is refused). Listing needs no step-up.
- Rotating gives an endpoint a new secret, shown once in `RotatedSecret`; the replaced one stays
  sealed as `previous_sealed_secret` and keeps signing beside it for the overlap (0 to 7 days,
  24 h by default), so receivers can switch without dropping deliveries. A rotation during an
  overlap replaces the previous secret with the then-current one: never more than two.
- An endpoint URL is https (plain http only to localhost, for development); a tenant has at most
  `MAX_ACTIVE_ENDPOINTS` active endpoints.
- Deleting is a time (`deleted_at`), not a removal; a deleted endpoint is gone for every use case
  (not listed, not targeted, `RESOURCE_NOT_FOUND` when named).
- A test event goes through the outbox like any other event, addressed to one endpoint, and its
  data always carries `"test": true` (the caller's data cannot override it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from payments_core.errors import InvalidOperation, NotFound, ValidationError
from payments_core.model.common import check_text
from payments_core.model.integrations import WebhookEndpoint
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.ports import UnitOfWork
from payments_core.services.context import Deps, audit, emit, found
from payments_core.services.validation import validate_url

MAX_ACTIVE_ENDPOINTS: Final = 16
MAX_EVENT_TYPES: Final = 32
MAX_EVENT_TYPE_LENGTH: Final = 100
MAX_DESCRIPTION_LENGTH: Final = 200
MAX_TEST_DATA_BYTES: Final = 4_096
SECRET_BYTES: Final = 24
DEFAULT_ROTATION_OVERLAP: Final = timedelta(hours=24)
MAX_ROTATION_OVERLAP: Final = timedelta(days=7)
ALL_EVENTS: Final = "*"
_EVENT_TYPE: Final = re.compile(r"[a-z_]+(?:\.[a-z_]+)+")


@attrs.frozen
class CreatedEndpoint:
    """The new endpoint and its signing secret, shown this once."""

    endpoint: WebhookEndpoint
    secret: str = attrs.field(repr=False)


@attrs.frozen
class RotatedSecret:
    """The endpoint after a rotation and its new signing secret, shown this once."""

    endpoint: WebhookEndpoint
    secret: str = attrs.field(repr=False)


@attrs.frozen
class TestEventResult:
    """Seed 003's answer: `sent`, `webhookEventId`, `targetUrl`."""

    sent: bool
    webhook_event_id: str
    target_url: str
    endpoint_id: str


def create_endpoint(
    deps: Deps,
    principal: Principal,
    url: str,
    event_types: Sequence[str] = (ALL_EVENTS,),
    description: str | None = None,
) -> CreatedEndpoint:
    """Register a URL to receive the tenant's events, signed with a fresh secret."""
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    require_step_up(principal, StepUpAction.WEBHOOKS, deps.clock.now())
    clean_url = validate_url(url, "url")
    types = _clean_event_types(event_types)
    check_text("description", description, MAX_DESCRIPTION_LENGTH, optional=True)
    secret = _new_secret(deps)
    with deps.uow() as uow:
        if len(uow.webhook_endpoints.for_tenant(principal.tenant_id)) >= MAX_ACTIVE_ENDPOINTS:
            raise InvalidOperation(
                f"a tenant may have at most {MAX_ACTIVE_ENDPOINTS} webhook endpoints",
                limit=MAX_ACTIVE_ENDPOINTS,
            )
        endpoint = WebhookEndpoint(
            id=deps.ids.new_id("we"),
            tenant_id=principal.tenant_id,
            url=clean_url,
            sealed_secret=deps.secret_box.seal(secret),
            event_types=types,
            created_at=deps.clock.now(),
            description=description,
        )
        uow.webhook_endpoints.add(endpoint)
        audit(
            uow, deps, principal, "webhook_endpoint.created", "webhook_endpoint", endpoint.id,
            endpoint.tenant_id, host=urlsplit(clean_url).hostname, eventTypes=list(types),
        )  # fmt: skip
        uow.commit()
    return CreatedEndpoint(endpoint, secret)


def list_endpoints(deps: Deps, principal: Principal) -> list[WebhookEndpoint]:
    """The tenant's active endpoints, oldest first."""
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    with deps.uow() as uow:
        return uow.webhook_endpoints.for_tenant(principal.tenant_id)


def delete_endpoint(deps: Deps, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    """Stop delivering to an endpoint; deleting it twice is `RESOURCE_NOT_FOUND`."""
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    require_step_up(principal, StepUpAction.WEBHOOKS, deps.clock.now())
    check_text("endpointId", endpoint_id, 100)
    with deps.uow() as uow:
        endpoint = _active_endpoint(uow, principal.tenant_id, endpoint_id)
        deleted = attrs.evolve(endpoint, deleted_at=deps.clock.now())
        uow.webhook_endpoints.update(deleted)
        audit(
            uow, deps, principal, "webhook_endpoint.deleted", "webhook_endpoint", endpoint.id,
            endpoint.tenant_id,
        )  # fmt: skip
        uow.commit()
    return deleted


def rotate_endpoint_secret(
    deps: Deps,
    principal: Principal,
    endpoint_id: str,
    overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
) -> RotatedSecret:
    """Give an endpoint a new secret; the old one keeps signing until `overlap` has passed (with
    no overlap it stops at once), so a receiver can move to the new one without a gap."""
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    require_step_up(principal, StepUpAction.WEBHOOKS, deps.clock.now())
    check_text("endpointId", endpoint_id, 100)
    if not isinstance(overlap, timedelta) or not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise ValidationError(
            "overlap must be between 0 and 7 days",
            field="overlap",
            maxSeconds=int(MAX_ROTATION_OVERLAP.total_seconds()),
        )
    secret = _new_secret(deps)
    now = deps.clock.now()
    with deps.uow() as uow:
        endpoint = _active_endpoint(uow, principal.tenant_id, endpoint_id)
        kept = overlap > timedelta(0)
        rotated = attrs.evolve(
            endpoint,
            sealed_secret=deps.secret_box.seal(secret),
            previous_sealed_secret=endpoint.sealed_secret if kept else None,
            previous_secret_expires_at=now + overlap if kept else None,
        )
        uow.webhook_endpoints.update(rotated)
        audit(
            uow, deps, principal, "webhook_endpoint.secret_rotated", "webhook_endpoint", endpoint.id,
            endpoint.tenant_id, overlapSeconds=int(overlap.total_seconds()),
        )  # fmt: skip
        uow.commit()
    return RotatedSecret(rotated, secret)


def send_test_event(
    deps: Deps,
    principal: Principal,
    event_type: str,
    data: Mapping[str, object],
    endpoint_id: str | None = None,
) -> TestEventResult:
    """Queue a test event for one endpoint: the one named, or the oldest that wants the type."""
    require_scope(principal, Operation.WEBHOOKS_MANAGE)
    require_step_up(principal, StepUpAction.WEBHOOKS, deps.clock.now())
    clean_type = _clean_event_type(event_type, "eventType")
    payload = {**_clean_test_data(data), "test": True}
    check_text("endpointId", endpoint_id, 100, optional=True)
    with deps.uow() as uow:
        if endpoint_id is not None:
            target = _active_endpoint(uow, principal.tenant_id, endpoint_id)
        else:
            target = _first_endpoint_for(uow, principal.tenant_id, clean_type)
        event = emit(uow, deps, principal.tenant_id, clean_type, payload, principal.livemode, target.id)
        audit(
            uow, deps, principal, "webhook.test.sent", "webhook_endpoint", target.id, target.tenant_id,
            eventType=clean_type, webhookEventId=event.id,
        )  # fmt: skip
        uow.commit()
    return TestEventResult(sent=True, webhook_event_id=event.id, target_url=target.url, endpoint_id=target.id)


def endpoint_secret(deps: Deps, tenant_id: str, endpoint_id: str) -> str:
    """The signing secret of an active endpoint, for the delivery worker."""
    with deps.uow() as uow:
        endpoint = _active_endpoint(uow, tenant_id, endpoint_id)
    return deps.secret_box.open(endpoint.sealed_secret)


def _new_secret(deps: Deps) -> str:
    return f"whsec_{deps.secrets.token(SECRET_BYTES)}"


def _active_endpoint(uow: UnitOfWork, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = found(uow.webhook_endpoints.get(tenant_id, endpoint_id), "webhook_endpoint", endpoint_id)
    if not endpoint.is_active:
        raise NotFound("webhook_endpoint not found", resource="webhook_endpoint", id=endpoint_id)
    return endpoint


def _first_endpoint_for(uow: UnitOfWork, tenant_id: str, event_type: str) -> WebhookEndpoint:
    for endpoint in uow.webhook_endpoints.for_tenant(tenant_id):
        if endpoint.wants(event_type):
            return endpoint
    raise InvalidOperation("no webhook endpoint is configured", eventType=event_type)


def _clean_event_types(event_types: object) -> tuple[str, ...]:
    if isinstance(event_types, str) or not isinstance(event_types, Sequence):
        raise ValidationError("event_types must be a list of event types", field="event_types")
    if not 1 <= len(event_types) <= MAX_EVENT_TYPES:
        raise ValidationError(
            f"event_types must hold 1 to {MAX_EVENT_TYPES} event types",
            field="event_types",
            maxItems=MAX_EVENT_TYPES,
        )
    clean = [
        ALL_EVENTS if item == ALL_EVENTS else _clean_event_type(item, "event_types") for item in event_types
    ]
    return tuple(dict.fromkeys(clean))


def _clean_event_type(value: object, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_EVENT_TYPE_LENGTH or not _EVENT_TYPE.fullmatch(value):
        raise ValidationError(
            f"{field} must look like payment.succeeded (at most {MAX_EVENT_TYPE_LENGTH} characters)",
            field=field,
        )
    return value


def _clean_test_data(data: object) -> dict[str, Any]:
    """Small JSON with string keys; what a receiver's test handler can take."""
    if not isinstance(data, Mapping) or not all(isinstance(key, str) for key in data):
        raise ValidationError("data must be an object with string keys", field="data")
    try:
        encoded = json.dumps(dict(data), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError):
        raise ValidationError("data must hold JSON values only", field="data") from None
    if len(encoded.encode()) > MAX_TEST_DATA_BYTES:
        raise ValidationError("data is too large", field="data", maxBytes=MAX_TEST_DATA_BYTES)
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded
