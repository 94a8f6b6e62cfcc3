"""The in-memory unit of work: one lock for the whole store, snapshots for rollback.

Units of work run one at a time (serializable by construction). Entering one snapshots every
table; leaving without `commit()` restores the snapshot, so a failed use case leaves no trace,
exactly as a database transaction would.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from adapters.memory.ledger import InMemoryLedgerStore
from adapters.memory.reconciliation import InMemoryReconciliation
from adapters.memory.tables import (
    ApiKeys,
    Audit,
    Customers,
    Links,
    MfaFactors,
    OutboxTable,
    Payments,
    ProviderConfigs,
    ProviderEvents,
    Refunds,
    Sessions,
    Tenants,
    WebhookEndpoints,
    Withdrawals,
)
from payments_core.ports import Clock


class InMemoryStore:
    """Everything one in-memory deployment holds. Share it between units of work."""

    def __init__(self, clock: Clock) -> None:
        self.lock = threading.RLock()
        self.ledger = InMemoryLedgerStore(clock)
        self.tenants = Tenants()
        self.sessions = Sessions()
        self.payments = Payments()
        self.refunds = Refunds()
        self.customers = Customers()
        self.links = Links()
        self.withdrawals = Withdrawals()
        self.api_keys = ApiKeys()
        self.mfa_factors = MfaFactors()
        self.provider_configs = ProviderConfigs()
        self.webhook_endpoints = WebhookEndpoints()
        self.outbox = OutboxTable()
        self.audit = Audit()
        self.provider_events = ProviderEvents()
        self.reconciliation = InMemoryReconciliation(
            self.payments, self.refunds, self.withdrawals, self.ledger
        )

    def tables(self) -> list[ApiKeys | Audit | Customers | Links | MfaFactors | OutboxTable | Payments
                         | ProviderConfigs | ProviderEvents | Refunds | Sessions | Tenants
                         | WebhookEndpoints | Withdrawals | InMemoryReconciliation]:  # fmt: skip
        return [
            self.tenants, self.sessions, self.payments, self.refunds, self.customers, self.links,
            self.withdrawals, self.api_keys, self.mfa_factors, self.provider_configs,
            self.webhook_endpoints, self.outbox, self.audit, self.provider_events, self.reconciliation,
        ]  # fmt: skip


class InMemoryUnitOfWork:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.ledger = store.ledger
        self.tenants = store.tenants
        self.sessions = store.sessions
        self.payments = store.payments
        self.refunds = store.refunds
        self.customers = store.customers
        self.links = store.links
        self.withdrawals = store.withdrawals
        self.api_keys = store.api_keys
        self.mfa_factors = store.mfa_factors
        self.provider_configs = store.provider_configs
        self.webhook_endpoints = store.webhook_endpoints
        self.outbox = store.outbox
        self.audit = store.audit
        self.provider_events = store.provider_events
        self.reconciliation = store.reconciliation
        self._open = False

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        self._open = True
        self._store.ledger.begin()
        for repository in self._store.tables():
            repository.table.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._open:
                self.rollback()
        finally:
            self._store.lock.release()

    def commit(self) -> None:
        self._store.ledger.release()
        for repository in self._store.tables():
            repository.table.release()
        self._open = False

    def rollback(self) -> None:
        self._store.ledger.restore()
        for repository in self._store.tables():
            repository.table.restore()
        self._open = False


class InMemoryUnitOfWorkFactory:
    def __init__(self, store: InMemoryStore) -> None:
        self.store = store

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)

    def reader(self) -> InMemoryUnitOfWork:
        """Reads take no locks in memory either way."""
        return InMemoryUnitOfWork(self.store)
