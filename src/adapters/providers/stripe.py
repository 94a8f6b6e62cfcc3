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
- Amounts are integer minor units both ways; currencies are lower case on the wire, upper case in
  `Money`. An event in a currency `Money` does not know is a `ValidationError`.

Webhooks are verified and turned into our events in `stripe_events`; Stripe's answers and objects
are read in `stripe_wire` (error messages never leave it). Each states its own invariants.

Not offered: direct card payments (`create_payment`), which would take raw card data or Stripe.js
tokens through our servers; Stripe is reached through its hosted Checkout page only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from adapters.providers.http_policy import Credentials, ProviderHttp
from adapters.providers.stripe_events import decode, normalise, verify_signature
from adapters.providers.stripe_wire import PROVIDER, Json, answer, status_details, text
from payments_core.errors import InvalidOperation, ProviderUnavailable, Unauthenticated, ValidationError
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

STRIPE_API: Final = "https://api.stripe.com"
STRIPE_VERSION: Final = "2024-06-20"  # pinned: the shapes below are this version's
SIGNATURE_HEADER: Final = "Stripe-Signature"
MAX_IDEMPOTENCY_KEY: Final = 255
MIN_CHECKOUT_TTL: Final = timedelta(minutes=30)
MAX_CHECKOUT_TTL: Final = timedelta(hours=24)

_OBJECT_ID: Final = re.compile(r"[A-Za-z0-9_]{1,255}")
_SECRET_KEY: Final = re.compile(r"(?:sk|rk)_(live|test)_[A-Za-z0-9_]{1,240}")

_REFUND_STATUS: Final = {
    "succeeded": ReceiptStatus.SUCCEEDED,
    "failed": ReceiptStatus.FAILED,
    "canceled": ReceiptStatus.FAILED,
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
            provider_reference=text(session, "id", answer=True),
            redirect_url=text(session, "url", answer=True),
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
            text(refund, "id", answer=True), status, status_details(refund, "reason", provider=PROVIDER)
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
            text(payout, "id", answer=True),
            status,
            status_details(payout, "failure_reason", provider=PROVIDER),
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
        return normalise(decode(body))

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

    def _post(self, tenant_id: str, livemode: bool, path: str, form: Mapping[str, Any], key: str) -> Json:
        headers = {**self._auth(tenant_id, livemode), "Idempotency-Key": key}
        response = self._http.request("POST", path, idempotent=True, data=_form(form), headers=headers)
        return answer(response)

    def _get(self, tenant_id: str, livemode: bool, path: str) -> Json:
        return answer(self._http.request("GET", path, headers=self._auth(tenant_id, livemode)))

    def _auth(self, tenant_id: str, livemode: bool) -> dict[str, str]:
        key = self._credentials(tenant_id, livemode).get("secret_key", "")
        shape = _SECRET_KEY.fullmatch(key)
        if shape is None or (shape.group(1) == "live") != livemode:
            raise ProviderUnavailable(
                "the stripe credentials do not fit this mode", provider=PROVIDER, reason="credentials"
            )
        return {"Authorization": f"Bearer {key}", "Stripe-Version": STRIPE_VERSION}


# --- values we send ----------------------------------------------------------------------------


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


def _object_id(value: str) -> str:
    if not _OBJECT_ID.fullmatch(value):
        raise ValidationError("not a stripe object id", provider=PROVIDER)
    return value
