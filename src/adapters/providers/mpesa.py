"""M-Pesa (Safaricom Daraja): STK push checkouts, B2C and B2B payouts, callbacks.

Invariants
- M-Pesa callbacks are NOT signed. The route accepts them only on a secret, unguessable URL and
  passes that token as `secret`; `parse_webhook` refuses a callback that came without one. A parsed
  callback is a claim, not a proof: the core must CONFIRM it by a status query (`stk_status`) before
  it moves money. The confirmation wiring is the core's job; this adapter exposes the query.
- Every call goes through `ProviderHttp`. The OAuth token is cached per (tenant, mode) by `TokenCache`
  (~1 h); a 401 or an "Invalid Access Token" answer drops it and the call is made once more.
- Money-moving POSTs (STK push, B2C, B2B) are never retried: Daraja has no idempotency header.
  A B2C payout carries our withdrawal id as `OriginatorConversationID`, which Safaricom keeps
  unique, so a repeated request is refused rather than paid twice.
- Event ids collapse duplicates: `stk:<CheckoutRequestID>`, `payout:<ConversationID>`.
- No URL, credential, token, phone number or body appears in an exception message.

Choices
- Credentials per (tenant, mode): consumer_key, consumer_secret, shortcode, passkey, initiator_name,
  security_credential (the initiator password encrypted with Safaricom's certificate), callback_url
  (the secret callback URL, used as CallBackURL, ResultURL and QueueTimeOutURL).
- STK ResultCode 0 is a success, 1019 an expiry, any other (1032 cancelled, 1, 2001...) a failure.
- `start_checkout` answers `redirect_url=""`: there is no page; the prompt appears on the phone.
- A payout's `provider_reference` is the `OriginatorConversationID`: for B2C it is our withdrawal
  id, known before the call and echoed in the Result, so the Result matches even if our copy of the
  answer was lost; for B2B Safaricom assigns it and echoes it the same way.
- `refund` is unsupported (InvalidOperation): a reversal undoes a whole transaction only, needs a
  separate organisation permission, and its unsigned Result cannot be told from a payout's. Refund a
  customer with a B2C payout instead.
- `create_payment` is not offered: M-Pesa has no direct card or bank payment.
- Daraja answers a query on a push still being processed with HTTP 500 (errorCode 500.001.1001);
  the shared HTTP policy turns that into `ProviderUnavailable`, which a janitor treats like `None`:
  no verdict yet, ask again later.

Amounts (whole KES), phone and till numbers, Daraja's answers and callback items are read and
written in `mpesa_wire`, which states the amount invariant.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from adapters.providers.http_policy import (
    Credentials,
    ModeKey,
    ProviderHttp,
    TokenCache,
    json_object,
    required_credential,
)
from adapters.providers.mpesa_wire import (
    NAIROBI,
    PROVIDER,
    json_of,
    kes,
    malformed,
    msisdn,
    nairobi_time,
    pairs,
    refuse_errors,
    text,
    till_number,
    whole_kes,
)
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
    RefundRequest,
)

if TYPE_CHECKING:
    import httpx

SANDBOX_URL: Final = "https://sandbox.safaricom.co.ke"
CANCELLED_BY_USER: Final = 1032
EXPIRED: Final = 1019
STILL_PROCESSING: Final = "500.001.1001"
ACCESS_REFUSED: Final = "404.001.03"  # Daraja's "Invalid Access Token"


class MpesaProvider:
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

    @property
    def name(self) -> str:
        return PROVIDER

    def close(self) -> None:
        self._http.close()

    # --- the provider port -----------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        """An STK push: the customer confirms on the phone; the callback (confirmed) says how it went."""
        amount = whole_kes(request.amount)
        phone = msisdn(request.customer_phone_number or "")
        creds = self._credentials(request.tenant_id, request.livemode)
        shortcode = required_credential(creds, "shortcode", PROVIDER)
        answer = self._post(
            request.tenant_id,
            request.livemode,
            "/mpesa/stkpush/v1/processrequest",
            {
                **self._password(creds),
                "TransactionType": "CustomerPayBillOnline",
                "Amount": amount,
                "PartyA": phone,
                "PartyB": shortcode,
                "PhoneNumber": phone,
                "CallBackURL": required_credential(creds, "callback_url", PROVIDER),
                "AccountReference": (request.reference or request.session_id)[:12],
                "TransactionDesc": "Payment",
            },
        )
        return ProviderCheckout(provider_reference=text(answer, "CheckoutRequestID"), redirect_url="")

    def create_payment(self, request: DirectPaymentRequest) -> DirectPaymentResult:
        raise InvalidOperation("M-Pesa offers no direct payments; start a checkout", provider=PROVIDER)

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        raise InvalidOperation(
            "M-Pesa refunds are not supported; refund the customer with a payout", provider=PROVIDER
        )

    def payout(self, request: PayoutRequest) -> ProviderReceipt:
        """B2C to a phone (`mpesa`) or B2B to a till (`till`); the Result arrives later."""
        amount = whole_kes(request.amount)
        creds = self._credentials(request.tenant_id, request.livemode)
        common = {
            "SecurityCredential": required_credential(creds, "security_credential", PROVIDER),
            "Amount": amount,
            "PartyA": required_credential(creds, "shortcode", PROVIDER),
            "Remarks": f"Withdrawal {request.withdrawal_id}"[:100],
            "QueueTimeOutURL": required_credential(creds, "callback_url", PROVIDER),
            "ResultURL": required_credential(creds, "callback_url", PROVIDER),
        }
        if request.method_type == "mpesa":
            command, path = "b2c", "/mpesa/b2c/v3/paymentrequest"
            body = {
                "OriginatorConversationID": request.withdrawal_id,
                "InitiatorName": required_credential(creds, "initiator_name", PROVIDER),
                "CommandID": "BusinessPayment",
                **common,
                "PartyB": msisdn(request.method_details.get("phone_number", "")),
                "Occassion": "",
            }
        elif request.method_type == "till":
            command, path = "b2b", "/mpesa/b2b/v1/paymentrequest"
            body = {
                "Initiator": required_credential(creds, "initiator_name", PROVIDER),
                "CommandID": "BusinessBuyGoods",
                "SenderIdentifierType": "4",
                "RecieverIdentifierType": "4",
                **common,
                "PartyB": till_number(request.method_details.get("till_number", "")),
                "AccountReference": request.withdrawal_id[:12],
            }
        else:
            raise InvalidOperation(
                "M-Pesa pays out to an M-Pesa phone or a till only", methodType=request.method_type
            )
        answer = self._post(request.tenant_id, request.livemode, path, body)
        conversation = text(answer, "ConversationID")
        originator = text(answer, "OriginatorConversationID")
        return ProviderReceipt(
            provider_reference=originator,
            details={
                "provider": PROVIDER,
                "command": command,
                "conversation_id": conversation,
                "originator_conversation_id": originator,
                "response_code": str(answer.get("ResponseCode", "")),
            },
        )

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        """An STK callback or a B2C/B2B Result, normalised; unsigned, so confirm before moving money."""
        if not secret:
            raise Unauthenticated("M-Pesa callbacks are accepted only on their secret URL")
        payload = json_object(body)
        if payload is None:
            raise ValidationError("an M-Pesa callback is a JSON object")
        try:
            if "Body" in payload:
                return [self._stk_event(payload["Body"]["stkCallback"])]
            if "Result" in payload:
                return [self._result_event(payload["Result"])]
        except (KeyError, TypeError, ValueError, ArithmeticError) as bad:
            raise ValidationError("malformed M-Pesa callback") from bad
        raise ValidationError("not an M-Pesa STK callback or result")

    # --- status queries, for confirming callbacks and for the janitor ------------------------

    def stk_status(
        self, tenant_id: str, livemode: bool, checkout_request_id: str
    ) -> ProviderEventType | None:
        """What became of an STK push: succeeded, failed, expired, or None while still processing."""
        body = {
            **self._password(self._credentials(tenant_id, livemode)),
            "CheckoutRequestID": checkout_request_id,
        }
        response = self._send(tenant_id, livemode, "/mpesa/stkpushquery/v1/query", body, idempotent=True)
        answer = json_of(response)
        if answer.get("errorCode") == STILL_PROCESSING:
            return None
        refuse_errors(response, answer)
        try:
            return stk_outcome(int(str(answer["ResultCode"])))
        except (KeyError, ValueError):
            raise malformed() from None

    # --- internals ----------------------------------------------------------------------------

    def _password(self, creds: Mapping[str, str]) -> dict[str, str]:
        shortcode = required_credential(creds, "shortcode", PROVIDER)
        timestamp = self._clock.now().astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")
        passkey = required_credential(creds, "passkey", PROVIDER)
        secret = f"{shortcode}{passkey}{timestamp}".encode()
        password = base64.b64encode(secret).decode()
        return {"BusinessShortCode": shortcode, "Password": password, "Timestamp": timestamp}

    def _post(self, tenant_id: str, livemode: bool, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = self._send(tenant_id, livemode, path, body, idempotent=False)
        answer = json_of(response)
        refuse_errors(response, answer)
        if str(answer.get("ResponseCode", "0")) != "0":
            raise InvalidOperation("the mpesa provider refused the request", provider=PROVIDER)
        return answer

    def _send(
        self, tenant_id: str, livemode: bool, path: str, body: Mapping[str, Any], *, idempotent: bool
    ) -> httpx.Response:
        """One call with the cached token; a refused token is dropped and the call made once more."""
        key = (tenant_id, livemode)
        for _ in range(2):
            token = self._tokens.get(key)
            response = self._http.request(
                "POST", path, json=body, headers={"Authorization": f"Bearer {token}"}, idempotent=idempotent
            )
            if not _token_refused(response):
                return response
            self._tokens.forget(key)
        raise ProviderUnavailable(
            "the mpesa provider refused a fresh token", provider=PROVIDER, reason="token"
        )

    def _fetch_token(self, key: ModeKey) -> tuple[str, float]:
        creds = self._credentials(*key)
        response = self._http.request(
            "GET",
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(
                required_credential(creds, "consumer_key", PROVIDER),
                required_credential(creds, "consumer_secret", PROVIDER),
            ),
        )
        if response.status_code != 200:
            raise ProviderUnavailable(
                "the mpesa provider refused the credentials", provider=PROVIDER, reason="credentials"
            )
        answer = json_of(response)
        try:
            return str(answer["access_token"]), float(str(answer["expires_in"]))
        except (KeyError, ValueError):
            raise malformed() from None

    def _stk_event(self, callback: Mapping[str, Any]) -> ProviderEvent:
        code = int(str(callback["ResultCode"]))
        checkout_id = str(callback["CheckoutRequestID"])
        details = {
            "merchant_request_id": str(callback.get("MerchantRequestID", "")),
            "result_code": str(code),
            "result_desc": str(callback.get("ResultDesc", ""))[:200],
        }
        kind = stk_outcome(code)
        amount = None
        occurred_at = self._clock.now()
        if kind is ProviderEventType.PAYMENT_SUCCEEDED:
            items = pairs(callback["CallbackMetadata"]["Item"], "Name")
            amount = kes(items["Amount"])
            occurred_at = nairobi_time(items.get("TransactionDate")) or occurred_at
            receipt = str(items["MpesaReceiptNumber"])
            details["payment_id"] = receipt  # the core keeps it as the payment's provider reference
            details["mpesa_receipt_number"] = receipt
            details["phone_number"] = str(items.get("PhoneNumber", ""))
        else:
            details["reason"] = "cancelled" if code == CANCELLED_BY_USER else f"result_code_{code}"
        return ProviderEvent(
            provider=PROVIDER,
            event_id=f"stk:{checkout_id}",
            type=kind,
            reference=checkout_id,
            occurred_at=occurred_at,
            amount=amount,
            details=details,
        )

    def _result_event(self, result: Mapping[str, Any]) -> ProviderEvent:
        code = int(str(result["ResultCode"]))
        conversation = str(result["ConversationID"])
        parameters = pairs((result.get("ResultParameters") or {}).get("ResultParameter", []), "Key")
        details = {
            "conversation_id": conversation,
            "originator_conversation_id": str(result["OriginatorConversationID"]),
            "transaction_id": str(result.get("TransactionID", "")),
            "result_code": str(code),
            "result_desc": str(result.get("ResultDesc", ""))[:200],
        }
        amount = None
        if code == 0:
            kind = ProviderEventType.PAYOUT_SETTLED
            raw = parameters.get("TransactionAmount", parameters.get("Amount"))
            amount = None if raw is None else kes(raw)
            details["receipt"] = str(parameters.get("TransactionReceipt", result.get("TransactionID", "")))
        else:
            kind = ProviderEventType.PAYOUT_FAILED
            details["reason"] = f"result_code_{code}"
        return ProviderEvent(
            provider=PROVIDER,
            event_id=f"payout:{conversation}",
            type=kind,
            reference=details["originator_conversation_id"],
            occurred_at=self._clock.now(),
            amount=amount,
            details=details,
        )


# --- pure helpers ---------------------------------------------------------------------------


def stk_outcome(result_code: int) -> ProviderEventType:
    """0 paid; 1019 expired; anything else (1032 cancelled, 1 insufficient funds, 2001 wrong PIN) failed."""
    if result_code == 0:
        return ProviderEventType.PAYMENT_SUCCEEDED
    if result_code == EXPIRED:
        return ProviderEventType.PAYMENT_EXPIRED
    return ProviderEventType.PAYMENT_FAILED


def _token_refused(response: httpx.Response) -> bool:
    """A 401, or Daraja's "Invalid Access Token" error (which it may send with another 4xx)."""
    if response.status_code == 401:
        return True
    answer = json_object(response.content) if response.status_code >= 400 else None
    return answer is not None and answer.get("errorCode") == ACCESS_REFUSED
