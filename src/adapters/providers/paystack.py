"""Paystack: hosted checkout, saved-card charges, refunds, bank payouts (transfers), signed webhooks.

Invariants
- Every call goes through `ProviderHttp` (timeouts, bounded retries, `ProviderUnavailable` with no
  URL, header, credential or body in it), with `Authorization: Bearer <secret key>`. The key's
  prefix must match the mode (`sk_live_` live, `sk_test_` test) or the call is refused unsent; that,
  like a key Paystack refuses (401/403), is `ProviderUnavailable` with reason "credentials".
- Amounts are integer subunits on the wire, which are our minor units for the currencies listed in
  `SUBUNIT_CURRENCIES`; any other currency is refused rather than guessed (Paystack's scale for XOF
  or RWF is unconfirmed). Answers and events are read with `Decimal`, never float.
- Paystack has no idempotency header: its `reference` is the dedupe key. Initialize, charge and
  transfer carry our id as the reference, so retrying them cannot move money twice: a repeat is
  answered "duplicate", and for a charge or a transfer the adapter then reads what the first call
  did (`GET /transaction/verify/…`, `GET /transfer/verify/…`). A transfer recipient is deduplicated
  by Paystack on its account number. A refund has no reference: it is never retried.
- Transaction references allow only letters, digits, `-`, `.` and `=`: our ids (`cs_…`, `pay_…`)
  cross as `cs.…`, `pay.…` (`_transaction_reference`, injective since our ids have no `.`).
  Transfer references must be lowercase `[a-z0-9_-]` of 16-50 characters: our withdrawal id as is
  when it fits, else a digest of it.
- Another 4xx is Paystack's verdict, mapped to a domain error (400/422 `ValidationError`, 404 or
  "not found" `NotFound`, "duplicate" `IdempotencyConflict`); its message never leaves, only `code`.
- Webhooks: `x-paystack-signature` is the hex HMAC-SHA512 of the raw body with the secret key,
  compared in constant time; forged or missing is `Unauthenticated`. Paystack signs no timestamp,
  so a replay is stopped by the event id (`{event}:{data.id}`), which the core records once.
- Events: charge.success (reference = the transaction reference), transfer.success / failed /
  reversed (reference = the transfer code), refund.processed / failed (reference =
  `{transaction reference}:{subunits}`, which the refund's receipt names too: Paystack's published
  refund events carry no refund id; event id `{event}:{data.id}`, or without an id
  `{event}:{reference}:{refund_reference}`). Any other event: [].

Not supported: PSE (Colombia only), payouts other than `bank_transfer`, transfers that need an OTP
(disable OTP for API transfers: such a transfer stays pending), two pending refunds of the same
amount on one transaction (their events cannot be told apart).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from adapters.providers.http_policy import Credentials, ProviderHttp
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
from payments_core.ports import (
    CheckoutRequest,
    DirectPaymentRequest,
    DirectPaymentResult,
    DirectPaymentStatus,
    PayoutRequest,
    ProviderCheckout,
    ProviderEvent,
    ProviderEventType,
    ProviderReceipt,
    ReceiptStatus,
    RefundRequest,
)

if TYPE_CHECKING:
    import httpx

NAME: Final = "paystack"
DEFAULT_BASE_URL: Final = "https://api.paystack.co"
SIGNATURE_HEADER: Final = "x-paystack-signature"
# Currencies whose Paystack subunit is the ISO 4217 minor unit (kobo, pesewa, cent, piastre).
SUBUNIT_CURRENCIES: Final = frozenset({"NGN", "GHS", "ZAR", "KES", "USD", "EGP"})
# Transfer recipient type per currency: nuban (Nigeria), ghipss (Ghana), basa (South Africa),
# kepss (Kenya; unconfirmed, hence a table the composition root may replace).
RECIPIENT_TYPES: Final = {"NGN": "nuban", "GHS": "ghipss", "ZAR": "basa", "KES": "kepss"}
CHECKOUT_CHANNELS: Final = frozenset({"card", "bank", "ussd", "qr", "mobile_money", "bank_transfer", "eft"})
DEFAULT_EMAIL_DOMAIN: Final = "customers.invalid"
_TRANSACTION_REFERENCE: Final = re.compile(r"[A-Za-z0-9.=-]{1,100}")
_TRANSFER_REFERENCE: Final = re.compile(r"[a-z0-9_-]{16,50}")
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._=-]{1,100}")
_EVENTS: Final = {
    "charge.success": ProviderEventType.PAYMENT_SUCCEEDED,
    "transfer.success": ProviderEventType.PAYOUT_SETTLED,
    "transfer.failed": ProviderEventType.PAYOUT_FAILED,
    "transfer.reversed": ProviderEventType.PAYOUT_FAILED,
    "refund.processed": ProviderEventType.REFUND_SUCCEEDED,
    "refund.failed": ProviderEventType.REFUND_FAILED,
}
_VERIFIED: Final = {
    "success": ProviderEventType.PAYMENT_SUCCEEDED,
    "failed": ProviderEventType.PAYMENT_FAILED,
}
_CHARGED: Final = {"success": DirectPaymentStatus.APPROVED, "failed": DirectPaymentStatus.REJECTED}
_REFUNDED: Final = {"processed": ReceiptStatus.SUCCEEDED, "failed": ReceiptStatus.FAILED}


def _session_address(request: CheckoutRequest) -> str:
    return f"{request.session_id.replace('_', '.')}@{DEFAULT_EMAIL_DOMAIN}"


class PaystackProvider:
    def __init__(
        self,
        credentials: Credentials,
        base_url: str = DEFAULT_BASE_URL,
        *,
        http: ProviderHttp | None = None,
        checkout_email: Callable[[CheckoutRequest], str] = _session_address,
        recipient_types: Mapping[str, str] = RECIPIENT_TYPES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`credentials(tenant, livemode)` -> {"secret_key"}. `checkout_email` names the buyer Paystack
        requires: `CheckoutRequest` carries no email, so by default an address of the session."""
        self._credentials = credentials
        self._http = http if http is not None else ProviderHttp(NAME, base_url)
        self._checkout_email = checkout_email
        self._recipient_types = recipient_types
        self._now = now

    @property
    def name(self) -> str:
        return NAME

    # --- the provider port ---------------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        reference = _transaction_reference(request.session_id)
        body: dict[str, Any] = {
            "email": self._checkout_email(request),
            "amount": str(_subunits(request.amount)),
            "currency": request.amount.currency,
            "reference": reference,
            "metadata": {"session_id": request.session_id, "order_reference": request.reference},
        }
        if request.success_url:
            body["callback_url"] = request.success_url
        if request.cancel_url:
            body["metadata"]["cancel_action"] = request.cancel_url
        channels = [method for method in request.method_types if method in CHECKOUT_CHANNELS]
        if channels:
            body["channels"] = channels
        data = self._call("POST", "/transaction/initialize", request.tenant_id, request.livemode, body)
        return ProviderCheckout(
            provider_reference=_text(data, "reference"), redirect_url=_text(data, "authorization_url")
        )

    def create_payment(self, request: DirectPaymentRequest) -> DirectPaymentResult:
        """A charge on a saved card: `token` is its Paystack authorization code (AUTH_…)."""
        if request.payment_method_id == "pse":
            raise InvalidOperation("Paystack does not offer PSE", provider=NAME)
        if not request.token or not request.token.startswith("AUTH_"):
            raise ValidationError("a Paystack charge needs a saved card's authorization code", field="token")
        email = request.payer.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise ValidationError("a Paystack charge needs payer.email", field="payer.email")
        reference = _transaction_reference(request.payment_id)
        body = {
            "email": email,
            "amount": str(_subunits(request.amount)),
            "currency": request.amount.currency,
            "authorization_code": request.token,
            "reference": reference,
        }
        try:
            data = self._call(
                "POST", "/transaction/charge_authorization", request.tenant_id, request.livemode, body
            )
        except IdempotencyConflict:  # a retry of a charge that went through: read what it did
            data = self._call("GET", f"/transaction/verify/{reference}", request.tenant_id, request.livemode)
        status = str(data.get("status", ""))
        return DirectPaymentResult(
            provider_reference=_text(data, "reference"),
            status=_CHARGED.get(status, DirectPaymentStatus.PENDING),
            status_detail=str(data.get("gateway_response") or status),
        )

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        """Never retried: Paystack takes no reference for a refund, so a repeat could refund twice."""
        body = {
            "transaction": _segment(request.provider_payment_reference),
            "amount": _subunits(request.amount),
            "currency": request.amount.currency,
        }
        data = self._call("POST", "/refund", request.tenant_id, request.livemode, body, idempotent=False)
        status = str(data.get("status", ""))
        transaction = data.get("transaction")
        if not isinstance(transaction, dict):
            raise _malformed()
        reference = _refund_key(_text(transaction, "reference"), _subunits(request.amount))
        details = {"provider": NAME, "status": status, "refund_id": _text(data, "id")}
        return ProviderReceipt(reference, _REFUNDED.get(status, ReceiptStatus.PENDING), details)

    def payout(self, request: PayoutRequest) -> ProviderReceipt:
        """A bank transfer: a recipient (deduplicated by account), then a transfer whose reference is
        derived from the withdrawal id, so both calls are safe to repeat."""
        if request.method_type != "bank_transfer":
            raise InvalidOperation("Paystack pays out by bank transfer only", provider=NAME)
        currency = request.amount.currency
        kind = self._recipient_types.get(currency)
        if kind is None:
            raise ValidationError(
                f"Paystack bank transfers in {currency} are not supported", field="currency"
            )
        details = request.method_details
        recipient = self._call(
            "POST", "/transferrecipient", request.tenant_id, request.livemode,
            {"type": kind, "name": details.get("account_name", ""), "currency": currency,
             "account_number": details.get("account_number", ""), "bank_code": details.get("bank_code", "")},
        )  # fmt: skip
        reference = _transfer_reference(request.withdrawal_id)
        body = {
            "source": "balance",
            "amount": _subunits(request.amount),
            "currency": currency,
            "recipient": _text(recipient, "recipient_code"),
            "reference": reference,
            "reason": f"Withdrawal {request.withdrawal_id}",
        }
        try:
            data = self._call("POST", "/transfer", request.tenant_id, request.livemode, body)
        except IdempotencyConflict:  # the transfer exists already: read it back
            data = self._call("GET", f"/transfer/verify/{reference}", request.tenant_id, request.livemode)
        status = str(data.get("status", ""))
        return ProviderReceipt(
            provider_reference=_text(data, "transfer_code"),
            status=ReceiptStatus.PENDING,  # the outcome arrives as transfer.success / failed / reversed
            details={"provider": NAME, "status": status, "reference": reference},
        )

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        """`secret` is the tenant's Paystack secret key, with which Paystack signs its webhooks."""
        verify_signature(headers, body, secret)
        try:
            payload = json.loads(body, parse_float=Decimal)
        except ValueError:
            raise ValidationError("malformed Paystack event", provider=NAME) from None
        event = payload.get("event") if isinstance(payload, dict) else None
        data = payload.get("data") if isinstance(payload, dict) else None
        event_type = _EVENTS.get(str(event))
        if event_type is None or not isinstance(data, dict):
            return []
        try:
            return [self._event(str(event), event_type, data)]
        except (KeyError, TypeError, ValueError) as bad:
            raise ValidationError("malformed Paystack event", provider=NAME) from bad

    # --- beyond the port -------------------------------------------------------------------------

    def verify(self, tenant_id: str, livemode: bool, reference: str) -> ProviderEventType | None:
        """For the janitor: the transaction's outcome, or None while it has none (an initialized,
        unpaid transaction reads `abandoned`: the checkout session's own expiry ends it)."""
        data = self._call("GET", f"/transaction/verify/{_segment(reference)}", tenant_id, livemode)
        return _VERIFIED.get(str(data.get("status", "")))

    def close(self) -> None:
        self._http.close()

    # --- internals -------------------------------------------------------------------------------

    def _event(self, event: str, event_type: ProviderEventType, data: Mapping[str, Any]) -> ProviderEvent:
        amount = _money(data["amount"], str(data["currency"]))
        details = {"paystack_event": event, "status": str(data.get("status", ""))}
        if event.startswith("charge."):
            reference = str(data["reference"])
            event_id = f"{event}:{data['id']}"
        elif event.startswith("transfer."):
            reference = str(data["transfer_code"])
            event_id = f"{event}:{data['id']}"
            details["transfer_reference"] = str(data.get("reference", ""))
            if event_type is ProviderEventType.PAYOUT_FAILED:
                details["failure_reason"] = event
        else:
            transaction = str(data["transaction_reference"])
            reference = _refund_key(transaction, amount.minor)
            refund_reference = str(data.get("refund_reference") or "")
            has_id = data.get("id") is not None
            event_id = f"{event}:{data['id']}" if has_id else f"{event}:{reference}:{refund_reference}"
            details.update(transaction_reference=transaction, refund_reference=refund_reference)
        return ProviderEvent(NAME, event_id, event_type, reference, self._moment(data), amount, details)

    def _moment(self, data: Mapping[str, Any]) -> datetime:
        for field in ("paid_at", "paidAt", "transferred_at", "updatedAt", "updated_at", "createdAt"):
            try:
                return datetime.fromisoformat(str(data[field]).replace("Z", "+00:00"))
            except (KeyError, TypeError, ValueError):
                continue
        return self._now()

    def _call(
        self,
        method: str,
        path: str,
        tenant_id: str,
        livemode: bool,
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """`data` of Paystack's `{status, message, data}`; retried unless `idempotent=False`."""
        headers = {"Authorization": f"Bearer {self._secret_key(tenant_id, livemode)}"}
        response = self._http.request(method, path, idempotent=idempotent, json=body, headers=headers)
        payload = _loads(response)
        if response.status_code >= 400 or payload.get("status") is not True:
            raise _refusal(response, payload)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise _malformed()
        return data

    def _secret_key(self, tenant_id: str, livemode: bool) -> str:
        key = self._credentials(tenant_id, livemode).get("secret_key") or ""
        if not key.startswith("sk_live_" if livemode else "sk_test_"):
            raise ProviderUnavailable(
                "the paystack secret key does not match the mode", provider=NAME, reason="credentials"
            )
        return key


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


def _subunits(amount: Money) -> int:
    if amount.currency not in SUBUNIT_CURRENCIES:
        raise ValidationError(f"Paystack amounts in {amount.currency} are not supported", field="currency")
    return amount.minor


def _money(value: object, currency: str) -> Money:
    """Paystack's amounts are integers, sometimes sent as digit strings (its refund events)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("a Paystack amount is an integer of subunits")
    if currency not in SUBUNIT_CURRENCIES:
        raise ValueError("unsupported Paystack currency")
    return Money(value, currency)


def _refund_key(transaction_reference: str, subunits: int) -> str:
    """What both a refund's receipt and its events name: Paystack's refund events (as published)
    carry the transaction's reference and the amount, not the refund's id."""
    return f"{transaction_reference}:{subunits}"


def _transaction_reference(our_id: str) -> str:
    reference = our_id.replace("_", ".")
    if "." in our_id or not _TRANSACTION_REFERENCE.fullmatch(reference):
        raise ValidationError("the id cannot be a Paystack reference", field="reference")
    return reference


def _transfer_reference(withdrawal_id: str) -> str:
    if _TRANSFER_REFERENCE.fullmatch(withdrawal_id):
        return withdrawal_id
    return f"withdrawal-{hashlib.sha256(withdrawal_id.encode()).hexdigest()[:32]}"


def _segment(value: str) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise ValidationError("not a Paystack reference", field="reference")
    return value


def _loads(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        if response.status_code >= 400:
            return {}
        raise _malformed()
    return payload


def _malformed() -> DomainError:
    return ProviderUnavailable(
        "the paystack provider answered something unexpected", provider=NAME, reason="malformed answer"
    )


def _refusal(response: httpx.Response, payload: Mapping[str, Any]) -> DomainError:
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


def _text(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if value is None or isinstance(value, bool) or str(value) == "":
        raise _malformed()
    return str(value)
