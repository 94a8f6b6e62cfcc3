"""Payments (seed 004): list, read, cancel and refund the tenant's payments.

Invariants
- Every read and write is scoped by the caller's tenant: another tenant's payment is
  `RESOURCE_NOT_FOUND`, exactly as a missing one.
- Listing is newest first; `page` is 1-indexed, `1 <= limit <= 100`. `totalPages` is
  `ceil(totalItems / limit)`, so no payment means zero pages; a page past the last is empty,
  not an error.
- Only a pending payment can be cancelled; cancelling it also cancels its pending checkout
  session and releases the payment link reservation that session held. Nothing moves in the
  ledger: a pending payment never credited anything.
- Refunding through this endpoint refunds everything left, through `refunds.create_refund`
  (same scope, same MFA step-up, same two-phase ledger hold); the payment is returned as it
  stands afterwards (`refunded` when the provider confirmed at once, as the sandbox does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from payments_core.errors import InvalidOperation, ValidationError
from payments_core.model.common import MAX_REASON_LENGTH, check_text
from payments_core.model.payments import Payment
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.ports import UnitOfWork
from payments_core.services import checkout, refunds
from payments_core.services.context import Deps, audit, emit, found
from payments_core.services.payment_lifecycle import payment_view
from payments_core.states import CheckoutSessionStatus, PaymentStatus

MAX_PAGE_SIZE: Final = 100
# Seed 004's statuses first, in its order, then the partial refunds seed 003 adds.
STATUS_VALUES: Final = (
    PaymentStatus.PENDING,
    PaymentStatus.COMPLETED,
    PaymentStatus.FAILED,
    PaymentStatus.CANCELLED,
    PaymentStatus.REFUNDED,
    PaymentStatus.PARTIALLY_REFUNDED,
)


@attrs.frozen
class Pagination:
    """Seed 004's pagination block: currentPage, totalPages, totalItems, itemsPerPage."""

    current_page: int
    total_pages: int
    total_items: int
    items_per_page: int


@attrs.frozen
class PaymentPage:
    items: tuple[Payment, ...]
    pagination: Pagination


def parse_payment_status(text: str) -> PaymentStatus:
    """The `status` query parameter; seed 004's 400 answer for anything else."""
    for status in STATUS_VALUES:
        if text == status.value:
            return status
    raise ValidationError(
        "Invalid status value",
        parameter="status",
        allowedValues=[status.value for status in STATUS_VALUES],
    )


def list_payments(
    deps: Deps,
    principal: Principal,
    page: int = 1,
    limit: int = 10,
    status: PaymentStatus | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> PaymentPage:
    """One page of the tenant's payments, newest first, filtered by status and creation time."""
    require_scope(principal, Operation.PAYMENTS_READ)
    _check_listing(page, limit, status, start, end)
    with deps.uow.reader() as uow:
        found_page = uow.payments.search(principal.tenant_id, status, start, end, (page - 1) * limit, limit)
    total_pages = -(-found_page.total // limit)
    return PaymentPage(found_page.items, Pagination(page, total_pages, found_page.total, limit))


def get_payment(deps: Deps, principal: Principal, payment_id: str) -> Payment:
    require_scope(principal, Operation.PAYMENTS_READ)
    with deps.uow.reader() as uow:
        return found(uow.payments.get(principal.tenant_id, payment_id), "payment", payment_id)


def cancel_payment(deps: Deps, principal: Principal, payment_id: str, reason: str | None = None) -> Payment:
    """Cancel a pending payment (and its checkout session); `reason` lands in its metadata."""
    require_scope(principal, Operation.PAYMENTS_CANCEL)
    check_text("reason", reason, MAX_REASON_LENGTH, optional=True)
    with deps.uow() as uow:
        payment = found(uow.payments.get(principal.tenant_id, payment_id), "payment", payment_id)
        if payment.status is not PaymentStatus.PENDING:
            raise InvalidOperation(
                "Payment cannot be cancelled",
                currentStatus=payment.status.value,
                reason="Only pending payments can be cancelled",
            )
        now = deps.clock.now()
        metadata = {**payment.metadata, "cancellationReason": reason} if reason else payment.metadata
        cancelled = payment.moved(PaymentStatus.CANCELLED, now, metadata=metadata)
        uow.payments.update(cancelled)
        _cancel_session(uow, deps, principal, cancelled)
        audit(
            uow, deps, principal, "payment.cancelled", "payment", cancelled.id, cancelled.tenant_id,
            reason=reason,
        )  # fmt: skip
        emit(uow, deps, cancelled.tenant_id, "payment.cancelled", payment_view(cancelled), cancelled.livemode)
        uow.commit()
    return cancelled


def refund_payment(
    deps: Deps,
    principal: Principal,
    payment_id: str,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> Payment:
    """Seed 004's full refund: everything left of the payment, then the payment as it stands."""
    require_scope(principal, Operation.PAYMENTS_REFUND)
    require_step_up(principal, StepUpAction.REFUND, deps.clock.now())
    refunds.create_refund(deps, principal, payment_id, None, reason, idempotency_key)
    with deps.uow() as uow:  # the refund scope suffices to see the payment it refunded
        return found(uow.payments.get(principal.tenant_id, payment_id), "payment", payment_id)


def _check_listing(
    page: int, limit: int, status: PaymentStatus | None, start: datetime | None, end: datetime | None
) -> None:
    if not _is_int(page) or page < 1:
        raise ValidationError("page must be an integer of at least 1", field="page", parameter="page")
    if not _is_int(limit) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"limit must be an integer from 1 to {MAX_PAGE_SIZE}",
            field="limit",
            parameter="limit",
            maximum=MAX_PAGE_SIZE,
        )
    if status is not None and not isinstance(status, PaymentStatus):
        raise ValidationError(
            "Invalid status value", parameter="status", allowedValues=[s.value for s in STATUS_VALUES]
        )
    for name, moment in (("startDate", start), ("endDate", end)):
        if moment is not None and (not isinstance(moment, datetime) or moment.utcoffset() is None):
            raise ValidationError(f"{name} must be an ISO 8601 time with a zone", field=name, parameter=name)
    if start is not None and end is not None and start > end:
        raise ValidationError("startDate must not be after endDate", field="startDate", parameter="startDate")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cancel_session(uow: UnitOfWork, deps: Deps, actor: Principal, payment: Payment) -> None:
    """A cancelled payment's pending session is cancelled too, and frees its link reservation."""
    if payment.session_id is None:
        return
    session = uow.sessions.get(payment.tenant_id, payment.session_id)
    if session is not None and session.status is CheckoutSessionStatus.PENDING:
        cancelled = CheckoutSessionStatus.CANCELLED
        checkout.close_session(uow, deps, actor, session, cancelled, "payment_cancelled")
