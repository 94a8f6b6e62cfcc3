"""How a pending checkout session ends, and the record each change of a session leaves.

Separate from `checkout` because three callers end sessions: the merchant and the sweep (through
`checkout`), a verified provider event (`provider_events`) and a cancelled payment (`payments`).
Every name stays importable from `checkout`.

Invariants
- A session leaves `pending` once (its state table), and its payment with it:
  completed (provider success: the payment completes and the ledger posts the payment flow);
  cancelled (the merchant: payment cancelled; provider failure: payment failed);
  expired (the sweep past `expires_at`: payment cancelled; provider expiry: payment failed).
- A session started from a payment link holds one reservation of the link while pending: leaving
  pending releases it, and completing turns it into one use.
- Provider events apply only when their amount is the session's; late or duplicate ones on a
  finished session change nothing.
- Paid after close: a success for an expired or cancelled session finds its payment already
  cancelled or failed, and a payment never moves from there to completed. The event is audited and
  reported to the tenant (`checkout.session.paid_after_close`) and nothing else changes: the
  provider holds money we did not book, which reconciliation surfaces as a break for a person to
  refund or accept.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from payments_core.model.payments import CheckoutSession, Payment
from payments_core.policies import Principal
from payments_core.ports import ProviderEvent, ProviderEventType, UnitOfWork
from payments_core.services.context import Deps, audit, emit, found
from payments_core.services.payment_lifecycle import complete_payment, fail_payment, payment_view
from payments_core.states import CheckoutSessionStatus, PaymentStatus

# The detail under which a provider adapter reports its own id of the payment, when it differs
# from the checkout's reference (MercadoPago: a payment id for a preference id).
EXTERNAL_PAYMENT_ID: Final = "payment_id"


def session_data(session: CheckoutSession) -> dict[str, Any]:
    """The session as outbound webhooks describe it (amounts in minor units)."""
    return {
        "id": session.id, "status": session.status.value, "amount": session.amount.minor,
        "currency": session.amount.currency, "reference": session.reference, "paymentId": session.payment_id,
        "provider": session.provider, "redirectUrl": session.redirect_url,
        "expiresAt": session.expires_at.isoformat(), "linkSlug": session.link_slug,
    }  # fmt: skip


def apply_session_event(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> bool:
    """Complete, fail or expire a session (and its payment) from a verified provider event.

    True only when the session changed; a mismatched amount, a duplicate or a late event is
    recorded by the caller and changes nothing here.
    """
    if event.amount is not None and event.amount != session.amount:
        audit(
            uow, deps, None, "provider_event.amount_mismatch", "checkout_session", session.id,
            session.tenant_id, eventId=event.event_id, expected=session.amount.minor,
            currency=session.amount.currency, received=event.amount.minor,
            receivedCurrency=event.amount.currency,
        )  # fmt: skip
        return False
    succeeded = event.type is ProviderEventType.PAYMENT_SUCCEEDED
    if session.status is CheckoutSessionStatus.PENDING:
        if succeeded:
            _complete(uow, deps, session, event)
        else:
            _fail(uow, deps, session, event)
        return True
    if succeeded and session.status is not CheckoutSessionStatus.COMPLETED:
        _paid_after_close(uow, deps, session, event)
    return False


def payment_of(uow: UnitOfWork, session: CheckoutSession) -> Payment:
    return found(uow.payments.get(session.tenant_id, session.payment_id), "payment", session.payment_id)


def _complete(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> None:
    done = session.moved(CheckoutSessionStatus.COMPLETED, deps.clock.now())
    uow.sessions.update(done)
    payment = payment_of(uow, done)
    external = payment.provider_reference or event.details.get(EXTERNAL_PAYMENT_ID, event.reference)
    complete_payment(uow, deps, attrs.evolve(payment, provider_reference=external))
    _count_link(uow, deps, done, used=1, reserved=-1)
    record_session(uow, deps, None, done, "checkout.session.completed")


def _fail(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> None:
    expired = event.type is ProviderEventType.PAYMENT_EXPIRED
    status = CheckoutSessionStatus.EXPIRED if expired else CheckoutSessionStatus.CANCELLED
    closed = close_session(uow, deps, None, session, status, event.type.value)
    fail_payment(uow, deps, payment_of(uow, closed), event.type.value)


def close_session(
    uow: UnitOfWork,
    deps: Deps,
    actor: Principal | None,
    session: CheckoutSession,
    status: CheckoutSessionStatus,
    reason: str,
) -> CheckoutSession:
    """Move a pending session to a final state other than completed, freeing its link reservation."""
    closed = session.moved(status, deps.clock.now())
    uow.sessions.update(closed)
    _count_link(uow, deps, closed, reserved=-1)
    record_session(uow, deps, actor, closed, f"checkout.session.{status.value}", reason=reason)
    return closed


def cancel_session_payment(uow: UnitOfWork, deps: Deps, session: CheckoutSession, reason: str) -> None:
    payment = payment_of(uow, session)
    if payment.status is not PaymentStatus.PENDING:
        return
    now = deps.clock.now()
    cancelled = payment.with_metadata(now, cancellationReason=reason).moved(PaymentStatus.CANCELLED, now)
    uow.payments.update(cancelled)
    emit(uow, deps, cancelled.tenant_id, "payment.cancelled", payment_view(cancelled), cancelled.livemode)


def _paid_after_close(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> None:
    payment = payment_of(uow, session)
    record_session(
        uow, deps, None, session, "checkout.session.paid_after_close",
        eventId=event.event_id, paymentStatus=payment.status.value,
    )  # fmt: skip


def _count_link(uow: UnitOfWork, deps: Deps, session: CheckoutSession, **deltas: int) -> None:
    if session.link_slug is None:
        return
    link = uow.links.get(session.tenant_id, session.link_slug)
    if link is not None:
        uow.links.update(link.counted(deps.clock.now(), **deltas))


def record_session(
    uow: UnitOfWork,
    deps: Deps,
    actor: Principal | None,
    session: CheckoutSession,
    action: str,
    **details: Any,
) -> None:
    """Audit the change and tell the tenant, under one name."""
    audit(
        uow, deps, actor, action, "checkout_session", session.id, session.tenant_id,
        paymentId=session.payment_id, amount=session.amount.minor, currency=session.amount.currency,
        provider=session.provider, linkSlug=session.link_slug, **details,
    )  # fmt: skip
    emit(uow, deps, session.tenant_id, action, {**session_data(session), **details}, session.livemode)
