"""Row-level security holds in parallel workers: a worker sees the tenant its leader sees.

The policy's test (`app_tenant_visible`) is PARALLEL SAFE so that large reads of tenant tables
(the reconciliation batch) may use parallel workers; the workers take the leader's transaction-
local `app.tenant_id` with the rest of its settings.
"""

from __future__ import annotations

import pytest

from adapters.postgres.pool import make_pool
from tests.adapters.postgres.aggregates import factory_with_tenants, payment


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


def test_the_tenant_test_is_parallel_safe(uow):
    with uow() as work:
        row = work.connection.execute(
            "SELECT proparallel FROM pg_proc WHERE proname = 'app_tenant_visible'"
        ).fetchone()
    assert row == ("s",)


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
