"""Inbound provider events: verified, recorded once, applied in the same unit of work.

Invariants
- An event is applied only after its signature is verified by the provider's adapter.
- `(provider, event id)` is recorded in the same unit of work as the state change it causes,
  so a replayed or concurrent duplicate has no second effect.
- An event about an object we do not know is ignored and NOT recorded: it may have overtaken
  the unit of work that stores the provider's reference (a payout confirmed before we saved
  its id), and the provider's retry must still be able to apply it.
- An event whose amount differs from the object's is recorded, audited and not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum

from payments_core.model.integrations import ProviderEventRecord
from payments_core.ports import ProviderEvent, ProviderEventType, UnitOfWork
from payments_core.services import checkout, refunds, wallet
from payments_core.services.context import Deps, audit
from payments_core.services.payment_lifecycle import complete_payment, fail_payment

PAYMENT_EVENTS = frozenset(
    {ProviderEventType.PAYMENT_SUCCEEDED, ProviderEventType.PAYMENT_FAILED, ProviderEventType.PAYMENT_EXPIRED}
)
REFUND_EVENTS = frozenset({ProviderEventType.REFUND_SUCCEEDED, ProviderEventType.REFUND_FAILED})
PAYOUT_EVENTS = frozenset({ProviderEventType.PAYOUT_SETTLED, ProviderEventType.PAYOUT_FAILED})


class EventOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def receive_webhook(
    deps: Deps, provider_name: str, headers: Mapping[str, str], body: bytes, secret: str | None = None
) -> list[EventOutcome]:
    """Verify an inbound webhook with its provider's adapter and apply each event it carries."""
    events = deps.provider(provider_name).parse_webhook(headers, body, secret)
    return [apply_event(deps, event) for event in events]


def apply_event(deps: Deps, event: ProviderEvent) -> EventOutcome:
    with deps.uow() as uow:
        record = ProviderEventRecord(
            provider=event.provider,
            event_id=event.event_id,
            type=event.type.value,
            reference=event.reference,
            received_at=deps.clock.now(),
        )
        if not uow.provider_events.record(record):
            return EventOutcome.DUPLICATE
        if event.type in PAYMENT_EVENTS:
            applied = _apply_payment_event(uow, deps, event)
        elif event.type in REFUND_EVENTS:
            applied = refunds.apply_refund_event(uow, deps, event)
        else:
            applied = wallet.apply_payout_event(uow, deps, event)
        if not applied and not _is_known(uow, event):
            return EventOutcome.IGNORED  # rolled back: not recorded, a retry can still apply it
        uow.commit()
    return EventOutcome.APPLIED if applied else EventOutcome.IGNORED


def _is_known(uow: UnitOfWork, event: ProviderEvent) -> bool:
    """Whether the event is about one of our objects (then it is recorded even if it changed nothing)."""
    lookups: tuple[Callable[[str, str], object], ...]
    if event.type in REFUND_EVENTS:
        lookups = (uow.refunds.by_provider_reference,)
    elif event.type in PAYOUT_EVENTS:
        lookups = (uow.withdrawals.by_provider_reference,)
    else:
        lookups = (uow.sessions.by_provider_reference, uow.payments.by_provider_reference)
    return any(lookup(event.provider, event.reference) is not None for lookup in lookups)


def _apply_payment_event(uow: UnitOfWork, deps: Deps, event: ProviderEvent) -> bool:
    session = uow.sessions.by_provider_reference(event.provider, event.reference)
    if session is not None:
        return checkout.apply_session_event(uow, deps, session, event)
    payment = uow.payments.by_provider_reference(event.provider, event.reference)
    if payment is None:
        return False
    if event.amount is not None and event.amount != payment.amount:
        audit(
            uow, deps, None, "provider_event.amount_mismatch", "payment", payment.id, payment.tenant_id,
            eventId=event.event_id, expected=payment.amount.minor, received=event.amount.minor,
        )  # fmt: skip
        return False
    if event.type is ProviderEventType.PAYMENT_SUCCEEDED:
        complete_payment(uow, deps, payment)
    else:
        fail_payment(uow, deps, payment, event.type.value)
    return True
