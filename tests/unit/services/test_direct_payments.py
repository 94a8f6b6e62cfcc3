"""Direct provider payments (seed 001): a card token or a PSE bank transfer, through the sandbox."""

from __future__ import annotations

import attrs
import pytest

from payments_core.errors import DomainError
from payments_core.ledger import Chart
from payments_core.money import Money
from payments_core.services import direct_payments, payments, provider_events
from payments_core.services.provider_events import EventOutcome
from payments_core.states import PaymentStatus
from tests.support.core import make_core

PAYER = {
    "email": "empresa@example.com",
    "entity_type": "individual",
    "first_name": "Maria",
    "last_name": "Garcia",
    "identification": {"type": "CC", "number": "9876543210"},
}
CALLBACK = "https://app.example.com/payment/callback"


def kes(major: str) -> Money:
    return Money.parse(major, "KES")


@pytest.fixture
def core():
    return make_core()


@pytest.fixture
def alice(core):
    return core.user("alice")


def card(core, principal, **overrides):
    values = {
        "amount": kes("1500.00"),
        "description": "Premium Plan Subscription",
        "payment_method_id": "visa",
        "token": "card_token_abc123",
        "payer_email": "user@example.com",
    } | overrides
    return direct_payments.create_card_payment(core.deps, principal, **values)


def pse(core, principal, **overrides):
    values = {
        "amount": kes("2500.00"),
        "description": "Enterprise Plan Payment",
        "payer": PAYER,
        "financial_institution": "1007",
        "callback_url": CALLBACK,
    } | overrides
    return direct_payments.create_pse_payment(core.deps, principal, **values)


def stored_payments(core) -> list:
    return list(core.store.payments.table.rows())


def audit_actions(core, target_id) -> list[str]:
    return [e.action for e in core.store.audit.search(core.tenant.id, None, target_id, 0, 100).items]


def deliver(core, webhook) -> list[EventOutcome]:
    return provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)


def refused_and_nothing_stored(core, call, code, field=None):
    with pytest.raises(DomainError) as raised:
        call()
    assert raised.value.code == code
    if field is not None:
        assert raised.value.details["field"] == field
    assert stored_payments(core) == []
    assert core.store.audit.search(core.tenant.id, None, None, 0, 10).total == 0
    return raised.value


# --- card ---------------------------------------------------------------------------------------


def test_an_approved_card_payment_is_completed_and_credits_the_wallet(core, alice):
    payment = card(core, alice, metadata={"order_id": "order-uuid-123"})

    assert payment.status is PaymentStatus.COMPLETED
    assert (payment.method, payment.provider, payment.livemode) == ("card", "sandbox", False)
    assert payment.provider_reference.startswith("sbx_py_")
    assert payment.status_detail == "accredited"
    assert payment.amount == kes("1500.00")
    assert payment.fee == kes("37.50")
    assert dict(payment.metadata) == {"order_id": "order-uuid-123"}
    assert core.store.payments.get(core.tenant.id, payment.id) == payment
    assert core.wallet() == 150000 - 3750
    assert core.ledger_problems() == []


def test_a_card_payment_is_audited_and_announced(core, alice):
    payment = card(core, alice)
    assert audit_actions(core, payment.id) == ["payment.completed", "payment.created"]
    assert [e.type for e in core.store.outbox.for_tenant(core.tenant.id)] == ["payment.succeeded"]


def test_a_declined_card_gives_a_failed_payment_and_no_money(core, alice):
    payment = card(core, alice, token="tok_declined")

    assert payment.status is PaymentStatus.FAILED
    assert payment.status_detail == "cc_rejected_other_reason"
    assert core.store.payments.get(core.tenant.id, payment.id).status is PaymentStatus.FAILED
    assert core.wallet() == 0
    assert core.store.ledger.entries(core.tenant.id) == []
    assert [e.type for e in core.store.outbox.for_tenant(core.tenant.id)] == ["payment.failed"]


def test_an_api_key_may_create_a_payment_without_mfa(core):
    assert card(core, core.api_key()).status is PaymentStatus.COMPLETED


def test_a_user_without_fresh_mfa_cannot_create_a_payment(core):
    bob = core.user("bob", mfa=False)
    refused_and_nothing_stored(core, lambda: card(core, bob), "MFA_CHALLENGE_REQUIRED")


def test_creating_a_payment_needs_the_write_scope(core):
    reader = core.user("rita", scopes=["payments:read"])
    refused_and_nothing_stored(core, lambda: card(core, reader), "INSUFFICIENT_PERMISSIONS")


def test_an_unavailable_provider_stores_nothing(core, alice):
    core.sandbox.unavailable = True
    refused_and_nothing_stored(core, lambda: card(core, alice), "PROVIDER_UNAVAILABLE")
    assert core.wallet() == 0


def test_live_credentials_use_the_provider_asked_for(core):
    core.deps = attrs.evolve(core.deps, providers={"sandbox": core.sandbox, "mercadopago": core.sandbox})
    live = core.user("lena", livemode=True)
    payment = card(core, live)
    assert (payment.provider, payment.livemode) == ("mercadopago", True)
    clearing = core.store.ledger.account(core.tenant.id, Chart(core.tenant.id).clearing("mercadopago", "KES"))
    assert clearing.debits_posted == 150000
    assert core.ledger_problems() == []


def test_live_credentials_with_an_unconfigured_provider_store_nothing(core):
    live = core.user("lena", livemode=True)
    refused_and_nothing_stored(core, lambda: card(core, live, provider="stripe"), "PROVIDER_UNAVAILABLE")


def test_a_payment_belongs_to_the_callers_tenant_only(core):
    eve = core.user("eve", tenant_id="t2")
    payment = card(core, eve)
    assert payment.tenant_id == "t2"
    with pytest.raises(DomainError) as raised:
        payments.get_payment(core.deps, core.user("alice"), payment.id)
    assert raised.value.code == "RESOURCE_NOT_FOUND"
    assert core.wallet() == 0
    assert core.wallet("t2") == 150000 - 3750


@pytest.mark.parametrize("amount", [Money(0, "KES"), Money(-100, "KES"), 1500, "1500.00", None])
def test_zero_negative_or_non_money_amounts_are_refused(core, alice, amount):
    refused_and_nothing_stored(core, lambda: card(core, alice, amount=amount), "INVALID_AMOUNT")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": ""}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 501}, "description"),
        ({"description": None}, "description"),
        ({"payment_method_id": ""}, "payment_method_id"),
        ({"payment_method_id": None}, "payment_method_id"),
        ({"payment_method_id": "Visa Card"}, "payment_method_id"),
        ({"payment_method_id": "pse"}, "payment_method_id"),
        ({"token": ""}, "token"),
        ({"token": None}, "token"),
        ({"token": "tok with spaces"}, "token"),
        ({"payer_email": "not-an-email"}, "payer.email"),
        ({"payer_email": ""}, "payer.email"),
        ({"payer_email": None}, "payer.email"),
        ({"installments": 0}, "installments"),
        ({"installments": 37}, "installments"),
        ({"installments": "1"}, "installments"),
        ({"installments": True}, "installments"),
        ({"payer": {"nickname": "jd"}}, "payer"),
        ({"payer": "John Doe"}, "payer"),
        ({"payer": {"email": "other@example.com"}}, "payer.email"),
        ({"payer": {"first_name": ""}}, "payer.first_name"),
        (
            {"payer": {"identification": {"type": "PASSPORT", "number": "123456"}}},
            "payer.identification.type",
        ),
        ({"payer": {"identification": {"type": "CC"}}}, "payer.identification.number"),
        ({"provider": "acme"}, "provider"),
        ({"metadata": {"bad": float("nan")}}, "metadata"),
    ],
)
def test_bad_card_input_names_the_field_and_stores_nothing(core, alice, overrides, field):
    refused_and_nothing_stored(core, lambda: card(core, alice, **overrides), "INVALID_PARAMETER", field)


def test_a_500_character_description_and_36_installments_are_accepted(core, alice):
    payment = card(core, alice, description="x" * 500, installments=36)
    assert payment.status is PaymentStatus.COMPLETED


def test_a_card_payer_may_carry_names_and_identification(core, alice):
    payer = {
        "first_name": "John",
        "last_name": "Doe",
        "identification": {"type": "NIT", "number": "900123456-7"},
    }
    assert card(core, alice, payer=payer).status is PaymentStatus.COMPLETED


# --- PSE ----------------------------------------------------------------------------------------


def test_a_pse_payment_starts_pending_with_the_banks_redirect(core, alice):
    payment = pse(core, alice)
    assert payment.status is PaymentStatus.PENDING
    assert payment.method == "pse"
    assert payment.status_detail == "pending_waiting_transfer"
    assert payment.external_resource_url.endswith(payment.provider_reference)
    assert core.wallet() == 0
    assert audit_actions(core, payment.id) == ["payment.created"]


def test_a_pse_payment_is_completed_by_the_providers_event(core, alice):
    payment = pse(core, alice)
    assert deliver(core, core.sandbox.complete_payment(payment.provider_reference)) == [EventOutcome.APPLIED]
    done = core.store.payments.get(core.tenant.id, payment.id)
    assert done.status is PaymentStatus.COMPLETED
    assert core.wallet() == 250000 - 6250
    assert core.ledger_problems() == []


def test_a_pse_payment_is_failed_by_the_providers_event(core, alice):
    payment = pse(core, alice)
    deliver(core, core.sandbox.fail_payment(payment.provider_reference))
    assert core.store.payments.get(core.tenant.id, payment.id).status is PaymentStatus.FAILED
    assert core.wallet() == 0


def test_a_pse_payment_in_live_mode_goes_to_mercadopago(core):
    core.deps = attrs.evolve(core.deps, providers={"sandbox": core.sandbox, "mercadopago": core.sandbox})
    payment = pse(core, core.user("lena", livemode=True))
    assert payment.provider == "mercadopago"


def without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": ""}, "description"),
        ({"payer": None}, "payer"),
        ({"payer": without(PAYER, "email")}, "payer.email"),
        ({"payer": PAYER | {"email": "nope"}}, "payer.email"),
        ({"payer": without(PAYER, "entity_type")}, "payer.entity_type"),
        ({"payer": PAYER | {"entity_type": "company"}}, "payer.entity_type"),
        ({"payer": without(PAYER, "first_name")}, "payer.first_name"),
        ({"payer": without(PAYER, "last_name")}, "payer.last_name"),
        ({"payer": without(PAYER, "identification")}, "payer.identification"),
        ({"payer": PAYER | {"identification": {"type": "XX", "number": "1"}}}, "payer.identification.type"),
        ({"payer": PAYER | {"identification": {"type": "CC"}}}, "payer.identification.number"),
        ({"payer": PAYER | {"phone": "1"}}, "payer"),
        ({"financial_institution": ""}, "transaction_details.financial_institution"),
        ({"financial_institution": "Bancolombia"}, "transaction_details.financial_institution"),
        ({"financial_institution": None}, "transaction_details.financial_institution"),
        ({"callback_url": "ftp://app.example.com/cb"}, "callback_url"),
        ({"callback_url": "http://app.example.com/cb"}, "callback_url"),
        ({"callback_url": None}, "callback_url"),
    ],
)
def test_bad_pse_input_names_the_field_and_stores_nothing(core, alice, overrides, field):
    refused_and_nothing_stored(core, lambda: pse(core, alice, **overrides), "INVALID_PARAMETER", field)


def test_a_pse_payment_with_a_zero_amount_is_refused(core, alice):
    refused_and_nothing_stored(core, lambda: pse(core, alice, amount=Money(0, "KES")), "INVALID_AMOUNT")


def test_a_pse_payment_needs_the_write_scope_and_fresh_mfa(core):
    refused_and_nothing_stored(
        core, lambda: pse(core, core.user("rita", scopes=["payments:read"])), "INSUFFICIENT_PERMISSIONS"
    )
    refused_and_nothing_stored(core, lambda: pse(core, core.user("bob", mfa=False)), "MFA_CHALLENGE_REQUIRED")
