"""Completing and failing a payment: the steps every way in shares (checkout, direct, webhook).

Invariants
- A payment completes once: the ledger transfer id is derived from the payment id, so even a
  duplicate that slipped past the event log could not post twice.
- Completing posts the payment-completed flow with the tenant's fee at that moment, records
  the fee on the payment, writes `payment.succeeded` to the outbox and an audit event.
- A late or out-of-order event never moves a payment backwards: completing a completed (or
  refunded) payment and failing a finished one are no-ops.
"""

from __future__ import annotations

from typing import Any

from payments_core import flows
from payments_core.fees import FeeOperation, FeeQuote
from payments_core.model.payments import Payment
from payments_core.ports import UnitOfWork
from payments_core.services.context import Deps, audit, emit, open_chart
from payments_core.states import PaymentStatus


def payment_fee(deps: Deps, payment: Payment) -> FeeQuote:
    """The tenant's fee for this payment: a rule for its method first, then for its provider."""
    currency = payment.amount.currency
    for selector in (payment.method, payment.provider):
        rule = deps.fees.find(payment.tenant_id, FeeOperation.PAYMENT, selector, currency)
        if rule is not None and rule.method == selector:
            return rule.quote(payment.amount)
    return deps.fees.quote(payment.tenant_id, FeeOperation.PAYMENT, payment.method, payment.amount)


def payment_view(payment: Payment) -> dict[str, Any]:
    """The payment as outbound webhooks describe it (amounts in minor units)."""
    return {
        "id": payment.id,
        "amount": payment.amount.minor,
        "currency": payment.amount.currency,
        "status": payment.status.value,
        "method": payment.method,
        "provider": payment.provider,
        "sessionId": payment.session_id,
        "fee": payment.fee.minor if payment.fee is not None else None,
    }


def complete_payment(uow: UnitOfWork, deps: Deps, payment: Payment) -> Payment:
    if payment.status is not PaymentStatus.PENDING:
        return payment
    quote = payment_fee(deps, payment)
    chart = open_chart(uow, payment.tenant_id, payment.amount.currency)
    uow.ledger.submit(
        flows.payment_completed(
            chart, f"{payment.id}.completed", payment.provider, quote, {"paymentId": payment.id}
        )
    )
    refundable = quote.rule is not None and quote.rule.returns_fee_on_refund
    done = payment.moved(PaymentStatus.COMPLETED, deps.clock.now(), fee=quote.fee, fee_refundable=refundable)
    uow.payments.update(done)
    emit(uow, deps, done.tenant_id, "payment.succeeded", payment_view(done), done.livemode)
    audit(
        uow, deps, None, "payment.completed", "payment", done.id, done.tenant_id,
        amount=done.amount.minor, fee=quote.fee.minor, currency=done.amount.currency,
    )  # fmt: skip
    return done


def fail_payment(uow: UnitOfWork, deps: Deps, payment: Payment, reason: str) -> Payment:
    if payment.status is not PaymentStatus.PENDING:
        return payment
    failed = payment.moved(PaymentStatus.FAILED, deps.clock.now(), status_detail=reason)
    uow.payments.update(failed)
    emit(uow, deps, failed.tenant_id, "payment.failed", payment_view(failed), failed.livemode)
    audit(uow, deps, None, "payment.failed", "payment", failed.id, failed.tenant_id, reason=reason)
    return failed
