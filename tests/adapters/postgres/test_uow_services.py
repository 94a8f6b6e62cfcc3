"""The use cases, end to end, on the PostgreSQL unit of work instead of the in-memory one.

Wired like `tests.support.core.make_core()`: the same clock, ids and sandbox; only the unit of
work factory differs. Every scenario ends with a sound ledger.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.clock import ManualClock, SequentialIds
from adapters.memory.system import InMemorySecretBox, RandomSecrets
from adapters.postgres.pool import make_pool
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from adapters.providers.sandbox import SandboxProvider
from payments_core.errors import DomainError, IdempotencyConflict, Unauthenticated
from payments_core.ledger import problems
from payments_core.money import Money
from payments_core.policies import Principal, Scope
from payments_core.services import api_keys, checkout, links, payments, provider_events, refunds, wallet
from payments_core.services.context import Deps
from payments_core.services.provider_events import EventOutcome
from payments_core.services.tenants import create_tenant
from payments_core.states import CheckoutSessionStatus, PaymentStatus, RefundStatus, WithdrawalStatus

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALL_SCOPES = frozenset(scope.value for scope in Scope)


class Core:
    """The core on PostgreSQL, with two tenants (t1, t2) in KES."""

    def __init__(self, pool):
        self.clock = ManualClock(T0)
        self.sandbox = SandboxProvider(self.clock, signing_secret="whsec_test_sandbox")
        self.deps = Deps(
            uow=PostgresUnitOfWorkFactory(pool, self.clock),
            clock=self.clock,
            ids=SequentialIds(),
            secrets=RandomSecrets(),
            secret_box=InMemorySecretBox(),
            providers={"sandbox": self.sandbox},
        )
        self.tenant = create_tenant(self.deps, "t1", "Tenant One", "KES")
        self.other = create_tenant(self.deps, "t2", "Tenant Two", "KES")

    def user(self, user_id, tenant_id="t1"):
        return Principal.user(tenant_id, user_id, ALL_SCOPES, self.clock.now(), livemode=False)

    def deliver(self, webhook):
        return provider_events.receive_webhook(self.deps, "sandbox", webhook.headers, webhook.body)

    def account(self, role, tenant_id="t1"):
        with self.deps.uow() as uow:
            return uow.ledger.account(tenant_id, f"{tenant_id}/{role}/KES")

    def wallet(self, tenant_id="t1"):
        return self.account("wallet", tenant_id).available().minor

    def ledger_problems(self, tenant_id="t1"):
        with self.deps.uow() as uow:
            return problems(uow.ledger.accounts(tenant_id), uow.ledger.entries(tenant_id))

    def paid_session(self, major="1000.00", tenant_id="t1"):
        session = checkout.create_session(
            self.deps, self.user("alice", tenant_id), Money.parse(major, "KES"), "order-1"
        )
        assert self.deliver(self.sandbox.complete_checkout(session.provider_reference)) == [
            EventOutcome.APPLIED
        ]
        return session


@pytest.fixture
def pool(pg_clone):
    pool = make_pool(pg_clone(), max_size=6)
    yield pool
    pool.close()


@pytest.fixture
def core(pool):
    return Core(pool)


def test_creating_a_tenant_again_is_a_no_op_and_another_definition_a_conflict(core):
    assert create_tenant(core.deps, "t1", "Tenant One", "KES") == core.tenant
    with pytest.raises(IdempotencyConflict):
        create_tenant(core.deps, "t1", "Renamed", "KES")
    assert core.ledger_problems() == []


def test_a_checkout_completed_by_the_sandbox_webhook_credits_the_wallet_net_of_the_fee(core):
    session = core.paid_session("1000.00")
    view = checkout.get_session(core.deps, core.user("alice"), session.id)
    assert view.session.status is CheckoutSessionStatus.COMPLETED
    assert view.payment.status is PaymentStatus.COMPLETED
    assert core.wallet() == 97_500  # 1000.00 less the 2.5% fee
    assert core.account("platform_fees").credits_posted == 2_500
    assert core.wallet("t2") == 0
    page = payments.list_payments(core.deps, core.user("alice"))
    assert [p.id for p in page.items] == [session.payment_id]
    assert payments.list_payments(core.deps, core.user("zed", "t2")).items == ()
    assert core.ledger_problems() == []


def test_a_replayed_webhook_has_no_second_effect(core):
    session = checkout.create_session(core.deps, core.user("alice"), Money.parse("10.00", "KES"), "order-1")
    webhook = core.sandbox.complete_checkout(session.provider_reference)
    assert core.deliver(webhook) == [EventOutcome.APPLIED]
    assert core.deliver(webhook) == [EventOutcome.DUPLICATE]
    assert core.wallet() == 975
    assert core.ledger_problems() == []


def test_the_same_webhook_delivered_concurrently_completes_the_payment_once(core):
    session = checkout.create_session(core.deps, core.user("alice"), Money.parse("10.00", "KES"), "order-1")
    webhook = core.sandbox.complete_checkout(session.provider_reference)
    outcomes, start = [], threading.Barrier(4)

    def deliver():
        start.wait()
        outcomes.extend(core.deliver(webhook))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == sorted([EventOutcome.APPLIED] + [EventOutcome.DUPLICATE] * 3)
    assert core.wallet() == 975
    assert core.ledger_problems() == []


def test_a_withdrawal_initiated_approved_by_another_user_and_settled(core):
    core.paid_session("10000.00")
    withdrawal = wallet.initiate_withdrawal(
        core.deps,
        core.user("alice"),
        Money.parse("1000.00", "KES"),
        "mpesa",
        {"phone_number": "254712345678"},
    )
    assert core.wallet() == 975_000 - 100_000
    approved = wallet.approve_withdrawal(core.deps, core.user("bob"), withdrawal.id).withdrawal
    assert approved.status is WithdrawalStatus.PROCESSING
    assert core.deliver(core.sandbox.settle_payout(approved.provider_reference)) == [EventOutcome.APPLIED]
    done = wallet.get_withdrawal(core.deps, core.user("alice"), withdrawal.id)
    assert done.status is WithdrawalStatus.COMPLETED
    assert done.approved_by == "bob"
    assert (
        core.account("payouts_in_transit").credits_posted == core.account("payouts_in_transit").debits_posted
    )
    assert wallet.list_withdrawals(core.deps, core.user("alice")).count == 1
    assert core.wallet() == 875_000
    assert core.ledger_problems() == []


def test_a_refund_gives_the_money_back(core):
    session = core.paid_session("1000.00")
    core.paid_session("1000.00")  # the platform keeps its fee: the wallet pays the whole refund
    alice = core.user("alice")
    partial = refunds.create_refund(core.deps, alice, session.payment_id, Money.parse("400.00", "KES"))
    rest = refunds.create_refund(core.deps, alice, session.payment_id, reason="asked")
    assert (partial.status, rest.status) == (RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    assert rest.amount == Money.parse("600.00", "KES")
    refunded = payments.get_payment(core.deps, alice, session.payment_id)
    assert refunded.status is PaymentStatus.REFUNDED
    assert refunded.refunded == Money.parse("1000.00", "KES")
    assert refunds.list_refunds(core.deps, alice, session.payment_id) == [partial, rest]
    assert core.wallet() == 2 * 97_500 - 100_000
    assert core.ledger_problems() == []


def test_a_payment_link_is_found_by_its_slug_and_reserved_by_its_checkout(core):
    links.create_link(
        core.deps, core.user("alice"), Money.parse("99.00", "KES"), "promo", slug="summer", usage_limit=1
    )
    with pytest.raises(IdempotencyConflict):
        links.create_link(core.deps, core.user("zed", "t2"), Money.parse("1.00", "KES"), "x", slug="summer")
    session = links.start_link_checkout(core.deps, "summer")
    assert session.tenant_id == "t1"
    assert links.get_public_link(core.deps, "summer").link.reserved == 1
    assert core.deliver(core.sandbox.complete_checkout(session.provider_reference)) == [EventOutcome.APPLIED]
    assert links.get_public_link(core.deps, "summer").link.used == 1
    assert core.ledger_problems() == []


def test_pending_checkouts_expire_in_the_sweep(core):
    session = checkout.create_session(core.deps, core.user("alice"), Money.parse("10.00", "KES"), "order-1")
    core.paid_session("5.00", tenant_id="t2")
    core.clock.advance(timedelta(hours=1))
    assert checkout.expire_sessions(core.deps) == 1
    assert checkout.get_session(core.deps, core.user("alice"), session.id).session.status is (
        CheckoutSessionStatus.EXPIRED
    )
    assert checkout.expire_sessions(core.deps) == 0


def test_an_idempotent_checkout_is_replayed(core):
    first = checkout.create_session(
        core.deps, core.user("alice"), Money.parse("10.00", "KES"), "order-1", idempotency_key="k1"
    )
    again = checkout.create_session(
        core.deps, core.user("alice"), Money.parse("10.00", "KES"), "order-1", idempotency_key="k1"
    )
    assert again == first
    with pytest.raises(IdempotencyConflict):
        checkout.create_session(core.deps, core.user("alice"), Money.parse("11.00", "KES"), "order-1",
                                idempotency_key="k1")  # fmt: skip


def test_an_api_key_authenticates_until_it_is_revoked(core):
    created = api_keys.create_api_key(core.deps, core.user("alice"), "server", scopes=["payments:read"])
    principal = api_keys.authenticate_api_key(core.deps, created.secret)
    assert (principal.tenant_id, principal.subject) == ("t1", created.key.id)
    api_keys.revoke_api_key(core.deps, core.user("alice"), created.key.id)
    with pytest.raises(Unauthenticated):
        api_keys.authenticate_api_key(core.deps, created.secret)
    assert [k.id for k in api_keys.list_api_keys(core.deps, core.user("alice"))] == [created.key.id]


def race(count, call):
    """Run `call` from `count` threads at once; the results and the domain errors' codes."""
    start, results = threading.Barrier(count), []

    def run():
        start.wait()
        try:
            results.append(call())
        except DomainError as error:
            results.append(error.code)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_customers_never_oversell_a_payment_link(core):
    links.create_link(
        core.deps, core.user("alice"), Money.parse("99.00", "KES"), "promo", slug="last", usage_limit=1
    )
    results = race(4, lambda: links.start_link_checkout(core.deps, "last"))
    started = [r for r in results if not isinstance(r, str)]
    assert len(started) == 1
    assert sorted(r for r in results if isinstance(r, str)) == ["INVALID_OPERATION"] * 3
    assert links.get_public_link(core.deps, "last").link.reserved == 1


def test_concurrent_refunds_of_a_payment_never_refund_more_than_it(core):
    session = core.paid_session("1000.00")
    for _ in range(4):
        core.paid_session("1000.00")  # enough in the wallet for every refund: only the payment limits them
    alice = core.user("alice")
    results = race(4, lambda: refunds.create_refund(core.deps, alice, session.payment_id))
    refunded = [r for r in results if not isinstance(r, str)]
    assert len(refunded) == 1 and refunded[0].amount == Money.parse("1000.00", "KES")
    assert payments.get_payment(core.deps, alice, session.payment_id).refunded == Money.parse(
        "1000.00", "KES"
    )
    assert core.wallet() == 5 * 97_500 - 100_000
    assert core.ledger_problems() == []
