"""The PostgreSQL unit of work: commit and rollback, taken keys, append-only tables, exactly-once
provider events, the error guard and the schema's own protections."""

import threading

import psycopg
import pytest

from adapters.memory.clock import ManualClock
from adapters.postgres.pool import make_pool
from adapters.postgres.rows import StorageFailure, guarded
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from payments_core.errors import IdempotencyConflict, NotFound, ValidationError
from payments_core.ledger import Chart, Posting, TransferRequest
from payments_core.money import Money
from tests.adapters.postgres.aggregates import (
    T0,
    api_key,
    audit_event,
    factory_with_tenants,
    full_samples,
    link,
    outbound,
    payment,
    provider_config,
    provider_event,
    session,
    store,
)


@pytest.fixture
def pool(pg_clone):
    pool = make_pool(pg_clone(), max_size=4)
    yield pool
    pool.close()


@pytest.fixture
def uow(pool):
    return factory_with_tenants(pool, "t1", "t2")


# --- commit and rollback ------------------------------------------------------------------------------


def test_commit_persists_and_leaving_without_commit_rolls_back_ledger_included(uow):
    chart = Chart("t1")
    posting = Posting(chart.clearing("sandbox", "KES"), chart.wallet("KES"), Money(100, "KES"))
    with uow() as work:
        work.ledger.open_accounts(chart.accounts("KES", ["sandbox"]))
        work.payments.add(payment("kept"))
        work.commit()
    with uow() as work:
        work.payments.add(payment("dropped"))
        work.ledger.submit(TransferRequest.posted("f1", "t1", "test", [posting]))
    with pytest.raises(RuntimeError), uow() as work:
        work.payments.add(payment("boom"))
        raise RuntimeError("boom")
    with uow() as work:
        work.payments.add(payment("undone"))
        work.rollback()
        work.payments.add(payment("after_rollback"))
        work.commit()
    with uow() as work:
        ids = [p.id for p in work.payments.search("t1", None, None, None, 0, 10).items]
        assert sorted(ids) == ["after_rollback", "kept"]
        assert work.ledger.entries("t1") == []


def test_the_connection_goes_back_to_the_pool_whatever_happens(pool):
    factory = PostgresUnitOfWorkFactory(pool, ManualClock(T0))
    for _ in range(pool.max_size * 2):
        with pytest.raises(NotFound), factory() as work:
            work.payments.update(payment("missing"))
    assert pool.get_stats().get("pool_available", 0) >= 1


def test_a_row_of_an_unknown_tenant_is_refused_at_commit(uow):
    with pytest.raises(NotFound), uow() as work:
        work.payments.add(payment("p", "ghost"))
        work.commit()


# --- taken keys ---------------------------------------------------------------------------------------


def test_a_taken_key_is_an_idempotency_conflict_and_the_unit_of_work_goes_on(uow):
    with uow() as work:
        for sample in full_samples()[1:-1]:
            store(work, sample)
        for sample in full_samples()[:-1]:
            if type(sample).__name__ in {"CustomerPreferences", "ProviderConfig"}:
                continue  # saved, not added: a second save replaces
            with pytest.raises(IdempotencyConflict):
                store(work, sample)
        with pytest.raises(IdempotencyConflict, match=r"idempotency key|unique value"):
            work.sessions.add(session("cs_other", idempotency_key="idem-1"))
        with pytest.raises(IdempotencyConflict):
            work.api_keys.add(api_key("key_other", secret_hash="hash_t1_key_1"))
        work.payments.add(payment("still_usable"))
        work.commit()
    with uow() as work:
        assert work.payments.get("t1", "still_usable") is not None


def test_a_duplicate_id_answers_the_in_memory_message(uow):
    with uow() as work:
        work.payments.add(payment("p1"))
        with pytest.raises(IdempotencyConflict, match="a row with this id exists already") as caught:
            work.payments.add(payment("p1", amount=Money(1, "KES")))
    assert caught.value.details == {"id": "p1"}


def test_a_slug_taken_by_another_tenant_is_a_conflict(uow):
    with uow() as work:
        work.links.add(link("summer", "t1"))
        work.commit()
    with uow() as work:
        with pytest.raises(IdempotencyConflict, match="this slug is taken") as caught:
            work.links.add(link("summer", "t2"))
        assert caught.value.details == {"slug": "summer"}
        assert work.links.get("t2", "summer") is None
        assert work.links.by_slug("summer").tenant_id == "t1"


def test_a_webhook_url_id_taken_by_another_tenant_is_a_conflict(uow):
    with uow() as work:
        work.provider_configs.save(provider_config("stripe", "t1", url_id="u1"))
        work.commit()
    with pytest.raises(IdempotencyConflict), uow() as work:
        work.provider_configs.save(provider_config("stripe", "t2", url_id="u1"))


# --- append-only tables and the database's own guards --------------------------------------------------


def test_audit_events_refuse_update_and_delete(uow, pool):
    with uow() as work:
        work.audit.append(audit_event("a1"))
        work.outbox.add(outbound("o1"))
        work.commit()
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events",
                      "UPDATE outbox_events SET type = 'x'", "DELETE FROM outbox_events"):  # fmt: skip
        with uow() as work:
            work.scope("t1")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                work.connection.execute(statement)
    owner_url = pool.conninfo
    with psycopg.connect(owner_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', '*', false)")
        for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events",
                          "TRUNCATE audit_events"):  # fmt: skip
            with pytest.raises(psycopg.errors.RaiseException, match="APPEND_ONLY"):
                conn.execute(statement)
            conn.rollback()
    with uow() as work:
        assert work.audit.search("t1", None, None, 0, 10).items == (audit_event("a1"),)


def test_no_psycopg_error_escapes_the_guard():
    with pytest.raises(StorageFailure) as caught, guarded():
        raise psycopg.OperationalError("connection lost")
    assert caught.value.code == "INTERNAL_ERROR"
    with pytest.raises(IdempotencyConflict), guarded():
        raise psycopg.errors.UniqueViolation("duplicate")


def test_text_postgres_cannot_hold_is_a_validation_error(uow):
    with pytest.raises(ValidationError), uow() as work:
        work.payments.add(payment("p\x00"))
    with pytest.raises(ValidationError), uow() as work:
        work.payments.add(payment("p", metadata={"note": "\x00"}))


# --- provider events: exactly once ------------------------------------------------------------------


def test_a_provider_event_is_recorded_once(uow):
    with uow() as work:
        assert work.provider_events.record(provider_event("e1"))
        assert not work.provider_events.record(provider_event("e1", type="other"))
        work.commit()
    with uow() as work:
        assert not work.provider_events.record(provider_event("e1"))
        assert work.provider_events.record(provider_event("e1", provider="stripe"))


def test_a_concurrent_duplicate_waits_for_the_first_and_then_answers_false(uow):
    first_recorded, release, answers = threading.Event(), threading.Event(), {}

    def first():
        with uow() as work:
            answers["first"] = work.provider_events.record(provider_event("race"))
            first_recorded.set()
            release.wait(10)
            work.commit()

    def second():
        first_recorded.wait(10)
        with uow() as work:
            answers["second"] = work.provider_events.record(provider_event("race"))
            work.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_recorded.wait(10)
    threads[1].join(0.5)
    assert threads[1].is_alive() and "second" not in answers, "the duplicate must wait for the first"
    release.set()
    for thread in threads:
        thread.join(10)
    assert answers == {"first": True, "second": False}


def test_a_duplicate_of_an_event_that_rolled_back_is_recorded(uow):
    with uow() as work:
        assert work.provider_events.record(provider_event("undone"))
    with uow() as work:
        assert work.provider_events.record(provider_event("undone"))


# --- the schema --------------------------------------------------------------------------------------

AGGREGATE_TABLES = [
    "tenants", "checkout_sessions", "payments", "refunds", "customer_preferences", "payment_links",
    "withdrawals", "api_keys", "provider_configs", "webhook_endpoints", "outbox_events", "audit_events",
    "provider_events", "mfa_factors",
]  # fmt: skip


def test_every_aggregate_table_forces_row_level_security(pg_url):
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, count(p.polname)
               FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
               WHERE c.relname = ANY(%s) GROUP BY 1, 2, 3 ORDER BY 1""",
            (AGGREGATE_TABLES,),
        ).fetchall()
    assert rows == [(name, True, True, 1) for name in sorted(AGGREGATE_TABLES)]


def test_ids_results_are_sorted_by_compare_by_code_point_whatever_the_default_collation(pg_url):
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            """SELECT c.relname, co.collname FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid JOIN pg_collation co ON co.oid = a.attcollation
               WHERE a.attname = 'id' AND c.relkind = 'r' AND c.relname = ANY(%s)""",
            (AGGREGATE_TABLES,),
        ).fetchall()
    sorted_by_id = {"checkout_sessions", "payments", "refunds", "withdrawals", "api_keys",
                    "webhook_endpoints", "outbox_events", "audit_events"}  # fmt: skip
    assert {table for table, collation in rows if collation == "C"} >= sorted_by_id


# --- read-modify-write: units of work touching one aggregate run one after the other ----------------


def test_a_unit_of_work_reading_an_aggregate_another_is_changing_waits_and_sees_the_change(uow):
    """What the in-memory store gives by running units of work one at a time: no lost update."""
    with uow() as work:
        work.links.add(link("last-one", usage_limit=1))
        work.commit()
    first_read, answers = threading.Event(), []

    def reserve(signal_after_read):
        with uow() as work:
            current = work.links.by_slug("last-one")
            if signal_after_read:
                first_read.set()
                threading.Event().wait(0.3)  # hold the aggregate while the other one tries
            if not current.can_pay(T0):
                answers.append("refused")
                return
            work.links.update(current.counted(T0, reserved=1))
            work.commit()
            answers.append("reserved")

    first = threading.Thread(target=reserve, args=(True,))
    first.start()
    first_read.wait(10)
    reserve(False)
    first.join(10)
    # Each thread records its answer after its commit returns, so the list order is a race;
    # the outcome is not: one reservation, one refusal, and the link reserved once.
    assert sorted(answers) == ["refused", "reserved"]
    with uow() as work:
        assert work.links.get("t1", "last-one").reserved == 1
