"""The payment provider port and the values that cross it.

Every provider (Stripe, MercadoPago, M-Pesa, Paystack, Pesapal, the sandbox) is one adapter
implementing `PaymentProvider`; the core never knows which one it talks to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import attrs

from payments_core.money import Money


@attrs.frozen
class CheckoutRequest:
    tenant_id: str
    session_id: str
    amount: Money
    reference: str
    livemode: bool = True
    method_types: tuple[str, ...] = ()
    success_url: str | None = None
    cancel_url: str | None = None
    customer_phone_number: str | None = None


@attrs.frozen
class ProviderCheckout:
    provider_reference: str
    redirect_url: str
    qr_image_url: str | None = None


class DirectPaymentStatus(StrEnum):
    """MercadoPago's vocabulary, which the other providers' answers map onto."""

    APPROVED = "approved"
    PENDING = "pending"
    IN_PROCESS = "in_process"
    REJECTED = "rejected"


@attrs.frozen
class DirectPaymentRequest:
    """A card (token) or bank-transfer (PSE) payment made directly, without a hosted page."""

    tenant_id: str
    payment_id: str
    amount: Money
    description: str
    payment_method_id: str
    payer: Mapping[str, Any]
    livemode: bool = True
    token: str | None = None
    installments: int = 1
    financial_institution: str | None = None
    callback_url: str | None = None


@attrs.frozen
class DirectPaymentResult:
    provider_reference: str
    status: DirectPaymentStatus
    status_detail: str
    external_resource_url: str | None = None


@attrs.frozen
class PayoutRequest:
    tenant_id: str
    withdrawal_id: str
    amount: Money
    method_type: str
    method_details: Mapping[str, str]
    livemode: bool = True


@attrs.frozen
class RefundRequest:
    tenant_id: str
    refund_id: str
    provider_payment_reference: str
    amount: Money
    livemode: bool = True


class ReceiptStatus(StrEnum):
    PENDING = "pending"  # accepted; the outcome arrives later as an event
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@attrs.frozen
class ProviderReceipt:
    """A provider's answer to a refund or payout request."""

    provider_reference: str
    status: ReceiptStatus = ReceiptStatus.PENDING
    details: Mapping[str, str] = attrs.field(factory=dict)


class ProviderEventType(StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_EXPIRED = "payment.expired"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    PAYOUT_SETTLED = "payout.settled"
    PAYOUT_FAILED = "payout.failed"


@attrs.frozen
class ProviderEvent:
    """A verified, normalised provider event; `event_id` is unique per provider and
    `reference` is the provider's id of the checkout, payment, refund or payout it is about."""

    provider: str
    event_id: str
    type: ProviderEventType
    reference: str
    occurred_at: datetime
    amount: Money | None = None
    details: Mapping[str, str] = attrs.field(factory=dict)


class PaymentProvider(Protocol):
    @property
    def name(self) -> str: ...

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout: ...

    def create_payment(self, request: DirectPaymentRequest) -> DirectPaymentResult: ...

    def refund(self, request: RefundRequest) -> ProviderReceipt: ...

    def payout(self, request: PayoutRequest) -> ProviderReceipt: ...

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        """Verify and normalise an inbound webhook; `Unauthenticated` on a forged or stale one."""
        ...
