"""The janitor's claims in PostgreSQL: rows another transaction holds are skipped rather than waited
on, the schedule survives the repositories' writes, and the schema keeps what migration 0012 says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from adapters.postgres.janitor import PostgresJanitorStore
from adapters.postgres.pool import make_pool
from payments_core.ports.janitor import CheckKind
from tests.support import core as support_core
from tests.support.core import Core, make_core
from tests.support.payments import pending_payment


@pytest.fixture
def setup(pg_clone: Any) -> Iterator[tuple[Core, PostgresJanitorStore, str]]:
    url = pg_clone()
    pool = make_pool(url, max_size=4)
    support_core.postgres_pools = lambda: pool
    try:
        yield make_core(), PostgresJanitorStore(pool), url
    finally:
        support_core.postgres_pools = None
        pool.close()


def claim(core: Core, store: PostgresJanitorStore) -> list[Any]:
    now = core.clock.now()
    return store.claim_due(
        CheckKind.PAYMENT, frozenset({"sandbox"}), now=now, older_than=now,
        newer_than=now - timedelta(days=3), lease_until=now + timedelta(minutes=5), limit=10,
    )  # fmt: skip


def test_a_claim_skips_a_payment_another_transaction_holds_instead_of_waiting(setup) -> None:
    core, store, url = setup
    held, free = pending_payment(core, "10.00"), pending_payment(core, "20.00")
    core.clock.advance(timedelta(minutes=6))

    with psycopg.connect(url) as other:  # a webhook applying to `held` right now
        other.execute("SELECT set_config('app.tenant_id', '*', true)")
        other.execute("SELECT 1 FROM payments WHERE id = %s FOR NO KEY UPDATE", (held.id,))
        started = time.monotonic()
        claimed = claim(core, store)
        assert time.monotonic() - started < 2
        assert [check.object_id for check in claimed] == [free.id]
        other.rollback()

    assert [check.object_id for check in claim(core, store)] == [held.id]


def test_a_use_case_writing_the_payment_leaves_its_schedule_alone(setup) -> None:
    core, store, _ = setup
    payment = pending_payment(core, "10.00")
    core.clock.advance(timedelta(minutes=6))
    [first] = claim(core, store)
    with core.deps.uow() as uow:
        stored = uow.payments.get(payment.tenant_id, payment.id)
        uow.payments.update(stored.with_metadata(core.clock.now(), note="touched"))
        uow.commit()

    assert claim(core, store) == []  # still leased
    core.clock.advance(timedelta(minutes=5))
    [second] = claim(core, store)
    assert (first.checks, second.checks) == (1, 2)


def test_the_database_refuses_a_negative_check_count(setup) -> None:
    core, _, url = setup
    payment = pending_payment(core, "10.00")
    with psycopg.connect(url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', '*', true)")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE payments SET status_checks = -1 WHERE id = %s", (payment.id,))
