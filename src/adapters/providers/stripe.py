"""Stripe: hosted Checkout, refunds and payouts over Stripe's HTTP API, and its signed webhooks.

Invariants
- Every call goes through `ProviderHttp` (timeouts, bounded retries). Every POST carries an
  `Idempotency-Key` derived from our own id of the object (checkout session, refund, withdrawal):
  the policy may retry it, and a later retry of the same operation replays Stripe's first answer
  instead of moving money twice.
- The secret key's mode matches the request's: an `sk_live_` key is never used for a test-mode
  request nor an `sk_test_` key for a live one. A mismatch, like a key Stripe refuses (401), is
  `ProviderUnavailable` with reason "credentials": nothing moved, the operation stays pending
  until the tenant's configuration is fixed.
- A webhook is believed only after its `Stripe-Signature` verifies: one of its `v1` values equals,
  in constant time, the hex HMAC-SHA256 of "{t}.{raw body}" under the endpoint secret, and `t` is
  within 300 s of our clock either way. Anything else is `Unauthenticated`; a body that is signed
  but unreadable is `ValidationError`.
- Stripe's error messages never leave this module (they can echo a masked key or card facts): only
  the error's `type`, `code`, `decline_code` and the request id, all vocabulary, do.
- Amounts are integer minor units both ways; currencies are lower case on the wire, upper case in
  `Money`. An event in a currency `Money` does not know is a `ValidationError`.

Not offered: direct card payments (`create_payment`), which would take raw card data or Stripe.js
tokens through our servers; Stripe is reached through its hosted Checkout page only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from adapters.providers.http_policy import Credentials, ProviderHttp
from payments_core.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidAmount,
    InvalidOperation,
    NotFound,
    ProviderUnavailable,
    Unauthenticated,
    ValidationError,
)
from payments_core.money import Money
from payments_core.ports import (
    CheckoutRequest,
    Clock,
    DirectPaymentRequest,
    DirectPaymentResult,
    PayoutRequest,
    ProviderCheckout,
    ProviderEvent,
    ProviderEventType,
    ProviderReceipt,
    ReceiptStatus,
    RefundRequest,
)

PROVIDER: Final = "stripe"
STRIPE_API: Final = "https://api.stripe.com"
STRIPE_VERSION: Final = "2024-06-20"  # pinned: the shapes below are this version's
SIGNATURE_HEADER: Final = "Stripe-Signature"
TOLERANCE_SECONDS: Final = 300
MAX_IDEMPOTENCY_KEY: Final = 255
MIN_CHECKOUT_TTL: Final = timedelta(minutes=30)
MAX_CHECKOUT_TTL: Final = timedelta(hours=24)

_Json = dict[str, Any]
_OBJECT_ID: Final = re.compile(r"[A-Za-z0-9_]{1,255}")
_VOCABULARY: Final = re.compile(r"[a-z0-9_]{1,64}")
_REQUEST_ID: Final = re.compile(r"req_[A-Za-z0-9]{1,64}")
_SECRET_KEY: Final = re.compile(r"(?:sk|rk)_(live|test)_[A-Za-z0-9_]{1,240}")
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE: Final = re.compile(r"[0-9a-f]{64}")

_REFUND_STATUS: Final = {
    "succeeded": ReceiptStatus.SUCCEEDED,
    "failed": ReceiptStatus.FAILED,
    "canceled": ReceiptStatus.FAILED,
}
_REFUND_EVENT: Final = {
    "succeeded": ProviderEventType.REFUND_SUCCEEDED,
    "failed": ProviderEventType.REFUND_FAILED,
    "canceled": ProviderEventType.REFUND_FAILED,
}


class StripeProvider:
    """`PaymentProvider` for Stripe; credentials are `{"secret_key": "sk_test_…" | "sk_live_…"}`."""

    def __init__(
        self,
        credentials: Credentials,
        clock: Clock,
        *,
        webhook_secret: str | None = None,
        checkout_ttl: timedelta = timedelta(minutes=30),
        http: ProviderHttp | None = None,
    ) -> None:
        """`webhook_secret` (`whsec_…`) is used when `parse_webhook` is given none; `checkout_ttl`
        is the core's, which Stripe's session follows (plus a minute of skew, within 30 min to 24 h)."""
        self._credentials = credentials
        self._clock = clock
        self._webhook_secret = webhook_secret
        self._checkout_ttl = min(max(checkout_ttl + timedelta(minutes=1), MIN_CHECKOUT_TTL), MAX_CHECKOUT_TTL)
        self._http = http if http is not None else ProviderHttp(PROVIDER, STRIPE_API)

    @property
    def name(self) -> str:
        return PROVIDER

    # --- the provider port -----------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        """A Checkout Session in payment mode for one line of `amount`, tagged with our ids."""
        tags = {"tenant_id": request.tenant_id, "session_id": request.session_id}
        price = {
            "currency": request.amount.currency.lower(),
            "unit_amount": request.amount.minor,
            "product_data": {"name": request.reference},
        }
        form = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": price}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.session_id,
            "expires_at": int((self._clock.now() + self._checkout_ttl).timestamp()),
            "metadata": tags,
            "payment_intent_data": {"metadata": tags},
        }
        key = _idempotency_key("checkout", request.tenant_id, request.session_id)
        session = self._post(request.tenant_id, request.livemode, "/v1/checkout/sessions", form, key)
        return ProviderCheckout(
            provider_reference=_text(session, "id", answer=True),
            redirect_url=_text(session, "url", answer=True),
        )

    def create_payment(self, request: DirectPaymentRequest) -> DirectPaymentResult:
        """Refused: Stripe is offered through its hosted Checkout only, never with card data here."""
        raise InvalidOperation("stripe takes payments through its hosted checkout only", provider=PROVIDER)

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        """Refund `amount` of a payment known by its PaymentIntent, charge or Checkout Session id."""
        target = self._refund_target(request)
        form = {
            **target,
            "amount": request.amount.minor,
            "metadata": {"tenant_id": request.tenant_id, "refund_id": request.refund_id},
        }
        key = _idempotency_key("refund", request.tenant_id, request.refund_id)
        refund = self._post(request.tenant_id, request.livemode, "/v1/refunds", form, key)
        status = _REFUND_STATUS.get(str(refund.get("status")), ReceiptStatus.PENDING)
        return ProviderReceipt(
            _text(refund, "id", answer=True), status, _details(refund, "reason", provider=PROVIDER)
        )

    def payout(self, request: PayoutRequest) -> ProviderReceipt:
        """A payout from the Stripe balance; pending until `payout.paid` (a paid one can still fail)."""
        form = {
            "amount": request.amount.minor,
            "currency": request.amount.currency.lower(),
            "destination": request.method_details.get("destination"),
            "metadata": {"tenant_id": request.tenant_id, "withdrawal_id": request.withdrawal_id},
        }
        key = _idempotency_key("payout", request.tenant_id, request.withdrawal_id)
        payout = self._post(request.tenant_id, request.livemode, "/v1/payouts", form, key)
        failed = payout.get("status") in {"failed", "canceled"}
        status = ReceiptStatus.FAILED if failed else ReceiptStatus.PENDING
        return ProviderReceipt(
            _text(payout, "id", answer=True), status, _details(payout, "failure_reason", provider=PROVIDER)
        )

    def checkout_status(self, tenant_id: str, livemode: bool, session_id: str) -> ProviderEventType | None:
        """Where a Checkout Session (`cs_…`) stands, for the janitor: paid, expired, or not yet known."""
        path = f"/v1/checkout/sessions/{_object_id(session_id)}"
        session = self._get(tenant_id, livemode, path)
        if session.get("payment_status") == "paid":
            return ProviderEventType.PAYMENT_SUCCEEDED
        if session.get("status") == "expired":
            return ProviderEventType.PAYMENT_EXPIRED
        return None

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        key = secret if secret is not None else self._webhook_secret
        if not key:
            raise Unauthenticated("no stripe webhook secret is configured")
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        verify_signature(header, body, key, self._clock.now())
        return _normalise(_decode(body))

    # --- HTTP ----------------------------------------------------------------------------------

    def _refund_target(self, request: RefundRequest) -> dict[str, str]:
        reference = _object_id(request.provider_payment_reference)
        if reference.startswith(("ch_", "py_")):
            return {"charge": reference}
        if not reference.startswith("cs_"):
            return {"payment_intent": reference}
        session = self._get(request.tenant_id, request.livemode, f"/v1/checkout/sessions/{reference}")
        intent = session.get("payment_intent")
        if not isinstance(intent, str) or not _OBJECT_ID.fullmatch(intent):
            raise InvalidOperation("the stripe checkout has no payment to refund", provider=PROVIDER)
        return {"payment_intent": intent}

    def _post(self, tenant_id: str, livemode: bool, path: str, form: Mapping[str, Any], key: str) -> _Json:
        headers = {**self._auth(tenant_id, livemode), "Idempotency-Key": key}
        response = self._http.request("POST", path, idempotent=True, data=_form(form), headers=headers)
        return _answer(response)

    def _get(self, tenant_id: str, livemode: bool, path: str) -> _Json:
        return _answer(self._http.request("GET", path, headers=self._auth(tenant_id, livemode)))

    def _auth(self, tenant_id: str, livemode: bool) -> dict[str, str]:
        key = self._credentials(tenant_id, livemode).get("secret_key", "")
        shape = _SECRET_KEY.fullmatch(key)
        if shape is None or (shape.group(1) == "live") != livemode:
            raise ProviderUnavailable(
                "the stripe credentials do not fit this mode", provider=PROVIDER, reason="credentials"
            )
        return {"Authorization": f"Bearer {key}", "Stripe-Version": STRIPE_VERSION}


# --- webhooks ----------------------------------------------------------------------------------


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


def _decode(body: bytes) -> _Json:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationError("the stripe event is not JSON") from None
    if not isinstance(event, dict):
        raise ValidationError("the stripe event is not an object")
    return event


def _normalise(event: _Json) -> list[ProviderEvent]:
    """Our events for one Stripe event; types we do not act on give none."""
    event_id, kind = _text(event, "id"), _text(event, "type")
    data = event.get("data")
    subject = data.get("object") if isinstance(data, dict) else None
    created = event.get("created")
    if not isinstance(subject, dict) or type(created) is not int:
        raise ValidationError("malformed stripe event")
    at = datetime.fromtimestamp(created, UTC)
    handler = _HANDLERS.get(kind)
    return [] if handler is None else handler(event_id, at, subject)


def _checkout_event(event_type: ProviderEventType, *, paid_only: bool = False) -> _Handler:
    def build(event_id: str, at: datetime, session: _Json) -> list[ProviderEvent]:
        if paid_only and session.get("payment_status") != "paid":
            return []  # an asynchronous method: async_payment_succeeded / _failed follows
        details = {"livemode": str(session.get("livemode") is True).lower()}
        for ours, theirs in (
            ("payment_id", "payment_intent"),
            ("client_reference_id", "client_reference_id"),
        ):
            if isinstance(session.get(theirs), str):
                details[ours] = session[theirs]
        amount = _money(session, "amount_total") if session.get("amount_total") is not None else None
        reference = _text(session, "id")
        return [ProviderEvent(PROVIDER, event_id, event_type, reference, at, amount, details)]

    return build


def _refund_events(event_id: str, at: datetime, subject: _Json) -> list[ProviderEvent]:
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
        reference = _text(refund, "id")
        # several refunds of one event need ids of their own: the core records each id once
        own_id = event_id if len(final) == 1 else f"{event_id}:{reference}"
        details = _details(refund, "reason")
        if isinstance(refund.get("payment_intent"), str):
            details["payment_id"] = refund["payment_intent"]
        kind = _REFUND_EVENT[refund["status"]]
        events.append(ProviderEvent(PROVIDER, own_id, kind, reference, at, _money(refund, "amount"), details))
    return events


def _payout_event(event_type: ProviderEventType) -> _Handler:
    def build(event_id: str, at: datetime, payout: _Json) -> list[ProviderEvent]:
        details = _details(payout, "failure_reason")
        amount = _money(payout, "amount")
        return [ProviderEvent(PROVIDER, event_id, event_type, _text(payout, "id"), at, amount, details)]

    return build


_Handler = Callable[[str, datetime, _Json], list[ProviderEvent]]
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


# --- values on the wire ------------------------------------------------------------------------


def _form(params: Mapping[Any, Any], prefix: str = "") -> dict[str, str]:
    """Stripe's form encoding: nested maps and lists as `a[b][0][c]=v`; None is left out."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            flat.update(_form(value, name))
        elif isinstance(value, list | tuple):
            flat.update(_form(dict(enumerate(value)), name))
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        else:
            flat[name] = str(value)
    return flat


def _idempotency_key(operation: str, tenant_id: str, object_id: str) -> str:
    """The same for every attempt at one operation on one of our objects, and for no other."""
    key = f"payments-core/{operation}/{tenant_id}/{object_id}"
    if len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii() and key.isprintable():
        return key
    return f"payments-core/{operation}/{hashlib.sha256(key.encode()).hexdigest()}"


def _answer(response: httpx.Response) -> _Json:
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


def _details(subject: _Json, reason_key: str, **extra: str) -> dict[str, str]:
    """A refund's or payout's status and failure code, as the core keeps them; never free text."""
    details = {**extra, "status": _vocabulary(subject.get("status")) or "unknown"}
    reason = _vocabulary(subject.get("failure_reason") or subject.get("failure_code"))
    if reason:
        details[reason_key] = reason
    return details


def _vocabulary(value: object) -> str | None:
    """`value` if it is a Stripe enum or code (lower-case word), else None: free text never passes."""
    return value if isinstance(value, str) and _VOCABULARY.fullmatch(value) else None


def _object_id(value: str) -> str:
    if not _OBJECT_ID.fullmatch(value):
        raise ValidationError("not a stripe object id", provider=PROVIDER)
    return value


def _text(payload: _Json, name: str, *, answer: bool = False) -> str:
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


def _money(payload: _Json, name: str) -> Money:
    amount, currency = payload.get(name), payload.get("currency")
    if type(amount) is not int or not isinstance(currency, str):
        raise ValidationError(f"the stripe object has no valid {name}", provider=PROVIDER)
    return Money(amount, currency.upper())
