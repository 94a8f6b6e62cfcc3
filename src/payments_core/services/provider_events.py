"""Inbound provider events: verified, recorded once, applied in the same unit of work.

Invariants
- An event is applied only after its signature is verified by the provider's adapter.
- `(provider, event id)` is recorded in the same unit of work as the state change it causes,
  so a replayed or concurrent duplicate has no second effect.
- An event about an object we do not know is ignored and NOT recorded: it may have overtaken
  the unit of work that stores the provider's reference (a payout confirmed before we saved
  its id), and the provider's retry must still be able to apply it.
- An event whose amount differs from the object's is recorded, audited and not applied.
- Where a provider's notification is a claim rather than a proof (M-Pesa, Pesapal), the caller
  passes `confirm`, which asks the provider; every confirmation happens before any change, outside
  any unit of work. An event it cannot confirm is neither applied nor recorded (`unconfirmed`), and
  a provider down while confirming raises `ProviderUnavailable` with nothing recorded, so the
  provider's retry can still apply it.
- An inbound URL scoped to one tenant (`tenant_id`) applies events about that tenant's objects
  only: an event naming another tenant's object is ignored and not recorded, whoever signed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Protocol

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
    UNCONFIRMED = "unconfirmed"  # the provider did not confirm it (yet): nothing recorded


Confirm = Callable[[ProviderEvent], ProviderEvent | None]
"""Asks the provider about a claimed event: the event its answer proves, or None when it proves none."""


def receive_webhook(
    deps: Deps,
    provider_name: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: str | None = None,
    tenant_id: str | None = None,
    confirm: Confirm | None = None,
) -> list[EventOutcome]:
    """Verify an inbound webhook with its provider's adapter, confirm each event it carries when
    `confirm` is given, then apply them (about `tenant_id`'s objects only, when given)."""
    events = deps.provider(provider_name).parse_webhook(headers, body, secret)
    checked = [confirm(event) for event in events] if confirm is not None else list(events)
    return [
        EventOutcome.UNCONFIRMED if event is None else apply_event(deps, event, tenant_id)
        for event in checked
    ]


def apply_event(deps: Deps, event: ProviderEvent, tenant_id: str | None = None) -> EventOutcome:
    """Record and apply one verified (and, where needed, confirmed) event, once."""
    with deps.uow() as uow:
        owner = _owner(uow, event)
        if tenant_id is not None and owner not in (None, tenant_id):
            return EventOutcome.IGNORED  # another tenant's object: untouched and unrecorded
        record = ProviderEventRecord(
            provider=event.provider,
            event_id=event.event_id,
            type=event.type.value,
            reference=event.reference,
            received_at=deps.clock.now(),
            tenant_id=owner or tenant_id,
        )
        if not uow.provider_events.record(record):
            return EventOutcome.DUPLICATE
        if event.type in PAYMENT_EVENTS:
            applied = _apply_payment_event(uow, deps, event)
        elif event.type in REFUND_EVENTS:
            applied = refunds.apply_refund_event(uow, deps, event)
        else:
            applied = wallet.apply_payout_event(uow, deps, event)
        if not applied and owner is None:
            return EventOutcome.IGNORED  # rolled back: not recorded, a retry can still apply it
        uow.commit()
    return EventOutcome.APPLIED if applied else EventOutcome.IGNORED


class _Owned(Protocol):
    @property
    def tenant_id(self) -> str: ...


def _owner(uow: UnitOfWork, event: ProviderEvent) -> str | None:
    """The tenant of the object the event is about; None when it is not one of ours (yet)."""
    lookups: tuple[Callable[[str, str], _Owned | None], ...]
    if event.type in REFUND_EVENTS:
        lookups = (uow.refunds.by_provider_reference,)
    elif event.type in PAYOUT_EVENTS:
        lookups = (uow.withdrawals.by_provider_reference,)
    else:
        lookups = (uow.sessions.by_provider_reference, uow.payments.by_provider_reference)
    for lookup in lookups:
        found = lookup(event.provider, event.reference)
        if found is not None:
            return found.tenant_id
    return None


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
