"""The janitor's claims in memory, beside an `InMemoryStore`'s payments, refunds and withdrawals.

Invariants
- Same behaviour as the PostgreSQL store (adapters/postgres/janitor.py): the same objects are due,
  in the same order (since, then id in code-point order); a claim counts the check and pushes the
  next one to the end of the lease; `reschedule` is a compare-and-set on the count.
- Every call runs under the store's lock (re-entrant), so janitors in several threads never claim
  one object twice, and a claim never sees a unit of work half done.
- The schedule lives in this object, beside the tables, not in the aggregates: a unit of work's
  rollback leaves it alone, as a committed claim outlives a rolled-back use case on PostgreSQL.
  So every janitor of one `InMemoryStore` shares one `InMemoryJanitorStore` (the composition
  makes exactly one).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import attrs

from adapters.memory.uow import InMemoryStore
from payments_core.ports.janitor import CheckKind, PendingCheck
from payments_core.states import CheckoutSessionStatus, PaymentStatus, RefundStatus, WithdrawalStatus

_Key = tuple[CheckKind, str, str]  # (kind, tenant, object id)


@attrs.frozen
class _Schedule:
    next_check_at: datetime | None = None
    checks: int = 0


class InMemoryJanitorStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._schedules: dict[_Key, _Schedule] = {}

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
        with self._store.lock:
            pending = list(self._pending(kind))
            self._forget_all_but(kind, {(kind, check.tenant_id, check.object_id) for check in pending})
            candidates = sorted(
                (
                    check
                    for check in pending
                    if check.provider in providers and newer_than <= check.since < older_than
                ),
                key=lambda check: (check.since, check.object_id),
            )
            claimed: list[PendingCheck] = []
            for check in candidates:
                if len(claimed) == limit:
                    break
                key = (kind, check.tenant_id, check.object_id)
                schedule = self._schedules.get(key, _Schedule())
                if schedule.next_check_at is not None and schedule.next_check_at > now:
                    continue
                self._schedules[key] = _Schedule(lease_until, schedule.checks + 1)
                claimed.append(attrs.evolve(check, checks=schedule.checks + 1))
            return claimed

    def reschedule(self, check: PendingCheck, next_check_at: datetime) -> bool:
        key = (check.kind, check.tenant_id, check.object_id)
        with self._store.lock:
            schedule = self._schedules.get(key)
            if schedule is None or schedule.checks != check.checks:
                return False
            self._schedules[key] = _Schedule(next_check_at, check.checks)
            return True

    def _forget_all_but(self, kind: CheckKind, pending: set[_Key]) -> None:
        """Drop the schedules of objects of `kind` that are pending no more (PostgreSQL's stay on
        their rows, unread)."""
        for key in [key for key in self._schedules if key[0] is kind and key not in pending]:
            del self._schedules[key]

    def _pending(self, kind: CheckKind) -> Iterator[PendingCheck]:
        """Every object of `kind` in a state the janitor asks about, with `checks` = 0."""
        if kind is CheckKind.CHECKOUT:
            return self._checkouts()
        if kind is CheckKind.PAYMENT:
            return self._direct_payments()
        if kind is CheckKind.REFUND:
            return self._refunds()
        return self._payouts()

    def _checkouts(self) -> Iterator[PendingCheck]:
        for payment in self._store.payments.table.rows():
            if payment.status is not PaymentStatus.PENDING or payment.session_id is None:
                continue
            session = self._store.sessions.get(payment.tenant_id, payment.session_id)
            if session is None or session.status is not CheckoutSessionStatus.PENDING:
                continue
            yield PendingCheck(
                CheckKind.CHECKOUT, payment.tenant_id, payment.id, payment.provider,
                session.provider_reference, payment.livemode, payment.created_at, 0,
                expires_at=session.expires_at,
            )  # fmt: skip

    def _direct_payments(self) -> Iterator[PendingCheck]:
        for payment in self._store.payments.table.rows():
            if payment.status is not PaymentStatus.PENDING or payment.session_id is not None:
                continue
            if payment.provider_reference:
                yield PendingCheck(
                    CheckKind.PAYMENT, payment.tenant_id, payment.id, payment.provider,
                    payment.provider_reference, payment.livemode, payment.created_at, 0,
                )  # fmt: skip

    def _refunds(self) -> Iterator[PendingCheck]:
        for refund in self._store.refunds.table.rows():
            if refund.status is not RefundStatus.PENDING or not refund.provider_refund_id:
                continue
            payment = self._store.payments.get(refund.tenant_id, refund.payment_id)
            if payment is not None:
                yield PendingCheck(
                    CheckKind.REFUND, refund.tenant_id, refund.id, refund.provider, refund.provider_refund_id,
                    payment.livemode, refund.created_at, 0, payment_reference=payment.provider_reference,
                )  # fmt: skip

    def _payouts(self) -> Iterator[PendingCheck]:
        for withdrawal in self._store.withdrawals.table.rows():
            if withdrawal.status is WithdrawalStatus.PROCESSING and withdrawal.provider_reference:
                yield PendingCheck(
                    CheckKind.PAYOUT, withdrawal.tenant_id, withdrawal.id, withdrawal.provider,
                    withdrawal.provider_reference, withdrawal.livemode, withdrawal.updated_at, 0,
                )  # fmt: skip
