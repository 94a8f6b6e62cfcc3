"""Order checkout (seed 002): the provider asked for or preferred, the customer's phone, test mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from adapters.providers.sandbox import SandboxProvider
from payments_core.errors import DomainError
from payments_core.model.customers import CustomerPreferences, SavedMethod
from payments_core.model.payments import CheckoutSession, Payment
from payments_core.money import Money
from payments_core.policies import Scope
from payments_core.services import orders, provider_events
from payments_core.services.context import Deps
from payments_core.services.provider_events import EventOutcome
from payments_core.services.tenants import create_tenant
from payments_core.states import CheckoutSessionStatus
from tests.support.core import T0, Core, make_core

KES_1000 = Money(100000, "KES")
PHONE = "254712345678"


@pytest.fixture
def core() -> Core:
    """t1 and t2 accept the sandbox only; t3 accepts M-Pesa, Paystack and Pesapal."""
    core = make_core()
    create_tenant(core.deps, "t3", "Tenant Three", "KES", ("mpesa", "paystack", "pesapal"))
    return core


def order(core: Core, deps: Deps | None = None, **changes: Any) -> CheckoutSession:
    args: dict[str, Any] = {"order_id": "order_42", "customer_id": "cust_1", "amount": KES_1000} | changes
    principal = args.pop("principal", None) or core.user("alice", tenant_id="t3")
    return orders.checkout_order(deps or core.deps, principal, **args)


def save_preferences(
    core: Core, tenant_id: str = "t3", preferred: str | None = None, methods: tuple[SavedMethod, ...] = ()
) -> None:
    with core.deps.uow() as uow:
        uow.customers.save(CustomerPreferences(tenant_id, "cust_1", preferred, methods, T0))
        uow.commit()


def saved(provider: str, is_default: bool = False, **details: str) -> SavedMethod:
    return SavedMethod(f"pm_{provider}", provider, details, T0, is_default)


def payment_of(core: Core, session: CheckoutSession) -> Payment:
    payment = core.store.payments.get(session.tenant_id, session.payment_id)
    assert payment is not None
    return payment


def counts(core: Core) -> dict[str, int]:
    tables: dict[str, Any] = {
        "sessions": core.store.sessions,
        "payments": core.store.payments,
        "audit": core.store.audit,
    }
    return {name: len(list(repo.table.rows())) for name, repo in tables.items()}


def raises_code(code: str, call: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


def test_an_order_checkout_is_a_session_for_the_order(core: Core) -> None:
    session = order(core, principal=core.user("alice"))

    assert session.status is CheckoutSessionStatus.PENDING
    assert (session.tenant_id, session.reference, session.customer_id) == ("t1", "order_42", "cust_1")
    assert (session.amount, session.provider, session.selected_payment_method) == (
        KES_1000,
        "sandbox",
        "sandbox",
    )
    assert payment_of(core, session).customer_id == "cust_1"
    assert core.store.audit.search("t1", "checkout.session.created", session.id, 0, 1).total == 1


def test_without_preferences_the_tenants_first_provider_is_chosen(core: Core) -> None:
    session = order(core)

    assert session.selected_payment_method == "mpesa"
    assert session.provider == "sandbox"  # test mode always reaches the sandbox


def test_the_default_saved_method_comes_before_the_preferred_provider(core: Core) -> None:
    save_preferences(
        core, preferred="paystack", methods=(saved("pesapal"), saved("mpesa", True, phone_number=PHONE))
    )

    session = order(core)

    assert session.selected_payment_method == "mpesa"
    assert session.method_types == ("mpesa",)
    assert session.client_phone_number == PHONE
    assert payment_of(core, session).method == "mpesa"


def test_the_preferred_provider_is_used_when_no_method_is_default(core: Core) -> None:
    save_preferences(core, preferred="pesapal", methods=(saved("mpesa", phone_number=PHONE),))

    session = order(core)

    assert session.selected_payment_method == "pesapal"
    assert session.client_phone_number is None
    assert payment_of(core, session).method == "card"


def test_a_preference_the_tenant_no_longer_accepts_is_skipped(core: Core) -> None:
    save_preferences(core, preferred="stripe", methods=(saved("mercadopago", True),))

    assert order(core).selected_payment_method == "mpesa"


def test_a_requested_provider_wins_over_preferences(core: Core) -> None:
    save_preferences(core, preferred="pesapal", methods=(saved("mpesa", True, phone_number=PHONE),))

    session = order(core, provider="paystack")

    assert session.selected_payment_method == "paystack"
    assert session.client_phone_number is None


def test_the_phone_number_in_the_request_beats_the_saved_one(core: Core) -> None:
    save_preferences(core, methods=(saved("mpesa", True, phone_number=PHONE),))

    session = order(core, provider="mpesa", method_details={"phone_number": "254798765432"})

    assert session.client_phone_number == "254798765432"


def test_another_tenants_customer_preferences_are_not_used(core: Core) -> None:
    save_preferences(core, tenant_id="t1", preferred="pesapal")

    assert order(core).selected_payment_method == "mpesa"


def test_a_live_order_reaches_the_chosen_provider(core: Core) -> None:
    mpesa = SandboxProvider(core.clock, signing_secret="whsec_mpesa")
    deps = attrs.evolve(core.deps, providers={"sandbox": core.sandbox, "mpesa": mpesa})
    live = core.user("alice", tenant_id="t3", livemode=True)

    session = order(core, deps, principal=live, method_details={"phone_number": PHONE})

    assert (session.provider, session.livemode, session.client_phone_number) == ("mpesa", True, PHONE)


def test_a_live_order_refuses_the_sandbox_when_the_tenant_does_not_accept_it(core: Core) -> None:
    live = core.user("alice", tenant_id="t3", livemode=True)

    error = raises_code("INVALID_PARAMETER", lambda: order(core, principal=live, provider="sandbox"))

    assert error.details["allowedValues"] == ["mpesa", "paystack", "pesapal"]


def test_a_test_order_may_ask_for_the_sandbox(core: Core) -> None:
    assert order(core, provider="sandbox").selected_payment_method == "sandbox"


@pytest.mark.parametrize("provider", ["stripe", "paypal", "", 3])
def test_a_provider_the_tenant_does_not_accept_is_refused(core: Core, provider: Any) -> None:
    before = counts(core)

    error = raises_code("INVALID_PARAMETER", lambda: order(core, provider=provider))

    assert error.details["field"] == "provider"
    assert counts(core) == before


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"amount": Money(0, "KES")}, "INVALID_AMOUNT", "amount"),
        ({"amount": Money(-1, "KES")}, "INVALID_AMOUNT", "amount"),
        ({"amount": "1000.00"}, "INVALID_AMOUNT", "amount"),
        ({"amount": Money(100000, "USD")}, "CURRENCY_MISMATCH", "amount"),
        ({"order_id": ""}, "INVALID_PARAMETER", "order_id"),
        ({"order_id": "o" * 201}, "INVALID_PARAMETER", "order_id"),
        ({"customer_id": "c" * 129}, "INVALID_PARAMETER", "customer_id"),
        ({"customer_id": None}, "INVALID_PARAMETER", "customer_id"),
        ({"method_details": ["254712345678"]}, "INVALID_PARAMETER", "method_details"),
        ({"method_details": {"phone_number": 254712345678}}, "INVALID_PARAMETER", "method_details"),
        ({"method_details": {"note": "n" * 257}}, "INVALID_PARAMETER", "method_details"),
        (
            {"method_details": {"phone_number": "+254 712 345678"}},
            "INVALID_PARAMETER",
            "method_details.phone_number",
        ),
        ({"idempotency_key": "k" * 256}, "INVALID_PARAMETER", "idempotencyKey"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    core: Core, changes: dict[str, Any], code: str, field: str
) -> None:
    before = counts(core)

    error = raises_code(code, lambda: order(core, **changes))

    assert error.details["field"] == field
    assert counts(core) == before


def test_an_order_checkout_accepts_the_conversations_scope_and_needs_no_mfa(core: Core) -> None:
    agent = core.user("agent", scopes=[Scope.CONVERSATIONS_VIEW], tenant_id="t3", mfa=False)

    assert order(core, principal=agent).status is CheckoutSessionStatus.PENDING


def test_an_order_checkout_needs_a_payments_or_conversations_scope(core: Core) -> None:
    finance = core.user("fin", scopes=[Scope.FINANCE_VIEW], tenant_id="t3")

    raises_code("INSUFFICIENT_PERMISSIONS", lambda: order(core, principal=finance))


def test_the_same_key_and_order_returns_the_first_checkout(core: Core) -> None:
    first = order(core, idempotency_key="order_42-1")

    again = order(core, idempotency_key="order_42-1")

    assert again == first
    assert counts(core)["sessions"] == 1


@pytest.mark.parametrize("changes", [{"amount": Money(100001, "KES")}, {"provider": "paystack"}])
def test_the_same_key_for_another_order_is_a_conflict(core: Core, changes: dict[str, Any]) -> None:
    order(core, idempotency_key="order_42-1")

    raises_code("IDEMPOTENCY_CONFLICT", lambda: order(core, idempotency_key="order_42-1", **changes))

    assert counts(core)["sessions"] == 1


def test_a_paid_order_credits_the_wallet(core: Core) -> None:
    session = order(core, principal=core.user("alice"))
    webhook = core.sandbox.complete_checkout(session.provider_reference)

    outcomes = provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)

    assert outcomes == [EventOutcome.APPLIED]
    assert core.wallet() == 97500
    assert core.ledger_problems() == []
