"""A loopback stand-in for Safaricom's Daraja API (a bare ASGI app): OAuth, STK push and query, B2C, B2B.

Invariants
- Answers have Daraja's shapes, built from the examples in contracts/providers/mpesa/; errors are
  `{"requestId", "errorCode", "errorMessage"}`.
- Every request is recorded as received (method, path, query, lower-case headers, raw body) before it
  is answered, so tests can assert what went over the wire, faults included.
- OAuth wants Basic auth of the configured consumer key and secret and answers a fresh token; a
  bearer call with a token it did not issue, or one revoked by `revoke_tokens`, answers 401
  "Invalid Access Token".
- A query on a push not yet finished answers "The transaction is being processed" (500.001.1001),
  with HTTP `processing_status`: 500 as Daraja is reported to, another status to test the other reading.
- The STK push and query check `Password` = base64(shortcode + passkey + Timestamp) and the push
  an integer `Amount`; B2C refuses a repeated `OriginatorConversationID` (the error code it answers
  is this fake's, Safaricom's is unconfirmed).
- Injected faults (`fail_next`, `slow_next`) are answered in front of execution, like an outage.
- Callbacks are built, not sent: `finish_push` and `finish_payout` return the body Safaricom would
  POST, and return the very same bytes when asked again, as Safaricom does when it resends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import string
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import attrs

CONTRACTS: Final = Path(__file__).resolve().parents[2] / "contracts" / "providers" / "mpesa"
CONSUMER_KEY: Final = "fake-consumer-key"
CONSUMER_SECRET: Final = "fake-consumer-secret"
SHORTCODE: Final = "174379"
PASSKEY: Final = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
NAIROBI: Final = timezone(timedelta(hours=3))


def load_contract(name: str) -> dict[str, Any]:
    """One of Daraja's documented example payloads, e.g. `load_contract("stk_push_request")`."""
    return json.loads((CONTRACTS / f"{name}.json").read_text())


def contract_bytes(name: str) -> bytes:
    return (CONTRACTS / f"{name}.json").read_bytes()


@attrs.frozen
class Received:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw, parse_float=Decimal)


@attrs.frozen
class _Fault:
    status: int | None = None
    body: Mapping[str, Any] | None = None
    delay: float = 0.0


class _DarajaError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"requestId": f"{random.randint(1000, 99999)}-{random.randint(10**6, 10**8)}-1",
                     "errorCode": code, "errorMessage": message}  # fmt: skip


class FakeMpesa:
    """The app; its public attributes are what a test arranges and inspects."""

    def __init__(self, shortcode: str = SHORTCODE, passkey: str = PASSKEY) -> None:
        self.shortcode = shortcode
        self.passkey = passkey
        self.requests: list[Received] = []
        self.tokens_issued: list[str] = []
        self.pushes: dict[str, dict[str, Any]] = {}  # CheckoutRequestID -> the push request
        self.payouts: dict[str, dict[str, Any]] = {}  # OriginatorConversationID -> request + ids
        self.push_results: dict[str, int] = {}  # CheckoutRequestID -> ResultCode once final
        self.processing_status = 500  # the HTTP status of "The transaction is being processed"
        self._callbacks: dict[str, bytes] = {}
        self._valid_tokens: set[str] = set()
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()

    # --- arranging and inspecting ------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        body = load_contract("error_server")
        with self._lock:
            self._faults.extend([_Fault(status, body)] * count)

    def slow_next(self, count: int, seconds: float) -> None:
        with self._lock:
            self._faults.extend([_Fault(delay=seconds)] * count)

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (as after Safaricom rotates them)."""
        with self._lock:
            self._valid_tokens.clear()

    def calls_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def finish_push(self, checkout_id: str, result_code: int = 0) -> bytes:
        """The customer answered the prompt: the STK callback body (the same bytes if asked again)."""
        with self._lock:
            if checkout_id in self._callbacks:
                return self._callbacks[checkout_id]
            push = self.pushes[checkout_id]
            name = "stk_callback_success" if result_code == 0 else "stk_callback_cancelled"
            callback = load_contract(name)
            inner = callback["Body"]["stkCallback"]
            inner.update(MerchantRequestID=push["_merchant_request_id"], CheckoutRequestID=checkout_id)
            if result_code == 0:
                inner["CallbackMetadata"]["Item"] = [
                    {"Name": "Amount", "Value": push["Amount"]},
                    {"Name": "MpesaReceiptNumber", "Value": _receipt()},
                    {"Name": "TransactionDate", "Value": int(_nairobi_now())},
                    {"Name": "PhoneNumber", "Value": int(push["PhoneNumber"])},
                ]
            elif result_code != 1032:
                inner.update(ResultCode=result_code, ResultDesc="The transaction could not be completed.")
            self.push_results[checkout_id] = result_code
            self._callbacks[checkout_id] = _dump(callback)
            return self._callbacks[checkout_id]

    def finish_payout(self, originator_id: str, result_code: int = 0) -> bytes:
        """The B2C or B2B Result posted to ResultURL (the same bytes if asked again)."""
        with self._lock:
            if originator_id in self._callbacks:
                return self._callbacks[originator_id]
            payout = self.payouts[originator_id]
            b2b = payout["CommandID"] == "BusinessBuyGoods"
            if result_code != 0:
                result = load_contract("b2c_result_failed")
                result["Result"]["ResultCode"] = result_code
            elif b2b:
                result = load_contract("b2b_result_success")
                _set_parameter(result, "Amount", f"{payout['Amount']}.00")
            else:
                result = load_contract("b2c_result_success")
                _set_parameter(result, "TransactionAmount", payout["Amount"])
                _set_parameter(result, "TransactionReceipt", _receipt())
            result["Result"].update(
                OriginatorConversationID=originator_id, ConversationID=payout["_conversation_id"]
            )
            self._callbacks[originator_id] = _dump(result)
            return self._callbacks[originator_id]

    # --- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        received = Received(scope["method"], scope["path"], query, headers, raw)
        with self._lock:
            self.requests.append(received)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            status, payload = fault.status, dict(fault.body or {})
        else:
            with self._lock:
                try:
                    status, payload = 200, self._route(received)
                except _DarajaError as refusal:
                    status, payload = refusal.status, refusal.body
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": _dump(payload)})

    # --- endpoints ---------------------------------------------------------------------------

    def _route(self, request: Received) -> dict[str, Any]:
        if request.method == "GET" and request.path == "/oauth/v1/generate":
            return self._token(request)
        if request.method != "POST":
            raise _DarajaError(404, "404.001.01", "Resource not found")
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self._valid_tokens:
            error = load_contract("error_invalid_token")
            raise _DarajaError(401, error["errorCode"], error["errorMessage"])
        try:
            body = request.json
        except ValueError:
            raise _DarajaError(400, "400.002.02", "Bad Request - Invalid JSON") from None
        match request.path:
            case "/mpesa/stkpush/v1/processrequest":
                return self._push(body)
            case "/mpesa/stkpushquery/v1/query":
                return self._query(body)
            case "/mpesa/b2c/v3/paymentrequest":
                return self._payout(body, "b2c_request", "BusinessPayment")
            case "/mpesa/b2b/v1/paymentrequest":
                return self._payout(body, "b2b_request", "BusinessBuyGoods")
        raise _DarajaError(404, "404.001.01", "Resource not found")

    def _token(self, request: Received) -> dict[str, Any]:
        if request.query.get("grant_type") != "client_credentials":
            raise _DarajaError(400, "400.008.02", "Invalid grant type passed")
        expected = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            error = load_contract("error_invalid_credentials")
            raise _DarajaError(400, error["errorCode"], error["errorMessage"])
        token = uuid.uuid4().hex[:28]
        self.tokens_issued.append(token)
        self._valid_tokens.add(token)
        return {**load_contract("oauth_response"), "access_token": token}

    def _push(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, load_contract("stk_push_request"))
        self._check_password(body)
        amount = body["Amount"]
        if type(amount) is not int or amount < 1:
            raise _DarajaError(400, "400.002.02", "Bad Request - Invalid Amount")
        if body["TransactionType"] not in {"CustomerPayBillOnline", "CustomerBuyGoodsOnline"}:
            raise _DarajaError(400, "400.002.02", "Bad Request - Invalid TransactionType")
        if len(str(body["AccountReference"])) > 12 or len(str(body["TransactionDesc"])) > 13:
            raise _DarajaError(400, "400.002.02", "Bad Request - Invalid AccountReference")
        answer = load_contract("stk_push_response")
        checkout_id = f"ws_CO_{_nairobi_now()}{random.randint(10**9, 10**10 - 1)}"
        merchant_id = f"{random.randint(1000, 99999)}-{random.randint(10**6, 10**8)}-1"
        answer.update(MerchantRequestID=merchant_id, CheckoutRequestID=checkout_id)
        self.pushes[checkout_id] = {**body, "_merchant_request_id": merchant_id}
        return answer

    def _query(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, load_contract("stk_query_request"))
        self._check_password(body)
        checkout_id = body["CheckoutRequestID"]
        if checkout_id not in self.pushes:
            raise _DarajaError(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
        if checkout_id not in self.push_results:
            error = load_contract("error_still_processing")
            raise _DarajaError(self.processing_status, error["errorCode"], error["errorMessage"])
        code = self.push_results[checkout_id]
        answer = load_contract("stk_query_response")
        answer.update(
            MerchantRequestID=self.pushes[checkout_id]["_merchant_request_id"],
            CheckoutRequestID=checkout_id,
            ResultCode=str(code),
            ResultDesc="The service request is processed successfully."
            if code == 0
            else "Request cancelled by user",
        )
        return answer

    def _payout(self, body: dict[str, Any], contract: str, command: str) -> dict[str, Any]:
        _require(body, load_contract(contract))
        if body["CommandID"] != command or type(body["Amount"]) is not int or body["Amount"] < 1:
            raise _DarajaError(400, "400.002.02", "Bad Request - Invalid CommandID or Amount")
        if command == "BusinessBuyGoods":
            if (body["SenderIdentifierType"], body["RecieverIdentifierType"]) != ("4", "4"):
                raise _DarajaError(400, "400.002.02", "Bad Request - Invalid IdentifierType")
            answer = load_contract("b2b_response")
            originator = f"{random.randint(1000, 9999)}-{random.randint(10**8, 10**9)}-1"
        else:
            answer = load_contract("b2c_response")
            originator = body["OriginatorConversationID"]
            if originator in self.payouts:
                raise _DarajaError(409, "409.001.01", "Duplicate OriginatorConversationID")
        conversation = f"AG_{datetime.now(UTC):%Y%m%d}_{uuid.uuid4().hex[:20]}"
        answer.update(OriginatorConversationID=originator, ConversationID=conversation)
        self.payouts[originator] = {**body, "_conversation_id": conversation}
        return answer

    def _check_password(self, body: Mapping[str, Any]) -> None:
        timestamp = str(body["Timestamp"])
        expected = base64.b64encode(f"{self.shortcode}{self.passkey}{timestamp}".encode()).decode()
        if (
            body["BusinessShortCode"] != self.shortcode
            or len(timestamp) != 14
            or body["Password"] != expected
        ):
            raise _DarajaError(400, "400.002.02", "Bad Request - Invalid Password")


def _require(body: Mapping[str, Any], example: Mapping[str, Any]) -> None:
    """Every field of the documented example is present (Daraja names the first one missing)."""
    for field in example:
        if field not in body or body[field] is None:
            raise _DarajaError(400, "400.002.02", f"Bad Request - Invalid {field}")


def _set_parameter(result: dict[str, Any], key: str, value: Any) -> None:
    for parameter in result["Result"]["ResultParameters"]["ResultParameter"]:
        if parameter["Key"] == key:
            parameter["Value"] = value


def _receipt() -> str:
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=10))


def _nairobi_now() -> str:
    return datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")


def _dump(payload: Any) -> bytes:
    return json.dumps(payload).encode()
