"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository on it.

Invariants
- `__enter__` takes a connection from the pool; psycopg opens the transaction (BEGIN) with the
  first statement, and everything until `commit()` (ledger included) is in it.
- `commit()` commits (deferred constraints, such as a balanced journal or a row's tenant, are
  checked there); leaving the block without it rolls back; the connection goes back to the
  pool in `__exit__` whatever happened. Work done after a `commit()` is a new transaction,
  kept only by another `commit()`.
- The ledger store and the repositories share one `Scope`: `app.tenant_id` is set only when it
  changes, and forgotten after a commit, a rollback or any ledger call (the ledger's SQL
  functions set it themselves).
- No psycopg exception leaves the unit of work, its ledger or its repositories.
- A reader (`factory.reader()`) sends each statement as a READ ONLY transaction of its own, with
  its scope, as one simple query in one round trip: no row locks, nothing to commit (it cannot),
  and each statement sees its own snapshot, so a reader suits use cases that read one thing in
  one statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, Final, Self

import psycopg
from psycopg_pool import ConnectionPool

from adapters.postgres.integration_repositories import (
    ApiKeys,
    Audit,
    Outbox,
    ProviderConfigs,
    ProviderEvents,
    WebhookEndpoints,
)
from adapters.postgres.ledger import PostgresLedgerStore
from adapters.postgres.mfa_repository import MfaFactors
from adapters.postgres.reconciliation import PostgresReconciliation
from adapters.postgres.repositories import Customers, Links, Payments, Refunds, Sessions, Tenants, Withdrawals
from adapters.postgres.rows import Scope, guarded
from payments_core.ledger import Account, Balances, Entry, Hold, Transfer, TransferRequest
from payments_core.ports import Clock, LedgerStore, ReconciliationStore
from payments_core.ports.repositories import (
    ApiKeyRepository,
    AuditLog,
    CheckoutSessionRepository,
    CustomerRepository,
    MfaFactorRepository,
    PaymentLinkRepository,
    PaymentRepository,
    ProviderConfigRepository,
    ProviderEventLog,
    RefundRepository,
    TenantRepository,
    WebhookEndpointRepository,
    WithdrawalRepository,
)
from payments_core.ports.repositories import Outbox as OutboxPort

# How long a reconciliation waits for a second session of the pool before working in one.
SIDE_SESSION_WAIT: Final = 2.0


class ScopedLedgerStore(PostgresLedgerStore):
    """The ledger store on the unit of work's connection, sharing its scope and its error guard.

    The ledger's SQL functions (`ledger_submit`, `ledger_post`, `ledger_post_batch`) set
    `app.tenant_id` themselves, so the shared scope is forgotten after every ledger call: the
    next repository statement sets it again.
    """

    def __init__(self, conn: psycopg.Connection[Any], clock: Clock, scope: Scope) -> None:
        super().__init__(conn, clock)
        self._scope = scope

    @contextmanager
    def _call(self) -> Iterator[None]:
        try:
            with guarded():
                yield
        finally:
            self._scope.forget()

    def scope(self, tenant_id: str) -> None:
        self._scope.enter(tenant_id)

    def open_accounts(self, accounts: Sequence[Account]) -> None:
        with self._call():
            super().open_accounts(accounts)

    def account(self, tenant_id: str, account_id: str) -> Account:
        with self._call():
            return super().account(tenant_id, account_id)

    def accounts(self, tenant_id: str) -> list[Account]:
        with self._call():
            return super().accounts(tenant_id)

    def submit(self, request: TransferRequest) -> Transfer:
        with self._call():
            return super().submit(request)

    def submit_many(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        with self._call():
            return super().submit_many(requests)

    def transfer(self, tenant_id: str, transfer_id: str) -> Transfer:
        with self._call():
            return super().transfer(tenant_id, transfer_id)

    def hold(self, tenant_id: str, transfer_id: str) -> Hold:
        with self._call():
            return super().hold(tenant_id, transfer_id)

    def expire_holds(self) -> list[Transfer]:
        with self._call():
            return super().expire_holds()

    def entries(self, tenant_id: str, account_id: str | None = None) -> list[Entry]:
        with self._call():
            return super().entries(tenant_id, account_id)

    def balance_at(self, tenant_id: str, account_id: str, at: datetime) -> Balances:
        with self._call():
            return super().balance_at(tenant_id, account_id, at)


class PostgresUnitOfWork:
    # Typed as the port's (mutable, hence invariant) attributes, so that this is a `UnitOfWork`.
    ledger: LedgerStore
    tenants: TenantRepository
    sessions: CheckoutSessionRepository
    payments: PaymentRepository
    refunds: RefundRepository
    customers: CustomerRepository
    links: PaymentLinkRepository
    withdrawals: WithdrawalRepository
    api_keys: ApiKeyRepository
    mfa_factors: MfaFactorRepository
    provider_configs: ProviderConfigRepository
    webhook_endpoints: WebhookEndpointRepository
    outbox: OutboxPort
    audit: AuditLog
    provider_events: ProviderEventLog
    reconciliation: ReconciliationStore

    def __init__(self, pool: ConnectionPool[Any], clock: Clock, read_only: bool = False) -> None:
        self._pool = pool
        self._read_only = read_only
        self._clock = clock
        self._conn: psycopg.Connection[Any] | None = None
        self._scope: Scope | None = None

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("this unit of work is already open")
        with guarded():
            conn = self._pool.getconn()
        self._conn = conn
        # A reader sends each statement as its own READ ONLY transaction (`Scope.execute`).
        conn.autocommit = self._read_only
        scope = self._scope = Scope(conn, read_only=self._read_only)
        self.ledger = ScopedLedgerStore(conn, self._clock, scope)
        self.tenants = Tenants(conn, scope)
        self.sessions = Sessions(conn, scope)
        self.payments = Payments(conn, scope)
        self.refunds = Refunds(conn, scope)
        self.customers = Customers(conn, scope)
        self.links = Links(conn, scope)
        self.withdrawals = Withdrawals(conn, scope)
        self.api_keys = ApiKeys(conn, scope)
        self.mfa_factors = MfaFactors(conn, scope)
        self.provider_configs = ProviderConfigs(conn, scope)
        self.webhook_endpoints = WebhookEndpoints(conn, scope)
        self.outbox = Outbox(conn, scope)
        self.audit = Audit(conn, scope)
        self.provider_events = ProviderEvents(conn, scope)
        self.reconciliation = PostgresReconciliation(
            conn, scope, side=partial(self._pool.connection, timeout=SIDE_SESSION_WAIT)
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn, self._scope = self._conn, None, None
        if conn is None:
            return
        try:
            # A broken connection has lost its transaction already; the pool replaces it.
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
                conn.autocommit = False
        finally:
            self._pool.putconn(conn)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The open connection, for SQL beyond the repositories in this same transaction."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def scope(self, tenant_id: str) -> None:
        """Show this transaction `tenant_id`'s rows only ('*': every tenant's)."""
        with guarded():
            self._open_scope().enter(tenant_id)

    def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a reader's unit of work cannot commit")
        try:
            with guarded():
                self.connection.commit()
        finally:
            self._open_scope().forget()

    def rollback(self) -> None:
        try:
            with guarded():
                self.connection.rollback()
        finally:
            self._open_scope().forget()

    def _open_scope(self) -> Scope:
        if self._scope is None:
            raise RuntimeError("the unit of work is not open")
        return self._scope


class PostgresUnitOfWorkFactory:
    """What `Deps.uow` calls: a new unit of work on the shared pool."""

    def __init__(self, pool: ConnectionPool[Any], clock: Clock) -> None:
        self.pool = pool
        self.clock = clock

    def __call__(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.pool, self.clock)

    def reader(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.pool, self.clock, read_only=True)
