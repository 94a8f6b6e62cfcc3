"""The sandbox provider: part of the product, like a test mode.

It accepts checkouts, direct payments, refunds and payouts in-process, and completes or fails
them on command by emitting signed webhooks, the same way a real provider would: the events
go through `parse_webhook` and the core's webhook use case like any other provider's.

Invariants
- Every object it makes (a checkout, a payment, a refund, a payout) finishes once, with one
  outcome: at once (a card approved or declined, a refund or payout told to succeed or fail) or
  by a command, which emits the object's signed webhook. A second command on it is refused.
- `outcome` answers what an object finished with whether or not its webhook was delivered, as a
  real provider's status query does; None while it is pending, and for a reference this instance
  never made (of that kind). Objects live in this instance's memory only: a janitor in another
  process, or after a restart, learns nothing from it.
- While `unavailable`, the calls the core makes to it (`start_checkout`, `create_payment`,
  `refund`, `payout`, `outcome`) raise `ProviderUnavailable`; commands and `parse_webhook` work.
- Signature: `Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
  checked in constant time with a 300 s tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from payments_core.errors import InvalidOperation, ProviderUnavailable, Unauthenticated, ValidationError
from payments_core.money import Money
from payments_core.ports import (
    CheckoutRequest,
    Clock,
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

SIGNATURE_HEADER: Final = "Sandbox-Signature"
TOLERANCE_SECONDS: Final = 300
DECLINED_TOKENS: Final = frozenset({"tok_declined", "tok_chargeDeclined", "card_declined"})


@attrs.frozen
class Webhook:
    """An HTTP request the sandbox would send: deliver it to the webhook endpoint as is."""

    headers: Mapping[str, str]
    body: bytes


_REFUND_ENDINGS: Final = {
    ReceiptStatus.SUCCEEDED: ProviderEventType.REFUND_SUCCEEDED,
    ReceiptStatus.FAILED: ProviderEventType.REFUND_FAILED,
}
_PAYOUT_ENDINGS: Final = {
    ReceiptStatus.SUCCEEDED: ProviderEventType.PAYOUT_SETTLED,
    ReceiptStatus.FAILED: ProviderEventType.PAYOUT_FAILED,
}


@attrs.define
class _Made:
    """An object the sandbox made, and the outcome it finished with (None while pending)."""

    kind: str  # "checkout", "payment", "refund" or "payout"
    amount: Money
    outcome: ProviderEventType | None = None


class SandboxProvider:
    def __init__(
        self,
        clock: Clock,
        signing_secret: str,
        base_url: str = "/sandbox",
        deliver: Callable[[Webhook], object] | None = None,
    ) -> None:
        self._clock = clock
        self._secret = signing_secret.encode()
        self._base_url = base_url.rstrip("/")
        self.deliver = deliver
        self.unavailable = False
        self.refund_outcome = ReceiptStatus.SUCCEEDED
        self.payout_outcome = ReceiptStatus.PENDING
        self._objects: dict[str, _Made] = {}
        self.sent: list[Webhook] = []

    @property
    def name(self) -> str:
        return "sandbox"

    # --- the provider port -----------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        self._check_up()
        reference = self._new("sbx_cs", "checkout", request.amount)
        return ProviderCheckout(
            provider_reference=reference,
            redirect_url=f"{self._base_url}/checkout/{request.session_id}",
            qr_image_url=f"{self._base_url}/checkout/{request.session_id}/qr.svg",
        )

    def create_payment(self, request: DirectPaymentRequest) -> DirectPaymentResult:
        self._check_up()
        reference = self._new("sbx_py", "payment", request.amount)
        if request.payment_method_id == "pse":
            return DirectPaymentResult(
                reference,
                DirectPaymentStatus.PENDING,
                "pending_waiting_transfer",
                f"{self._base_url}/pse/{reference}",
            )
        if request.token in DECLINED_TOKENS:
            self._objects[reference].outcome = ProviderEventType.PAYMENT_FAILED
            return DirectPaymentResult(reference, DirectPaymentStatus.REJECTED, "cc_rejected_other_reason")
        self._objects[reference].outcome = ProviderEventType.PAYMENT_SUCCEEDED
        return DirectPaymentResult(reference, DirectPaymentStatus.APPROVED, "accredited")

    def refund(self, request: RefundRequest) -> ProviderReceipt:
        self._check_up()
        reference = self._new("sbx_re", "refund", request.amount)
        self._objects[reference].outcome = _REFUND_ENDINGS.get(self.refund_outcome)
        return ProviderReceipt(reference, self.refund_outcome, {"provider": "sandbox"})

    def payout(self, request: PayoutRequest) -> ProviderReceipt:
        self._check_up()
        reference = self._new("sbx_po", "payout", request.amount)
        self._objects[reference].outcome = _PAYOUT_ENDINGS.get(self.payout_outcome)
        return ProviderReceipt(
            reference,
            self.payout_outcome,
            {"provider": "sandbox", "conversation_id": reference, "response_code": "0"},
        )

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        key = secret.encode() if secret is not None else self._secret
        self._verify(headers, body, key)
        try:
            payload = json.loads(body)
            data = payload["data"]
            amount = Money(int(data["amount"]), str(data["currency"]))
            return [
                ProviderEvent(
                    provider="sandbox",
                    event_id=str(payload["id"]),
                    type=ProviderEventType(payload["type"]),
                    reference=str(data["reference"]),
                    occurred_at=self._clock.now(),
                    amount=amount,
                    details={k: str(v) for k, v in data.items() if k not in {"amount", "currency"}},
                )
            ]
        except (KeyError, TypeError, ValueError) as bad:
            raise ValidationError("malformed sandbox event") from bad

    # --- the status query the janitor asks --------------------------------------------------

    def outcome(self, kind: str, reference: str) -> ProviderEventType | None:
        """What the `kind` ("checkout", "payment", "refund" or "payout") `reference` finished with,
        delivered or not: the type of its webhook, or of the answer it gave at once. None while it
        is pending, and for a reference this instance never made (another process's, or one made
        before a restart: the sandbox keeps nothing). `ProviderUnavailable` while `unavailable`."""
        self._check_up()
        made = self._objects.get(reference)
        return made.outcome if made is not None and made.kind == kind else None

    # --- commands: what a person does on the hosted page, or the sandbox's back office ------

    def complete_checkout(self, reference: str) -> Webhook:
        return self._finish(reference, "checkout", ProviderEventType.PAYMENT_SUCCEEDED)

    def fail_checkout(self, reference: str) -> Webhook:
        return self._finish(reference, "checkout", ProviderEventType.PAYMENT_FAILED)

    def expire_checkout(self, reference: str) -> Webhook:
        return self._finish(reference, "checkout", ProviderEventType.PAYMENT_EXPIRED)

    def complete_payment(self, reference: str) -> Webhook:
        return self._finish(reference, "payment", ProviderEventType.PAYMENT_SUCCEEDED)

    def fail_payment(self, reference: str) -> Webhook:
        return self._finish(reference, "payment", ProviderEventType.PAYMENT_FAILED)

    def settle_payout(self, reference: str) -> Webhook:
        return self._finish(reference, "payout", ProviderEventType.PAYOUT_SETTLED)

    def fail_payout(self, reference: str) -> Webhook:
        return self._finish(reference, "payout", ProviderEventType.PAYOUT_FAILED)

    def succeed_refund(self, reference: str) -> Webhook:
        return self._finish(reference, "refund", ProviderEventType.REFUND_SUCCEEDED)

    def fail_refund(self, reference: str) -> Webhook:
        return self._finish(reference, "refund", ProviderEventType.REFUND_FAILED)

    def resend(self, webhook: Webhook) -> object:
        """Deliver the same webhook again, as providers do when they retry."""
        return self.deliver(webhook) if self.deliver is not None else None

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        moment = int(self._clock.now().timestamp()) if timestamp is None else timestamp
        digest = hmac.new(self._secret, f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
        return {SIGNATURE_HEADER: f"t={moment},v1={digest}", "Content-Type": "application/json"}

    # --- internals ----------------------------------------------------------------------------

    def _check_up(self) -> None:
        if self.unavailable:
            raise ProviderUnavailable("the sandbox provider is unavailable", provider="sandbox")

    def _new(self, prefix: str, kind: str, amount: Money) -> str:
        reference = f"{prefix}_{uuid.uuid4().hex[:24]}"
        self._objects[reference] = _Made(kind, amount)
        return reference

    def _finish(self, reference: str, kind: str, event_type: ProviderEventType) -> Webhook:
        """Finish the object with `event_type` before delivering its webhook: a delivery that fails
        leaves the outcome for `outcome` to tell."""
        pending = self._objects.get(reference)
        if pending is None or pending.kind != kind:
            raise InvalidOperation(f"the sandbox has no {kind} {reference}")
        if pending.outcome is not None:
            raise InvalidOperation(f"the sandbox {kind} {reference} is already finished")
        pending.outcome = event_type
        payload: dict[str, Any] = {
            "id": f"sbx_evt_{uuid.uuid4().hex[:24]}",
            "type": event_type.value,
            "created": int(self._clock.now().timestamp()),
            "data": {
                "reference": reference,
                "amount": pending.amount.minor,
                "currency": pending.amount.currency,
            },
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        webhook = Webhook(self.sign(body), body)
        self.sent.append(webhook)
        if self.deliver is not None:
            self.deliver(webhook)
        return webhook

    def _verify(self, headers: Mapping[str, str], body: bytes, key: bytes) -> None:
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        try:
            timestamp = int(parts["t"])
            signature = parts["v1"]
        except (KeyError, ValueError):
            raise Unauthenticated("missing or malformed webhook signature") from None
        if abs(self._clock.now().timestamp() - timestamp) > TOLERANCE_SECONDS:
            raise Unauthenticated("webhook signature timestamp outside the tolerance")
        expected = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Unauthenticated("webhook signature does not match")
