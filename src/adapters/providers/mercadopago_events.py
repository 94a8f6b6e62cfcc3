"""MercadoPago's inbound side: a notification's signature, and the event a status proves.

Kept apart from the API calls (`mercadopago`), which fetch the payment a verified notification
names and build its events with `payment_event_type` and `REFUND_EVENTS`.

Invariants
- Notifications are signed `x-signature: ts=<ts>,v1=<hex>` over the manifest
  `id:{data.id};request-id:{x-request-id};ts:{ts};` (a missing part is left out; `data.id` from the
  notification URL's query string, lower-cased when alphanumeric), HMAC-SHA256 with the tenant's
  webhook secret, compared in constant time, `ts` (seconds or milliseconds) within 300 s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final

from adapters.providers.mercadopago_wire import NAME, header
from payments_core.errors import Unauthenticated
from payments_core.ports import ProviderEventType

TOLERANCE_SECONDS: Final = 300
_MILLISECONDS_FROM: Final = 10**11  # a `ts` this large counts milliseconds, not seconds
REFUND_EVENTS: Final = {
    "approved": ProviderEventType.REFUND_SUCCEEDED,
    "rejected": ProviderEventType.REFUND_FAILED, "cancelled": ProviderEventType.REFUND_FAILED,
}  # fmt: skip


def verify_signature(
    headers: Mapping[str, str], query_data_id: str | None, body: bytes, secret: str | None, now: datetime
) -> None:
    """`Unauthenticated` unless `x-signature` signs this notification with `secret`, recently."""
    if not secret:
        raise Unauthenticated("no MercadoPago webhook secret is configured", provider=NAME)
    parts = dict(
        part.strip().split("=", 1) for part in header(headers, "x-signature").split(",") if "=" in part
    )
    ts, given = parts.get("ts", ""), parts.get("v1", "")
    if not ts.isdigit() or not given:
        raise Unauthenticated("missing or malformed MercadoPago signature", provider=NAME)
    sent_at = int(ts) / 1000 if int(ts) >= _MILLISECONDS_FROM else int(ts)
    if abs(now.timestamp() - sent_at) > TOLERANCE_SECONDS:
        raise Unauthenticated("MercadoPago signature timestamp outside the tolerance", provider=NAME)
    body_id = _body_data_id(body)
    if query_data_id is not None and body_id is not None and _id(query_data_id) != _id(body_id):
        raise Unauthenticated("the notification's data.id differs from the signed one", provider=NAME)
    data_id = query_data_id if query_data_id is not None else body_id
    request_id = header(headers, "x-request-id")
    manifest = (f"id:{_id(data_id)};" if data_id else "") + (
        f"request-id:{request_id};" if request_id else ""
    )
    expected = hmac.new(secret.encode(), f"{manifest}ts:{ts};".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise Unauthenticated("MercadoPago signature does not match", provider=NAME)


def _id(data_id: str) -> str:
    return data_id.lower() if data_id.isalnum() else data_id


def _body_data_id(body: bytes) -> str | None:
    try:
        payload = json.loads(body, parse_float=Decimal)
    except ValueError:
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    value = data.get("id") if isinstance(data, dict) else None
    return str(value) if value is not None else None


def payment_event_type(status: str, status_detail: str) -> ProviderEventType | None:
    if status == "approved":
        return ProviderEventType.PAYMENT_SUCCEEDED
    if status == "rejected":
        return ProviderEventType.PAYMENT_FAILED
    if status == "cancelled" and status_detail == "expired":
        return ProviderEventType.PAYMENT_EXPIRED
    if status == "cancelled":
        return ProviderEventType.PAYMENT_FAILED
    # pending, in_process, authorized, in_mediation: no outcome yet; refunded, charged_back: not
    # a payment outcome (refunds come as their own events, chargebacks through reconciliation).
    return None
