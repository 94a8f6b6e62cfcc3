"""Checkout sessions: a hosted payment page for one amount, and the pending payment behind it.

The use cases, and how a session opens. What a request must be (its checks and `SessionDraft`) is
in `checkout_input`; how a pending session ends (merchant, sweep or provider event) and the record
each change leaves, in `checkout_outcomes`. Every name stays importable from here.

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
- How a session leaves `pending`, and what that does to its payment and its link: see
  `checkout_outcomes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import attrs

from payments_core.errors import IdempotencyConflict, NotFound, ValidationError
from payments_core.model.payments import CheckoutSession, Payment
from payments_core.money import Money
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.ports import CheckoutRequest, ProviderCheckout, UnitOfWork
from payments_core.services.checkout_input import (
    MAX_CUSTOMER_ID,
    MAX_IDEMPOTENCY_KEY,
    MAX_REFERENCE,
    METHOD_TYPES,
    SessionDraft,
    validate_amount,
    validate_idempotency_key,
    validate_method_types,
    validate_text,
)
from payments_core.services.checkout_outcomes import (
    EXTERNAL_PAYMENT_ID,
    apply_session_event,
    cancel_session_payment,
    close_session,
    payment_of,
    record_session,
    session_data,
)
from payments_core.services.context import Deps, found, open_chart, tenant_of
from payments_core.services.payment_lifecycle import payment_fee
from payments_core.services.validation import validate_phone, validate_url
from payments_core.states import CheckoutSessionStatus

__all__ = [
    "DEFAULT_METHOD",
    "EXTERNAL_PAYMENT_ID",
    "MAX_CUSTOMER_ID",
    "MAX_IDEMPOTENCY_KEY",
    "MAX_REFERENCE",
    "MAX_SESSION_ID",
    "METHOD_TYPES",
    "SessionDraft",
    "SessionView",
    "apply_session_event",
    "cancel_session",
    "close_session",
    "create_session",
    "expire_sessions",
    "get_hosted_session",
    "get_session",
    "list_sessions_by_phone",
    "session_data",
    "validate_amount",
    "validate_idempotency_key",
    "validate_method_types",
    "validate_text",
]

DEFAULT_METHOD: Final = "card"
MAX_SESSION_ID: Final = 100


def _optional(value: object, check: Callable[[object], str]) -> str | None:
    return None if value is None else check(value)


# --- the session's view --------------------------------------------------------------------------


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
        cancel_session_payment(uow, deps, closed, "cancelled")
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
            cancel_session_payment(uow, deps, closed, "expired")
            uow.commit()
        expired += 1
    return expired


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
        record_session(uow, deps, actor, session, "checkout.session.created")
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
    return SessionView(session, payment_of(uow, session), session.remaining_seconds(deps.clock.now()))
