"""Refunds (seed 003's POST /refunds): giving a completed payment's money back, in full or in part.

Invariants
- Two-phase, so the ledger is safe whatever the provider does. At request time a hold
  (`flows.refund_initiated`) debits the wallet (R minus the fee share) and `platform_fees` (the
  fee share) towards the provider's clearing account: the wallet's available balance drops at
  once, so two refunds can never spend the same money, and a wallet that cannot cover the refund
  raises `INSUFFICIENT_FUNDS` with nothing recorded. The provider's confirmation (in its receipt,
  or later as a `refund.succeeded` event) posts the hold; its refusal voids it.
- The refund and its hold are committed BEFORE the provider is called. If the provider is
  unavailable the refund stays pending with its hold in place (a janitor retries it) and the
  error is re-raised; the money can neither be spent twice nor lost.
- A payment's `refunded` amount and its status (partially_refunded, refunded) change only when a
  refund SUCCEEDS. The refundable remainder used to validate a new refund also subtracts the
  refunds still pending, so concurrent refunds can never add up to more than the payment.
- Fee shares (when the payment's fee rule returns fees) are cumulative pro rata over the
  refunds in flight or done: each refund brings the fee given back so far to
  `round(fee * refunded_so_far / gross)`, so the shares add up to exactly the fee once the
  payment is fully refunded, even after a failed refund (the next share absorbs the rounding).
- Ledger transfer ids derive from the refund id (`<id>.hold`, `<id>.settled`, `<id>.voided`):
  a refund is held once and resolved once.
- Idempotency: a refund requested with an idempotency key has an id derived from (tenant, key),
  so the same key returns the first refund and a different request under it is refused.
- Settling and failing are the same private steps for the synchronous receipt and the
  provider event; a refund that is already final is never moved again.
- Sandbox checkout payments carry no provider reference of their own: their provider
  reference is the checkout session's, and that is what the provider is asked to refund.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import attrs

from payments_core import flows
from payments_core.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidAmount,
    InvalidOperation,
)
from payments_core.fees import refund_fee_share
from payments_core.model.common import MAX_REASON_LENGTH, check_text
from payments_core.model.payments import Payment, Refund
from payments_core.money import Money
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.ports import (
    PaymentProvider,
    ProviderEvent,
    ProviderEventType,
    ProviderReceipt,
    ReceiptStatus,
    RefundRequest,
    UnitOfWork,
)
from payments_core.services.context import Deps, audit, emit, found, open_chart
from payments_core.services.payment_lifecycle import payment_view
from payments_core.states import PaymentStatus, RefundStatus

REFUNDABLE_STATUSES: Final = frozenset({PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED})
# Refunds that still count against the payment: done, or in flight with their hold in place.
COMMITTED_STATUSES: Final = frozenset({RefundStatus.PENDING, RefundStatus.SUCCEEDED})
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255


@attrs.frozen
class _Intent:
    """A refund recorded with its hold, and what the provider needs to carry it out."""

    refund: Refund
    provider: PaymentProvider
    request: RefundRequest


def create_refund(
    deps: Deps,
    principal: Principal,
    payment_id: str,
    amount: Money | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> Refund:
    """Refund `amount` of a completed payment (None: all that is left), as the provider answers."""
    require_scope(principal, Operation.REFUNDS_CREATE)
    require_step_up(principal, StepUpAction.REFUND, deps.clock.now())
    _check_input(amount, reason, idempotency_key)
    intent = _record_intent(deps, principal, payment_id, amount, reason, idempotency_key)
    if isinstance(intent, Refund):
        return intent  # an idempotent replay: the first request's refund as it stands
    receipt = intent.provider.refund(intent.request)
    return _record_receipt(deps, principal, intent.refund, receipt)


def get_refund(deps: Deps, principal: Principal, refund_id: str) -> Refund:
    require_scope(principal, Operation.PAYMENTS_READ)
    with deps.uow() as uow:
        return found(uow.refunds.get(principal.tenant_id, refund_id), "refund", refund_id)


def list_refunds(deps: Deps, principal: Principal, payment_id: str) -> list[Refund]:
    """A payment's refunds, oldest first; `RESOURCE_NOT_FOUND` for another tenant's payment."""
    require_scope(principal, Operation.PAYMENTS_READ)
    with deps.uow() as uow:
        found(uow.payments.get(principal.tenant_id, payment_id), "payment", payment_id)
        return uow.refunds.for_payment(principal.tenant_id, payment_id)


def apply_refund_event(uow: UnitOfWork, deps: Deps, event: ProviderEvent) -> bool:
    """Settle or fail a refund from a verified provider event; False if the refund is unknown."""
    refund = uow.refunds.by_provider_reference(event.provider, event.reference)
    if refund is None or refund.status is not RefundStatus.PENDING:
        return False
    if event.amount is not None and event.amount != refund.amount:
        audit(
            uow, deps, None, "provider_event.amount_mismatch", "refund", refund.id, refund.tenant_id,
            eventId=event.event_id, expected=refund.amount.minor, received=event.amount.minor,
        )  # fmt: skip
        return False
    if event.type is ProviderEventType.REFUND_SUCCEEDED:
        _settle(uow, deps, None, refund)
    else:
        _fail(uow, deps, None, refund, event.details.get("reason", event.type.value))
    return True


# --- phase 1: validate, hold, record -----------------------------------------------------------


def _check_input(amount: Money | None, reason: str | None, idempotency_key: str | None) -> None:
    if amount is not None:
        if not isinstance(amount, Money):
            raise InvalidAmount("amount must be an amount of money", field="amount")
        amount.require_positive()
    check_text("reason", reason, MAX_REASON_LENGTH, optional=True)
    check_text("idempotency_key", idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH, optional=True)


def _record_intent(
    deps: Deps,
    principal: Principal,
    payment_id: str,
    amount: Money | None,
    reason: str | None,
    idempotency_key: str | None,
) -> _Intent | Refund:
    tenant_id = principal.tenant_id
    with deps.uow() as uow:
        payment = found(uow.payments.get(tenant_id, payment_id), "payment", payment_id)
        refund_id = _refund_id(deps, tenant_id, idempotency_key)
        earlier = uow.refunds.get(tenant_id, refund_id) if idempotency_key is not None else None
        if earlier is not None:
            _check_same_request(earlier, payment_id, amount, reason)
            return earlier
        _check_refundable(payment)
        committed = [
            r for r in uow.refunds.for_payment(tenant_id, payment_id) if r.status in COMMITTED_STATUSES
        ]
        refunded_so_far = _total(payment, (r.amount for r in committed))
        chosen = _chosen_amount(payment, amount, refunded_so_far)
        provider = deps.provider(payment.provider)
        request = RefundRequest(
            tenant_id=tenant_id,
            refund_id=refund_id,
            provider_payment_reference=_provider_reference(uow, payment),
            amount=chosen,
            livemode=payment.livemode,
        )
        now = deps.clock.now()
        refund = Refund(
            id=refund_id,
            tenant_id=tenant_id,
            payment_id=payment.id,
            amount=chosen,
            fee_share=_fee_share(payment, committed, refunded_so_far, chosen),
            provider=payment.provider,
            hold_id=f"{refund_id}.hold",
            created_at=now,
            updated_at=now,
            reason=reason,
        )
        chart = open_chart(uow, tenant_id, chosen.currency)
        uow.ledger.submit(
            flows.refund_initiated(
                chart, refund.hold_id, refund.provider, refund.amount, refund.fee_share,
                {"refundId": refund.id, "paymentId": payment.id},
            )
        )  # fmt: skip
        uow.refunds.add(refund)
        audit(
            uow, deps, principal, "refund.created", "refund", refund.id, tenant_id,
            paymentId=payment.id, amount=chosen.minor, currency=chosen.currency, reason=reason,
        )  # fmt: skip
        uow.commit()
    return _Intent(refund, provider, request)


def _refund_id(deps: Deps, tenant_id: str, idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the tenant's idempotency key so that a replay finds it."""
    if idempotency_key is None:
        return deps.ids.new_id("re")
    digest = hashlib.sha256(f"{tenant_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"re_k{digest[:32]}"


def _check_same_request(earlier: Refund, payment_id: str, amount: Money | None, reason: str | None) -> None:
    """A replay names the same payment and reason, and the same amount (or none, meaning all)."""
    same_amount = amount is None or amount == earlier.amount
    if earlier.payment_id != payment_id or earlier.reason != reason or not same_amount:
        raise IdempotencyConflict("this idempotency key was used for another refund", refundId=earlier.id)


def _check_refundable(payment: Payment) -> None:
    if payment.status not in REFUNDABLE_STATUSES:
        raise InvalidOperation(
            "Payment cannot be refunded",
            currentStatus=payment.status.value,
            reason="Only completed payments can be refunded",
        )


def _total(payment: Payment, amounts: Iterable[Money]) -> Money:
    total = Money.zero(payment.amount.currency)
    for amount in amounts:
        total = total + amount
    return total


def _chosen_amount(payment: Payment, amount: Money | None, refunded_so_far: Money) -> Money:
    remaining = payment.amount - refunded_so_far
    if amount is None:
        if remaining.minor <= 0:
            raise InvalidAmount(
                "nothing is left to refund", maximum=remaining.to_major_string(), currency=remaining.currency
            )
        return remaining
    if amount.currency != payment.amount.currency:
        raise CurrencyMismatch(
            "a refund is in the payment's currency",
            field="amount",
            expected=payment.amount.currency,
            received=amount.currency,
        )
    if amount > remaining:
        raise InvalidAmount(
            "the refund exceeds what is left to refund",
            field="amount",
            maximum=remaining.to_major_string(),
            currency=remaining.currency,
        )
    return amount


def _fee_share(payment: Payment, committed: list[Refund], refunded_so_far: Money, amount: Money) -> Money:
    """Bring the fee given back so far to the pro-rata share of everything refunded so far."""
    zero = Money.zero(amount.currency)
    if not payment.fee_refundable or payment.fee is None or payment.fee.is_zero():
        return zero
    target = refund_fee_share(payment.fee, payment.amount, zero, refunded_so_far + amount)
    given = _total(payment, (r.fee_share for r in committed))
    share = target - given
    if share.minor < 0:
        return zero
    return amount if share > amount else share


def _provider_reference(uow: UnitOfWork, payment: Payment) -> str:
    """The payment's own provider reference, else (sandbox checkouts) its session's."""
    if payment.provider_reference is not None:
        return payment.provider_reference
    if payment.session_id is not None:
        session = uow.sessions.get(payment.tenant_id, payment.session_id)
        if session is not None:
            return session.provider_reference
    raise InvalidOperation(
        "Payment cannot be refunded",
        currentStatus=payment.status.value,
        reason="The payment has no provider reference to refund",
    )


# --- phase 2: record the provider's answer --------------------------------------------------------


def _record_receipt(deps: Deps, principal: Principal, refund: Refund, receipt: ProviderReceipt) -> Refund:
    with deps.uow() as uow:
        current = found(uow.refunds.get(refund.tenant_id, refund.id), "refund", refund.id)
        if current.provider_refund_id is None:
            current = attrs.evolve(
                current, provider_refund_id=receipt.provider_reference, updated_at=deps.clock.now()
            )
            uow.refunds.update(current)
        if current.status is RefundStatus.PENDING:
            if receipt.status is ReceiptStatus.SUCCEEDED:
                current = _settle(uow, deps, principal, current)
            elif receipt.status is ReceiptStatus.FAILED:
                reason = receipt.details.get("reason", "refused by the provider")
                current = _fail(uow, deps, principal, current, reason)
        uow.commit()
    return current


def _settle(uow: UnitOfWork, deps: Deps, actor: Principal | None, refund: Refund) -> Refund:
    """The provider paid: post the hold, and the payment counts the refund."""
    now = deps.clock.now()
    chart = open_chart(uow, refund.tenant_id, refund.amount.currency)
    uow.ledger.submit(flows.refund_succeeded(chart, f"{refund.id}.settled", refund.hold_id))
    done = refund.moved(RefundStatus.SUCCEEDED, now)
    uow.refunds.update(done)
    payment = found(uow.payments.get(refund.tenant_id, refund.payment_id), "payment", refund.payment_id)
    refunded = payment.refunded_amount + refund.amount
    if refunded == payment.amount:
        marks = {"refundedAt": _iso(now)} | ({"refundReason": refund.reason} if refund.reason else {})
        changed = payment.moved(
            PaymentStatus.REFUNDED, now, refunded=refunded, metadata={**payment.metadata, **marks}
        )
    else:
        changed = payment.moved(PaymentStatus.PARTIALLY_REFUNDED, now, refunded=refunded)
    uow.payments.update(changed)
    audit(
        uow, deps, actor, "refund.succeeded", "refund", done.id, done.tenant_id,
        paymentId=payment.id, amount=done.amount.minor, currency=done.amount.currency,
    )  # fmt: skip
    emit(uow, deps, done.tenant_id, "refund.succeeded", refund_view(done), changed.livemode)
    emit(uow, deps, done.tenant_id, "payment.refunded", payment_view(changed), changed.livemode)
    return done


def _fail(uow: UnitOfWork, deps: Deps, actor: Principal | None, refund: Refund, reason: str) -> Refund:
    """The provider refused: void the hold, the money is the tenant's again; the payment is unchanged."""
    chart = open_chart(uow, refund.tenant_id, refund.amount.currency)
    uow.ledger.submit(flows.refund_failed(chart, f"{refund.id}.voided", refund.hold_id))
    failed = refund.moved(RefundStatus.FAILED, deps.clock.now(), failure_reason=reason[:500])
    uow.refunds.update(failed)
    payment = found(uow.payments.get(refund.tenant_id, refund.payment_id), "payment", refund.payment_id)
    audit(
        uow, deps, actor, "refund.failed", "refund", failed.id, failed.tenant_id,
        paymentId=failed.payment_id, reason=failed.failure_reason,
    )  # fmt: skip
    emit(uow, deps, failed.tenant_id, "refund.failed", refund_view(failed), payment.livemode)
    return failed


def refund_view(refund: Refund) -> dict[str, Any]:
    """The refund as seed 003 and outbound webhooks describe it (amounts in minor units)."""
    return {
        "refundId": refund.id,
        "paymentId": refund.payment_id,
        "status": refund.status.value,
        "amount": refund.amount.minor,
        "currency": refund.amount.currency,
        "providerRefundId": refund.provider_refund_id,
        "reason": refund.reason,
        "failureReason": refund.failure_reason,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
