"""Stripe's answers and objects as we read them: refusals, fields, status details and amounts.

The API calls (`stripe`) and the webhooks (`stripe_events`) read the same Stripe objects, so both
read them here.

Invariants
- Stripe's error messages never leave this module (they can echo a masked key or card facts): only
  the error's `type`, `code`, `decline_code` and the request id, all vocabulary, do.
- A field Stripe's answer lacks is `ProviderUnavailable` ("malformed answer"), as if no answer came;
  one an event's object lacks is `ValidationError`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from payments_core.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidAmount,
    InvalidOperation,
    NotFound,
    ProviderUnavailable,
    ValidationError,
)
from payments_core.money import Money

if TYPE_CHECKING:
    import httpx

PROVIDER: Final = "stripe"

Json = dict[str, Any]
_VOCABULARY: Final = re.compile(r"[a-z0-9_]{1,64}")
_REQUEST_ID: Final = re.compile(r"req_[A-Za-z0-9]{1,64}")


def answer(response: httpx.Response) -> Json:
    if not response.is_success:
        raise _refusal(response)
    try:
        body = response.json()
    except ValueError:
        raise _unreadable() from None
    if not isinstance(body, dict):
        raise _unreadable()
    return body


def _refusal(response: httpx.Response) -> DomainError:
    """Stripe's verdict on a request as a domain error, keeping only vocabulary from its answer."""
    status = response.status_code
    reasons = {401: "credentials", 403: "permissions", 409: "conflict"}
    if status in reasons or not 400 <= status < 500:
        reason = reasons.get(status, f"status {status}")
        return ProviderUnavailable(
            f"the stripe provider refused the call ({reason})", provider=PROVIDER, reason=reason
        )
    facts = {"provider": PROVIDER, **_error_facts(response)}
    code = facts.get("code", "")
    if status == 404:
        return NotFound("stripe does not know that object", **facts)
    if facts.get("type") == "idempotency_error":
        return IdempotencyConflict("the stripe idempotency key was used for another request", **facts)
    if facts.get("type") == "card_error":
        return InvalidOperation("stripe declined the card", **facts)
    if code in {"amount_too_small", "amount_too_large"}:
        return InvalidAmount("stripe refused the amount", **facts)
    if code.startswith("parameter_") or code == "url_invalid":
        return ValidationError("stripe refused a parameter", **facts)
    return InvalidOperation("stripe refused the request", **facts)


def _error_facts(response: httpx.Response) -> dict[str, str]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    facts: dict[str, str] = {}
    if isinstance(error, dict):
        for name in ("type", "code", "decline_code"):
            value = _vocabulary(error.get(name))
            if value:
                facts[name] = value
    request_id = response.headers.get("Request-Id", "")
    if _REQUEST_ID.fullmatch(request_id):
        facts["request_id"] = request_id
    return facts


def status_details(subject: Json, reason_key: str, **extra: str) -> dict[str, str]:
    """A refund's or payout's status and failure code, as the core keeps them; never free text."""
    details = {**extra, "status": _vocabulary(subject.get("status")) or "unknown"}
    reason = _vocabulary(subject.get("failure_reason") or subject.get("failure_code"))
    if reason:
        details[reason_key] = reason
    return details


def _vocabulary(value: object) -> str | None:
    """`value` if it is a Stripe enum or code (lower-case word), else None: free text never passes."""
    return value if isinstance(value, str) and _VOCABULARY.fullmatch(value) else None


def text(payload: Json, name: str, *, answer: bool = False) -> str:
    """A field the object must have; missing from Stripe's answer (`answer`), as if none came."""
    value = payload.get(name)
    if isinstance(value, str) and value:
        return value
    if answer:
        raise _unreadable()
    raise ValidationError(f"the stripe object has no {name}", provider=PROVIDER)


def _unreadable() -> ProviderUnavailable:
    return ProviderUnavailable(
        "the stripe provider answered unreadably", provider=PROVIDER, reason="malformed answer"
    )


def money(payload: Json, name: str) -> Money:
    amount, currency = payload.get(name), payload.get("currency")
    if type(amount) is not int or not isinstance(currency, str):
        raise ValidationError(f"the stripe object has no valid {name}", provider=PROVIDER)
    return Money(amount, currency.upper())
