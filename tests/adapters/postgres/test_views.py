"""The read views on PostgreSQL: one tenant per statement, read-only, and no psycopg error leaks."""

import asyncio

import psycopg
import pytest

from adapters.postgres.pool import make_pool
from adapters.postgres.rows import StorageFailure
from adapters.postgres.views import PostgresPaymentViews
from tests.adapters.postgres.aggregates import factory_with_tenants, payment


@pytest.fixture
def database(pg_clone):
    url = pg_clone()
    pool = make_pool(url, max_size=2)
    uow = factory_with_tenants(pool, "t1", "t2")
    with uow() as work:
        work.payments.add(payment("p1", "t1"))
        work.payments.add(payment("p2", "t2"))
        work.commit()
    yield url
    pool.close()


def run(views, work):
    """Open the views on a fresh loop, run `work(views)` there, close them."""

    async def main():
        await views.open()
        try:
            return await work(views)
        finally:
            await views.close()

    return asyncio.run(main())


def test_a_view_answers_its_tenant_only_even_on_one_connection(database):
    async def work(views):
        return [
            (await views.payment("t1", "p1")).id,
            await views.payment("t2", "p1"),  # another tenant's id: as if missing
            (await views.payment("t2", "p2")).id,  # the connection's tenant changes...
            (await views.payment("t1", "p1")).id,  # ...and changes back
            await views.payment("t1", "nope"),
        ]

    assert run(PostgresPaymentViews(database, size=1), work) == ["p1", None, "p2", "p1", None]


def test_row_level_security_scopes_a_statement_that_forgets_its_filter(database):
    async def work(views):
        await views.payment("t2", "p2")
        pool = await views._connection_pool()  # the pool's own connection, as the last read left it
        async with pool.connection() as conn:
            rows = await (await conn.execute("SELECT id FROM payments ORDER BY id")).fetchall()
        return [row[0] for row in rows]

    assert run(PostgresPaymentViews(database, size=1), work) == ["p2"]


def test_a_view_connection_cannot_write(database):
    async def work(views):
        pool = await views._connection_pool()
        async with pool.connection() as conn:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await conn.execute("DELETE FROM payments")
        return (await views.payment("t1", "p1")).id

    assert run(PostgresPaymentViews(database, size=1), work) == "p1"


def test_a_lost_connection_is_a_storage_failure_and_the_next_read_works(database):
    async def work(views):
        await views.payment("t1", "p1")
        with psycopg.connect(database, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = '' AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' AND usename = current_user"
            )
        failures = 0
        for _ in range(2):
            try:
                await views.payment("t1", "p1")
            except StorageFailure as failure:
                failures += 1
                assert "terminat" not in str(failure)  # no server message leaks
        return failures, (await views.payment("t1", "p1")).id

    failures, found = run(PostgresPaymentViews(database, size=1), work)
    assert failures == 1
    assert found == "p1"


def test_each_event_loop_reads_through_a_pool_of_its_own(database):
    views = PostgresPaymentViews(database, size=1)

    async def work(views):
        return (await views.payment("t1", "p1")).id

    async def unopened(views):
        try:
            return await work(views)  # a loop that never opened the views is served all the same
        finally:
            await views.close()

    assert run(views, work) == "p1"
    assert asyncio.run(unopened(views)) == "p1"


def test_reads_of_one_turn_for_two_tenants_each_get_their_own_row(database):
    async def work(views):
        reads = [views.payment("t1", "p1"), views.payment("t2", "p1"), views.payment("t2", "p2")]
        reads += [views.payment("t1", "p1"), views.payment("t1", "p2"), views.payment("t2", "nope")]
        found = await asyncio.gather(*reads)
        return [payment.id if payment else None for payment in found]

    assert run(PostgresPaymentViews(database, size=1), work) == ["p1", None, "p2", "p1", None, None]


def test_more_reads_in_one_turn_than_a_statement_takes(pg_clone):
    url = pg_clone()
    pool = make_pool(url, max_size=2)
    uow = factory_with_tenants(pool, "t1")
    with uow() as work:
        for number in range(150):
            work.payments.add(payment(f"p{number}", "t1"))
        work.commit()
    pool.close()

    async def work(views):
        found = await asyncio.gather(*(views.payment("t1", f"p{number}") for number in range(150)))
        return [payment.id for payment in found]

    assert run(PostgresPaymentViews(url, size=2), work) == [f"p{number}" for number in range(150)]


def test_a_read_that_goes_away_does_not_cancel_the_others(database):
    async def work(views):
        leaving = asyncio.ensure_future(views.payment("t1", "p1"))
        staying = asyncio.ensure_future(views.payment("t1", "p1"))
        await asyncio.sleep(0)
        leaving.cancel()
        return leaving, (await staying).id

    leaving, found = run(PostgresPaymentViews(database, size=1), work)
    assert leaving.cancelled()
    assert found == "p1"


def test_an_id_the_database_cannot_hold_names_nothing_and_fails_no_shared_read(database):
    async def work(views):
        found = await asyncio.gather(
            views.payment("t1", "p1"), views.payment("t1", "p\x001"), views.payment("t1", "p\udc801")
        )
        return [payment.id if payment else None for payment in found]

    assert run(PostgresPaymentViews(database, size=1), work) == ["p1", None, None]
