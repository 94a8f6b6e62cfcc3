"""MFA factors on PostgreSQL: round trip, upsert, the tenant's own rows only, no deletion, locked reads."""

import threading
from datetime import timedelta

import attrs
import psycopg
import pytest

from adapters.postgres.pool import make_pool
from payments_core.errors import DomainError
from payments_core.model.access import MfaFactor
from tests.adapters.postgres.aggregates import T0, factory_with_tenants


@pytest.fixture
def pool(pg_clone):
    pool = make_pool(pg_clone(), max_size=4)
    yield pool
    pool.close()


@pytest.fixture
def uow(pool):
    return factory_with_tenants(pool, "t1", "t2")


def factor(tenant_id: str = "t1", user_id: str = "alice", **changes) -> MfaFactor:
    return attrs.evolve(MfaFactor(tenant_id, user_id, "sealed:opaque", T0), **changes)


def test_a_factor_reads_back_as_saved_and_a_second_save_replaces_it(uow):
    confirmed = factor(confirmed_at=T0 + timedelta(seconds=5), last_used_step=59_000_000, failed_attempts=2,
                       locked_until=T0 + timedelta(minutes=15))  # fmt: skip
    with uow() as work:
        assert work.mfa_factors.get("t1", "alice") is None
        work.mfa_factors.save(factor())
        work.commit()
    with uow() as work:
        assert work.mfa_factors.get("t1", "alice") == factor()
        work.mfa_factors.save(confirmed)
        work.commit()
    with uow() as work:
        assert work.mfa_factors.get("t1", "alice") == confirmed
        work.scope("*")
        assert work.connection.execute("SELECT count(*) FROM mfa_factors").fetchone() == (1,)


def test_another_tenant_neither_finds_nor_sees_a_factor(uow):
    with uow() as work:
        work.mfa_factors.save(factor("t1"))
        work.commit()
    with uow() as work:
        assert work.mfa_factors.get("t2", "alice") is None
        work.scope("t2")
        assert work.connection.execute("SELECT count(*) FROM mfa_factors").fetchone() == (0,)


def test_the_table_forces_row_level_security_and_the_app_cannot_delete(uow, pool):
    with psycopg.connect(pool.conninfo) as conn:
        row = conn.execute(
            """SELECT c.relrowsecurity, c.relforcerowsecurity, count(p.polname)
               FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
               WHERE c.relname = 'mfa_factors' GROUP BY 1, 2"""
        ).fetchone()
    assert row == (True, True, 1)
    with uow() as work:
        work.mfa_factors.save(factor())
        work.commit()
    with uow() as work:
        work.scope("t1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            work.connection.execute("DELETE FROM mfa_factors")


def test_a_factor_of_an_unknown_tenant_is_refused_at_commit(uow):
    with uow() as work:
        work.mfa_factors.save(factor("nobody"))
        with pytest.raises(DomainError) as caught:
            work.commit()
    assert caught.value.code == "RESOURCE_NOT_FOUND"


def test_a_second_reader_waits_for_the_first_and_sees_its_spent_step(uow):
    """What stops two concurrent verifications from accepting one code twice."""
    with uow() as work:
        work.mfa_factors.save(factor())
        work.commit()
    first_read, seen = threading.Event(), []

    def second() -> None:
        first_read.wait()
        with uow() as work:
            seen.append(work.mfa_factors.get("t1", "alice").last_used_step)

    reader = threading.Thread(target=second)
    reader.start()
    with uow() as work:
        current = work.mfa_factors.get("t1", "alice")
        first_read.set()
        reader.join(timeout=0.5)
        assert reader.is_alive()  # blocked on the row lock
        work.mfa_factors.save(attrs.evolve(current, last_used_step=7))
        work.commit()
    reader.join(timeout=10)
    assert seen == [7]
