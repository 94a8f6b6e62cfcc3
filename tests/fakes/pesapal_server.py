"""A loopback stand-in for Pesapal API 3.0 (a bare ASGI app): token, IPN registration, orders, status, refunds.

Invariants
- Answers have Pesapal's shapes, built from the examples in contracts/providers/pesapal/; a refusal
  is `{"error": {"error_type", "code", "message"}, "status": "<code>"}` with HTTP 200, as Pesapal
  answers many of them. An unknown or revoked bearer token answers HTTP 401.
- Every request is recorded as received (method, path, query, lower-case headers, raw body) before
  it is answered, so tests can assert what went over the wire, faults included.
- An order needs a registered `notification_id`, an `amount` that is a JSON number (never a string),
  and a phone number or an e-mail in `billing_address`.
- An order's status is INVALID (0) until the test says `pay`, `fail` or `reverse`; a refund needs
  the confirmation code of a COMPLETED order and at most its amount.
- Injected faults (`fail_next`, `slow_next`) are answered in front of execution, like an outage.
- IPNs are built, not sent: `ipn(tracking_id)` returns what Pesapal would deliver (the same bytes
  every time, as when it resends).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import attrs

CONTRACTS: Final = Path(__file__).resolve().parents[2] / "contracts" / "providers" / "pesapal"
CONSUMER_KEY: Final = "fake-pesapal-key"
CONSUMER_SECRET: Final = "fake-pesapal-secret"
INVALID, COMPLETED, FAILED, REVERSED = 0, 1, 2, 3
_DESCRIPTIONS: Final = {INVALID: "INVALID", COMPLETED: "Completed", FAILED: "Failed", REVERSED: "Reversed"}


def load_contract(name: str) -> dict[str, Any]:
    """One of Pesapal's documented example payloads, e.g. `load_contract("order_request")`."""
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
    delay: float = 0.0


class _Refusal(Exception):
    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"error_type": "api_error", "code": code, "message": message}, "status": "500"}


class FakePesapal:
    """The app; its public attributes are what a test arranges and inspects."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.tokens_issued: list[str] = []
        self.ipns: dict[str, dict[str, Any]] = {}  # ipn_id -> the registration
        self.orders: dict[str, dict[str, Any]] = {}  # order_tracking_id -> request + state
        self.refunds: list[dict[str, Any]] = []
        self.refuse_refunds = False  # answer every refund request "Refund request failed"
        self._valid_tokens: set[str] = set()
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()

    # --- arranging and inspecting ------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._faults.extend([_Fault(status)] * count)

    def slow_next(self, count: int, seconds: float) -> None:
        with self._lock:
            self._faults.extend([_Fault(delay=seconds)] * count)

    def revoke_tokens(self) -> None:
        with self._lock:
            self._valid_tokens.clear()

    def calls_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def pay(self, tracking_id: str, method: str = "Visa") -> None:
        self._settle(tracking_id, COMPLETED, method)

    def fail(self, tracking_id: str) -> None:
        self._settle(tracking_id, FAILED, "Visa")

    def reverse(self, tracking_id: str) -> None:
        self._settle(tracking_id, REVERSED, self.orders[tracking_id]["payment_method"])

    def ipn(self, tracking_id: str, method: str = "POST") -> bytes:
        """The IPN Pesapal delivers: a POST's JSON body, or a GET's query string."""
        fields = load_contract("ipn_post")
        fields.update(OrderTrackingId=tracking_id, OrderMerchantReference=self.orders[tracking_id]["id"])
        return json.dumps(fields).encode() if method == "POST" else urlencode(fields).encode()

    def _settle(self, tracking_id: str, code: int, method: str) -> None:
        with self._lock:
            order = self.orders[tracking_id]
            order.update(status_code=code, payment_method=method)
            if code == COMPLETED:
                order["confirmation_code"] = str(uuid.uuid4().int)[:22]

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
            status, payload = fault.status, {"error": {"error_type": "api_error", "code": "server_error"}}
        else:
            with self._lock:
                try:
                    status, payload = 200, self._route(received)
                except _Refusal as refusal:
                    status, payload = refusal.status, refusal.body
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": json.dumps(payload, default=_number).encode()})

    # --- endpoints ---------------------------------------------------------------------------

    def _route(self, request: Received) -> dict[str, Any]:
        if (request.method, request.path) == ("POST", "/api/Auth/RequestToken"):
            return self._token(self._body(request))
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self._valid_tokens:
            raise _Refusal("invalid_api_credentials", "Invalid or expired token", status=401)
        match request.method, request.path:
            case "POST", "/api/URLSetup/RegisterIPN":
                return self._register_ipn(self._body(request))
            case "POST", "/api/Transactions/SubmitOrderRequest":
                return self._order(self._body(request))
            case "GET", "/api/Transactions/GetTransactionStatus":
                return self._status(request.query.get("orderTrackingId", ""))
            case "POST", "/api/Transactions/RefundRequest":
                return self._refund(self._body(request))
        raise _Refusal("not_found", "Resource not found", status=404)

    @staticmethod
    def _body(request: Received) -> dict[str, Any]:
        try:
            body = request.json
        except ValueError:
            raise _Refusal("invalid_request", "The request body is not JSON") from None
        if not isinstance(body, dict):
            raise _Refusal("invalid_request", "The request body is not a JSON object")
        return body

    def _token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if (body.get("consumer_key"), body.get("consumer_secret")) != (CONSUMER_KEY, CONSUMER_SECRET):
            raise _Refusal("invalid_consumer_key_or_secret_provided", "")
        token = f"fake.{uuid.uuid4().hex}"
        self.tokens_issued.append(token)
        self._valid_tokens.add(token)
        expiry = datetime.now(UTC) + timedelta(minutes=5)
        return {**load_contract("token_response"), "token": token, "expiryDate": expiry.isoformat()}

    def _register_ipn(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if not body.get("url") or body.get("ipn_notification_type") not in {"GET", "POST"}:
            raise _Refusal("invalid_ipn", "url and ipn_notification_type GET|POST are required")
        ipn_id = str(uuid.uuid4())
        self.ipns[ipn_id] = dict(body)
        return {**load_contract("register_ipn_response"), "url": body["url"], "ipn_id": ipn_id}

    def _order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal) or amount <= 0:
            raise _Refusal("invalid_amount", "amount must be a positive number")
        if not body.get("id") or len(str(body["id"])) > 50 or not body.get("currency"):
            raise _Refusal("invalid_merchant_reference", "id (at most 50) and currency are required")
        if len(str(body.get("description", ""))) > 100 or not body.get("callback_url"):
            raise _Refusal("invalid_request", "description (at most 100) and callback_url are required")
        if body.get("notification_id") not in self.ipns:
            raise _Refusal("invalid_notification_id", "notification_id is not a registered IPN")
        billing = body.get("billing_address") or {}
        if not (billing.get("phone_number") or billing.get("email_address")):
            raise _Refusal("invalid_billing_address", "a phone number or an e-mail address is required")
        tracking_id = str(uuid.uuid4())
        self.orders[tracking_id] = {
            **body,
            "status_code": INVALID,
            "payment_method": "",
            "confirmation_code": "",
        }
        answer = load_contract("order_response")
        redirect = answer["redirect_url"].replace(answer["order_tracking_id"], tracking_id)
        answer.update(order_tracking_id=tracking_id, merchant_reference=body["id"], redirect_url=redirect)
        return answer

    def _status(self, tracking_id: str) -> dict[str, Any]:
        order = self.orders.get(tracking_id)
        code = INVALID if order is None else order["status_code"]
        answer = load_contract("status_completed" if code == COMPLETED else "status_failed")
        answer.update(status_code=code, payment_status_description=_DESCRIPTIONS[code])
        if order is not None:
            answer.update(
                amount=order["amount"],
                currency=order["currency"],
                merchant_reference=order["id"],
                payment_method=order["payment_method"],
                confirmation_code=order["confirmation_code"],
            )
        return answer

    def _refund(self, body: Mapping[str, Any]) -> dict[str, Any]:
        for field in ("confirmation_code", "amount", "username", "remarks"):
            if not body.get(field):
                raise _Refusal("invalid_request", f"{field} is required")
        order = next(
            (o for o in self.orders.values() if o["confirmation_code"] == body["confirmation_code"]), None
        )
        try:
            amount = Decimal(str(body["amount"]))
        except InvalidOperation:
            raise _Refusal("invalid_amount", "amount is not a number") from None
        self.refunds.append(dict(body))
        if (
            self.refuse_refunds
            or order is None
            or order["status_code"] != COMPLETED
            or amount > order["amount"]
        ):
            return {"status": "500", "message": "Refund request failed"}
        return load_contract("refund_response")


def _number(value: Any) -> Any:
    """Decimal amounts back to JSON numbers (the fake's amounts have few digits, so a float is exact)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)
