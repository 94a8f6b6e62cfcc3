"""The janitor that `wire_core` binds (the one `payments serve` runs in-process) asks the sandbox that
made an object: a payment, refund or payout finished at the sandbox whose webhook was lost is
finished by a sweep, through the same path as the webhook, once. On both stores.

The sandbox's delivery is cut (`deliver = None`) before the command at the sandbox: the webhook is
built and never reaches the core, as when the service was down when the operator clicked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from adapters.memory.clock import ManualClock
from adapters.postgres.janitor import PostgresJanitorStore
from adapters.postgres.pool import make_pool
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from adapters.providers.sandbox import SandboxProvider
from entrypoints.composition import in_memory_core, provider_status_query, wire_core
from entrypoints.config import ProviderSettings
from payments_core import PaymentsCore
from payments_core.ledger import problems
from payments_core.money import Money
from payments_core.policies import Principal, Scope
from payments_core.ports import ReceiptStatus
from payments_core.ports.janitor import CheckKind
from payments_core.services.janitor import SweepReport
from payments_core.services.provider_events import EventOutcome
from payments_core.states import CheckoutSessionStatus, PaymentStatus, RefundStatus, WithdrawalStatus

ALL_SCOPES = frozenset(scope.value for scope in Scope)
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PHONE = {"phone_number": "254712345678"}
PSE_PAYER = {
    "email": "a@example.com", "entity_type": "individual", "first_name": "Maria", "last_name": "Garcia",
    "identification": {"type": "CC", "number": "9876543210"},
}  # fmt: skip


@attrs.define
class Shop:
    """A test-mode tenant of a core wired by the composition, its sandbox and the clock."""

    core: PaymentsCore
    sandbox: SandboxProvider
    clock: ManualClock
    tenant_id: str

    def person(self, name: str = "alice") -> Principal:
        return Principal.user(self.tenant_id, name, ALL_SCOPES, self.clock.now(), livemode=False)

    def sweep_late(self) -> SweepReport:
        """A sweep once the janitor's threshold (5 min) has passed."""
        assert self.core.janitor is not None
        self.clock.advance(timedelta(minutes=6))
        report: SweepReport = self.core.janitor.sweep()
        return report

    def lose_webhooks(self) -> None:
        self.sandbox.deliver = None

    def payment(self, payment_id: str) -> Any:
        return self.core.payments.get_payment(self.person(), payment_id)

    def wallet(self) -> int:
        return int(self.core.wallet.wallet_balance(self.person()).available.minor)

    def ledger_problems(self) -> list[str]:
        with self.core.deps.uow() as uow:
            return problems(uow.ledger.accounts(self.tenant_id), uow.ledger.entries(self.tenant_id))


@pytest.fixture(params=["memory", "postgres"])
def wired(request: pytest.FixtureRequest) -> Iterator[tuple[PaymentsCore, SandboxProvider, ManualClock]]:
    """A core as the composition wires it, with its janitor, on a manual clock."""
    clock = ManualClock(T0)
    if request.param == "memory":
        yield (*in_memory_core(clock), clock)
        return
    with ExitStack() as stack:
        pool = make_pool(request.getfixturevalue("pg_url"), max_size=4)
        stack.callback(pool.close)
        core, sandbox = wire_core(
            PostgresUnitOfWorkFactory(pool, clock),
            clock,
            providers=ProviderSettings(),
            janitor_store=PostgresJanitorStore(pool),
        )
        yield core, sandbox, clock


def open_shop(wired: tuple[PaymentsCore, SandboxProvider, ManualClock], currency: str = "KES") -> Shop:
    core, sandbox, clock = wired
    tenant_id = f"shop{uuid.uuid4().hex[:8]}"
    core.tenants.create_tenant(tenant_id, "Shop", currency)
    return Shop(core, sandbox, clock, tenant_id)


@pytest.fixture
def shop(wired) -> Shop:
    return open_shop(wired)


def test_the_sandbox_is_asked_about_everything_it_makes():
    status = provider_status_query({"sandbox": SandboxProvider(ManualClock(T0), signing_secret="whsec_t")})
    assert all(status.covers(kind) == {"sandbox"} for kind in CheckKind)


def test_a_checkout_paid_at_the_sandbox_whose_webhook_was_lost_is_completed_once(shop):
    session = shop.core.checkout.create_session(shop.person(), Money.parse("10.00", "KES"), "order-1")
    shop.lose_webhooks()
    webhook = shop.sandbox.complete_checkout(session.provider_reference)
    assert shop.payment(session.payment_id).status is PaymentStatus.PENDING

    report = shop.sweep_late()

    assert (report.claimed, report.applied) == (1, 1)
    assert shop.payment(session.payment_id).status is PaymentStatus.COMPLETED
    assert (
        shop.core.checkout.get_session(shop.person(), session.id).session.status
        is CheckoutSessionStatus.COMPLETED
    )
    assert shop.wallet() == 975  # 10.00 KES less the 2.5 % fee
    assert shop.sweep_late().claimed == 0  # finished: never asked about again
    retried = shop.sandbox.sign(webhook.body)  # the lost event, retried now under a fresh signature
    outcomes = shop.core.provider_events.receive_webhook("sandbox", retried, webhook.body)
    assert outcomes == [EventOutcome.IGNORED]
    assert shop.wallet() == 975
    assert shop.ledger_problems() == []


def test_a_janitor_that_serves_no_sandbox_leaves_its_objects_to_the_one_that_does(pg_url):
    """A separate `payments worker` or `payments janitor` has its own sandbox, which made nothing:
    it neither claims the serving process's sandbox objects nor delays that process's janitor."""
    clock = ManualClock(T0)
    with ExitStack() as stack:
        pool = make_pool(pg_url, max_size=4)
        stack.callback(pool.close)
        store = PostgresJanitorStore(pool)

        def core(asks_sandbox: bool) -> tuple[PaymentsCore, SandboxProvider]:
            return wire_core(
                PostgresUnitOfWorkFactory(pool, clock),
                clock,
                providers=ProviderSettings(),
                janitor_store=store,
                janitor_asks_sandbox=asks_sandbox,
            )

        serving, separate = open_shop((*core(True), clock)), open_shop((*core(False), clock))
        session = serving.core.checkout.create_session(serving.person(), Money.parse("10.00", "KES"), "o-1")
        serving.lose_webhooks()
        serving.sandbox.complete_checkout(session.provider_reference)

        assert separate.sweep_late().claimed == 0
        assert serving.payment(session.payment_id).status is PaymentStatus.PENDING
        assert (serving.sweep_late().applied, serving.wallet()) == (1, 975)


def test_a_checkout_failed_at_the_sandbox_whose_webhook_was_lost_is_failed(shop):
    session = shop.core.checkout.create_session(shop.person(), Money.parse("10.00", "KES"), "order-1")
    shop.lose_webhooks()
    shop.sandbox.fail_checkout(session.provider_reference)

    assert shop.sweep_late().applied == 1

    assert shop.payment(session.payment_id).status is PaymentStatus.FAILED
    assert (
        shop.core.checkout.get_session(shop.person(), session.id).session.status
        is CheckoutSessionStatus.CANCELLED
    )
    assert shop.wallet() == 0
    assert shop.ledger_problems() == []


def test_a_checkout_still_open_at_the_sandbox_stays_pending_until_it_is_paid(shop):
    session = shop.core.checkout.create_session(shop.person(), Money.parse("10.00", "KES"), "order-1")
    shop.lose_webhooks()

    assert (shop.sweep_late().unsettled, shop.payment(session.payment_id).status) == (
        1,
        PaymentStatus.PENDING,
    )
    shop.sandbox.complete_checkout(session.provider_reference)
    assert shop.sweep_late().applied == 1
    assert shop.payment(session.payment_id).status is PaymentStatus.COMPLETED


def test_a_sandbox_down_leaves_the_payment_pending_and_it_is_asked_again(shop):
    session = shop.core.checkout.create_session(shop.person(), Money.parse("10.00", "KES"), "order-1")
    shop.lose_webhooks()
    shop.sandbox.complete_checkout(session.provider_reference)
    shop.sandbox.unavailable = True

    assert shop.sweep_late().unanswered == 1
    assert shop.payment(session.payment_id).status is PaymentStatus.PENDING
    shop.sandbox.unavailable = False
    assert shop.sweep_late().applied == 1
    assert shop.wallet() == 975


def test_a_pse_payment_the_bank_confirmed_without_a_webhook_is_completed(wired):
    shop = open_shop(wired, "COP")
    payment = shop.core.direct_payments.create_pse_payment(
        shop.person(), amount=Money.parse("150000", "COP"), description="Plan", payer=PSE_PAYER,
        financial_institution="1007", callback_url="https://shop.example.com/pse/return",
    )  # fmt: skip
    shop.lose_webhooks()
    shop.sandbox.complete_payment(payment.provider_reference)

    assert shop.sweep_late().applied == 1

    assert shop.payment(payment.id).status is PaymentStatus.COMPLETED
    assert shop.ledger_problems() == []


def funded(shop: Shop, amount: str) -> str:
    """A checkout paid with its webhook delivered: the id of a completed payment."""
    session = shop.core.checkout.create_session(shop.person(), Money.parse(amount, "KES"), "order-f")
    shop.sandbox.complete_checkout(session.provider_reference)
    return str(session.payment_id)


def test_a_refund_settled_at_the_sandbox_without_a_webhook_is_settled(shop):
    payment_id = funded(shop, "100.00")
    shop.sandbox.refund_outcome = ReceiptStatus.PENDING
    refund = shop.core.refunds.create_refund(shop.person(), payment_id, Money.parse("40.00", "KES"))
    shop.lose_webhooks()
    shop.sandbox.succeed_refund(refund.provider_refund_id)

    assert shop.sweep_late().applied == 1

    assert shop.core.refunds.get_refund(shop.person(), refund.id).status is RefundStatus.SUCCEEDED
    assert shop.payment(payment_id).status is PaymentStatus.PARTIALLY_REFUNDED
    assert shop.ledger_problems() == []


@pytest.mark.parametrize(
    ("finish", "ending"),
    [
        (SandboxProvider.settle_payout, WithdrawalStatus.COMPLETED),
        (SandboxProvider.fail_payout, WithdrawalStatus.FAILED),
    ],
)
def test_a_payout_finished_at_the_sandbox_without_a_webhook_is_finished(shop, finish, ending):
    funded(shop, "10000.00")
    before = shop.wallet()
    withdrawal = shop.core.wallet.initiate_withdrawal(
        shop.person(), Money.parse("1000.00", "KES"), "mpesa", PHONE
    )
    approved = shop.core.wallet.approve_withdrawal(shop.person("bob"), withdrawal.id).withdrawal
    assert approved.status is WithdrawalStatus.PROCESSING
    shop.lose_webhooks()
    finish(shop.sandbox, approved.provider_reference)

    assert shop.sweep_late().applied == 1

    assert shop.core.wallet.get_withdrawal(shop.person(), withdrawal.id).status is ending
    assert (shop.wallet() == before) is (ending is WithdrawalStatus.FAILED)  # a failed payout gives it back
    assert shop.ledger_problems() == []
