"""The janitor's ports: where pending objects are claimed for a status check, and whom to ask.

Invariants
- `JanitorStore.claim_due` hands an object to one caller only: in one short transaction it
  picks due rows (`FOR NO KEY UPDATE SKIP LOCKED` on PostgreSQL; under the store's lock in
  memory), counts the check and pushes the object's next check to the end of a lease. Another
  janitor sees it due again only if this one never reports back (it died) and the lease ran out.
- A claim holds no lock once it returns: the provider is asked outside any transaction.
- `reschedule` is a compare-and-set on `checks`: a janitor whose lease another one took over
  changes nothing.
- Objects are due while pending (a withdrawal: processing) with a provider reference to ask
  about, older than a threshold and younger than the give-up age, and never asked or asked
  longer ago than their backoff; oldest first.
- `StatusQuery` answers a `ProviderVerdict` (the outcome the provider reports) or None (no
  outcome yet). It never changes anything; the core turns a verdict into an event and applies it
  through the same path as a provider's webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import attrs

from payments_core.model.common import aware
from payments_core.money import Money
from payments_core.ports.providers import ProviderEventType


class CheckKind(StrEnum):
    """What is asked about, and by which of its references."""

    CHECKOUT = "checkout"  # a pending payment behind a pending checkout session: the session's reference
    PAYMENT = "payment"  # a pending direct payment (card token, PSE): its own provider reference
    REFUND = "refund"  # a pending refund: its provider refund id (and its payment's reference)
    PAYOUT = "payout"  # a processing withdrawal: its payout reference


@attrs.frozen
class PendingCheck:
    """One object a janitor holds for one status check."""

    kind: CheckKind
    tenant_id: str
    object_id: str  # our id: the payment's, the refund's or the withdrawal's
    provider: str
    reference: str  # the provider's id of what to ask about
    livemode: bool
    since: datetime = attrs.field(validator=aware)  # created; a withdrawal: its last change (approval)
    checks: int  # claims so far, this one included: the version `reschedule` compares
    expires_at: datetime | None = attrs.field(default=None, validator=aware)  # the checkout session's
    payment_reference: str | None = None  # a refund's payment's provider reference


@attrs.frozen
class ProviderVerdict:
    """What the provider says became of an object: the outcome, and what it paid when it says."""

    type: ProviderEventType
    amount: Money | None = None
    details: Mapping[str, str] = attrs.field(factory=dict)


class StatusQuery(Protocol):
    def covers(self, kind: CheckKind) -> frozenset[str]:
        """The providers this source can ask about objects of `kind`: only those are claimed."""
        ...

    def status(self, check: PendingCheck) -> ProviderVerdict | None:
        """The provider's verdict; None while it has none. `ProviderUnavailable` (or another
        `DomainError`) when it cannot answer now."""
        ...


class JanitorStore(Protocol):
    def claim_due(
        self,
        kind: CheckKind,
        providers: frozenset[str],
        *,
        now: datetime,
        older_than: datetime,
        newer_than: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[PendingCheck]:
        """Up to `limit` due objects of `kind` at one of `providers` (see the module's invariants)
        with `older_than > since >= newer_than`, oldest first; each comes back with `checks` + 1
        and its next check at `lease_until`. Rows another caller is claiming are skipped."""
        ...

    def reschedule(self, check: PendingCheck, next_check_at: datetime) -> bool:
        """Set the object's next check if it still has `check.checks`; False when another janitor
        claimed it meanwhile (nothing changed)."""
        ...
