"""The read views over the in-memory store: nothing to open, nothing to wait for."""

from __future__ import annotations

from payments_core.model.payments import Payment
from payments_core.ports.repositories import UnitOfWorkFactory


class InMemoryPaymentViews:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def payment(self, tenant_id: str, payment_id: str) -> Payment | None:
        with self._uow.reader() as uow:
            return uow.payments.get(tenant_id, payment_id)
