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
  cross as `cs.…`, `pay.…` (`transaction_reference`, injective since our ids have no `.`).
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

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from adapters.providers.http_policy import Credentials, ProviderHttp
from adapters.providers.paystack_wire import (
    NAME,
    answer_of,
    malformed,
    money_of,
    refund_key,
    refusal,
    segment,
    subunits_of,
    text_field,
    transaction_reference,
    transfer_reference,
    verify_signature,
)
from payments_core.errors import (
    IdempotencyConflict,
    InvalidOperation,
    ProviderUnavailable,
    ValidationError,
)
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
    pass

DEFAULT_BASE_URL: Final = "https://api.paystack.co"
# Transfer recipient type per currency: nuban (Nigeria), ghipss (Ghana), basa (South Africa),
# kepss (Kenya; unconfirmed, hence a table the composition root may replace).
RECIPIENT_TYPES: Final = {"NGN": "nuban", "GHS": "ghipss", "ZAR": "basa", "KES": "kepss"}
CHECKOUT_CHANNELS: Final = frozenset({"card", "bank", "ussd", "qr", "mobile_money", "bank_transfer", "eft"})
DEFAULT_EMAIL_DOMAIN: Final = "customers.invalid"
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
        reference = transaction_reference(request.session_id)
        body: dict[str, Any] = {
            "email": self._checkout_email(request),
            "amount": str(subunits_of(request.amount)),
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
            provider_reference=text_field(data, "reference"),
            redirect_url=text_field(data, "authorization_url"),
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
        reference = transaction_reference(request.payment_id)
        body = {
            "email": email,
            "amount": str(subunits_of(request.amount)),
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
            provider_reference=text_field(data, "reference"),
            status=_CHARGED.get(status, DirectPaymentStatus.PENDING),
            status_detail=str(data.get("gateway_response") or status),
        )

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        """Never retried: Paystack takes no reference for a refund, so a repeat could refund twice."""
        body = {
            "transaction": segment(request.provider_payment_reference),
            "amount": subunits_of(request.amount),
            "currency": request.amount.currency,
        }
        data = self._call("POST", "/refund", request.tenant_id, request.livemode, body, idempotent=False)
        status = str(data.get("status", ""))
        transaction = data.get("transaction")
        if not isinstance(transaction, dict):
            raise malformed()
        reference = refund_key(text_field(transaction, "reference"), subunits_of(request.amount))
        details = {"provider": NAME, "status": status, "refund_id": text_field(data, "id")}
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
        reference = transfer_reference(request.withdrawal_id)
        body = {
            "source": "balance",
            "amount": subunits_of(request.amount),
            "currency": currency,
            "recipient": text_field(recipient, "recipient_code"),
            "reference": reference,
            "reason": f"Withdrawal {request.withdrawal_id}",
        }
        try:
            data = self._call("POST", "/transfer", request.tenant_id, request.livemode, body)
        except IdempotencyConflict:  # the transfer exists already: read it back
            data = self._call("GET", f"/transfer/verify/{reference}", request.tenant_id, request.livemode)
        status = str(data.get("status", ""))
        return ProviderReceipt(
            provider_reference=text_field(data, "transfer_code"),
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
        data = self._call("GET", f"/transaction/verify/{segment(reference)}", tenant_id, livemode)
        return _VERIFIED.get(str(data.get("status", "")))

    def close(self) -> None:
        self._http.close()

    # --- internals -------------------------------------------------------------------------------

    def _event(self, event: str, event_type: ProviderEventType, data: Mapping[str, Any]) -> ProviderEvent:
        amount = money_of(data["amount"], str(data["currency"]))
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
            reference = refund_key(transaction, amount.minor)
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
        payload = answer_of(response)
        if response.status_code >= 400 or payload.get("status") is not True:
            raise refusal(response, payload)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise malformed()
        return data

    def _secret_key(self, tenant_id: str, livemode: bool) -> str:
        key = self._credentials(tenant_id, livemode).get("secret_key") or ""
        if not key.startswith("sk_live_" if livemode else "sk_test_"):
            raise ProviderUnavailable(
                "the paystack secret key does not match the mode", provider=NAME, reason="credentials"
            )
        return key
