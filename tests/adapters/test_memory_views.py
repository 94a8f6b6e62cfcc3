"""The in-memory read views keep the PostgreSQL views' rules: a tenant sees its own payments only."""

import asyncio
from datetime import UTC, datetime

from adapters.memory.clock import ManualClock
from adapters.memory.uow import InMemoryStore, InMemoryUnitOfWorkFactory
from adapters.memory.views import InMemoryPaymentViews
from tests.adapters.postgres.aggregates import payment


def test_a_view_answers_its_tenant_only():
    uow = InMemoryUnitOfWorkFactory(InMemoryStore(ManualClock(datetime(2026, 1, 1, tzinfo=UTC))))
    with uow() as work:
        work.payments.add(payment("p1", "t1"))
        work.commit()
    views = InMemoryPaymentViews(uow)

    async def reads():
        await views.open()
        found = (await views.payment("t1", "p1")).id, await views.payment("t2", "p1")
        await views.close()
        return found

    assert asyncio.run(reads()) == ("p1", None)
