"""Payments stored directly, for the tests of what happens to a payment after it exists."""

from __future__ import annotations

from typing import Any

import attrs

from payments_core.fees import DEFAULT_WITHDRAWAL_RULES, FeeOperation, FeePolicy, FeeRule, FeeSchedule
from payments_core.model.payments import Payment
from payments_core.money import Money
from payments_core.ports import DirectPaymentRequest
from payments_core.services import payment_lifecycle
from tests.support.core import Core, make_core

# 2.5% like the platform default, but given back (pro rata) on refunds.
REFUNDABLE_FEES = FeePolicy(
    FeeSchedule(
        (
            *DEFAULT_WITHDRAWAL_RULES,
            FeeRule(FeeOperation.PAYMENT, basis_points=250, returns_fee_on_refund=True),
        )
    )
)


def kes(major: str) -> Money:
    return Money.parse(major, "KES")


def refundable_core() -> Core:
    """A deployment whose payment fee is returned, pro rata, on refunds."""
    core = make_core()
    core.deps = attrs.evolve(core.deps, fees=REFUNDABLE_FEES)
    return core


def pending_payment(core: Core, amount: str, tenant_id: str | None = None, **fields: Any) -> Payment:
    """A pending sandbox payment stored directly (no checkout use case needed)."""
    tenant_id = tenant_id or core.tenant.id
    payment_id = core.deps.ids.new_id("pay")
    money = kes(amount)
    reference = core.sandbox.create_payment(
        DirectPaymentRequest(tenant_id, payment_id, money, "test", "pse", {}, livemode=False)
    ).provider_reference
    now = core.clock.now()
    values = {"provider_reference": reference, "description": "Premium plan", "livemode": False} | fields
    payment = Payment(payment_id, tenant_id, money, "card", "sandbox", now, now, **values)
    with core.deps.uow() as uow:
        uow.payments.add(payment)
        uow.commit()
    return payment


def completed_payment(core: Core, amount: str, tenant_id: str | None = None, **fields: Any) -> Payment:
    """A payment completed through the payment lifecycle: the wallet is credited net of the fee."""
    payment = pending_payment(core, amount, tenant_id, **fields)
    with core.deps.uow() as uow:
        done = payment_lifecycle.complete_payment(uow, core.deps, payment)
        uow.commit()
    return done
