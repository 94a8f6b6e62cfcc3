"""Row-level security holds in parallel workers, and reads the tenant once per query.

Every tenant table's policy compares a row's tenant with the transaction's `app.tenant_id`, read
in scalar subqueries (migration 0022): init plans, evaluated once by the leader and handed to the
parallel workers, so that large reads of tenant tables (the reconciliation batch) may use workers
and do not read the setting for every row.
"""

from __future__ import annotations

import pytest

from adapters.postgres.pool import make_pool
from tests.adapters.postgres.aggregates import factory_with_tenants, payment

ONCE_PER_QUERY = (
    "((tenant_id = ( SELECT current_setting('app.tenant_id'::text, true) AS current_setting)) "
    "OR (( SELECT current_setting('app.tenant_id'::text, true) AS current_setting) = '*'::text))"
)


@pytest.fixture
def uow(pg_clone):
    pool = make_pool(pg_clone(), max_size=2)
    yield factory_with_tenants(pool, "t1", "t2")
    pool.close()


def force_parallel(conn) -> None:
    """Plan every query with a Gather over parallel workers (the setting's name changed in 16),
    whatever the server's number of workers per query (none on a one-core machine)."""
    name = "debug_parallel_query" if conn.info.server_version >= 160000 else "force_parallel_mode"
    conn.execute(f"SET LOCAL {name} = on")
    conn.execute("SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0")
    conn.execute("SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL max_parallel_workers_per_gather = 2")


def test_every_tenant_table_reads_the_tenant_once_per_query(uow):
    with uow() as work:
        conn = work.connection
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            ).fetchall()
        }
        policies = dict(
            conn.execute(
                "SELECT c.relname, p.qual FROM pg_policies p "
                "JOIN pg_class c ON c.relname = p.tablename AND c.relnamespace = 'public'::regnamespace "
                "WHERE p.schemaname = 'public' AND c.relforcerowsecurity"
            ).fetchall()
        )
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN SELECT count(*) FROM payments").fetchall())
    assert tables and tables <= set(policies), sorted(tables - set(policies))
    assert {table: qual for table, qual in policies.items() if qual != ONCE_PER_QUERY} == {}
    assert plan.count("InitPlan") == 2, plan


def test_parallel_workers_see_only_the_leaders_tenant(uow):
    with uow() as work:
        for n in range(40):
            work.payments.add(payment(f"p{n}", "t1"))
        for n in range(7):
            work.payments.add(payment(f"q{n}", "t2"))
        work.commit()
    query = "SELECT count(*), count(DISTINCT tenant_id) FROM payments"
    with uow() as work:
        conn = work.connection
        force_parallel(conn)
        for tenant_id, expected in (("t1", (40, 1)), ("t2", (7, 1)), ("*", (47, 2))):
            work.scope(tenant_id)
            plan = "\n".join(
                line for (line,) in conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {query}").fetchall()
            )
            assert "Gather" in plan and "Workers Launched: 0" not in plan, plan
            assert conn.execute(query).fetchone() == expected
