"""Checkout sessions, payments and refunds: how money comes in and, when asked, goes back.

Invariants
- A checkout session and its payment are created together, both `pending`; the session's
  provider event moves both (completed, failed, expired, cancelled) through their tables.
- A payment's `refunded` never exceeds its `amount`; its status follows: partially refunded
  while `0 < refunded < amount`, refunded at `refunded == amount`.
- Amounts are Money in the session's currency; the fee is the tenant's, fixed at completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from payments_core.model.common import MAX_REASON_LENGTH, aware, freeze_metadata, text
from payments_core.money import Money
from payments_core.states import (
    CHECKOUT_SESSION,
    PAYMENT,
    REFUND,
    CheckoutSessionStatus,
    PaymentStatus,
    RefundStatus,
)


@attrs.frozen
class CheckoutSession:
    id: str
    tenant_id: str
    payment_id: str
    amount: Money
    reference: str = attrs.field(validator=text("reference", 200))
    provider: str
    provider_reference: str
    redirect_url: str
    expires_at: datetime = attrs.field(validator=aware)
    created_at: datetime = attrs.field(validator=aware)
    updated_at: datetime = attrs.field(validator=aware)
    livemode: bool = True
    status: CheckoutSessionStatus = CheckoutSessionStatus.PENDING
    method_types: tuple[str, ...] = ()
    success_url: str | None = None
    cancel_url: str | None = None
    qr_image_url: str | None = None
    idempotency_key: str | None = None
    client_phone_number: str | None = None
    customer_id: str | None = None
    link_slug: str | None = None
    selected_payment_method: str | None = None
    confirmed_at: datetime | None = attrs.field(default=None, validator=aware)

    def remaining_seconds(self, now: datetime) -> int:
        if self.status is not CheckoutSessionStatus.PENDING:
            return 0
        return max(0, int((self.expires_at - now).total_seconds()))

    def is_due_to_expire(self, now: datetime) -> bool:
        return self.status is CheckoutSessionStatus.PENDING and now >= self.expires_at

    def moved(self, status: CheckoutSessionStatus, now: datetime) -> CheckoutSession:
        target = CHECKOUT_SESSION.require(self.status, status)
        confirmed = now if target is CheckoutSessionStatus.COMPLETED else self.confirmed_at
        return attrs.evolve(self, status=target, updated_at=now, confirmed_at=confirmed)

    @property
    def current_step(self) -> str:
        """Seed 000's view of where the customer is."""
        return {
            CheckoutSessionStatus.PENDING: "awaiting_payment",
            CheckoutSessionStatus.COMPLETED: "payment_confirmed",
            CheckoutSessionStatus.EXPIRED: "expired",
            CheckoutSessionStatus.CANCELLED: "cancelled",
        }[self.status]


@attrs.frozen
class Payment:
    id: str
    tenant_id: str
    amount: Money
    method: str
    provider: str
    created_at: datetime = attrs.field(validator=aware)
    updated_at: datetime = attrs.field(validator=aware)
    livemode: bool = True
    status: PaymentStatus = PaymentStatus.PENDING
    description: str = attrs.field(default="", validator=text("description", 500, min_length=0))
    provider_reference: str | None = None
    session_id: str | None = None
    subscription_id: str | None = None
    customer_id: str | None = None
    fee: Money | None = None
    fee_refundable: bool = False  # the fee rule gives the fee back, pro rata, on refunds
    refunded: Money | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_metadata)
    status_detail: str | None = None
    external_resource_url: str | None = None

    @property
    def refunded_amount(self) -> Money:
        return self.refunded if self.refunded is not None else Money.zero(self.amount.currency)

    @property
    def refundable(self) -> Money:
        return self.amount - self.refunded_amount

    def moved(self, status: PaymentStatus, now: datetime, **changes: Any) -> Payment:
        return attrs.evolve(self, status=PAYMENT.require(self.status, status), updated_at=now, **changes)

    def with_metadata(self, now: datetime, **items: Any) -> Payment:
        return attrs.evolve(self, metadata={**self.metadata, **items}, updated_at=now)


@attrs.frozen
class Refund:
    id: str
    tenant_id: str
    payment_id: str
    amount: Money
    fee_share: Money
    provider: str
    hold_id: str
    created_at: datetime = attrs.field(validator=aware)
    updated_at: datetime = attrs.field(validator=aware)
    reason: str | None = attrs.field(default=None, validator=text("reason", MAX_REASON_LENGTH, optional=True))
    status: RefundStatus = RefundStatus.PENDING
    provider_refund_id: str | None = None
    failure_reason: str | None = None

    def moved(self, status: RefundStatus, now: datetime, **changes: Any) -> Refund:
        return attrs.evolve(self, status=REFUND.require(self.status, status), updated_at=now, **changes)
