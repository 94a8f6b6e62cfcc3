"""Outbound webhook delivery: where delivery state lives, and how a signed event reaches a tenant.

Invariants
- One `WebhookDelivery` per (event, endpoint), whatever the number of workers fanning out: the
  store ignores a second one, and records an event as fanned out in the same transaction as its
  deliveries, so an event with no endpoint is not read again either.
- `claim_due` hands a due delivery to one caller only: it pushes the delivery's `next_attempt_at`
  to the end of a lease and counts the attempt, atomically, so another worker sees it due again
  only if this one never reports back (it died).
- Every change of a delivery is a compare-and-set on `version`: a report from a worker whose
  lease another worker took over, or a replay racing a worker, changes nothing and answers False.
- `last_error` is short text chosen by the core ("HTTP 500", "timeout"): never a response body,
  a header or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol

import attrs

from payments_core.model.common import aware
from payments_core.model.integrations import OutboundEvent
from payments_core.ports.repositories import Page
from payments_core.states import DeliveryStatus

MAX_ERROR_LENGTH: Final = 200


def _short(value: str | None) -> str | None:
    return None if value is None else value[:MAX_ERROR_LENGTH]


@attrs.frozen
class WebhookDelivery:
    """One event on its way to one endpoint."""

    id: str
    tenant_id: str
    event_id: str
    endpoint_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime = attrs.field(validator=aware)
    next_attempt_at: datetime = attrs.field(validator=aware)
    retry_until: datetime = attrs.field(validator=aware)  # past this, a failed attempt is the last
    version: int = 0
    last_status_code: int | None = None
    last_error: str | None = attrs.field(default=None, converter=_short)
    delivered_at: datetime | None = attrs.field(default=None, validator=aware)


@attrs.frozen
class ClaimedDelivery:
    """A delivery this worker holds for one attempt, with the event it carries."""

    delivery: WebhookDelivery
    event: OutboundEvent


class DeliveryStore(Protocol):
    """Delivery state, kept apart from the append-only outbox it is derived from."""

    def unfanned_events(self, since: datetime, limit: int) -> list[OutboundEvent]:
        """Outbox events created at or after `since` and not yet fanned out, oldest first."""
        ...

    def fan_out(self, event: OutboundEvent, deliveries: Sequence[WebhookDelivery]) -> None:
        """Record `event` as fanned out and add its deliveries (ignoring any that exist), atomically."""
        ...

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Up to `limit` pending or retrying deliveries due at `now`, earliest first; each comes
        back with `attempts` + 1, `next_attempt_at` = now + lease and its new `version`, and no
        other caller can claim it until the lease ends. Rows another caller is claiming are skipped."""
        ...

    def update(self, delivery: WebhookDelivery, expected_version: int) -> WebhookDelivery | None:
        """Store `delivery` if its row still has `expected_version`: the stored row, or None."""
        ...

    def get(self, tenant_id: str, delivery_id: str) -> WebhookDelivery | None: ...

    def search(
        self,
        tenant_id: str,
        status: DeliveryStatus | None,
        event_id: str | None,
        offset: int,
        limit: int,
    ) -> Page[WebhookDelivery]:
        """Newest first ((created_at, id) descending); `total` counts every match."""
        ...


class WebhookTransportError(Exception):
    """The request got no HTTP answer: a timeout, a refused connection, a TLS failure.

    `reason` is short and safe to store ("timeout", "connect"): no URL, header or body.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookSender(Protocol):
    def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: timedelta) -> int:
        """POST `body` to `url`; the HTTP status code, or `WebhookTransportError`. Never follows redirects."""
        ...
