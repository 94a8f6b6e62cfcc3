"""A loopback stand-in for Paystack's API (a bare ASGI app): its endpoints, shapes, errors and dedupe.

Invariants
- Every answer is Paystack's envelope `{status, message, data}`, built from the examples in
  contracts/providers/paystack/; a refusal is `{"status": false, "message"}` with a 4xx.
- Every request is recorded as received (method, path, lower-case headers, raw body) before it is
  answered, so tests can assert the exact amounts and references that went over the wire.
- Only `sk_test_` / `sk_live_` bearer keys are accepted ("Invalid key", 401 otherwise).
- Paystack's dedupe key is the reference: a second transaction or transfer with a reference already
  used is refused "Duplicate Transaction/Transfer Reference" (400); a recipient with an account
  number already used is answered with the existing recipient.
- Injected faults (`fail_next`, `answer_error_next`) are answered in front of "execution" and never
  stored; `slow_next` delays, then executes; `lose_next_answer(path)` executes the next call to
  `path` and then answers 502, like a gateway that drops Paystack's reply.
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
from pathlib import Path
from typing import Any, Final

import attrs

CONTRACTS: Final = Path(__file__).resolve().parents[2] / "contracts" / "providers" / "paystack"
DECLINED_AUTHORIZATION: Final = "AUTH_declined0"  # a saved card whose charge Paystack declines


def load_contract(name: str) -> Any:
    return json.loads((CONTRACTS / f"{name}.json").read_text())


def sign(secret_key: str, body: bytes) -> str:
    """`x-paystack-signature` as Paystack sends it: hex HMAC-SHA512 of the raw body."""
    return hmac.new(secret_key.encode(), body, hashlib.sha512).hexdigest()


def event(name: str, **data: Any) -> bytes:
    """A webhook body from the contract example of `name` (e.g. "charge_success"), fields replaced."""
    payload = load_contract(f"event_{name}")
    payload["data"].update(data)
    return json.dumps(payload, separators=(",", ":")).encode()


@attrs.frozen
class Received:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.frozen
class _Fault:
    status: int | None = None
    body: Any = None
    delay: float = 0.0


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.payload = {"status": False, "message": message}


class FakePaystack:
    """The app; its public attributes are what a test arranges and inspects."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.transactions: dict[str, dict[str, Any]] = {}  # by reference
        self.recipients: dict[str, dict[str, Any]] = {}  # by account number
        self.transfers: dict[str, dict[str, Any]] = {}  # by reference
        self.refunds: list[dict[str, Any]] = []
        self._ids = itertools.count(4099260600)
        self._faults: deque[_Fault] = deque()
        self._lose: set[str] = set()  # paths whose next answer is lost after execution
        self._lock = threading.Lock()

    # --- arranging -------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        self._add(count, _Fault(status, {"status": False, "message": "An error occurred"}))

    def slow_next(self, count: int, seconds: float) -> None:
        self._add(count, _Fault(delay=seconds))

    def answer_error_next(self, status: int, body: Any) -> None:
        self._add(1, _Fault(status, body))

    def lose_next_answer(self, path: str) -> None:
        with self._lock:
            self._lose.add(path)

    def pay(self, reference: str, status: str = "success") -> None:
        """The buyer finished on the hosted page."""
        with self._lock:
            self.transactions[reference].update(status=status, gateway_response="Successful")

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
        received = Received(scope["method"], scope["path"], headers, body)
        with self._lock:
            self.requests.append(received)
            fault = self._faults.popleft() if self._faults else None
            lost = fault is None and received.path in self._lose
            self._lose.discard(received.path if lost else "")
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            status, payload = fault.status, fault.body
        else:
            with self._lock:
                status, payload = self._execute(received)
            if lost:
                status, payload = 502, {"status": False, "message": "Bad gateway"}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})

    def _execute(self, request: Received) -> tuple[int, Any]:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not key.startswith(("sk_test_", "sk_live_")):
            return 401, load_contract("error_invalid_key")
        try:
            return 200, self._route(request, "live" if key.startswith("sk_live_") else "test")
        except _Refusal as refusal:
            return refusal.status, refusal.payload

    # --- endpoints ---------------------------------------------------------------------------------

    def _route(self, request: Received, domain: str) -> dict[str, Any]:
        parts = request.path.strip("/").split("/")
        match request.method, parts:
            case "POST", ["transaction", "initialize"]:
                return self._initialize(_body(request), domain)
            case "GET", ["transaction", "verify", reference]:
                return _answer(
                    "Verification successful", _found(self.transactions, reference, "Transaction reference")
                )
            case "POST", ["transaction", "charge_authorization"]:
                return self._charge(_body(request), domain)
            case "POST", ["refund"]:
                return self._refund(_body(request))
            case "POST", ["transferrecipient"]:
                return self._recipient(_body(request), domain)
            case "POST", ["transfer"]:
                return self._transfer(_body(request), domain)
            case "GET", ["transfer", "verify", reference]:
                return _answer("Transfer retrieved", _found(self.transfers, reference, "Transfer"))
        raise _Refusal(404, "Not found")

    def _initialize(self, body: dict[str, Any], domain: str) -> dict[str, Any]:
        amount, reference = _subunits(body), _reference(body, self.transactions, "Transaction")
        if not body.get("email"):
            raise _Refusal(400, "Email is required")
        transaction = load_contract("transaction_verify_success")["data"]
        transaction.update(
            id=next(self._ids), domain=domain, status="abandoned", reference=reference, amount=amount,
            currency=body.get("currency", "NGN"), gateway_response="The transaction was not completed",
            requested_amount=amount, paid_at=None, paidAt=None, metadata=body.get("metadata"),
        )  # fmt: skip
        self.transactions[reference] = transaction
        answer = load_contract("transaction_initialize")
        access_code = uuid.uuid4().hex[:10]
        answer["data"].update(access_code=access_code, reference=reference)
        answer["data"]["authorization_url"] = f"https://checkout.paystack.com/{access_code}"
        return answer

    def _charge(self, body: dict[str, Any], domain: str) -> dict[str, Any]:
        amount, reference = _subunits(body), _reference(body, self.transactions, "Transaction")
        if not str(body.get("authorization_code", "")).startswith("AUTH_"):
            raise _Refusal(400, "Invalid authorization code")
        charge = load_contract("charge_authorization")["data"]
        declined = body["authorization_code"] == DECLINED_AUTHORIZATION
        charge.update(
            id=next(self._ids), domain=domain, amount=amount, currency=body.get("currency", "NGN"),
            reference=reference, status="failed" if declined else "success",
            gateway_response="Declined" if declined else "Approved",
        )  # fmt: skip
        charge["authorization"]["authorization_code"] = body["authorization_code"]
        self.transactions[reference] = charge
        return _answer("Charge attempted", charge)

    def _refund(self, body: dict[str, Any]) -> dict[str, Any]:
        transaction = _found(self.transactions, str(body.get("transaction")), "Transaction")
        refunded = sum(
            r["amount"] for r in self.refunds if r["transaction"]["reference"] == transaction["reference"]
        )
        amount = body.get("amount", transaction["amount"] - refunded)
        if not isinstance(amount, int) or amount <= 0 or refunded + amount > transaction["amount"]:
            raise _Refusal(400, "Refund amount cannot be greater than transaction amount")
        refund = load_contract("refund")["data"]
        refund["transaction"].update(
            id=transaction["id"], reference=transaction["reference"], amount=transaction["amount"]
        )
        refund.update(id=next(self._ids), amount=amount, currency=transaction["currency"], status="pending")
        self.refunds.append(refund)
        return _answer("Refund has been queued for processing", refund)

    def _recipient(self, body: dict[str, Any], domain: str) -> dict[str, Any]:
        for field in ("type", "name", "account_number", "bank_code"):
            if not body.get(field):
                raise _Refusal(400, f"{field} is required")
        existing = self.recipients.get(body["account_number"])
        if existing is not None:
            return _answer("Transfer recipient created successfully", existing)
        recipient = load_contract("transfer_recipient")["data"]
        recipient.update(
            id=next(self._ids), domain=domain, name=body["name"], type=body["type"],
            currency=body.get("currency", "NGN"), recipient_code=f"RCP_{uuid.uuid4().hex[:15]}",
        )  # fmt: skip
        recipient["details"].update(account_number=body["account_number"], bank_code=body["bank_code"])
        self.recipients[body["account_number"]] = recipient
        return _answer("Transfer recipient created successfully", recipient)

    def _transfer(self, body: dict[str, Any], domain: str) -> dict[str, Any]:
        amount = _subunits(body)
        if not any(r["recipient_code"] == body.get("recipient") for r in self.recipients.values()):
            raise _Refusal(400, "Recipient specified is invalid")
        reference = str(body.get("reference", ""))
        if reference in self.transfers:
            raise _Refusal(400, "Duplicate Transfer Reference")
        transfer = load_contract("transfer")["data"]
        transfer.update(
            id=next(self._ids), domain=domain, amount=amount, currency=body.get("currency", "NGN"),
            reference=reference, reason=body.get("reason"), source=body.get("source"),
            transfer_code=f"TRF_{uuid.uuid4().hex[:15]}", status="pending",
        )  # fmt: skip
        self.transfers[reference] = transfer
        return _answer("Transfer has been queued", transfer)


def _answer(message: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": True, "message": message, "data": copy.deepcopy(dict(data))}


def _body(request: Received) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _Refusal(400, "Invalid JSON") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "Invalid JSON")
    return body


def _subunits(body: Mapping[str, Any]) -> int:
    """Paystack takes an integer of subunits, or its digits as a string; nothing else."""
    amount = body.get("amount")
    if isinstance(amount, str) and amount.isdigit():
        amount = int(amount)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise _Refusal(400, "Invalid Amount Sent")
    return amount


def _reference(body: Mapping[str, Any], used: Mapping[str, Any], kind: str) -> str:
    reference = str(body.get("reference") or uuid.uuid4().hex[:12])
    if reference in used:
        raise _Refusal(
            400, load_contract("error_duplicate_reference")["message"].replace("Transaction", kind)
        )
    return reference


def _found(objects: Mapping[str, Any], key: str, kind: str) -> Any:
    """An unknown transaction reference is a 400 "Transaction reference not found", as Paystack answers."""
    if key not in objects:
        message = load_contract("error_not_found")["message"].replace("Transaction reference", kind)
        raise _Refusal(404 if kind == "Transfer" else 400, message)
    return objects[key]
