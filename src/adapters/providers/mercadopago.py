"""MercadoPago: Checkout API (card token, PSE), Checkout Pro, refunds and signed notifications.

Invariants
- Every call goes through `ProviderHttp` (timeouts, bounded retries, `ProviderUnavailable` with no
  URL, header, credential or body in it). Every POST carries `X-Idempotency-Key`, our id of what it
  creates (payment, refund, checkout session), so every POST may be retried: MercadoPago answers a
  repeated key with what the first call created, never a second payment or refund (a repeated
  preference would at worst be a second page, never a second charge).
- The access token's prefix must match the mode (`APP_USR-` live, `TEST-` test): a mismatch is
  refused before any call, and like a token MercadoPago refuses (401/403) it is
  `ProviderUnavailable` with reason "credentials" (nothing moved; fix the configuration).
- A notification carries no status: the event is built from `GET /v1/payments/{id}` (`confirm`),
  with `event_id = payment:{id}:{status}` so a replay collapses and `approved` after `pending` is a
  distinct event. The reference is the payment id; for a Checkout Pro payment, the preference id
  (read from its merchant order), which is what `start_checkout` answered.

The values on the wire (amounts, ids, refusals) are in `mercadopago_wire`; notification signatures
and the events a status proves in `mercadopago_events`. Each states its own invariants.

Pseudo-headers: `parse_webhook` has only headers, body and secret, so the webhook route passes what
it knows in headers it sets itself, overwriting any a caller sent: `QUERY_DATA_ID_HEADER` (the
`data.id` query parameter), `TENANT_HEADER` and `LIVEMODE_HEADER` ("true"/"false"). Without the
tenant a payment notification cannot be confirmed: `ProviderUnavailable`, so nothing is recorded
and MercadoPago retries. Other notification types verify and yield no event.

Not supported: payouts (MercadoPago money-out is out of scope: `InvalidOperation`), chargebacks and
mediations (no event; reconciliation reports them), card authorisations without capture.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from adapters.providers.http_policy import Credentials, ProviderHttp
from adapters.providers.mercadopago_events import REFUND_EVENTS, payment_event_type, verify_signature
from adapters.providers.mercadopago_wire import (
    NAME,
    credentials_refused,
    encode,
    header,
    idempotency_key,
    loads,
    malformed,
    money,
    refusal,
    segment,
    text,
)
from payments_core.errors import InvalidOperation, ProviderUnavailable, ValidationError
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

__all__ = [  # `NAME` and `verify_signature` come from the sibling modules and are still imported from here
    "DEFAULT_BASE_URL",
    "LIVEMODE_HEADER",
    "NAME",
    "QUERY_DATA_ID_HEADER",
    "TENANT_HEADER",
    "FinancialInstitution",
    "MercadoPagoProvider",
    "Notification",
    "verify_signature",
]

DEFAULT_BASE_URL: Final = "https://api.mercadopago.com"
QUERY_DATA_ID_HEADER: Final = "x-payments-query-data-id"
TENANT_HEADER: Final = "x-payments-tenant-id"
LIVEMODE_HEADER: Final = "x-payments-livemode"
_PAYMENT_RESULT: Final = {
    "approved": DirectPaymentStatus.APPROVED, "pending": DirectPaymentStatus.PENDING,
    "rejected": DirectPaymentStatus.REJECTED, "cancelled": DirectPaymentStatus.REJECTED,
}  # fmt: skip
_REFUND_RECEIPT: Final = {
    "approved": ReceiptStatus.SUCCEEDED, "rejected": ReceiptStatus.FAILED, "cancelled": ReceiptStatus.FAILED
}  # fmt: skip


@attrs.frozen
class Notification:
    """A verified MercadoPago notification: what changed, not how (fetch it to know)."""

    type: str
    action: str
    data_id: str
    live_mode: bool | None = None


@attrs.frozen
class FinancialInstitution:
    """A PSE bank: `id` is what `DirectPaymentRequest.financial_institution` takes."""

    id: str
    description: str


class MercadoPagoProvider:
    def __init__(
        self,
        credentials: Credentials,
        base_url: str = DEFAULT_BASE_URL,
        *,
        http: ProviderHttp | None = None,
        notification_url: Callable[[str], str | None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`credentials(tenant, livemode)` -> {"access_token", "public_key"}; `notification_url(tenant)`
        is where MercadoPago should notify about that tenant's payments (None: the account's setting)."""
        self._credentials = credentials
        self._http = http if http is not None else ProviderHttp(NAME, base_url)
        self._notification_url = notification_url
        self._now = now

    @property
    def name(self) -> str:
        return NAME

    # --- the provider port ---------------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        """A Checkout Pro preference; the buyer pays on MercadoPago's page."""
        item = {"title": request.reference, "quantity": 1, "unit_price": request.amount}
        body: dict[str, Any] = {
            "items": [{**item, "currency_id": request.amount.currency}],
            "external_reference": request.session_id,
        }
        if request.success_url is not None:
            body["back_urls"] = {
                "success": request.success_url,
                "pending": request.success_url,
                "failure": request.cancel_url or request.success_url,
            }
            body["auto_return"] = "approved"
        answer = self._post("/checkout/preferences", request.tenant_id, request.livemode, body,
                            f"checkout-{request.session_id}", "preference")  # fmt: skip
        page = text(answer, "init_point" if request.livemode else "sandbox_init_point")
        return ProviderCheckout(provider_reference=text(answer, "id"), redirect_url=page)

    def create_payment(self, request: DirectPaymentRequest) -> DirectPaymentResult:
        """A card token or a PSE transfer; `payer["ip_address"]`, when given, goes to
        `additional_info.ip_address` (PSE asks for the buyer's IP), not into `payer`."""
        payer = {key: value for key, value in request.payer.items() if key != "ip_address"}
        body: dict[str, Any] = {
            "transaction_amount": request.amount,
            "description": request.description,
            "payment_method_id": request.payment_method_id,
            "external_reference": request.payment_id,
            "payer": payer,
        }
        if request.payment_method_id == "pse":
            if not request.financial_institution or not request.callback_url:
                raise ValidationError(
                    "PSE needs transaction_details.financial_institution and callback_url",
                    field="transaction_details.financial_institution",
                )
            body["transaction_details"] = {"financial_institution": request.financial_institution}
            body["callback_url"] = request.callback_url
        else:
            if not request.token:
                raise ValidationError("a card payment needs a card token", field="token")
            body["token"] = request.token
            body["installments"] = request.installments
        if request.payer.get("ip_address"):
            body["additional_info"] = {"ip_address": str(request.payer["ip_address"])}
        answer = self._post("/v1/payments", request.tenant_id, request.livemode, body,
                            f"payment-{request.payment_id}", "payment")  # fmt: skip
        status = str(answer.get("status", ""))
        details = answer.get("transaction_details") or {}
        interaction = (answer.get("point_of_interaction") or {}).get("transaction_data") or {}
        url = details.get("external_resource_url") or interaction.get("ticket_url")
        return DirectPaymentResult(
            provider_reference=text(answer, "id"),
            status=_PAYMENT_RESULT.get(status, DirectPaymentStatus.IN_PROCESS),
            status_detail=str(answer.get("status_detail") or status),
            external_resource_url=str(url) if url else None,
        )

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        payment_id = segment(request.provider_payment_reference, "provider_payment_reference")
        path = f"/v1/payments/{payment_id}/refunds"
        answer = self._post(path, request.tenant_id, request.livemode, {"amount": request.amount},
                            f"refund-{request.refund_id}", "refund")  # fmt: skip
        status = str(answer.get("status", ""))
        return ProviderReceipt(
            provider_reference=text(answer, "id"),
            status=_REFUND_RECEIPT.get(status, ReceiptStatus.PENDING),
            details={"provider": NAME, "payment_id": payment_id, "status": status},
        )

    def payout(self, request: PayoutRequest) -> ProviderReceipt:
        """MercadoPago money-out is out of scope: withdrawals go through M-Pesa or Paystack."""
        raise InvalidOperation("MercadoPago payouts are not supported", provider=NAME)

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        """Verify, then confirm a payment notification with the tenant named in `TENANT_HEADER`."""
        notification = self.parse_notification(headers, body, secret)
        if notification is None:
            return []
        tenant_id = header(headers, TENANT_HEADER)
        if not tenant_id:
            raise ProviderUnavailable(
                "a MercadoPago notification cannot be confirmed without its tenant",
                provider=NAME,
                reason="tenant unknown",
            )
        mode = header(headers, LIVEMODE_HEADER).lower()
        livemode = mode == "true" if mode in {"true", "false"} else notification.live_mode is not False
        return self.confirm(tenant_id, livemode, notification)

    # --- beyond the port -------------------------------------------------------------------------

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> Notification | None:
        """The verified notification when it is about a payment; None for other types."""
        verify_signature(headers, header(headers, QUERY_DATA_ID_HEADER) or None, body, secret, self._now())
        payload = loads(body)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict) or payload.get("type") != "payment" or data.get("id") is None:
            return None
        live = payload.get("live_mode")
        return Notification(
            type="payment",
            action=str(payload.get("action", "")),
            data_id=segment(str(data["id"]), "data.id"),
            live_mode=live if isinstance(live, bool) else None,
        )

    def confirm(self, tenant_id: str, livemode: bool, notification: Notification) -> list[ProviderEvent]:
        """The events the payment's current state proves: its outcome and its refunds' outcomes."""
        payment = self._payment(tenant_id, livemode, notification.data_id)
        payment_id, currency = text(payment, "id"), str(payment.get("currency_id", ""))
        status, status_detail = str(payment.get("status", "")), str(payment.get("status_detail", ""))
        events: list[ProviderEvent] = []
        event_type = payment_event_type(status, status_detail)
        if event_type is not None:
            preference_id = self._preference_of(tenant_id, livemode, payment)
            details = {"payment_id": payment_id, "status": status, "status_detail": status_detail}
            details.update({"preference_id": preference_id} if preference_id else {})
            moment = self._moment(payment, "date_approved", "date_last_updated", "date_created")
            amount = money(payment.get("transaction_amount"), currency)
            events.append(ProviderEvent(NAME, f"payment:{payment_id}:{status}", event_type,
                                        preference_id or payment_id, moment, amount, details))  # fmt: skip
        for refund in payment.get("refunds") or ():
            refund_status = str(refund.get("status")) if isinstance(refund, dict) else ""
            refund_type = REFUND_EVENTS.get(refund_status)
            if refund_type is not None:
                refund_id, amount = text(refund, "id"), money(refund.get("amount"), currency)
                details = {"payment_id": payment_id, "status": refund_status}
                events.append(ProviderEvent(NAME, f"refund:{refund_id}:{refund_status}", refund_type,
                                            refund_id, self._moment(refund, "date_created"), amount,
                                            details))  # fmt: skip
        return events

    def payment_status(self, tenant_id: str, livemode: bool, payment_id: str) -> ProviderEventType | None:
        """For the janitor: the payment's outcome if it has one, else None (still pending)."""
        payment = self._payment(tenant_id, livemode, payment_id)
        return payment_event_type(str(payment.get("status", "")), str(payment.get("status_detail", "")))

    def pse_banks(self, tenant_id: str, livemode: bool) -> tuple[FinancialInstitution, ...]:
        """The banks PSE offers now (`financial_institutions` of the `pse` payment method)."""
        methods = self._call("GET", "/v1/payment_methods", tenant_id, livemode, "payment methods")
        for method in methods if isinstance(methods, list) else ():
            if isinstance(method, dict) and method.get("id") == "pse":
                return tuple(
                    FinancialInstitution(str(bank["id"]), str(bank.get("description", "")))
                    for bank in method.get("financial_institutions") or ()
                    if isinstance(bank, dict) and bank.get("id") is not None
                )
        return ()

    def close(self) -> None:
        self._http.close()

    # --- internals -------------------------------------------------------------------------------

    def _payment(self, tenant_id: str, livemode: bool, payment_id: str) -> dict[str, Any]:
        path = f"/v1/payments/{segment(payment_id, 'payment id')}"
        answer = self._call("GET", path, tenant_id, livemode, "payment")
        if not isinstance(answer, dict):
            raise malformed()
        return answer

    def _preference_of(self, tenant_id: str, livemode: bool, payment: Mapping[str, Any]) -> str | None:
        """A Checkout Pro payment belongs to a merchant order, which names the preference."""
        order = payment.get("order") or {}
        if order.get("type") != "mercadopago" or order.get("id") is None:
            return None
        path = f"/merchant_orders/{segment(str(order['id']), 'order id')}"
        answer = self._call("GET", path, tenant_id, livemode, "merchant order")
        preference = answer.get("preference_id") if isinstance(answer, dict) else None
        return str(preference) if preference else None

    def _post(
        self, path: str, tenant_id: str, livemode: bool, body: dict[str, Any], key: str, what: str
    ) -> dict[str, Any]:
        """A POST with the idempotency key that makes retrying it safe (and, for a payment or a
        preference, where MercadoPago should notify about it)."""
        if self._notification_url is not None and not path.endswith("/refunds"):
            url = self._notification_url(tenant_id)
            body.update({"notification_url": url} if url else {})
        answer = self._call("POST", path, tenant_id, livemode, what, encode(body).encode(), key)
        if not isinstance(answer, dict):
            raise malformed()
        return answer

    def _call(
        self, method: str, path: str, tenant_id: str, livemode: bool, what: str,
        body: bytes | None = None, key: str | None = None,
    ) -> Any:  # fmt: skip
        headers = {"Authorization": f"Bearer {self._access_token(tenant_id, livemode)}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["X-Idempotency-Key"] = idempotency_key(key or "")
        response = self._http.request(method, path, idempotent=True, content=body, headers=headers)
        if response.status_code >= 400:
            raise refusal(response, what)
        return loads(response.content, malformed=malformed)

    def _access_token(self, tenant_id: str, livemode: bool) -> str:
        token = self._credentials(tenant_id, livemode).get("access_token") or ""
        prefix = "APP_USR-" if livemode else "TEST-"
        if not token.startswith(prefix):
            raise credentials_refused("the mercadopago access token does not match the mode")
        return token

    def _moment(self, payload: Mapping[str, Any], *fields: str) -> datetime:
        for field in fields:
            try:
                return datetime.fromisoformat(str(payload[field]))
            except (KeyError, TypeError, ValueError):
                continue
        return self._now()
