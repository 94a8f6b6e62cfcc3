"""A reader's unit of work: a READ ONLY transaction that locks nothing, scoped to one tenant."""

import threading

import pytest

from adapters.postgres.pool import make_pool
from adapters.postgres.rows import StorageFailure
from tests.adapters.postgres.aggregates import factory_with_tenants, payment


@pytest.fixture
def uow(pg_clone):
    pool = make_pool(pg_clone(), max_size=4)
    yield factory_with_tenants(pool, "t1", "t2")
    pool.close()


def test_a_reader_sees_its_tenant_only(uow):
    with uow() as work:
        work.payments.add(payment("p1"))
        work.commit()
    with uow.reader() as reading:
        assert reading.payments.get("t1", "p1").id == "p1"
        assert reading.payments.get("t2", "p1") is None  # another tenant: as if missing
        assert reading.payments.get("t1", "p1").id == "p1"  # the scope changes back


def test_a_reader_cannot_write_nor_commit(uow):
    with uow.reader() as reading, pytest.raises(StorageFailure):
        reading.payments.add(payment("p2"))  # PostgreSQL refuses writes in a READ ONLY transaction
    with uow.reader() as reading, pytest.raises(RuntimeError, match="cannot commit"):
        reading.commit()
    with uow() as work:  # the pooled connection is writable again afterwards
        work.payments.add(payment("p2"))
        work.commit()
        assert work.payments.get("t1", "p2") is not None


def test_a_reader_does_not_wait_for_a_writer_holding_the_row(uow):
    with uow() as work:
        work.payments.add(payment("p3"))
        work.commit()
    locked, release = threading.Event(), threading.Event()

    def writer():
        with uow() as work:
            work.payments.get("t1", "p3")  # a writer's get locks the row until it ends
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(10)
        with uow.reader() as reading:
            assert reading.payments.get("t1", "p3").id == "p3"  # answered while the lock is held
    finally:
        release.set()
        thread.join()
