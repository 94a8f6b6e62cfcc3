"""Stripe's inbound side: a webhook's `Stripe-Signature` checked, its event turned into ours.

Kept apart from the API calls (`stripe`), which only hand the header, body and secret over.

Invariants
- A webhook is believed only after its `Stripe-Signature` verifies: one of its `v1` values equals,
  in constant time, the hex HMAC-SHA256 of "{t}.{raw body}" under the endpoint secret, and `t` is
  within 300 s of our clock either way. Anything else is `Unauthenticated`; a body that is signed
  but unreadable is `ValidationError`.
- Event types we do not act on give no event; a refund gives one only once final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from adapters.providers.stripe_wire import PROVIDER, Json, money, status_details, text
from payments_core.errors import Unauthenticated, ValidationError
from payments_core.ports import ProviderEvent, ProviderEventType

TOLERANCE_SECONDS: Final = 300
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE: Final = re.compile(r"[0-9a-f]{64}")

_REFUND_EVENT: Final = {
    "succeeded": ProviderEventType.REFUND_SUCCEEDED,
    "failed": ProviderEventType.REFUND_FAILED,
    "canceled": ProviderEventType.REFUND_FAILED,
}


def verify_signature(header: str | None, body: bytes, secret: str, now: datetime) -> None:
    """`Unauthenticated` unless one `v1` of `header` signs `body` under `secret` within tolerance."""
    if not header:
        raise Unauthenticated("missing stripe webhook signature")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        scheme, _, value = item.strip().partition("=")
        if scheme == "t":
            timestamps.append(value)
        elif scheme == "v1":
            signatures.append(value)
    well_formed = len(timestamps) == 1 and _TIMESTAMP.fullmatch(timestamps[0]) is not None
    if not well_formed or not signatures or not all(_HEX_SIGNATURE.fullmatch(s) for s in signatures):
        raise Unauthenticated("malformed stripe webhook signature")
    timestamp = int(timestamps[0])
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise Unauthenticated("stripe webhook signature timestamp outside the tolerance")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise Unauthenticated("stripe webhook signature does not match")


def decode(body: bytes) -> Json:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationError("the stripe event is not JSON") from None
    if not isinstance(event, dict):
        raise ValidationError("the stripe event is not an object")
    return event


def normalise(event: Json) -> list[ProviderEvent]:
    """Our events for one Stripe event; types we do not act on give none."""
    event_id, kind = text(event, "id"), text(event, "type")
    data = event.get("data")
    subject = data.get("object") if isinstance(data, dict) else None
    created = event.get("created")
    if not isinstance(subject, dict) or type(created) is not int:
        raise ValidationError("malformed stripe event")
    at = datetime.fromtimestamp(created, UTC)
    handler = _HANDLERS.get(kind)
    return [] if handler is None else handler(event_id, at, subject)


def _checkout_event(event_type: ProviderEventType, *, paid_only: bool = False) -> _Handler:
    def build(event_id: str, at: datetime, session: Json) -> list[ProviderEvent]:
        if paid_only and session.get("payment_status") != "paid":
            return []  # an asynchronous method: async_payment_succeeded / _failed follows
        details = {"livemode": str(session.get("livemode") is True).lower()}
        for ours, theirs in (
            ("payment_id", "payment_intent"),
            ("client_reference_id", "client_reference_id"),
        ):
            if isinstance(session.get(theirs), str):
                details[ours] = session[theirs]
        amount = money(session, "amount_total") if session.get("amount_total") is not None else None
        reference = text(session, "id")
        return [ProviderEvent(PROVIDER, event_id, event_type, reference, at, amount, details)]

    return build


def _refund_events(event_id: str, at: datetime, subject: Json) -> list[ProviderEvent]:
    """A refund event's refund, or each refund listed on a `charge.refunded` charge, once final."""
    if subject.get("object") == "refund":
        refunds = [subject]
    else:
        listed = subject.get("refunds")
        refunds = listed.get("data", []) if isinstance(listed, dict) else []
        if not isinstance(refunds, list):
            raise ValidationError("malformed stripe charge refunds")
    final = [r for r in refunds if isinstance(r, dict) and r.get("status") in _REFUND_EVENT]
    events = []
    for refund in final:
        reference = text(refund, "id")
        # several refunds of one event need ids of their own: the core records each id once
        own_id = event_id if len(final) == 1 else f"{event_id}:{reference}"
        details = status_details(refund, "reason")
        if isinstance(refund.get("payment_intent"), str):
            details["payment_id"] = refund["payment_intent"]
        kind = _REFUND_EVENT[refund["status"]]
        events.append(ProviderEvent(PROVIDER, own_id, kind, reference, at, money(refund, "amount"), details))
    return events


def _payout_event(event_type: ProviderEventType) -> _Handler:
    def build(event_id: str, at: datetime, payout: Json) -> list[ProviderEvent]:
        details = status_details(payout, "failure_reason")
        amount = money(payout, "amount")
        return [ProviderEvent(PROVIDER, event_id, event_type, text(payout, "id"), at, amount, details)]

    return build


_Handler = Callable[[str, datetime, Json], list[ProviderEvent]]
_HANDLERS: Final[dict[str, _Handler]] = {
    "checkout.session.completed": _checkout_event(ProviderEventType.PAYMENT_SUCCEEDED, paid_only=True),
    "checkout.session.async_payment_succeeded": _checkout_event(ProviderEventType.PAYMENT_SUCCEEDED),
    "checkout.session.async_payment_failed": _checkout_event(ProviderEventType.PAYMENT_FAILED),
    "checkout.session.expired": _checkout_event(ProviderEventType.PAYMENT_EXPIRED),
    "charge.refunded": _refund_events,
    "refund.created": _refund_events,
    "refund.updated": _refund_events,
    "refund.failed": _refund_events,
    "payout.paid": _payout_event(ProviderEventType.PAYOUT_SETTLED),
    "payout.failed": _payout_event(ProviderEventType.PAYOUT_FAILED),
    "payout.canceled": _payout_event(ProviderEventType.PAYOUT_FAILED),
}
