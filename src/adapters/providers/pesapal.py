"""Pesapal (API 3.0): hosted-page checkouts, status queries, refund requests, IPN notifications.

Invariants
- An IPN is unsigned and carries no outcome, only an order tracking id. `parse_webhook` therefore
  never returns an event: it checks the IPN's shape and returns `[]`. The route reads the id with
  `ipn_reference(body)` and asks `order_event` (or `order_status`); only that answer, fetched from
  Pesapal with the tenant's token, is an event the core may apply. No money moves on an IPN alone.
- Amounts cross in major units, exactly: outbound from `Money` (integer minor units) as a JSON number
  whose text is the exact decimal (`json_amount`), inbound parsed with JSON decimals as `Decimal`.
  An amount that cannot be written exactly is refused, never rounded.
- Every call goes through `ProviderHttp`. The bearer token (~5 min) is cached per (tenant, mode) by
  `TokenCache` and fetched once more after a 401; the IPN id is registered once per (tenant, mode)
  and cached for a day.
- Money-moving POSTs (SubmitOrderRequest, RefundRequest) are never retried; reads and the
  token and IPN registration calls are.
- Pesapal answers errors as `{"error": {"code", "message"}}`, often with HTTP 200: an error code is
  a refusal whatever the status line says. A transaction status is the exception: its `status_code`
  is the verdict, and the error object and `status` it may carry (a FAILED payment) describe the payment.
- No URL, credential, token or body appears in an exception message.

Choices
- Credentials per (tenant, mode): consumer_key, consumer_secret, ipn_url (registered as a POST IPN),
  callback_url (where the buyer returns when the checkout has no success_url).
- `order_event` ids are `order:<tracking id>:<status code>`: a repeated IPN, or a janitor asking
  again, yields the same id, so the core applies a verdict once. COMPLETED is a success carrying the
  paid amount; FAILED and REVERSED are failures; INVALID (not paid yet) is no event.
- The payment's provider reference stays the order tracking id; `refund` asks the status for the
  confirmation code Pesapal's RefundRequest needs, and refuses unless the order is COMPLETED.
- Pesapal returns no refund id and sends no refund notification: the receipt is pending, keyed by the
  confirmation code; the order's status turning REVERSED is the confirmation.
- `payout` is unsupported (InvalidOperation): Pesapal has no payouts API.
- `create_payment` is not offered: payments go through Pesapal's hosted page.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import attrs

from adapters.providers.http_policy import (
    Credentials,
    ModeKey,
    ProviderHttp,
    TokenCache,
    json_object,
    required_credential,
)
from payments_core.errors import InvalidAmount, InvalidOperation, ProviderUnavailable, ValidationError
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

if TYPE_CHECKING:
    import httpx

PROVIDER: Final = "pesapal"
SANDBOX_URL: Final = "https://cybqa.pesapal.com/pesapalv3"
TOKEN_LIFETIME_SECONDS: Final = 300.0
IPN_ID_LIFETIME_SECONDS: Final = 86_400.0
REFUND_USERNAME: Final = "payments-core"
COMPLETED, FAILED, REVERSED = 1, 2, 3
_OUTCOMES: Final = {
    COMPLETED: ProviderEventType.PAYMENT_SUCCEEDED,
    FAILED: ProviderEventType.PAYMENT_FAILED,
    REVERSED: ProviderEventType.PAYMENT_FAILED,
}
_REASONS: Final = {FAILED: "failed", REVERSED: "reversed"}


@attrs.frozen
class Ipn:
    """What an IPN says: which order to ask about. Never a verdict."""

    tracking_id: str
    merchant_reference: str
    notification_type: str

    def acknowledgement(self) -> dict[str, Any]:
        """The body Pesapal expects back, so it stops resending."""
        return {
            "orderNotificationType": self.notification_type,
            "orderTrackingId": self.tracking_id,
            "orderMerchantReference": self.merchant_reference,
            "status": 200,
        }


class PesapalProvider:
    def __init__(
        self,
        credentials: Credentials,
        clock: Clock,
        base_url: str = SANDBOX_URL,
        *,
        http: ProviderHttp | None = None,
    ) -> None:
        """`credentials(tenant, livemode)` -> the tenant's keys (see the module docstring); `http`
        overrides the client built for `base_url` (tests pass one with short timeouts)."""
        self._credentials = credentials
        self._clock = clock
        self._http = http if http is not None else ProviderHttp(PROVIDER, base_url)
        self._tokens: TokenCache[ModeKey] = TokenCache(self._fetch_token)
        self._ipn_ids: TokenCache[ModeKey] = TokenCache(self._register_ipn, margin_seconds=0.0)

    @property
    def name(self) -> str:
        return PROVIDER

    def close(self) -> None:
        self._http.close()

    # --- the provider port -----------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        """An order on Pesapal's hosted page; the IPN then says when to ask for its status."""
        if not request.customer_phone_number:
            raise ValidationError("Pesapal needs the customer's phone number", field="phone_number")
        creds = self._credentials(request.tenant_id, request.livemode)
        body: dict[str, Any] = {
            "id": request.session_id,
            "currency": request.amount.currency,
            "amount": json_amount(request.amount),
            "description": (request.reference or request.session_id)[:100],
            "callback_url": request.success_url or required_credential(creds, "callback_url", PROVIDER),
            "notification_id": self._ipn_ids.get((request.tenant_id, request.livemode)),
            "billing_address": {"phone_number": request.customer_phone_number},
        }
        if request.cancel_url:
            body["cancellation_url"] = request.cancel_url
        path = "/api/Transactions/SubmitOrderRequest"
        answer = self._call(request.tenant_id, request.livemode, "POST", path, json=body)
        return ProviderCheckout(
            provider_reference=_text(answer, "order_tracking_id"), redirect_url=_text(answer, "redirect_url")
        )

    def create_payment(self, request: DirectPaymentRequest) -> DirectPaymentResult:
        raise InvalidOperation(
            "Pesapal payments go through its hosted page; start a checkout", provider=PROVIDER
        )

    def payout(self, request: PayoutRequest) -> ProviderReceipt:
        raise InvalidOperation(
            "Pesapal has no payouts API", provider=PROVIDER, methodType=request.method_type
        )

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        """A refund request for a COMPLETED order, by its confirmation code; the outcome comes later."""
        status = self._status(request.tenant_id, request.livemode, request.provider_payment_reference)
        if _status_code(status) != COMPLETED:
            raise InvalidOperation(
                "only a completed Pesapal payment can be refunded",
                currentStatus=str(status.get("payment_status_description", "")),
            )
        paid = _money(status)
        if paid.currency != request.amount.currency or request.amount > paid:
            raise InvalidAmount("the refund exceeds what was paid", currency=paid.currency)
        confirmation = _text(status, "confirmation_code")
        body = {
            "confirmation_code": confirmation,
            "amount": request.amount.to_major_string(),
            "username": REFUND_USERNAME,
            "remarks": f"Refund {request.refund_id}"[:100],
        }
        answer = self._call(
            request.tenant_id, request.livemode, "POST", "/api/Transactions/RefundRequest", json=body
        )
        details = {"provider": PROVIDER, "order_tracking_id": request.provider_payment_reference}
        if str(answer.get("status")) != "200":
            return ProviderReceipt(
                confirmation, ReceiptStatus.FAILED, {**details, "reason": "refused by Pesapal"}
            )
        return ProviderReceipt(confirmation, ReceiptStatus.PENDING, details)

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        """Always `[]`: an IPN is unsigned and only names an order; see `ipn_reference` and `order_event`."""
        parse_ipn(body)
        return []

    # --- status queries, for IPNs and for the janitor -----------------------------------------

    def ipn_reference(self, body: bytes) -> str:
        """The order tracking id an IPN (JSON body, or a GET's query string) asks us to look up."""
        return parse_ipn(body).tracking_id

    def order_status(
        self, tenant_id: str, livemode: bool, order_tracking_id: str
    ) -> ProviderEventType | None:
        event = self.order_event(tenant_id, livemode, order_tracking_id)
        return None if event is None else event.type

    def order_event(self, tenant_id: str, livemode: bool, order_tracking_id: str) -> ProviderEvent | None:
        """Pesapal's verdict on an order as an event the core may apply; None while it is not final."""
        status = self._status(tenant_id, livemode, order_tracking_id)
        code = _status_code(status)
        kind = _OUTCOMES.get(code)
        if kind is None:
            return None
        details = {
            "confirmation_code": str(status.get("confirmation_code") or ""),
            "payment_method": str(status.get("payment_method") or ""),
            "merchant_reference": str(status.get("merchant_reference") or ""),
            "payment_status_description": str(status.get("payment_status_description") or ""),
        }
        if code in _REASONS:
            details["reason"] = _REASONS[code]
        return ProviderEvent(
            provider=PROVIDER,
            event_id=f"order:{order_tracking_id}:{code}",
            type=kind,
            reference=order_tracking_id,
            occurred_at=self._clock.now(),
            amount=_money(status) if code == COMPLETED else None,
            details=details,
        )

    # --- internals ----------------------------------------------------------------------------

    def _status(self, tenant_id: str, livemode: bool, order_tracking_id: str) -> dict[str, Any]:
        path = "/api/Transactions/GetTransactionStatus"
        return self._call(tenant_id, livemode, "GET", path, params={"orderTrackingId": order_tracking_id})

    def _call(
        self,
        tenant_id: str,
        livemode: bool,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """One call with the cached token; a 401 drops the token and the call is made once more."""
        key = (tenant_id, livemode)
        for _ in range(2):
            headers = {"Authorization": f"Bearer {self._tokens.get(key)}", "Accept": "application/json"}
            response = self._http.request(
                method, path, json=json, params=params, headers=headers, idempotent=idempotent
            )
            if response.status_code != 401:
                return _answer(response)
            self._tokens.forget(key)
        raise ProviderUnavailable(
            "the pesapal provider refused a fresh token", provider=PROVIDER, reason="token"
        )

    def _fetch_token(self, key: ModeKey) -> tuple[str, float]:
        creds = self._credentials(*key)
        body = {
            "consumer_key": required_credential(creds, "consumer_key", PROVIDER),
            "consumer_secret": required_credential(creds, "consumer_secret", PROVIDER),
        }
        response = self._http.request(
            "POST",
            "/api/Auth/RequestToken",
            json=body,
            headers={"Accept": "application/json"},
            idempotent=True,
        )
        try:
            answer = _answer(response)
        except InvalidOperation:
            raise ProviderUnavailable(
                "the pesapal provider refused the credentials", provider=PROVIDER, reason="credentials"
            ) from None
        return _text(answer, "token"), TOKEN_LIFETIME_SECONDS

    def _register_ipn(self, key: ModeKey) -> tuple[str, float]:
        """Our IPN URL registered with Pesapal (POST notifications); its id goes in every order."""
        tenant_id, livemode = key
        url = required_credential(self._credentials(tenant_id, livemode), "ipn_url", PROVIDER)
        body = {"url": url, "ipn_notification_type": "POST"}
        path = "/api/URLSetup/RegisterIPN"  # registering the same URL again is harmless: retried
        answer = self._call(tenant_id, livemode, "POST", path, json=body, idempotent=True)
        return _text(answer, "ipn_id"), IPN_ID_LIFETIME_SECONDS


# --- pure helpers ---------------------------------------------------------------------------


def parse_ipn(body: bytes) -> Ipn:
    """An IPN from its POST JSON body or its GET query string; `ValidationError` otherwise."""
    fields: Mapping[str, Any] | None = json_object(body)
    if fields is None:
        try:
            fields = dict(parse_qsl(body.decode("ascii"), strict_parsing=True))
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("not a Pesapal IPN") from None
    tracking_id = fields.get("OrderTrackingId")
    if not isinstance(tracking_id, str) or not tracking_id:
        raise ValidationError("a Pesapal IPN names an OrderTrackingId")
    return Ipn(
        tracking_id=tracking_id,
        merchant_reference=str(fields.get("OrderMerchantReference") or ""),
        notification_type=str(fields.get("OrderNotificationType") or "IPNCHANGE"),
    )


def json_amount(amount: Money) -> int | float:
    """Major units as a JSON number whose text is exactly the amount (`1000.50` KES → `1000.5`).

    The shared HTTP client serialises JSON itself, so the number must be a Python int or float; a
    float is used only when its shortest text (what `json` writes) equals the Decimal amount, which
    holds for every amount with up to 15 significant digits. Anything else is refused, never rounded.
    """
    exact = amount.to_decimal()
    if amount.minor % (10**amount.exponent) == 0:
        return int(exact)
    carrier = float(exact)
    if Decimal(repr(carrier)) != exact:
        raise InvalidAmount("the amount has too many digits for Pesapal", currency=amount.currency)
    return carrier


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON answer, or `InvalidOperation` when Pesapal refused the request (4xx or an error code)."""
    answer = json_object(response.content)
    if response.status_code < 400 and answer is not None and "status_code" in answer:
        return answer  # a transaction status: its error object describes the payment, not our request
    error = answer.get("error") if answer is not None else None
    code = error.get("code") if isinstance(error, dict) else None
    if response.status_code >= 400 or code:
        raise InvalidOperation(
            "the pesapal provider refused the request",
            provider=PROVIDER,
            status=response.status_code,
            errorCode=str(code or ""),
        )
    if answer is None:
        raise _malformed()
    return answer


def _malformed() -> ProviderUnavailable:
    return ProviderUnavailable("the pesapal provider gave a malformed answer", provider=PROVIDER)


def _text(answer: Mapping[str, Any], field: str) -> str:
    value = answer.get(field)
    if not value or not isinstance(value, str):
        raise _malformed()
    return value


def _status_code(status: Mapping[str, Any]) -> int:
    try:
        return int(str(status["status_code"]))
    except (KeyError, ValueError):
        raise _malformed() from None


def _money(status: Mapping[str, Any]) -> Money:
    amount, currency = status.get("amount"), status.get("currency")
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int | Decimal | str)
        or not isinstance(currency, str)
    ):
        raise _malformed()
    return Money.parse(amount, currency)
