"""A loopback stand-in for MercadoPago's API (a bare ASGI app): its endpoints, shapes, errors, idempotency.

Invariants
- Answers have MercadoPago's shapes, built from the examples in contracts/providers/mercadopago/;
  errors are `{"message", "error", "status", "cause": [...]}`.
- Every request is recorded as received (method, path, query, lower-case headers, raw body) before
  it is answered, so tests can assert the exact bytes that went over the wire, faults included.
- Only `APP_USR-` / `TEST-` bearer tokens are accepted (401 otherwise); an object's `live_mode`
  follows the token's prefix. A POST without `X-Idempotency-Key` is refused (400), like MercadoPago
  does for payments; a repeated key answers the object the first call created.
- Bodies are read with `Decimal` and amounts written back digit for digit: the fake never rounds.
- Injected faults (`fail_next`, `answer_error_next`) are answered in front of "execution" and never
  stored, like an outage between the client and MercadoPago; `slow_next` delays, then executes.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import attrs

CONTRACTS: Final = Path(__file__).resolve().parents[2] / "contracts" / "providers" / "mercadopago"
DECLINED_TOKEN: Final = "tok_rejected"  # a card token whose payment MercadoPago rejects


def load_contract(name: str) -> Any:
    """One of the documented example payloads, e.g. `load_contract("refund")`, numbers as `Decimal`."""
    return json.loads((CONTRACTS / f"{name}.json").read_text(), parse_float=Decimal)


def dumps(value: Any) -> bytes:
    """JSON with each `Decimal` written as the number it is (`10.50`, never `10.5` or a string)."""

    def encode(item: Any) -> str:
        if isinstance(item, Decimal):
            return str(item)
        if isinstance(item, dict):
            return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in item.items()) + "}"
        if isinstance(item, list | tuple):
            return "[" + ",".join(encode(v) for v in item) + "]"
        return json.dumps(item)

    return encode(value).encode()


def sign(secret: str, data_id: str, request_id: str | None, ts: int) -> str:
    """The `x-signature` MercadoPago sends: HMAC-SHA256 over its manifest (missing parts left out)."""
    manifest = f"id:{data_id.lower() if data_id.isalnum() else data_id};"
    manifest += f"request-id:{request_id};" if request_id is not None else ""
    digest = hmac.new(secret.encode(), f"{manifest}ts:{ts};".encode(), hashlib.sha256).hexdigest()
    return f"ts={ts},v1={digest}"


@attrs.frozen
class Received:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body, parse_float=Decimal)


@attrs.frozen
class _Fault:
    status: int | None = None
    body: Any = None
    delay: float = 0.0


class _Refusal(Exception):
    def __init__(self, status: int, error: str, message: str, causes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        cause = [{"code": code, "description": message, "data": None} for code in causes]
        self.payload = {"message": message, "error": error, "status": status, "cause": cause}


class FakeMercadoPago:
    """The app; its public attributes are what a test arranges and inspects."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.payments: dict[str, dict[str, Any]] = {}
        self.preferences: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1319600000)
        self._replays: dict[tuple[str, str], tuple[int, Any]] = {}
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()

    # --- arranging -------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        body = {"message": "internal_error", "error": "internal_error", "status": status, "cause": []}
        self._add(count, _Fault(status, body))

    def slow_next(self, count: int, seconds: float) -> None:
        self._add(count, _Fault(delay=seconds))

    def answer_error_next(self, status: int, body: Any) -> None:
        """The next call answers `body` (e.g. `load_contract("error_bad_request")`)."""
        self._add(1, _Fault(status, body))

    def set_status(self, payment_id: str, status: str, status_detail: str) -> None:
        """What MercadoPago does later: a PSE transfer completes, a pending payment expires…"""
        with self._lock:
            self.payments[payment_id].update(status=status, status_detail=status_detail)
            if status == "approved":
                self.payments[payment_id]["date_approved"] = "2024-05-25T13:10:00.000-05:00"

    def pay_preference(self, preference_id: str) -> str:
        """The buyer paid on the Checkout Pro page: a payment in a merchant order naming the preference."""
        with self._lock:
            preference = self.preferences[preference_id]
            item = preference["items"][0]
            payment = load_contract("payment_card_approved")
            order = load_contract("merchant_order")
            payment_id, order_id = str(next(self._ids)), str(next(self._ids))
            payment.update(
                id=int(payment_id), transaction_amount=item["unit_price"], currency_id=item["currency_id"],
                external_reference=preference["external_reference"], order={"id": order_id, "type": "mercadopago"},
            )  # fmt: skip
            order.update(
                id=int(order_id),
                preference_id=preference_id,
                external_reference=preference["external_reference"],
            )
            self.payments[payment_id], self.orders[order_id] = payment, order
            return payment_id

    def _add(self, count: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    # --- ASGI --------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        received = Received(scope["method"], scope["path"], query, headers, body)
        with self._lock:
            self.requests.append(received)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            status, payload = fault.status, fault.body
        else:
            with self._lock:
                status, payload = self._execute(received)
        headers_out = [(b"content-type", b"application/json"), (b"x-request-id", str(uuid.uuid4()).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": dumps(payload)})

    def _execute(self, request: Received) -> tuple[int, Any]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token.startswith(("APP_USR-", "TEST-")):
            return 401, load_contract("error_unauthorized")
        key = request.headers.get("x-idempotency-key")
        if request.method == "POST":
            if not key:
                return 400, _Refusal(400, "bad_request", "X-Idempotency-Key is required").payload
            if (token, key) in self._replays:
                status, payload = self._replays[(token, key)]
                return status, copy.deepcopy(payload)
        try:
            status, payload = self._route(request, live=token.startswith("APP_USR-"))
        except _Refusal as refusal:
            return refusal.status, refusal.payload
        if request.method == "POST" and key:
            self._replays[(token, key)] = (status, copy.deepcopy(payload))
        return status, payload

    # --- endpoints ---------------------------------------------------------------------------------

    def _route(self, request: Received, live: bool) -> tuple[int, Any]:
        parts = request.path.strip("/").split("/")
        match request.method, parts:
            case "POST", ["v1", "payments"]:
                return 201, self._create_payment(_body(request), live)
            case "GET", ["v1", "payments", payment_id]:
                return 200, copy.deepcopy(_found(self.payments, payment_id, "Payment"))
            case "POST", ["v1", "payments", payment_id, "refunds"]:
                return 201, self._refund(payment_id, _body(request))
            case "POST", ["checkout", "preferences"]:
                return 201, self._create_preference(_body(request), live)
            case "GET", ["merchant_orders", order_id]:
                return 200, copy.deepcopy(_found(self.orders, order_id, "Merchant order"))
            case "GET", ["v1", "payment_methods"]:
                return 200, load_contract("payment_methods")
        raise _Refusal(404, "not_found", "resource not found")

    def _create_payment(self, body: dict[str, Any], live: bool) -> dict[str, Any]:
        amount = body.get("transaction_amount")
        if not isinstance(amount, Decimal | int) or isinstance(amount, bool) or amount <= 0:
            raise _Refusal(400, "bad_request", "Invalid transaction_amount", (4037,))
        if not str(body.get("payer", {}).get("email", "")):
            raise _Refusal(400, "bad_request", "payer.email must be a valid email", (4050,))
        pse = body.get("payment_method_id") == "pse"
        if pse and not body.get("callback_url"):
            raise _Refusal(400, "bad_request", "callback_url is required", (4000,))
        payment = load_contract("payment_pse_pending" if pse else "payment_card_approved")
        payment_id = str(next(self._ids))
        payment.update(
            id=int(payment_id), live_mode=live, transaction_amount=amount, payer=body["payer"],
            description=body.get("description"), external_reference=body.get("external_reference"),
            payment_method_id=body.get("payment_method_id"), installments=body.get("installments", 1),
        )  # fmt: skip
        if pse:
            payment["transaction_details"]["financial_institution"] = body["transaction_details"][
                "financial_institution"
            ]
            payment["transaction_details"]["external_resource_url"] = (
                f"https://www.mercadopago.com.co/sandbox/payments/{payment_id}/bank_transfer"
            )
        elif body.get("token") == DECLINED_TOKEN:
            payment.update(status="rejected", status_detail="cc_rejected_other_reason", date_approved=None)
        self.payments[payment_id] = payment
        return copy.deepcopy(payment)

    def _refund(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        payment = _found(self.payments, payment_id, "Payment")
        if payment["status"] != "approved":
            raise _Refusal(400, "bad_request", "Payment not approved", (2063,))
        remaining = Decimal(payment["transaction_amount"]) - Decimal(payment["transaction_amount_refunded"])
        amount = body.get("amount", remaining)
        if not isinstance(amount, Decimal | int) or amount <= 0 or amount > remaining:
            raise _Refusal(400, "bad_request", "Invalid refund amount", (2034,))
        refund = load_contract("refund")
        refund.update(
            id=next(self._ids), payment_id=int(payment_id), amount=amount, amount_refunded_to_payer=amount
        )
        payment["transaction_amount_refunded"] = Decimal(payment["transaction_amount_refunded"]) + amount
        payment["refunds"].append(copy.deepcopy(refund))
        if payment["transaction_amount_refunded"] == Decimal(payment["transaction_amount"]):
            payment.update(status="refunded", status_detail="refunded")
        else:
            payment["status_detail"] = "partially_refunded"
        return refund

    def _create_preference(self, body: dict[str, Any], live: bool) -> dict[str, Any]:
        items = body.get("items")
        if (
            not isinstance(items, list)
            or not items
            or not isinstance(items[0].get("unit_price"), Decimal | int)
        ):
            raise _Refusal(400, "invalid_items", "items needed", (4001,))
        preference = load_contract("preference")
        preference_id = f"1234567890-{uuid.uuid4()}"
        preference.update(
            id=preference_id, items=items, back_urls=body.get("back_urls", {}),
            auto_return=body.get("auto_return", ""), external_reference=body.get("external_reference", ""),
            notification_url=body.get("notification_url"),
            init_point=f"https://www.mercadopago.com.br/checkout/v1/redirect?pref_id={preference_id}",
            sandbox_init_point=f"https://sandbox.mercadopago.com.br/checkout/v1/redirect?pref_id={preference_id}",
        )  # fmt: skip
        self.preferences[preference_id] = preference
        return copy.deepcopy(preference)


def _body(request: Received) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _Refusal(400, "bad_request", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "bad_request", "the body is not an object")
    return body


def _found(objects: Mapping[str, Any], object_id: str, kind: str) -> Any:
    if object_id not in objects:
        refusal = _Refusal(404, "not_found", f"{kind} not found")
        refusal.payload = {**load_contract("error_not_found"), "message": f"{kind} not found"}
        raise refusal
    return objects[object_id]
