"""The janitor against the real providers as `wire_core` wires them, on the loopback fakes: a payment
paid at the provider whose webhook never came is found by asking, and applied once.

The fakes change state without sending anything (a lost webhook); the janitor asks each through
the adapter's own status query. Its threshold and back-off are zero here, so one sweep asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from adapters.memory.system import SystemClock
from adapters.postgres.janitor import PostgresJanitorStore
from adapters.postgres.pool import make_pool
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from entrypoints.composition import provider_status_query, wire_core
from payments_core import PaymentsCore
from payments_core.money import Money
from payments_core.policies import Principal, Scope
from payments_core.ports import ProviderEventType
from payments_core.ports.janitor import CheckKind, PendingCheck
from payments_core.services import janitor
from payments_core.services.janitor import JanitorDeps, JanitorSettings
from tests.fakes import mpesa_server, pesapal_server
from tests.fakes.mercadopago_server import FakeMercadoPago
from tests.fakes.mpesa_server import FakeMpesa
from tests.fakes.paystack_server import FakePaystack
from tests.fakes.pesapal_server import FakePesapal
from tests.fakes.serving import serve
from tests.fakes.stripe_server import FakeStripe

ALL_SCOPES = frozenset(scope.value for scope in Scope)
PHONE = "254712345678"
CREDENTIALS: dict[str, dict[str, Any]] = {
    "stripe": {"secret_key": "sk_live_fake0000000000000000", "webhook_secret": "whsec_" + "t" * 32},
    "paystack": {"secret_key": "sk_live_" + "a" * 40},
    "mercadopago": {"access_token": "APP_USR-1111-2222-3333-444455556666", "webhook_secret": "s" * 28},
    "mpesa": {
        "consumer_key": mpesa_server.CONSUMER_KEY, "consumer_secret": mpesa_server.CONSUMER_SECRET,
        "passkey": mpesa_server.PASSKEY, "security_credential": "Q" * 344, "shortcode": mpesa_server.SHORTCODE,
        "initiator_name": "testapi", "environment": "production",
    },
    "pesapal": {
        "consumer_key": pesapal_server.CONSUMER_KEY, "consumer_secret": pesapal_server.CONSUMER_SECRET,
        "environment": "production",
    },
}  # fmt: skip


@attrs.define
class World:
    core: PaymentsCore
    janitor: JanitorDeps
    fakes: dict[str, Any]

    def shop(self, provider: str, currency: str) -> Principal:
        """A live tenant paid through `provider`, with its credentials; a person of it, live."""
        tenant_id = f"ten_{uuid.uuid4().hex[:12]}"
        self.core.tenants.create_tenant(tenant_id, "Shop", currency, providers=(provider,), livemode=True)
        now = datetime.now(UTC)
        admin = Principal.user(tenant_id, "alice", ALL_SCOPES, now, livemode=False)
        self.core.provider_config.register_provider_config(admin, provider, CREDENTIALS[provider])
        return Principal.user(tenant_id, "alice", ALL_SCOPES, now, livemode=True)

    def checkout(self, person: Principal, amount: str, currency: str, phone: str | None = None) -> Any:
        return self.core.checkout.create_session(
            person, Money.parse(amount, currency), f"ord-{uuid.uuid4().hex[:8]}", client_phone_number=phone
        )

    def status_of(self, person: Principal, payment_id: str) -> str:
        return str(self.core.payments.get_payment(person, payment_id).status.value)

    def wallet(self, person: Principal) -> int:
        return int(self.core.wallet.wallet_balance(person).available.minor)


@pytest.fixture(scope="module")
def world(pg_url: str) -> Iterator[World]:
    fakes = {
        "stripe": FakeStripe(),
        "mercadopago": FakeMercadoPago(),
        "mpesa": FakeMpesa(),
        "paystack": FakePaystack(),
        "pesapal": FakePesapal(),
    }
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        for name, fake in fakes.items():
            env.setenv(f"PAYMENTS_{name.upper()}_URL", stack.enter_context(serve(fake)))
        env.setenv("PAYMENTS_PUBLIC_URL", "https://payments.example.test")
        pool = make_pool(pg_url, max_size=4)
        stack.callback(pool.close)
        clock = SystemClock()
        store = PostgresJanitorStore(pool)
        core, _ = wire_core(PostgresUnitOfWorkFactory(pool, clock), clock, janitor_store=store)
        assert core.janitor is not None
        settings = JanitorSettings(pending_after=timedelta(0), first_delay=timedelta(0))
        deps = JanitorDeps(core.deps, store, provider_status_query(core.deps.providers), settings)
        yield World(core, deps, fakes)


def test_the_janitor_asks_each_provider_only_what_its_adapter_can_answer(world):
    status = world.janitor.status
    assert status.covers(CheckKind.CHECKOUT) == {"sandbox", "stripe", "mpesa", "paystack", "pesapal"}
    assert status.covers(CheckKind.PAYMENT) == {"sandbox", "mercadopago", "paystack"}
    assert status.covers(CheckKind.REFUND) == {"sandbox", "mercadopago"}
    assert status.covers(CheckKind.PAYOUT) == {"sandbox"}


def test_a_stripe_checkout_paid_without_a_webhook_is_completed_once(world):
    person = world.shop("stripe", "USD")
    session = world.checkout(person, "25.00", "USD")
    janitor.sweep(world.janitor)
    assert world.status_of(person, session.payment_id) == "pending"  # not paid yet: still pending

    world.fakes["stripe"].complete_session(session.provider_reference)
    janitor.sweep(world.janitor)
    janitor.sweep(world.janitor)

    payment = world.core.payments.get_payment(person, session.payment_id)
    assert payment.status.value == "completed"
    assert world.wallet(person) == payment.amount.minor - payment.fee.minor > 0


def test_stripe_down_leaves_the_checkout_pending(world):
    person = world.shop("stripe", "USD")
    session = world.checkout(person, "30.00", "USD")
    world.fakes["stripe"].complete_session(session.provider_reference)
    world.fakes["stripe"].fail_next(10, status=503)

    janitor.check_due(world.janitor, CheckKind.CHECKOUT)

    assert world.status_of(person, session.payment_id) == "pending"
    assert world.wallet(person) == 0


def test_an_stk_push_is_pending_while_processing_then_completed_or_failed_as_daraja_says(world):
    person = world.shop("mpesa", "KES")
    paid = world.checkout(person, "100.00", "KES", PHONE)
    cancelled = world.checkout(person, "200.00", "KES", PHONE)
    janitor.sweep(world.janitor)
    assert world.status_of(person, paid.payment_id) == "pending"

    world.fakes["mpesa"].finish_push(paid.provider_reference, result_code=0)  # the callback is lost
    world.fakes["mpesa"].finish_push(cancelled.provider_reference, result_code=1032)
    janitor.sweep(world.janitor)

    assert world.status_of(person, paid.payment_id) == "completed"
    assert world.status_of(person, cancelled.payment_id) == "failed"
    assert world.wallet(person) == 9750  # 100.00 KES less 2.5 %


def test_a_paystack_transaction_paid_without_a_webhook_is_completed(world):
    person = world.shop("paystack", "NGN")
    session = world.checkout(person, "5000.00", "NGN")
    world.fakes["paystack"].pay(session.provider_reference)

    janitor.sweep(world.janitor)

    assert world.status_of(person, session.payment_id) == "completed"


def test_a_pesapal_order_is_completed_with_the_amount_pesapal_reports(world):
    person = world.shop("pesapal", "KES")
    session = world.checkout(person, "250.50", "KES", PHONE)
    world.fakes["pesapal"].pay(session.provider_reference)

    janitor.sweep(world.janitor)

    payment = world.core.payments.get_payment(person, session.payment_id)
    assert (payment.status.value, payment.amount) == ("completed", Money.parse("250.50", "KES"))


def test_a_mercadopago_pse_payment_and_its_refund_are_read_from_mercadopago(world):
    person = world.shop("mercadopago", "COP")
    payment = world.core.direct_payments.create_pse_payment(
        person, amount=Money.parse("150000", "COP"), description="Plan", financial_institution="1007",
        payer={"email": "a@example.com", "entity_type": "individual", "first_name": "Maria",
               "last_name": "Garcia", "identification": {"type": "CC", "number": "9876543210"}},
        callback_url="https://shop.example.com/pse/return",
    )  # fmt: skip
    world.fakes["mercadopago"].set_status(payment.provider_reference, "approved", "accredited")

    janitor.sweep(world.janitor)

    assert world.status_of(person, payment.id) == "completed"
    refund = world.core.refunds.create_refund(person, payment.id, Money.parse("50000", "COP"))
    asked = PendingCheck(
        CheckKind.REFUND, person.tenant_id, refund.id, "mercadopago", str(refund.provider_refund_id), True,
        refund.created_at, 1, payment_reference=payment.provider_reference,
    )  # fmt: skip
    verdict = world.janitor.status.status(asked)
    assert verdict is not None
    assert (verdict.type, verdict.amount) == (ProviderEventType.REFUND_SUCCEEDED, Money.parse("50000", "COP"))
    assert world.janitor.status.status(attrs.evolve(asked, reference="999")) is None  # not that payment's
