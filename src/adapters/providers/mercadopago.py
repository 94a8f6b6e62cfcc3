"""MercadoPago: Checkout API (card token, PSE), Checkout Pro, refunds and signed notifications.

Invariants
- Every call goes through `ProviderHttp` (timeouts, bounded retries, `ProviderUnavailable` with no
  URL, header, credential or body in it). Every POST carries `X-Idempotency-Key`, our id of what it
  creates (payment, refund, checkout session), so every POST may be retried: MercadoPago answers a
  repeated key with what the first call created, never a second payment or refund (a repeated
  preference would at worst be a second page, never a second charge).
- Amounts cross the wire in major units rendered exactly from `Money` (1050 BRL minor is the JSON
  number `10.50`): the request body is written by `_encode`, never by a float. Answers are read with
  `Decimal` and converted back by `Money.parse`, which refuses (never rounds) extra decimals.
- The access token's prefix must match the mode (`APP_USR-` live, `TEST-` test): a mismatch is
  refused before any call, and like a token MercadoPago refuses (401/403) it is
  `ProviderUnavailable` with reason "credentials" (nothing moved; fix the configuration).
- Another 4xx is MercadoPago's verdict, mapped to a domain error (400/422 `ValidationError`, 404
  `NotFound`, other `InvalidOperation`); only its error name and cause codes travel in `details`,
  never its message or our request.
- Notifications are signed `x-signature: ts=<ts>,v1=<hex>` over the manifest
  `id:{data.id};request-id:{x-request-id};ts:{ts};` (a missing part is left out; `data.id` from the
  notification URL's query string, lower-cased when alphanumeric), HMAC-SHA256 with the tenant's
  webhook secret, compared in constant time, `ts` (seconds or milliseconds) within 300 s.
- A notification carries no status: the event is built from `GET /v1/payments/{id}` (`confirm`),
  with `event_id = payment:{id}:{status}` so a replay collapses and `approved` after `pending` is a
  distinct event. The reference is the payment id; for a Checkout Pro payment, the preference id
  (read from its merchant order), which is what `start_checkout` answered.

Pseudo-headers: `parse_webhook` has only headers, body and secret, so the webhook route passes what
it knows in headers it sets itself, overwriting any a caller sent: `QUERY_DATA_ID_HEADER` (the
`data.id` query parameter), `TENANT_HEADER` and `LIVEMODE_HEADER` ("true"/"false"). Without the
tenant a payment notification cannot be confirmed: `ProviderUnavailable`, so nothing is recorded
and MercadoPago retries. Other notification types verify and yield no event.

Not supported: payouts (MercadoPago money-out is out of scope: `InvalidOperation`), chargebacks and
mediations (no event; reconciliation reports them), card authorisations without capture.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import attrs
import httpx

from adapters.providers.http_policy import Credentials, ProviderHttp
from payments_core.errors import (
    DomainError,
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

NAME: Final = "mercadopago"
DEFAULT_BASE_URL: Final = "https://api.mercadopago.com"
TOLERANCE_SECONDS: Final = 300
QUERY_DATA_ID_HEADER: Final = "x-payments-query-data-id"
TENANT_HEADER: Final = "x-payments-tenant-id"
LIVEMODE_HEADER: Final = "x-payments-livemode"
_MILLISECONDS_FROM: Final = 10**11  # a `ts` this large counts milliseconds, not seconds
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PAYMENT_RESULT: Final = {
    "approved": DirectPaymentStatus.APPROVED, "pending": DirectPaymentStatus.PENDING,
    "rejected": DirectPaymentStatus.REJECTED, "cancelled": DirectPaymentStatus.REJECTED,
}  # fmt: skip
_REFUND_EVENTS: Final = {
    "approved": ProviderEventType.REFUND_SUCCEEDED,
    "rejected": ProviderEventType.REFUND_FAILED, "cancelled": ProviderEventType.REFUND_FAILED,
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
        page = _text(answer, "init_point" if request.livemode else "sandbox_init_point")
        return ProviderCheckout(provider_reference=_text(answer, "id"), redirect_url=page)

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
            provider_reference=_text(answer, "id"),
            status=_PAYMENT_RESULT.get(status, DirectPaymentStatus.IN_PROCESS),
            status_detail=str(answer.get("status_detail") or status),
            external_resource_url=str(url) if url else None,
        )

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        payment_id = _segment(request.provider_payment_reference, "provider_payment_reference")
        path = f"/v1/payments/{payment_id}/refunds"
        answer = self._post(path, request.tenant_id, request.livemode, {"amount": request.amount},
                            f"refund-{request.refund_id}", "refund")  # fmt: skip
        status = str(answer.get("status", ""))
        return ProviderReceipt(
            provider_reference=_text(answer, "id"),
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
        tenant_id = _header(headers, TENANT_HEADER)
        if not tenant_id:
            raise ProviderUnavailable(
                "a MercadoPago notification cannot be confirmed without its tenant",
                provider=NAME,
                reason="tenant unknown",
            )
        mode = _header(headers, LIVEMODE_HEADER).lower()
        livemode = mode == "true" if mode in {"true", "false"} else notification.live_mode is not False
        return self.confirm(tenant_id, livemode, notification)

    # --- beyond the port -------------------------------------------------------------------------

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> Notification | None:
        """The verified notification when it is about a payment; None for other types."""
        verify_signature(headers, _header(headers, QUERY_DATA_ID_HEADER) or None, body, secret, self._now())
        payload = _loads(body)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict) or payload.get("type") != "payment" or data.get("id") is None:
            return None
        live = payload.get("live_mode")
        return Notification(
            type="payment",
            action=str(payload.get("action", "")),
            data_id=_segment(str(data["id"]), "data.id"),
            live_mode=live if isinstance(live, bool) else None,
        )

    def confirm(self, tenant_id: str, livemode: bool, notification: Notification) -> list[ProviderEvent]:
        """The events the payment's current state proves: its outcome and its refunds' outcomes."""
        payment = self._payment(tenant_id, livemode, notification.data_id)
        payment_id, currency = _text(payment, "id"), str(payment.get("currency_id", ""))
        status, status_detail = str(payment.get("status", "")), str(payment.get("status_detail", ""))
        events: list[ProviderEvent] = []
        event_type = _payment_event_type(status, status_detail)
        if event_type is not None:
            preference_id = self._preference_of(tenant_id, livemode, payment)
            details = {"payment_id": payment_id, "status": status, "status_detail": status_detail}
            details.update({"preference_id": preference_id} if preference_id else {})
            moment = self._moment(payment, "date_approved", "date_last_updated", "date_created")
            amount = _money(payment.get("transaction_amount"), currency)
            events.append(ProviderEvent(NAME, f"payment:{payment_id}:{status}", event_type,
                                        preference_id or payment_id, moment, amount, details))  # fmt: skip
        for refund in payment.get("refunds") or ():
            refund_status = str(refund.get("status")) if isinstance(refund, dict) else ""
            refund_type = _REFUND_EVENTS.get(refund_status)
            if refund_type is not None:
                refund_id, amount = _text(refund, "id"), _money(refund.get("amount"), currency)
                details = {"payment_id": payment_id, "status": refund_status}
                events.append(ProviderEvent(NAME, f"refund:{refund_id}:{refund_status}", refund_type,
                                            refund_id, self._moment(refund, "date_created"), amount,
                                            details))  # fmt: skip
        return events

    def payment_status(self, tenant_id: str, livemode: bool, payment_id: str) -> ProviderEventType | None:
        """For the janitor: the payment's outcome if it has one, else None (still pending)."""
        payment = self._payment(tenant_id, livemode, payment_id)
        return _payment_event_type(str(payment.get("status", "")), str(payment.get("status_detail", "")))

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
        path = f"/v1/payments/{_segment(payment_id, 'payment id')}"
        answer = self._call("GET", path, tenant_id, livemode, "payment")
        if not isinstance(answer, dict):
            raise _malformed()
        return answer

    def _preference_of(self, tenant_id: str, livemode: bool, payment: Mapping[str, Any]) -> str | None:
        """A Checkout Pro payment belongs to a merchant order, which names the preference."""
        order = payment.get("order") or {}
        if order.get("type") != "mercadopago" or order.get("id") is None:
            return None
        path = f"/merchant_orders/{_segment(str(order['id']), 'order id')}"
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
        answer = self._call("POST", path, tenant_id, livemode, what, _encode(body).encode(), key)
        if not isinstance(answer, dict):
            raise _malformed()
        return answer

    def _call(
        self, method: str, path: str, tenant_id: str, livemode: bool, what: str,
        body: bytes | None = None, key: str | None = None,
    ) -> Any:  # fmt: skip
        headers = {"Authorization": f"Bearer {self._access_token(tenant_id, livemode)}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["X-Idempotency-Key"] = _idempotency_key(key or "")
        response = self._http.request(method, path, idempotent=True, content=body, headers=headers)
        if response.status_code >= 400:
            raise _refusal(response, what)
        return _loads(response.content, malformed=_malformed)

    def _access_token(self, tenant_id: str, livemode: bool) -> str:
        token = self._credentials(tenant_id, livemode).get("access_token") or ""
        prefix = "APP_USR-" if livemode else "TEST-"
        if not token.startswith(prefix):
            raise _credentials_refused("the mercadopago access token does not match the mode")
        return token

    def _moment(self, payload: Mapping[str, Any], *fields: str) -> datetime:
        for field in fields:
            try:
                return datetime.fromisoformat(str(payload[field]))
            except (KeyError, TypeError, ValueError):
                continue
        return self._now()


def verify_signature(
    headers: Mapping[str, str], query_data_id: str | None, body: bytes, secret: str | None, now: datetime
) -> None:
    """`Unauthenticated` unless `x-signature` signs this notification with `secret`, recently."""
    if not secret:
        raise Unauthenticated("no MercadoPago webhook secret is configured", provider=NAME)
    parts = dict(
        part.strip().split("=", 1) for part in _header(headers, "x-signature").split(",") if "=" in part
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
    request_id = _header(headers, "x-request-id")
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


def _payment_event_type(status: str, status_detail: str) -> ProviderEventType | None:
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


def _encode(value: Any) -> str:
    """JSON in which a `Money` is its exact major-unit number (`10.50`); a float is refused."""
    if isinstance(value, Money):
        return value.to_major_string()
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, float):
        raise TypeError("a float never crosses the wire")
    return json.dumps(value, ensure_ascii=False)


def _loads(raw: bytes, malformed: Callable[[], DomainError] | None = None) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        if malformed is not None:
            raise malformed() from None
        raise ValidationError("malformed MercadoPago notification", provider=NAME) from None


def _malformed() -> DomainError:
    return ProviderUnavailable(
        "the mercadopago provider answered something unexpected", provider=NAME, reason="malformed answer"
    )


def _refusal(response: httpx.Response, what: str) -> DomainError:
    """A domain error for a 4xx, carrying MercadoPago's error name and cause codes only."""
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    causes = [str(c.get("code")) for c in payload.get("cause") or () if isinstance(c, dict) and "code" in c]
    details: dict[str, Any] = {"provider": NAME, "status": response.status_code, "causes": causes}
    if isinstance(payload.get("error"), str):
        details["error"] = payload["error"][:64]
    status = response.status_code
    if status == 404:
        return NotFound(f"mercadopago has no such {what}", resource=what, **details)
    if status in {401, 403}:
        return _credentials_refused("the mercadopago provider refused the credentials")
    if status in {400, 422}:
        return ValidationError(f"mercadopago refused the {what}", **details)
    return InvalidOperation(f"mercadopago refused the {what}", **details)


def _credentials_refused(message: str) -> DomainError:
    """Like the other adapters: nothing moved, the operation waits for the tenant's configuration."""
    return ProviderUnavailable(message, provider=NAME, reason="credentials")


def _idempotency_key(key: str) -> str:
    """1-64 plain characters, as MercadoPago requires; any other id is replaced by its digest."""
    return key if _SEGMENT.fullmatch(key) else hashlib.sha256(key.encode()).hexdigest()


def _segment(value: str, field: str) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise ValidationError(f"{field} is not a MercadoPago id", field=field)
    return value


def _text(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field) if isinstance(payload, Mapping) else None
    if value is None or isinstance(value, bool) or str(value) == "":
        raise _malformed()
    return str(value)


def _money(value: object, currency: str) -> Money:
    if not isinstance(value, int | Decimal) or isinstance(value, bool):
        raise _malformed()
    return Money.parse(value, currency)


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((str(v).strip() for k, v in headers.items() if k.lower() == name), "")
