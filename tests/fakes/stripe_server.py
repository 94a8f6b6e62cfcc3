"""A loopback stand-in for Stripe's API (a bare ASGI app): its endpoints, shapes, errors and idempotency.

Invariants
- Answers have Stripe's shapes: objects are built from the examples in contracts/providers/stripe/,
  errors are `{"error": {"type", "code", "message", ...}}`, every answer carries a `Request-Id`.
- Every request is recorded as received (method, path, lower-case headers, form fields) before it
  is answered, so tests can assert what went over the wire, faults included.
- Only the configured secret keys are accepted (401 otherwise); an object's `livemode` follows the
  key's prefix.
- A POST with an `Idempotency-Key` seen before replays the first answer when its form is the same,
  and answers `idempotency_error` (400) when it differs. Injected faults (`fail_next`,
  `answer_error_next`) are answered in front of "execution" and are never stored, like an outage
  between the client and Stripe; `slow_next` delays a request and then executes it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import attrs

CONTRACTS: Final = Path(__file__).resolve().parents[2] / "contracts" / "providers" / "stripe"
DEFAULT_KEYS: Final = ("sk_test_fake0000000000000000", "sk_live_fake0000000000000000")


def load_contract(name: str) -> dict[str, Any]:
    """One of Stripe's documented example payloads, e.g. `load_contract("refund")`."""
    return json.loads((CONTRACTS / f"{name}.json").read_text())


def signature_header(body: bytes, secrets: Iterable[str], timestamp: int) -> str:
    """`Stripe-Signature` as Stripe sends it: one `v1` per secret (two while a secret is rolled)."""
    signed = f"{timestamp}.".encode() + body
    values = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={value}" for value in values)])


@attrs.frozen
class Received:
    method: str
    path: str
    headers: Mapping[str, str]
    form: Mapping[str, str]


@attrs.frozen
class _Fault:
    status: int | None = None
    body: Mapping[str, Any] | None = None
    delay: float = 0.0


class _StripeError(Exception):
    def __init__(self, status: int, stored: bool = True, **error: Any) -> None:
        super().__init__(error.get("message", ""))
        self.status, self.stored, self.error = status, stored, error


class FakeStripe:
    """The app; its public attributes are what a test arranges and inspects."""

    def __init__(self, keys: Iterable[str] = DEFAULT_KEYS) -> None:
        self.keys = set(keys)
        self.requests: list[Received] = []
        self.answered = 0  # requests answered so far; less than len(requests) while one is in flight
        self.sessions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}
        self.refund_status = "succeeded"  # what a new refund answers: succeeded, pending, failed
        self._refunded: dict[str, int] = {}  # payment intent -> minor units refunded so far
        self._intents: dict[str, tuple[int, str]] = {}  # payment intent -> (amount, currency)
        self._replays: dict[tuple[str, str], tuple[Mapping[str, str], int, dict[str, Any]]] = {}
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()

    # --- arranging -------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next `count` calls answer `status` (500 api_error, 429 rate_limit, 503 …)."""
        error = (
            {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."}
            if status == 429
            else {"type": "api_error", "message": "Something went wrong on Stripe's end."}
        )
        self._add(count, _Fault(status, {"error": error}))

    def slow_next(self, count: int, seconds: float) -> None:
        self._add(count, _Fault(delay=seconds))

    def answer_error_next(self, status: int, body: Mapping[str, Any]) -> None:
        """The next call answers `body` (a Stripe error object such as error_card_declined.json)."""
        self._add(1, _Fault(status, body))

    def complete_session(self, session_id: str) -> dict[str, Any]:
        """The buyer paid on the hosted page: the session completes with a fresh PaymentIntent."""
        with self._lock:
            session = self.sessions[session_id]
            intent = f"pi_{uuid.uuid4().hex[:24]}"
            session.update(status="complete", payment_status="paid", payment_intent=intent, url=None)
            self._intents[intent] = (session["amount_total"], session["currency"])
            return copy.deepcopy(session)

    def expire_session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            self.sessions[session_id].update(status="expired", url=None)
            return copy.deepcopy(self.sessions[session_id])

    def event(self, event_type: str, subject: Mapping[str, Any], created: int | None = None) -> bytes:
        """The body of the webhook Stripe would send about `subject`."""
        envelope = load_contract("event_checkout_session_completed")
        envelope.update(
            id=f"evt_{uuid.uuid4().hex[:24]}",
            type=event_type,
            created=int(time.time()) if created is None else created,
            livemode=bool(subject.get("livemode", False)),
            data={"object": dict(subject)},
        )
        return json.dumps(envelope, separators=(",", ":")).encode()

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
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        received = Received(scope["method"], scope["path"], headers, form)
        with self._lock:
            self.requests.append(received)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        replayed = False
        if fault is not None and fault.status is not None:
            status, payload = fault.status, dict(fault.body or {})
        else:
            with self._lock:
                status, payload, replayed = self._execute(received)
        response_headers = [
            (b"content-type", b"application/json"),
            (b"request-id", f"req_{uuid.uuid4().hex[:14]}".encode()),
        ]
        if replayed:
            response_headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})
        with self._lock:
            self.answered += 1

    def _execute(self, request: Received) -> tuple[int, dict[str, Any], bool]:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        if key not in self.keys:
            error = load_contract("error_invalid_api_key")
            error["error"]["message"] = f"Invalid API Key provided: {key[:8]}****{key[-4:]}"
            return 401, error, False
        idempotency = request.headers.get("idempotency-key") if request.method == "POST" else None
        if idempotency is not None and (key, idempotency) in self._replays:
            form, status, payload = self._replays[(key, idempotency)]
            if form != request.form:
                message = (
                    f"Keys for idempotent requests can only be used with the same parameters ({idempotency})."
                )
                return 400, {"error": {"type": "idempotency_error", "message": message}}, False
            return status, copy.deepcopy(payload), True
        try:
            status, payload = 200, self._route(request, livemode=key.startswith("sk_live_"))
        except _StripeError as refusal:
            status, payload = refusal.status, {"error": refusal.error}
            if not refusal.stored:
                return status, payload, False
        if idempotency is not None:
            self._replays[(key, idempotency)] = (request.form, status, copy.deepcopy(payload))
        return status, payload, False

    # --- endpoints ---------------------------------------------------------------------------------

    def _route(self, request: Received, livemode: bool) -> dict[str, Any]:
        parts = request.path.strip("/").split("/")
        match request.method, parts:
            case "POST", ["v1", "checkout", "sessions"]:
                return self._create_session(request.form, livemode)
            case "GET", ["v1", "checkout", "sessions", session_id]:
                return copy.deepcopy(self._found(self.sessions, session_id, "checkout.session"))
            case "POST", ["v1", "checkout", "sessions", session_id, "expire"]:
                session = self._found(self.sessions, session_id, "checkout.session")
                if session["status"] != "open":
                    raise _StripeError(
                        400, type="invalid_request_error", message="Only open sessions expire."
                    )
                session.update(status="expired", url=None)
                return copy.deepcopy(session)
            case "POST", ["v1", "refunds"]:
                return self._create_refund(request.form, livemode)
            case "POST", ["v1", "payouts"]:
                return self._create_payout(request.form, livemode)
        raise _StripeError(
            404, stored=False, type="invalid_request_error",
            message=f"Unrecognized request URL ({request.method}: {request.path}).",
        )  # fmt: skip

    def _create_session(self, form: Mapping[str, str], livemode: bool) -> dict[str, Any]:
        _require(form, "mode", "line_items[0][price_data][currency]", "line_items[0][quantity]")
        unit = _integer(form, "line_items[0][price_data][unit_amount]")
        quantity = _integer(form, "line_items[0][quantity]")
        session = load_contract("checkout_session")
        session_id = f"cs_{'live' if livemode else 'test'}_{uuid.uuid4().hex}"
        now = int(time.time())
        session.update(
            id=session_id,
            amount_subtotal=unit * quantity,
            amount_total=unit * quantity,
            currency=form["line_items[0][price_data][currency]"],
            client_reference_id=form.get("client_reference_id"),
            success_url=form.get("success_url"),
            cancel_url=form.get("cancel_url"),
            metadata=_nested(form, "metadata"),
            livemode=livemode,
            created=now,
            expires_at=now + 24 * 3600,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
        )
        self.sessions[session_id] = session
        return copy.deepcopy(session)

    def _create_refund(self, form: Mapping[str, str], livemode: bool) -> dict[str, Any]:
        intent = form.get("payment_intent")
        if intent is None:
            raise _StripeError(
                400, stored=False, type="invalid_request_error", code="parameter_missing",
                param="payment_intent", message="Must provide one of charge or payment_intent.",
            )  # fmt: skip
        paid, currency = self._found(self._intents, intent, "payment_intent")
        remaining = paid - self._refunded.get(intent, 0)
        amount = _integer(form, "amount") if "amount" in form else remaining
        if remaining == 0:
            raise _StripeError(
                400, type="invalid_request_error", code="charge_already_refunded",
                message=f"Charge for {intent} has already been refunded.",
            )  # fmt: skip
        if amount > remaining:
            raise _StripeError(
                400, type="invalid_request_error", code="amount_too_large", param="amount",
                message=f"Refund amount ({amount}) is greater than unrefunded amount ({remaining}).",
            )  # fmt: skip
        if self.refund_status != "failed":
            self._refunded[intent] = self._refunded.get(intent, 0) + amount
        refund = load_contract("refund")
        refund.update(
            id=f"re_{uuid.uuid4().hex[:24]}",
            amount=amount,
            currency=currency,
            payment_intent=intent,
            metadata=_nested(form, "metadata"),
            status=self.refund_status,
            created=int(time.time()),
        )
        if self.refund_status == "failed":
            refund["failure_reason"] = "expired_or_canceled_card"
        self.refunds[refund["id"]] = refund
        return copy.deepcopy(refund)

    def _create_payout(self, form: Mapping[str, str], livemode: bool) -> dict[str, Any]:
        _require(form, "currency")
        payout = load_contract("payout")
        payout.update(
            id=f"po_{uuid.uuid4().hex[:24]}",
            amount=_integer(form, "amount"),
            currency=form["currency"],
            destination=form.get("destination", payout["destination"]),
            metadata=_nested(form, "metadata"),
            livemode=livemode,
            created=int(time.time()),
        )
        self.payouts[payout["id"]] = payout
        return copy.deepcopy(payout)

    @staticmethod
    def _found(objects: Mapping[str, Any], object_id: str, kind: str) -> Any:
        if object_id not in objects:
            raise _StripeError(
                404, type="invalid_request_error", code="resource_missing", param="id",
                message=f"No such {kind}: '{object_id}'",
            )  # fmt: skip
        return objects[object_id]


def _require(form: Mapping[str, str], *names: str) -> None:
    for name in names:
        if not form.get(name):
            raise _StripeError(
                400, stored=False, type="invalid_request_error", code="parameter_missing", param=name,
                message=f"Missing required param: {name}.",
            )  # fmt: skip


def _integer(form: Mapping[str, str], name: str) -> int:
    _require(form, name)
    if not form[name].isdigit():
        raise _StripeError(
            400, stored=False, type="invalid_request_error", code="parameter_invalid_integer", param=name,
            message=f"Invalid integer: {form[name]}",
        )  # fmt: skip
    return int(form[name])


def _nested(form: Mapping[str, str], name: str) -> dict[str, str]:
    """`metadata[a]=1&metadata[b]=2` back to `{"a": "1", "b": "2"}`."""
    prefix = f"{name}["
    return {k[len(prefix) : -1]: v for k, v in form.items() if k.startswith(prefix) and k.endswith("]")}
