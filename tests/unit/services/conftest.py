"""Every use-case test runs twice: on the in-memory store and on PostgreSQL. One behaviour, two stores."""

import pytest

from adapters.postgres.pool import make_pool
from tests.support import core


@pytest.fixture(autouse=True, params=["memory", "postgres"])
def service_backend(request):
    if request.param == "memory":
        yield "memory"
        return
    clone = request.getfixturevalue("pg_clone")
    pools = []

    def fresh_pool():
        pool = make_pool(clone(), max_size=6)
        pools.append(pool)
        return pool

    core.postgres_pools = fresh_pool
    try:
        yield "postgres"
    finally:
        core.postgres_pools = None
        for pool in pools:
            pool.close()
