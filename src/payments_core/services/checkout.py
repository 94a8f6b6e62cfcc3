"""Checkout sessions: a hosted payment page for one amount, and the pending payment behind it.

Invariants
- A session and its payment are stored together, both pending, in one unit of work, after the
  provider accepted the checkout: a provider failure stores nothing. Every way a checkout starts
  (`create_session`, a payment link, an order) goes through `_open_session`.
- Input is validated, and the tenant's fee rule priced, before the provider is called: a session
  whose payment the fee rule would refuse at completion is never opened.
- The same idempotency key with the same content returns the first session; other content raises
  `IdempotencyConflict`. The key is checked before the provider call and again in the storing unit
  of work, so a concurrent duplicate loses and gets the winner (its provider checkout is left to
  expire unused).
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

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from payments_core.errors import IdempotencyConflict, InvalidAmount, NotFound, ValidationError
from payments_core.model.common import check_text
from payments_core.model.payments import CheckoutSession, Payment
from payments_core.money import Money
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.ports import (
    CheckoutRequest,
    ProviderCheckout,
    ProviderEvent,
    ProviderEventType,
    UnitOfWork,
)
from payments_core.services.context import Deps, audit, emit, found, open_chart, tenant_of
from payments_core.services.payment_lifecycle import complete_payment, fail_payment, payment_fee, payment_view
from payments_core.services.validation import validate_phone, validate_url
from payments_core.states import CheckoutSessionStatus, PaymentStatus

METHOD_TYPES: Final = frozenset(
    {"card", "credit_card", "debit_card", "pix", "boleto", "pse", "cash", "mpesa", "promptpay",
     "bank_transfer"}
)  # fmt: skip
DEFAULT_METHOD: Final = "card"
MAX_REFERENCE: Final = 200
MAX_CUSTOMER_ID: Final = 128
MAX_IDEMPOTENCY_KEY: Final = 255
MAX_SESSION_ID: Final = 100
# The detail under which a provider adapter reports its own id of the payment, when it differs
# from the checkout's reference (MercadoPago: a payment id for a preference id).
EXTERNAL_PAYMENT_ID: Final = "payment_id"


# --- input ---------------------------------------------------------------------------------------


def validate_amount(amount: object) -> Money:
    if not isinstance(amount, Money):
        raise InvalidAmount("amount must be an amount of money", field="amount")
    if amount.minor <= 0:
        raise InvalidAmount("amount must be greater than zero", field="amount", currency=amount.currency)
    return amount


def validate_text(value: object, field: str, max_length: int) -> str:
    check_text(field, value, max_length)
    text = str(value)
    if not text.strip():
        raise ValidationError(f"{field} must not be blank", field=field)
    return text


def validate_method_types(value: object) -> tuple[str, ...]:
    """Known method names, duplicates dropped, order kept (the first one is tried first)."""
    allowed = sorted(METHOD_TYPES)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError("methodTypes must be a list", field="methodTypes", allowedValues=allowed)
    if not all(isinstance(method, str) and method in METHOD_TYPES for method in value):
        raise ValidationError("unknown payment method type", field="methodTypes", allowedValues=allowed)
    return tuple(dict.fromkeys(value))


def validate_idempotency_key(value: object) -> str | None:
    return None if value is None else validate_text(value, "idempotencyKey", MAX_IDEMPOTENCY_KEY)


def _optional(value: object, check: Callable[[object], str]) -> str | None:
    return None if value is None else check(value)


# --- the session and its views ---------------------------------------------------------------------


@attrs.frozen
class SessionDraft:
    """A validated request for a session, its provider chosen: what an idempotent replay must match."""

    tenant_id: str
    amount: Money
    reference: str
    livemode: bool
    provider: str
    method_types: tuple[str, ...] = ()
    success_url: str | None = None
    cancel_url: str | None = None
    client_phone_number: str | None = None
    customer_id: str | None = None
    link_slug: str | None = None
    idempotency_key: str | None = None
    # One offered method is as good as chosen; among several, the customer picks on the page.
    selected_payment_method: str | None = attrs.field()

    @selected_payment_method.default
    def _only_method(self) -> str | None:
        return self.method_types[0] if len(self.method_types) == 1 else None

    def matches(self, session: CheckoutSession) -> bool:
        return all(getattr(self, name) == getattr(session, name) for name in _CONTENT)


_CONTENT: Final = (
    "amount", "reference", "livemode", "method_types", "success_url", "cancel_url",
    "client_phone_number", "customer_id", "link_slug", "selected_payment_method",
)  # fmt: skip


@attrs.frozen
class SessionView:
    """A session as the session endpoints show it: seed 003's fields are the session's own plus
    `remaining_seconds`; seed 000's other names map onto it through the properties below."""

    session: CheckoutSession
    payment: Payment
    remaining_seconds: int

    @property
    def total_amount(self) -> Money:
        return self.session.amount

    @property
    def payment_link(self) -> str:
        return self.session.redirect_url

    @property
    def preference_id(self) -> str:
        """The provider's id of the checkout (a MercadoPago preference)."""
        return self.session.provider_reference

    @property
    def payment_id_external(self) -> str | None:
        """The provider's id of the payment itself, once it reported one."""
        return self.payment.provider_reference


def session_data(session: CheckoutSession) -> dict[str, Any]:
    """The session as outbound webhooks describe it (amounts in minor units)."""
    return {
        "id": session.id, "status": session.status.value, "amount": session.amount.minor,
        "currency": session.amount.currency, "reference": session.reference, "paymentId": session.payment_id,
        "provider": session.provider, "redirectUrl": session.redirect_url,
        "expiresAt": session.expires_at.isoformat(), "linkSlug": session.link_slug,
    }  # fmt: skip


# --- use cases -----------------------------------------------------------------------------------


def create_session(
    deps: Deps,
    principal: Principal,
    amount: Money,
    reference: str,
    method_types: Sequence[str] = (),
    success_url: str | None = None,
    cancel_url: str | None = None,
    idempotency_key: str | None = None,
    client_phone_number: str | None = None,
    customer_id: str | None = None,
) -> CheckoutSession:
    """Open a hosted checkout (seed 003 `POST /checkout/sessions`); a person needs a fresh MFA."""
    require_scope(principal, Operation.CHECKOUT_CREATE)
    require_step_up(principal, StepUpAction.CREATE_PAYMENT, deps.clock.now())
    price = validate_amount(amount)
    ref = validate_text(reference, "reference", MAX_REFERENCE)
    methods = validate_method_types(method_types)
    success = _optional(success_url, lambda value: validate_url(value, "successUrl"))
    cancel = _optional(cancel_url, lambda value: validate_url(value, "cancelUrl"))
    phone = _optional(client_phone_number, lambda value: validate_phone(value, "client_phone_number"))
    customer = _optional(customer_id, lambda value: validate_text(value, "customer_id", MAX_CUSTOMER_ID))
    key = validate_idempotency_key(idempotency_key)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
    provider = deps.checkout_provider(tenant, principal.livemode, methods[0] if methods else None)
    draft = SessionDraft(
        tenant.id, price, ref, principal.livemode, provider, methods,
        success, cancel, phone, customer, idempotency_key=key,
    )  # fmt: skip
    return _open_session(deps, principal, draft)


def get_session(deps: Deps, principal: Principal, session_id: str) -> SessionView:
    require_scope(principal, Operation.CHECKOUT_READ)
    with deps.uow() as uow:
        session = found(uow.sessions.get(principal.tenant_id, session_id), "checkout_session", session_id)
        return _view(uow, deps, session)


def list_sessions_by_phone(deps: Deps, principal: Principal, client_phone_number: str) -> list[SessionView]:
    """The tenant's sessions for one customer's phone (seed 000), newest first."""
    require_scope(principal, Operation.PAYMENT_SESSIONS_READ)
    phone = validate_phone(client_phone_number, "client_phone_number")
    with deps.uow() as uow:
        sessions = uow.sessions.by_phone_number(principal.tenant_id, phone)
        newest_first = sorted(sessions, key=lambda s: (s.created_at, s.id), reverse=True)
        return [_view(uow, deps, session) for session in newest_first]


def get_hosted_session(deps: Deps, session_id: str) -> CheckoutSession:
    """Public: the hosted checkout page reads its session by id alone; the id, unguessable as the
    deployment's id generator makes it, is the capability. Not a plausible id: not found, unasked."""
    if (
        not isinstance(session_id, str)
        or not 0 < len(session_id) <= MAX_SESSION_ID
        or not session_id.isprintable()
    ):
        raise NotFound("checkout_session not found", resource="checkout_session", id="")
    with deps.uow.reader() as uow:
        return found(uow.sessions.by_id(session_id), "checkout_session", session_id)


def cancel_session(deps: Deps, principal: Principal, session_id: str) -> CheckoutSession:
    """The merchant withdraws a pending checkout; its payment is cancelled with it."""
    require_scope(principal, Operation.CHECKOUT_CREATE)
    with deps.uow() as uow:
        session = found(uow.sessions.get(principal.tenant_id, session_id), "checkout_session", session_id)
        closed = close_session(uow, deps, principal, session, CheckoutSessionStatus.CANCELLED, "cancelled")
        _cancel_payment(uow, deps, closed, "cancelled")
        uow.commit()
    return closed


def expire_sessions(deps: Deps, limit: int = 500) -> int:
    """The sweep: expire pending sessions past `expires_at`; how many it expired.

    Each session in its own unit of work, re-read there: a provider event that completed it in
    the meantime wins, and one slow tenant never holds the others' rows.
    """
    if type(limit) is not int or limit < 1:
        raise ValidationError("limit must be a positive whole number", field="limit")
    with deps.uow() as uow:
        due = [(s.tenant_id, s.id) for s in uow.sessions.due_to_expire(deps.clock.now(), limit)]
    expired = 0
    for tenant_id, session_id in due:
        with deps.uow() as uow:
            session = uow.sessions.get(tenant_id, session_id)
            if session is None or not session.is_due_to_expire(deps.clock.now()):
                continue
            closed = close_session(uow, deps, None, session, CheckoutSessionStatus.EXPIRED, "expired")
            _cancel_payment(uow, deps, closed, "expired")
            uow.commit()
        expired += 1
    return expired


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


# --- steps ---------------------------------------------------------------------------------------


def _open_session(
    deps: Deps,
    actor: Principal | None,
    draft: SessionDraft,
    reserve: Callable[[UnitOfWork], None] | None = None,
) -> CheckoutSession:
    """Start the provider's checkout, then store the session and its pending payment.

    `reserve` runs in the storing unit of work (a payment link takes its reservation there);
    `actor` None means a public caller, audited as the system.
    """
    if draft.idempotency_key is not None:
        with deps.uow() as uow:
            replay = _replayed(uow, draft)
        if replay is not None:
            return replay
    now = deps.clock.now()
    session_id, payment_id = deps.ids.new_id("cs"), deps.ids.new_id("pay")
    payment = _new_payment(draft, payment_id, session_id, now)
    payment_fee(deps, payment)  # an amount the fee rule refuses could never complete
    checkout = deps.provider(draft.provider).start_checkout(
        CheckoutRequest(
            draft.tenant_id, session_id, draft.amount, draft.reference, draft.livemode,
            draft.method_types, draft.success_url, draft.cancel_url, draft.client_phone_number,
        )
    )  # fmt: skip
    session = _new_session(draft, session_id, payment_id, checkout, now, now + deps.checkout_ttl)
    with deps.uow() as uow:
        replay = _replayed(uow, draft)
        if replay is not None:
            return replay
        if reserve is not None:
            reserve(uow)
        open_chart(uow, draft.tenant_id, draft.amount.currency)
        uow.sessions.add(session)
        uow.payments.add(payment)
        _record(uow, deps, actor, session, "checkout.session.created")
        uow.commit()
    return session


def _new_payment(draft: SessionDraft, payment_id: str, session_id: str, now: datetime) -> Payment:
    return Payment(
        id=payment_id, tenant_id=draft.tenant_id, amount=draft.amount,
        method=draft.method_types[0] if draft.method_types else DEFAULT_METHOD,
        provider=draft.provider, created_at=now, updated_at=now, livemode=draft.livemode,
        description=draft.reference, session_id=session_id, customer_id=draft.customer_id,
    )  # fmt: skip


def _new_session(
    draft: SessionDraft,
    session_id: str,
    payment_id: str,
    checkout: ProviderCheckout,
    now: datetime,
    expires_at: datetime,
) -> CheckoutSession:
    return CheckoutSession(
        id=session_id, tenant_id=draft.tenant_id, payment_id=payment_id, amount=draft.amount,
        reference=draft.reference, provider=draft.provider,
        provider_reference=checkout.provider_reference, redirect_url=checkout.redirect_url,
        qr_image_url=checkout.qr_image_url, expires_at=expires_at, created_at=now, updated_at=now,
        livemode=draft.livemode, method_types=draft.method_types, success_url=draft.success_url,
        cancel_url=draft.cancel_url, idempotency_key=draft.idempotency_key,
        client_phone_number=draft.client_phone_number, customer_id=draft.customer_id,
        link_slug=draft.link_slug, selected_payment_method=draft.selected_payment_method,
    )  # fmt: skip


def _replayed(uow: UnitOfWork, draft: SessionDraft) -> CheckoutSession | None:
    if draft.idempotency_key is None:
        return None
    existing = uow.sessions.by_idempotency_key(draft.tenant_id, draft.idempotency_key)
    if existing is not None and not draft.matches(existing):
        raise IdempotencyConflict("this idempotency key was used for another checkout session")
    return existing


def _view(uow: UnitOfWork, deps: Deps, session: CheckoutSession) -> SessionView:
    return SessionView(session, _payment_of(uow, session), session.remaining_seconds(deps.clock.now()))


def _payment_of(uow: UnitOfWork, session: CheckoutSession) -> Payment:
    return found(uow.payments.get(session.tenant_id, session.payment_id), "payment", session.payment_id)


def _complete(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> None:
    done = session.moved(CheckoutSessionStatus.COMPLETED, deps.clock.now())
    uow.sessions.update(done)
    payment = _payment_of(uow, done)
    external = payment.provider_reference or event.details.get(EXTERNAL_PAYMENT_ID, event.reference)
    complete_payment(uow, deps, attrs.evolve(payment, provider_reference=external))
    _count_link(uow, deps, done, used=1, reserved=-1)
    _record(uow, deps, None, done, "checkout.session.completed")


def _fail(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> None:
    expired = event.type is ProviderEventType.PAYMENT_EXPIRED
    status = CheckoutSessionStatus.EXPIRED if expired else CheckoutSessionStatus.CANCELLED
    closed = close_session(uow, deps, None, session, status, event.type.value)
    fail_payment(uow, deps, _payment_of(uow, closed), event.type.value)


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
    _record(uow, deps, actor, closed, f"checkout.session.{status.value}", reason=reason)
    return closed


def _cancel_payment(uow: UnitOfWork, deps: Deps, session: CheckoutSession, reason: str) -> None:
    payment = _payment_of(uow, session)
    if payment.status is not PaymentStatus.PENDING:
        return
    now = deps.clock.now()
    cancelled = payment.with_metadata(now, cancellationReason=reason).moved(PaymentStatus.CANCELLED, now)
    uow.payments.update(cancelled)
    emit(uow, deps, cancelled.tenant_id, "payment.cancelled", payment_view(cancelled), cancelled.livemode)


def _paid_after_close(uow: UnitOfWork, deps: Deps, session: CheckoutSession, event: ProviderEvent) -> None:
    payment = _payment_of(uow, session)
    _record(
        uow, deps, None, session, "checkout.session.paid_after_close",
        eventId=event.event_id, paymentStatus=payment.status.value,
    )  # fmt: skip


def _count_link(uow: UnitOfWork, deps: Deps, session: CheckoutSession, **deltas: int) -> None:
    if session.link_slug is None:
        return
    link = uow.links.get(session.tenant_id, session.link_slug)
    if link is not None:
        uow.links.update(link.counted(deps.clock.now(), **deltas))


def _record(
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
