"""Test-wide settings. Hypothesis runs at least 200 examples per property everywhere, CI included."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


import pytest  # noqa: E402

from adapters.memory.ledger import InMemoryLedgerStore  # noqa: E402
from adapters.postgres.ledger import PooledLedgerStore  # noqa: E402
from adapters.postgres.pool import make_pool  # noqa: E402
from tests.support import ledger  # noqa: E402
from tests.support.postgres import database_name, fresh_database, start_test_server  # noqa: E402


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """The one PostgreSQL server of this test session."""
    server = start_test_server(tmp_path_factory.mktemp("pg") / "data")
    yield server
    if server.server is not None:
        server.server.cleanup()


@pytest.fixture(scope="session")
def pg_template(pg_server):
    """A migrated database that per-test databases are cloned from."""
    with fresh_database(pg_server, "template") as url:
        yield database_name(url)


@pytest.fixture(scope="module")
def pg_url(pg_server, pg_template, request):
    """A fresh, fully migrated database shared by one test module."""
    with fresh_database(pg_server, request.module.__name__.rsplit(".", 1)[-1], pg_template) as url:
        yield url


@pytest.fixture
def pg_clone(pg_server, pg_template, request):
    """A factory of fresh, fully migrated databases, each dropped when the test ends."""
    opened = []

    def clone():
        context = fresh_database(pg_server, request.node.name, pg_template)
        opened.append(context)
        return context.__enter__()

    yield clone
    for context in reversed(opened):
        context.__exit__(None, None, None)


@pytest.fixture(params=["memory", "postgres"])
def ledger_backend(request):
    """Run a ledger test once per store: one behaviour, two stores."""
    if request.param == "memory":
        ledger.use_store(InMemoryLedgerStore)
        yield "memory"
        return
    pools = []

    def postgres_store(clock):
        pool = make_pool(request.getfixturevalue("pg_clone")(), max_size=4)
        pools.append(pool)
        return PooledLedgerStore(pool, clock)

    ledger.use_store(postgres_store)
    yield "postgres"
    ledger.use_store(InMemoryLedgerStore)
    for pool in pools:
        pool.close()
