"""The in-memory unit of work rolls back for real, ledger included."""

from datetime import UTC, datetime

import pytest

from adapters.memory.clock import ManualClock
from adapters.memory.system import InMemorySecretBox
from adapters.memory.uow import InMemoryStore, InMemoryUnitOfWorkFactory
from payments_core.ledger import Chart, Posting, TransferRequest
from payments_core.model.access import Tenant
from payments_core.money import Money

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def tenant(tenant_id="t1"):
    return Tenant(id=tenant_id, name="T", currency="KES", created_at=T0)


def setup():
    store = InMemoryStore(ManualClock(T0))
    chart = Chart("t1")
    store.ledger.open_accounts(chart.accounts("KES", ["sandbox"]))
    return store, InMemoryUnitOfWorkFactory(store), chart


def fund(chart, transfer_id="f1"):
    return TransferRequest.posted(
        transfer_id,
        "t1",
        "test",
        [Posting(chart.clearing("sandbox", "KES"), chart.wallet("KES"), Money(100, "KES"))],
    )


def test_committed_work_is_kept():
    store, uow, chart = setup()
    with uow() as work:
        work.tenants.add(tenant())
        work.ledger.submit(fund(chart))
        work.commit()
    assert store.tenants.get("t1") is not None
    assert store.ledger.account("t1", chart.wallet("KES")).credits_posted == 100


def test_work_left_without_commit_is_rolled_back_ledger_included():
    store, uow, chart = setup()
    with uow() as work:
        work.tenants.add(tenant())
        work.ledger.submit(fund(chart))
    assert store.tenants.get("t1") is None
    assert store.ledger.account("t1", chart.wallet("KES")).credits_posted == 0
    assert store.ledger.entries("t1") == []


def test_an_exception_rolls_everything_back():
    store, uow, chart = setup()
    with pytest.raises(RuntimeError), uow() as work:
        work.ledger.submit(fund(chart))
        work.tenants.add(tenant())
        raise RuntimeError("boom")
    assert store.tenants.get("t1") is None
    assert store.ledger.entries("t1") == []


def test_a_rollback_keeps_what_earlier_units_committed():
    store, uow, chart = setup()
    with uow() as work:
        work.ledger.submit(fund(chart, "f1"))
        work.commit()
    with uow() as work:
        work.ledger.submit(fund(chart, "f2"))
        work.tenants.add(tenant())
    assert len(store.ledger.entries("t1")) == 2
    assert store.ledger.account("t1", chart.wallet("KES")).credits_posted == 100


def test_the_in_memory_secret_box_hands_out_opaque_handles():
    box = InMemorySecretBox()
    sealed = box.seal("APP_USR-secret")
    assert "APP_USR" not in sealed
    assert box.open(sealed) == "APP_USR-secret"
    with pytest.raises(ValueError):
        box.open("sealed:999")
