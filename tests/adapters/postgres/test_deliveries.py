"""Webhook deliveries in PostgreSQL: concurrent workers never send one delivery twice, locked rows
are skipped rather than waited on, and the schema keeps what migration 0009 promises."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import attrs
import psycopg
import pytest

from adapters.postgres.deliveries import PostgresDeliveryStore
from adapters.postgres.pool import make_pool
from payments_core.services.context import emit
from payments_core.services.deliveries import EVENT_ID_HEADER, deliver_due, fan_out
from payments_core.services.webhooks import create_endpoint
from payments_core.states import DeliveryStatus
from tests.support import core as support_core
from tests.support.core import T0, Core, make_core
from tests.support.deliveries import delivery_deps

WORKERS = 4


@pytest.fixture
def setup(pg_clone: Any) -> Iterator[tuple[Core, Any, str]]:
    url = pg_clone()
    pool = make_pool(url, max_size=WORKERS * 2 + 2)
    support_core.postgres_pools = lambda: pool
    try:
        yield make_core(), pool, url
    finally:
        support_core.postgres_pools = None
        pool.close()


class SlowCountingSender:
    """A receiver that takes a moment per request and notes how many requests overlap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str]] = []
        self._in_flight = 0
        self.peak = 0

    def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: timedelta) -> int:
        with self._lock:
            self.sent.append((url, headers[EVENT_ID_HEADER]))
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        time.sleep(0.02)
        with self._lock:
            self._in_flight -= 1
        return 204


def populate(core: Core, endpoints: int, events: int) -> None:
    for index in range(endpoints):
        create_endpoint(core.deps, core.user("alice"), f"https://hooks.example.com/{index}")
    with core.deps.uow() as uow:
        for index in range(events):
            emit(uow, core.deps, "t1", "payment.completed", {"n": index})
        uow.commit()


def test_four_workers_deliver_every_delivery_exactly_once(setup: tuple[Core, Any, str]) -> None:
    core, pool, _ = setup
    populate(core, endpoints=3, events=20)
    sender = SlowCountingSender()
    deps = delivery_deps(core, sender, store=PostgresDeliveryStore(pool))
    assert fan_out(deps, T0) == 60
    start, errors = threading.Barrier(WORKERS), []

    def worker() -> None:
        try:
            start.wait()
            while deliver_due(deps, T0, limit=3):
                pass
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    counts = Counter(sender.sent)
    assert len(counts) == 60
    assert set(counts.values()) == {1}
    assert sender.peak >= 2  # the workers really ran at the same time
    stored = deps.store.search("t1", None, None, 0, 100)
    assert stored.total == 60
    assert {(d.status, d.attempts) for d in stored.items} == {(DeliveryStatus.DELIVERED, 1)}


def test_a_claim_skips_a_row_another_transaction_holds_instead_of_waiting(
    setup: tuple[Core, Any, str],
) -> None:
    core, pool, url = setup
    populate(core, endpoints=1, events=3)
    store = PostgresDeliveryStore(pool)
    deps = delivery_deps(core, SlowCountingSender(), store=store)
    fan_out(deps, T0)
    held_id = store.search("t1", None, None, 0, 10).items[0].id

    with psycopg.connect(url) as other:
        other.execute("SELECT 1 FROM webhook_deliveries WHERE id = %s FOR UPDATE", (held_id,))
        started = time.monotonic()
        claimed = store.claim_due(T0, 10, timedelta(minutes=5))
        assert time.monotonic() - started < 2
        assert len(claimed) == 2
        assert held_id not in {c.delivery.id for c in claimed}
        other.rollback()

    [late] = store.claim_due(T0, 10, timedelta(minutes=5))
    assert late.delivery.id == held_id
    assert (late.event.id, late.delivery.attempts) == (late.delivery.event_id, 1)


def test_fanning_out_an_event_again_with_fresh_delivery_ids_adds_no_duplicate(
    setup: tuple[Core, Any, str],
) -> None:
    """What a second worker that read the same new event does: the (event, endpoint) key wins."""
    core, pool, _ = setup
    populate(core, endpoints=2, events=5)
    deps = delivery_deps(core, SlowCountingSender(), store=PostgresDeliveryStore(pool))
    [first, *_] = deps.store.unfanned_events(T0 - timedelta(days=1), 100)
    assert fan_out(deps, T0) == 10
    existing = deps.store.search("t1", None, first.id, 0, 10).items
    assert len(existing) == 2

    deps.store.fan_out(first, [attrs.evolve(d, id=f"{d.id}_dup") for d in existing])

    assert deps.store.search("t1", None, None, 0, 100).total == 10
    assert deps.store.unfanned_events(T0 - timedelta(days=1), 100) == []


# --- the schema --------------------------------------------------------------------------------------


def test_both_tables_force_row_level_security(setup: tuple[Core, Any, str]) -> None:
    _, _, url = setup
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, count(p.polname)
               FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
               WHERE c.relname IN ('webhook_deliveries', 'webhook_fanouts') GROUP BY 1, 2, 3 ORDER BY 1"""
        ).fetchall()
    assert rows == [("webhook_deliveries", True, True, 1), ("webhook_fanouts", True, True, 1)]


def test_the_app_role_sees_only_its_tenants_rows_and_cannot_delete_or_rewrite_a_delivery(
    setup: tuple[Core, Any, str],
) -> None:
    core, pool, _ = setup
    populate(core, endpoints=1, events=1)
    deps = delivery_deps(core, SlowCountingSender(), store=PostgresDeliveryStore(pool))
    fan_out(deps, T0)

    def as_app(tenant: str, statement: Any) -> Any:
        with pool.connection() as conn:
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
            return conn.execute(statement).fetchall()

    assert as_app("t1", "SELECT count(*) FROM webhook_deliveries") == [(1,)]
    assert as_app("t2", "SELECT count(*) FROM webhook_deliveries") == [(0,)]
    assert as_app("t2", "SELECT count(*) FROM webhook_fanouts") == [(0,)]
    for forbidden in (
        "DELETE FROM webhook_deliveries RETURNING 1",
        "UPDATE webhook_deliveries SET event_id = 'evt_other' RETURNING 1",
        "UPDATE webhook_deliveries SET tenant_id = 't2' RETURNING 1",
        "DELETE FROM webhook_fanouts RETURNING 1",
        "UPDATE webhook_fanouts SET event_id = 'x' RETURNING 1",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_app("t1", forbidden)
    assert deps.store.search("t1", None, None, 0, 10).total == 1


def test_the_database_refuses_a_delivery_that_breaks_its_invariants(setup: tuple[Core, Any, str]) -> None:
    core, pool, url = setup
    populate(core, endpoints=1, events=1)
    deps = delivery_deps(core, SlowCountingSender(), store=PostgresDeliveryStore(pool))
    fan_out(deps, T0)
    [delivery] = deps.store.search("t1", None, None, 0, 10).items

    with psycopg.connect(url) as conn:
        for change in (
            "status = 'sent'",
            "status = 'delivered'",  # without delivered_at
            "attempts = -1",
            "last_status_code = 42",
            "last_error = repeat('x', 201)",
        ):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(f"UPDATE webhook_deliveries SET {change} WHERE id = %s", (delivery.id,))
            conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "UPDATE webhook_deliveries SET endpoint_id = 'we_missing' WHERE id = %s", (delivery.id,)
            )
        conn.rollback()
