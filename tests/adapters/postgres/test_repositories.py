"""The PostgreSQL repositories behave exactly like the in-memory ones.

Round trips for every method, the same order and filters as the in-memory store (compared on
the same data), and tenant isolation through the API and underneath it (row-level security).
Commit, rollback, taken keys and the rest of the unit of work are in `test_uow.py`.
"""

from datetime import timedelta

import attrs
import pytest
from hypothesis import given

from adapters.memory.clock import ManualClock
from adapters.memory.uow import InMemoryStore, InMemoryUnitOfWorkFactory
from adapters.postgres.pool import make_pool
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from payments_core.errors import NotFound
from payments_core.ledger import Chart, Posting, TransferRequest
from payments_core.money import Money
from payments_core.states import CheckoutSessionStatus, PaymentStatus, WithdrawalStatus
from tests.adapters.postgres import aggregates
from tests.adapters.postgres.aggregates import (
    T0,
    api_key,
    audit_event,
    endpoint,
    factory_with_tenants,
    full_samples,
    link,
    outbound,
    payment,
    preferences,
    provider_config,
    refund,
    session,
    store,
    tenant,
    withdrawal,
)

# Ids whose code-point order differs from most collations' (case, digits, punctuation).
AWKWARD_IDS = ["b", "B", "a", "10", "9", "_", "a-b", "ab", "Z"]


@pytest.fixture
def pool(pg_clone):
    pool = make_pool(pg_clone(), max_size=4)
    yield pool
    pool.close()


@pytest.fixture
def uow(pool):
    return factory_with_tenants(pool, "t1", "t2")


# --- round trips -----------------------------------------------------------------------------------


def test_every_aggregate_round_trips_through_its_repository(pool):
    factory = PostgresUnitOfWorkFactory(pool, ManualClock(T0))
    samples = full_samples()
    by_kind = {type(s).__name__: s for s in samples}
    with factory() as work:
        for sample in samples:
            store(work, sample)
        work.commit()
    with factory() as work:
        s = by_kind
        assert work.tenants.get("t1") == s["Tenant"]
        assert work.sessions.get("t1", "cs_1") == s["CheckoutSession"]
        assert work.sessions.by_idempotency_key("t1", "idem-1") == s["CheckoutSession"]
        assert work.sessions.by_provider_reference("sandbox", "sbx_t1_cs_1") == s["CheckoutSession"]
        assert work.sessions.by_phone_number("t1", "254712345678") == [s["CheckoutSession"]]
        assert work.payments.get("t1", "pay_1") == s["Payment"]
        assert work.payments.by_provider_reference("sandbox", "sbx_py_1") == s["Payment"]
        assert work.refunds.get("t1", "re_1") == s["Refund"]
        assert work.refunds.by_provider_reference("sandbox", "sbx_re_1") == s["Refund"]
        assert work.refunds.for_payment("t1", "pay_1") == [s["Refund"]]
        assert work.customers.get("t1", "cus_1") == s["CustomerPreferences"]
        assert work.links.get("t1", "promo") == work.links.by_slug("promo") == s["PaymentLink"]
        assert work.withdrawals.get("t1", "wd_1") == s["Withdrawal"]
        assert work.withdrawals.by_idempotency_key("t1", "idem-w") == s["Withdrawal"]
        assert work.withdrawals.by_provider_reference("sandbox", "sbx_po_1") == s["Withdrawal"]
        assert work.api_keys.get("t1", "key_1") == s["ApiKey"]
        assert work.api_keys.by_hash("hash_t1_key_1") == s["ApiKey"]
        assert work.api_keys.for_tenant("t1") == [s["ApiKey"]]
        assert work.provider_configs.get("t1", "mercadopago") == s["ProviderConfig"]
        assert work.provider_configs.by_url_id("url_t1_mercadopago") == s["ProviderConfig"]
        assert work.webhook_endpoints.get("t1", "we_1") == s["WebhookEndpoint"]
        assert work.webhook_endpoints.for_tenant("t1") == []  # deleted
        assert work.outbox.for_tenant("t1") == [s["OutboundEvent"]]
        assert work.audit.search("t1", None, None, 0, 10).items == (s["AuditEvent"],)
        assert not work.provider_events.record(s["ProviderEventRecord"])


def test_updates_and_upserts_replace_the_whole_aggregate(uow):
    later = T0 + timedelta(hours=1)
    with uow() as work:
        work.payments.add(payment("p1"))
        work.sessions.add(session("s1"))
        work.withdrawals.add(withdrawal("w1"))
        work.customers.save(preferences("c1"))
        work.provider_configs.save(provider_config("stripe"))
        work.commit()
    with uow() as work:
        paid = work.payments.get("t1", "p1").moved(PaymentStatus.COMPLETED, later, fee=Money(25, "KES"))
        work.payments.update(paid)
        closed = work.sessions.get("t1", "s1").moved(CheckoutSessionStatus.EXPIRED, later)
        work.sessions.update(closed)
        approved = work.withdrawals.get("t1", "w1").moved(
            WithdrawalStatus.PROCESSING, later, approved_by="bob"
        )
        work.withdrawals.update(approved)
        work.customers.save(preferences("c1", preferred_provider="mpesa", updated_at=later))
        work.provider_configs.save(provider_config("stripe", url_id="url_new", updated_at=later))
        work.tenants.update(attrs.evolve(tenant("t1"), name="Renamed"))
        work.commit()
    with uow() as work:
        assert work.payments.get("t1", "p1") == paid
        assert work.payments.search("t1", PaymentStatus.COMPLETED, None, None, 0, 10).items == (paid,)
        assert work.sessions.get("t1", "s1") == closed
        assert work.sessions.due_to_expire(later + timedelta(days=1), 10) == []
        assert work.withdrawals.search("t1", WithdrawalStatus.PROCESSING, 10).items == (approved,)
        assert work.customers.get("t1", "c1").preferred_provider == "mpesa"
        assert work.provider_configs.by_url_id("url_new") is not None
        assert work.provider_configs.by_url_id("url_t1_stripe") is None
        assert work.tenants.get("t1").name == "Renamed"


def test_the_amount_columns_follow_each_records_document_through_insert_and_update(uow, pool):
    """Reconciliation reads amounts from columns generated from `doc` (migration 0021)."""
    with uow() as work:
        work.payments.add(payment("p1", amount=Money(1234, "KES")))
        work.refunds.add(refund("r1", "p1", amount=Money(400, "KES")))
        work.withdrawals.add(withdrawal("w1", net_amount=Money(96_700, "KES")))
        work.commit()
    with uow() as work:
        paid = work.payments.get("t1", "p1").moved(PaymentStatus.COMPLETED, T0, fee=Money(25, "KES"))
        work.payments.update(paid)
        work.commit()
    with pool.connection() as conn:
        conn.execute("SELECT set_config('app.tenant_id', 't1', true)")
        columns = conn.execute(
            """SELECT 'payment', amount_minor, currency, fee_minor FROM payments WHERE id = 'p1'
               UNION ALL SELECT 'refund', amount_minor, currency, NULL FROM refunds WHERE id = 'r1'
               UNION ALL SELECT 'withdrawal', net_minor, currency, NULL FROM withdrawals WHERE id = 'w1'
               ORDER BY 1"""
        ).fetchall()
    assert columns == [
        ("payment", 1234, "KES", 25), ("refund", 400, "KES", None), ("withdrawal", 96_700, "KES", None),
    ]  # fmt: skip


@given(aggregates.payments)
def test_any_payment_round_trips_through_postgres(pg_url, payment_sample):
    stored = attrs.evolve(payment_sample, tenant_id="prop")
    with PostgresUnitOfWorkFactory(_module_pool(pg_url), ManualClock(T0))() as work:
        if work.tenants.get("prop") is None:
            work.tenants.add(tenant("prop"))
        work.payments.add(stored)
        assert work.payments.get("prop", stored.id) == stored  # and rolled back on exit


_POOLS: dict[str, object] = {}


def _module_pool(url):
    if url not in _POOLS:
        _POOLS[url] = make_pool(url, max_size=2)
    return _POOLS[url]


@pytest.fixture(scope="module", autouse=True)
def _close_module_pools():
    yield
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()


def test_update_of_a_missing_row_is_not_found(uow):
    with uow() as work:
        for update, item in [
            (work.payments.update, payment("nope")),
            (work.sessions.update, session("nope")),
            (work.refunds.update, refund("nope", "p")),
            (work.withdrawals.update, withdrawal("nope")),
            (work.links.update, link("nope")),
            (work.api_keys.update, api_key("nope")),
            (work.webhook_endpoints.update, endpoint("nope")),
            (work.tenants.update, tenant("nope")),
        ]:
            with pytest.raises(NotFound):
                update(item)


# --- the same answers as the in-memory store, in the same order --------------------------------------


def fill(work):
    """The same awkward data set for both stores: ties, case, digits, two tenants."""
    for n, ident in enumerate(AWKWARD_IDS):
        when = T0 + timedelta(minutes=n % 3)
        status = [PaymentStatus.PENDING, PaymentStatus.COMPLETED][n % 2]
        for tenant_id in ("t1", "t2"):
            work.payments.add(
                payment(ident, tenant_id, created_at=when, status=status, provider_reference="dup")
            )
            work.sessions.add(
                session(ident, tenant_id, created_at=when, expires_at=T0 + timedelta(minutes=n % 2),
                        client_phone_number="254700000001" if n % 3 else None, provider_reference="same")
            )  # fmt: skip
            work.refunds.add(refund(ident, "a", tenant_id, created_at=when, provider_refund_id="r"))
            work.withdrawals.add(withdrawal(ident, tenant_id, created_at=when, provider_reference="w",
                                            status=[WithdrawalStatus.PENDING, WithdrawalStatus.FAILED][n % 2]))  # fmt: skip
            work.api_keys.add(api_key(ident, tenant_id, created_at=when))
            work.webhook_endpoints.add(endpoint(ident, tenant_id, created_at=when,
                                                deleted_at=when if n % 4 == 0 else None))  # fmt: skip
            work.outbox.add(outbound(ident, tenant_id, created_at=when))
            work.audit.append(
                audit_event(ident, tenant_id, at=when, action=f"act{n % 2}", target_id=f"x{n % 3}")
            )
    work.sessions.update(attrs.evolve(work.sessions.get("t1", "B"), status=CheckoutSessionStatus.COMPLETED))


QUERIES = {
    "payments.search": lambda w: w.payments.search("t1", None, None, None, 0, 100),
    "payments.search.page": lambda w: w.payments.search("t1", None, None, None, 2, 3),
    "payments.search.past_end": lambda w: w.payments.search("t1", None, None, None, 50, 3),
    "payments.search.status": lambda w: w.payments.search("t1", PaymentStatus.COMPLETED, None, None, 0, 100),
    "payments.search.window": lambda w: w.payments.search(
        "t2", None, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1), 0, 100
    ),
    "payments.by_provider_reference": lambda w: w.payments.by_provider_reference("sandbox", "dup"),
    "sessions.by_phone_number": lambda w: w.sessions.by_phone_number("t2", "254700000001"),
    "sessions.due_to_expire": lambda w: w.sessions.due_to_expire(T0 + timedelta(minutes=1), 100),
    "sessions.due_to_expire.limit": lambda w: w.sessions.due_to_expire(T0 + timedelta(minutes=5), 7),
    "sessions.due_to_expire.none": lambda w: w.sessions.due_to_expire(T0 - timedelta(seconds=1), 100),
    "sessions.by_provider_reference": lambda w: w.sessions.by_provider_reference("sandbox", "same"),
    "refunds.for_payment": lambda w: w.refunds.for_payment("t1", "a"),
    "refunds.by_provider_reference": lambda w: w.refunds.by_provider_reference("sandbox", "r"),
    "withdrawals.search": lambda w: w.withdrawals.search("t2", None, 4),
    "withdrawals.search.status": lambda w: w.withdrawals.search("t1", WithdrawalStatus.FAILED, 100),
    "withdrawals.search.empty": lambda w: w.withdrawals.search("t1", WithdrawalStatus.COMPLETED, 100),
    "withdrawals.by_provider_reference": lambda w: w.withdrawals.by_provider_reference("sandbox", "w"),
    "api_keys.for_tenant": lambda w: w.api_keys.for_tenant("t1"),
    "webhook_endpoints.for_tenant": lambda w: w.webhook_endpoints.for_tenant("t2"),
    "outbox.for_tenant": lambda w: w.outbox.for_tenant("t1"),
    "audit.search": lambda w: w.audit.search("t1", None, None, 1, 4),
    "audit.search.action": lambda w: w.audit.search("t2", "act1", None, 0, 100),
    "audit.search.target": lambda w: w.audit.search("t1", "act0", "x1", 0, 100),
    "audit.search.zero": lambda w: w.audit.search("t1", None, None, 0, 0),
}


@pytest.fixture(scope="module")
def both(pg_url):
    """The in-memory store and a PostgreSQL database holding the same data."""
    memory = InMemoryUnitOfWorkFactory(InMemoryStore(ManualClock(T0)))
    postgres = PostgresUnitOfWorkFactory(_module_pool(pg_url), ManualClock(T0))
    for factory in (memory, postgres):
        with factory() as work:
            for tenant_id in ("t1", "t2"):
                if work.tenants.get(tenant_id) is None:
                    work.tenants.add(tenant(tenant_id))
            fill(work)
            work.commit()
    return memory, postgres


@pytest.mark.parametrize("name", QUERIES)
def test_the_same_answers_in_the_same_order_as_in_memory(both, name):
    memory, postgres = both
    with memory() as work:
        expected = QUERIES[name](work)
    with postgres() as work:
        assert QUERIES[name](work) == expected
    assert expected or name.endswith((".empty", ".none", ".zero", ".past_end"))


# --- tenant isolation ---------------------------------------------------------------------------------


def test_another_tenants_ids_are_not_found_through_any_repository(uow):
    with uow() as work:
        for sample in full_samples()[1:]:
            store(work, sample)
        work.commit()
    with uow() as work:
        assert work.sessions.get("t2", "cs_1") is None
        assert work.sessions.by_idempotency_key("t2", "idem-1") is None
        assert work.sessions.by_phone_number("t2", "254712345678") == []
        assert work.payments.get("t2", "pay_1") is None
        assert work.payments.search("t2", None, None, None, 0, 10).total == 0
        assert work.refunds.get("t2", "re_1") is None
        assert work.refunds.for_payment("t2", "pay_1") == []
        assert work.customers.get("t2", "cus_1") is None
        assert work.links.get("t2", "promo") is None
        assert work.withdrawals.get("t2", "wd_1") is None
        assert work.withdrawals.by_idempotency_key("t2", "idem-w") is None
        assert work.api_keys.get("t2", "key_1") is None
        assert work.api_keys.for_tenant("t2") == []
        assert work.provider_configs.get("t2", "mercadopago") is None
        assert work.webhook_endpoints.get("t2", "we_1") is None
        assert work.outbox.for_tenant("t2") == []
        assert work.audit.search("t2", None, None, 0, 10).total == 0
        with pytest.raises(NotFound):
            work.payments.update(attrs.evolve(work.payments.get("t1", "pay_1"), tenant_id="t2"))


def test_row_level_security_hides_other_tenants_rows_from_a_query_without_a_tenant_filter(uow):
    with uow() as work:
        for n in range(3):
            work.payments.add(payment(f"p{n}", "t1"))
        work.payments.add(payment("q", "t2"))
        work.commit()
    with uow() as work:
        work.scope("t2")
        assert work.connection.execute("SELECT count(*) FROM payments").fetchone() == (1,)
        work.scope("*")
        assert work.connection.execute("SELECT count(*) FROM payments").fetchone() == (4,)
        work.scope("t1")
        assert work.connection.execute("SELECT count(*) FROM payments").fetchone() == (3,)


def test_the_scope_is_set_again_after_the_ledger_moved_it(uow):
    chart = Chart("t1")
    with uow() as work:
        work.ledger.open_accounts(chart.accounts("KES", ["sandbox"]))
        work.payments.add(payment("p2", "t2"))
        work.commit()
    with uow() as work:
        assert work.payments.get("t2", "p2") is not None  # scope t2
        posting = Posting(chart.clearing("sandbox", "KES"), chart.wallet("KES"), Money(100, "KES"))
        work.ledger.submit(TransferRequest.posted("f1", "t1", "test", [posting]))  # scope t1, set by SQL
        assert work.payments.get("t2", "p2") is not None
        assert work.ledger.account("t1", chart.wallet("KES")).credits_posted == 100
        batch = [TransferRequest.posted(f"b{n}", "t1", "test", [posting]) for n in range(2)]
        work.ledger.submit_many(batch)  # ledger_post_batch: scope '*', set by SQL
        assert work.payments.get("t2", "p2") is not None
        assert work.connection.execute("SELECT count(*) FROM payments").fetchone() == (1,)
        assert work.connection.execute("SELECT count(*) FROM tenants").fetchone() == (1,)
