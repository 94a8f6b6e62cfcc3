"""The in-memory store's test-facing shape, over PostgreSQL: `core.store.<repository>.<method>`.

Service tests look at what a use case stored through `core.store`; with the PostgreSQL backend
each such look runs in its own unit of work, and `.table.rows()` reads every row of the table
in insertion order (as the in-memory table does), across tenants.
"""

from __future__ import annotations

from typing import Any

from adapters.postgres import integration_repositories, mfa_repository, repositories
from adapters.postgres.codec import load
from adapters.postgres.ledger import PooledLedgerStore

TABLES = {
    "tenants": repositories.TENANTS,
    "sessions": repositories.SESSIONS,
    "payments": repositories.PAYMENTS,
    "refunds": repositories.REFUNDS,
    "customers": repositories.CUSTOMERS,
    "links": repositories.LINKS,
    "withdrawals": repositories.WITHDRAWALS,
    "api_keys": integration_repositories.API_KEYS,
    "mfa_factors": mfa_repository.MFA_FACTORS,
    "provider_configs": integration_repositories.PROVIDER_CONFIGS,
    "webhook_endpoints": integration_repositories.WEBHOOK_ENDPOINTS,
    "outbox": integration_repositories.OUTBOX,
    "audit": integration_repositories.AUDIT,
    "provider_events": integration_repositories.PROVIDER_EVENTS,
}
_WITH_SEQ = {"payments", "checkout_sessions", "refunds", "withdrawals", "outbox_events", "audit_events"}


class TableView:
    def __init__(self, uow_factory: Any, name: str) -> None:
        self._uow = uow_factory
        self._spec = TABLES[name]

    def rows(self) -> list[Any]:
        order = "seq" if self._spec.name in _WITH_SEQ else "ctid"
        with self._uow() as uow:
            uow.scope("*")
            found = uow.connection.execute(f"SELECT doc FROM {self._spec.name} ORDER BY {order}").fetchall()
        return [load(self._spec.kind, doc) for (doc,) in found]

    def where(self, predicate: Any) -> list[Any]:
        return [row for row in self.rows() if predicate(row)]

    def find(self, predicate: Any) -> Any:
        return next((row for row in self.rows() if predicate(row)), None)


class RepositoryView:
    def __init__(self, uow_factory: Any, name: str) -> None:
        self._uow = uow_factory
        self._name = name
        self.table = TableView(uow_factory, name)

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._uow() as uow:
                result = getattr(getattr(uow, self._name), method)(*args, **kwargs)
                uow.commit()
                return result

        return call


class PostgresStoreView:
    def __init__(self, pool: Any, clock: Any, uow_factory: Any) -> None:
        self.ledger = PooledLedgerStore(pool, clock)
        for name in TABLES:
            setattr(self, name, RepositoryView(uow_factory, name))
