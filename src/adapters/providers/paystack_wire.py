"""Paystack's wire as we read and write it: subunit amounts, references, signatures, refusals.

The adapter (`paystack`) reads the same Paystack objects in its API calls and its webhooks; both
read them here. The invariants are `paystack`'s: amounts are integer subunits only for
`SUBUNIT_CURRENCIES`; our ids cross as references injectively; a refusal's message is never passed on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from payments_core.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidOperation,
    NotFound,
    ProviderUnavailable,
    Unauthenticated,
    ValidationError,
)
from payments_core.money import Money

if TYPE_CHECKING:
    import httpx

NAME: Final = "paystack"
SIGNATURE_HEADER: Final = "x-paystack-signature"
# Currencies whose Paystack subunit is the ISO 4217 minor unit (kobo, pesewa, cent, piastre).
SUBUNIT_CURRENCIES: Final = frozenset({"NGN", "GHS", "ZAR", "KES", "USD", "EGP"})
_TRANSACTION_REFERENCE: Final = re.compile(r"[A-Za-z0-9.=-]{1,100}")
_TRANSFER_REFERENCE: Final = re.compile(r"[a-z0-9_-]{16,50}")
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._=-]{1,100}")


def verify_signature(headers: Mapping[str, str], body: bytes, secret: str | None) -> None:
    """`Unauthenticated` unless `x-paystack-signature` is the HMAC-SHA512 of `body` with `secret`."""
    if not secret:
        raise Unauthenticated("no Paystack secret key to verify the webhook with", provider=NAME)
    given = next((str(v).strip() for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
    if not given:
        raise Unauthenticated("missing Paystack signature", provider=NAME)
    expected = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise Unauthenticated("Paystack signature does not match", provider=NAME)


def subunits_of(amount: Money) -> int:
    if amount.currency not in SUBUNIT_CURRENCIES:
        raise ValidationError(f"Paystack amounts in {amount.currency} are not supported", field="currency")
    return amount.minor


def money_of(value: object, currency: str) -> Money:
    """Paystack's amounts are integers, sometimes sent as digit strings (its refund events)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("a Paystack amount is an integer of subunits")
    if currency not in SUBUNIT_CURRENCIES:
        raise ValueError("unsupported Paystack currency")
    return Money(value, currency)


def refund_key(transaction_reference: str, subunits: int) -> str:
    """What both a refund's receipt and its events name: Paystack's refund events (as published)
    carry the transaction's reference and the amount, not the refund's id."""
    return f"{transaction_reference}:{subunits}"


def transaction_reference(our_id: str) -> str:
    reference = our_id.replace("_", ".")
    if "." in our_id or not _TRANSACTION_REFERENCE.fullmatch(reference):
        raise ValidationError("the id cannot be a Paystack reference", field="reference")
    return reference


def transfer_reference(withdrawal_id: str) -> str:
    if _TRANSFER_REFERENCE.fullmatch(withdrawal_id):
        return withdrawal_id
    return f"withdrawal-{hashlib.sha256(withdrawal_id.encode()).hexdigest()[:32]}"


def segment(value: str) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise ValidationError("not a Paystack reference", field="reference")
    return value


def answer_of(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        if response.status_code >= 400:
            return {}
        raise malformed()
    return payload


def malformed() -> DomainError:
    return ProviderUnavailable(
        "the paystack provider answered something unexpected", provider=NAME, reason="malformed answer"
    )


def refusal(response: httpx.Response, payload: Mapping[str, Any]) -> DomainError:
    """A domain error for Paystack's refusal; its message is read, never passed on."""
    status = response.status_code
    message = str(payload.get("message", "")).lower()
    details: dict[str, Any] = {"provider": NAME, "status": status}
    if isinstance(payload.get("code"), str):
        details["code"] = payload["code"][:64]
    if "duplicate" in message:
        return IdempotencyConflict("paystack already has an object with this reference", **details)
    if status == 404 or "not found" in message:
        return NotFound("paystack has no such object", **details)
    if status in {401, 403}:
        return ProviderUnavailable(
            "the paystack provider refused the credentials", provider=NAME, reason="credentials"
        )
    if status in {400, 422} or status < 400:
        return ValidationError("paystack refused the request", **details)
    return InvalidOperation("paystack refused the request", **details)


def text_field(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if value is None or isinstance(value, bool) or str(value) == "":
        raise malformed()
    return str(value)
