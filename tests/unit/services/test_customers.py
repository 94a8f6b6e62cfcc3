"""Customer payment preferences and checkout options (seed 002)."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from payments_core.errors import DomainError
from payments_core.money import Money
from payments_core.policies import Scope
from payments_core.services import customers
from payments_core.services.tenants import create_tenant
from tests.support.core import make_core

CUSTOMER = "123e4567-e89b-12d3-a456-426614174000"
PROVIDERS = ("mpesa", "paystack", "pesapal", "stripe", "sandbox")
MPESA = {"phone_number": "254712345678"}
PAYSTACK = {"authorization_code": "AUTH_abc123", "last4": "1234", "bank": "Access Bank"}
PESAPAL = {"payment_method": "card", "last4": "1234"}
STRIPE = {"payment_method_id": "pm_1MqLiJLkdIwHu7ix", "last4": "4242", "brand": "visa"}


@pytest.fixture
def core():
    core = make_core()
    create_tenant(core.deps, "t3", "Tenant Three", "KES", providers=PROVIDERS)
    return core


@pytest.fixture
def carol(core):
    """A person of t3, whose customers may pay through every provider of the seed."""
    return core.user("carol", [Scope.CONVERSATIONS_VIEW.value], tenant_id="t3")


def refused(code: str, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, repr(caught.value)
    return caught.value


def save(core, principal, provider="mpesa", details=MPESA, customer_id=CUSTOMER, **kwargs):
    return customers.save_payment_method(core.deps, principal, customer_id, provider, details, **kwargs)


def stored(core, customer_id=CUSTOMER, tenant_id="t3"):
    return core.store.customers.get(tenant_id, customer_id)


def kes(major: str) -> Money:
    return Money.parse(major, "KES")


# --- reading -------------------------------------------------------------------------------------


def test_a_customer_never_seen_has_empty_preferences(core, carol):
    view = customers.get_preferences(core.deps, carol, CUSTOMER)
    assert view == customers.PreferencesView(CUSTOMER, None, (), PROVIDERS)
    assert stored(core) is None


def test_reading_preferences_needs_conversations_view(core):
    viewer = core.user("eve", [Scope.FINANCE_VIEW.value], tenant_id="t3")
    refused("INSUFFICIENT_PERMISSIONS", customers.get_preferences, core.deps, viewer, CUSTOMER)


@pytest.mark.parametrize("customer_id", ["", "c" * 129, " padded ", "tab\there", 42, None])
def test_bad_customer_ids_are_refused(core, carol, customer_id):
    error = refused("INVALID_PARAMETER", customers.get_preferences, core.deps, carol, customer_id)
    assert error.details["field"] == "customer_id"


def test_a_customer_id_of_128_characters_is_accepted(core, carol):
    assert customers.get_preferences(core.deps, carol, "c" * 128).customer_id == "c" * 128


# --- preferred provider --------------------------------------------------------------------------


def test_setting_the_preferred_provider_creates_the_preferences(core, carol):
    view = customers.set_preferred_provider(core.deps, carol, CUSTOMER, "mpesa")
    assert view.preferred_provider == "mpesa"
    assert stored(core).preferred_provider == "mpesa"
    assert stored(core).updated_at == core.clock.now()


@pytest.mark.parametrize("provider", ["paypal", "mercadopago", "", None])
def test_a_provider_the_tenant_does_not_offer_is_refused(core, carol, provider):
    error = refused(
        "INVALID_PARAMETER", customers.set_preferred_provider, core.deps, carol, CUSTOMER, provider
    )
    assert error.details["allowedValues"] == list(PROVIDERS)
    assert stored(core) is None


def test_setting_the_preferred_provider_is_audited(core, carol):
    customers.set_preferred_provider(core.deps, carol, CUSTOMER, "stripe")
    with core.deps.uow() as uow:
        page = uow.audit.search("t3", "customer.preferred_provider.updated", CUSTOMER, 0, 10)
    assert [(e.actor_id, e.details["provider"]) for e in page.items] == [("carol", "stripe")]


def test_writing_preferences_needs_conversations_view(core):
    reader = core.user("eve", [Scope.PAYMENTS_READ.value], tenant_id="t3")
    refused(
        "INSUFFICIENT_PERMISSIONS", customers.set_preferred_provider, core.deps, reader, CUSTOMER, "mpesa"
    )
    assert stored(core) is None


# --- saving methods ------------------------------------------------------------------------------


def test_the_first_saved_method_becomes_the_default(core, carol):
    view = save(core, carol)
    (method,) = view.saved_methods
    assert (method.provider, dict(method.details), method.is_default) == ("mpesa", MPESA, True)
    assert method.id.startswith("pm_")
    assert method.saved_at == core.clock.now()
    assert stored(core).saved_methods == view.saved_methods


@pytest.mark.parametrize(
    ("provider", "details"),
    [
        ("mpesa", MPESA),
        ("paystack", PAYSTACK),
        ("paystack", {"authorization_code": "AUTH_xyz", "last4": "9876"}),
        ("pesapal", PESAPAL),
        ("pesapal", {"payment_method": "mpesa"}),
        ("stripe", STRIPE),
        ("stripe", {"payment_method_id": "pm_card_visa"}),
        ("sandbox", {"phone_number": "254712345678"}),
        ("sandbox", {"last4": "4242"}),
    ],
)
def test_each_providers_details_of_the_seed_are_accepted(core, carol, provider, details):
    (method,) = save(core, carol, provider, details).saved_methods
    assert dict(method.details) == details


@pytest.mark.parametrize(
    ("provider", "details", "field"),
    [
        ("mpesa", {"phone_number": "+254 712 345 678"}, "details.phone_number"),
        ("mpesa", {"phone_number": "0712"}, "details.phone_number"),
        ("mpesa", {"phone": "254712345678"}, "details"),
        ("mpesa", {}, "details"),
        ("paystack", {"authorization_code": "abc123", "last4": "1234"}, "details.authorization_code"),
        ("paystack", {"authorization_code": "AUTH_abc", "last4": "123"}, "details.last4"),
        ("paystack", {"authorization_code": "AUTH_abc"}, "details.last4"),
        ("pesapal", {"last4": "1234"}, "details.payment_method"),
        ("stripe", {"payment_method_id": "card_123"}, "details.payment_method_id"),
        ("stripe", {"payment_method_id": "pm_x", "cvc": "123"}, "details"),
        ("sandbox", {"last4": "42"}, "details.last4"),
        ("sandbox", {"token": "x"}, "details"),
    ],
)
def test_bad_details_are_refused_and_nothing_is_saved(core, carol, provider, details, field):
    error = refused("INVALID_PARAMETER", save, core, carol, provider, details)
    assert error.details["field"] == field
    assert stored(core) is None


@pytest.mark.parametrize("details", [None, "254712345678", {"phone_number": 254712345678}, {1: "x"}])
def test_details_of_the_wrong_type_are_refused(core, carol, details):
    refused("INVALID_PARAMETER", save, core, carol, "mpesa", details)
    assert stored(core) is None


@pytest.mark.parametrize(
    ("provider", "details", "field"),
    [
        (
            "paystack",
            {"authorization_code": "AUTH_abc", "last4": "1111", "bank": "4111 1111 1111 1111"},
            "bank",
        ),
        (
            "paystack",
            {"authorization_code": "AUTH_abc", "last4": "1111", "bank": "Bank 4111.1111.1111"},
            "bank",
        ),
        ("stripe", {"payment_method_id": "pm_x", "brand": "4111111111111111"}, "brand"),
        ("pesapal", {"payment_method": "card", "last4": "5555555555554444"}, "last4"),
        ("sandbox", {"last4": "378282246310005"}, "last4"),
    ],
)
def test_a_card_number_is_never_stored(core, carol, provider, details, field):
    error = refused("INVALID_PARAMETER", save, core, carol, provider, details)
    assert error.details["field"] == f"details.{field}"
    assert "card number" in error.message
    assert stored(core) is None


@pytest.mark.parametrize("key", ["card_number", "pan", "number"])
def test_a_card_number_under_a_key_of_its_own_is_refused_too(core, carol, key):
    details = {"payment_method_id": "pm_x", key: "4111-1111-1111-1111"}
    error = refused("INVALID_PARAMETER", save, core, carol, "stripe", details)
    assert error.details["unexpected"] == [key]
    assert stored(core) is None


def test_a_method_of_a_provider_the_tenant_does_not_offer_is_refused(core):
    only_sandbox = core.user("alice")
    refused("INVALID_PARAMETER", save, core, only_sandbox, "mpesa", MPESA)
    assert stored(core, tenant_id="t1") is None


def test_saving_the_same_method_again_updates_it(core, carol):
    first = save(core, carol).saved_methods[0]
    save(core, carol, "stripe", STRIPE)
    core.clock.advance(timedelta(hours=1))
    methods = save(core, carol).saved_methods
    assert [m.provider for m in methods] == ["stripe", "mpesa"]
    again = methods[1]
    assert again.id == first.id
    assert again.saved_at == core.clock.now()
    assert again.is_default


def test_set_as_default_makes_it_the_only_default(core, carol):
    save(core, carol)
    methods = save(core, carol, "stripe", STRIPE, set_as_default=True).saved_methods
    assert [(m.provider, m.is_default) for m in methods] == [("mpesa", False), ("stripe", True)]


def test_a_later_method_does_not_take_the_default_unasked(core, carol):
    save(core, carol)
    methods = save(core, carol, "stripe", STRIPE).saved_methods
    assert [(m.provider, m.is_default) for m in methods] == [("mpesa", True), ("stripe", False)]


def test_set_as_default_must_be_a_boolean(core, carol):
    refused("INVALID_PARAMETER", save, core, carol, set_as_default="yes")
    assert stored(core) is None


def test_a_customer_keeps_at_most_20_methods(core, carol):
    for n in range(20):
        save(core, carol, "sandbox", {"last4": f"{n:04d}"})
    refused("INVALID_OPERATION", save, core, carol, "sandbox", {"last4": "9999"})
    assert len(stored(core).saved_methods) == 20
    assert len(save(core, carol, "sandbox", {"last4": "0005"}).saved_methods) == 20


def test_saving_is_audited_without_the_details(core, carol):
    method = save(core, carol).saved_methods[0]
    with core.deps.uow() as uow:
        (audited,) = uow.audit.search("t3", "customer.payment_method.saved", CUSTOMER, 0, 10).items
    assert dict(audited.details) == {"provider": "mpesa", "methodId": method.id}


# --- removing and choosing the default -----------------------------------------------------------


def test_removing_the_default_passes_it_to_the_most_recently_saved(core, carol):
    mpesa = save(core, carol).saved_methods[0]
    save(core, carol, "stripe", STRIPE)
    save(core, carol, "paystack", PAYSTACK)
    view = customers.remove_payment_method(core.deps, carol, CUSTOMER, mpesa.id)
    assert [(m.provider, m.is_default) for m in view.saved_methods] == [("stripe", False), ("paystack", True)]
    assert stored(core).saved_methods == view.saved_methods


def test_removing_a_method_that_is_not_the_default_keeps_the_default(core, carol):
    save(core, carol)
    stripe = save(core, carol, "stripe", STRIPE).saved_methods[1]
    view = customers.remove_payment_method(core.deps, carol, CUSTOMER, stripe.id)
    assert [(m.provider, m.is_default) for m in view.saved_methods] == [("mpesa", True)]


def test_removing_the_last_method_leaves_no_default(core, carol):
    mpesa = save(core, carol).saved_methods[0]
    view = customers.remove_payment_method(core.deps, carol, CUSTOMER, mpesa.id)
    assert view.saved_methods == ()
    assert save(core, carol, "stripe", STRIPE).saved_methods[0].is_default


def test_removing_an_unknown_method_is_not_found(core, carol):
    save(core, carol)
    refused("RESOURCE_NOT_FOUND", customers.remove_payment_method, core.deps, carol, CUSTOMER, "pm_missing")
    refused("RESOURCE_NOT_FOUND", customers.remove_payment_method, core.deps, carol, "nobody", "pm_missing")
    assert len(stored(core).saved_methods) == 1


def test_setting_the_default_method(core, carol):
    save(core, carol)
    stripe = save(core, carol, "stripe", STRIPE).saved_methods[1]
    view = customers.set_default_method(core.deps, carol, CUSTOMER, stripe.id)
    assert [(m.provider, m.is_default) for m in view.saved_methods] == [("mpesa", False), ("stripe", True)]
    assert stored(core).default_method == view.saved_methods[1]


def test_setting_an_unknown_default_method_is_not_found(core, carol):
    save(core, carol)
    refused("RESOURCE_NOT_FOUND", customers.set_default_method, core.deps, carol, CUSTOMER, "pm_missing")
    assert stored(core).default_method.provider == "mpesa"


def test_removing_and_choosing_need_conversations_view(core, carol):
    method = save(core, carol).saved_methods[0]
    viewer = core.user("eve", [Scope.FINANCE_VIEW.value], tenant_id="t3")
    refused(
        "INSUFFICIENT_PERMISSIONS", customers.remove_payment_method, core.deps, viewer, CUSTOMER, method.id
    )
    refused("INSUFFICIENT_PERMISSIONS", customers.set_default_method, core.deps, viewer, CUSTOMER, method.id)
    assert len(stored(core).saved_methods) == 1


# --- tenant isolation ----------------------------------------------------------------------------


def test_another_tenant_sees_none_of_a_customers_preferences(core, carol):
    save(core, carol)
    customers.set_preferred_provider(core.deps, carol, CUSTOMER, "mpesa")
    view = customers.get_preferences(core.deps, core.user("zed", tenant_id="t2"), CUSTOMER)
    assert (view.preferred_provider, view.saved_methods) == (None, ())


def test_another_tenant_cannot_touch_a_customers_methods(core, carol):
    method = save(core, carol).saved_methods[0]
    zed = core.user("zed", tenant_id="t2")
    refused("RESOURCE_NOT_FOUND", customers.remove_payment_method, core.deps, zed, CUSTOMER, method.id)
    refused("RESOURCE_NOT_FOUND", customers.set_default_method, core.deps, zed, CUSTOMER, method.id)
    assert stored(core).saved_methods[0] == method


def test_one_customers_preferences_are_not_anothers(core, carol):
    save(core, carol)
    assert customers.get_preferences(core.deps, carol, "someone-else").saved_methods == ()


# --- checkout options ----------------------------------------------------------------------------


def test_checkout_options_offer_the_default_method(core, carol):
    customers.set_preferred_provider(core.deps, carol, CUSTOMER, "mpesa")
    save(core, carol)
    save(core, carol, "stripe", STRIPE)
    options = customers.checkout_options(core.deps, carol, CUSTOMER, kes("1000.00"))
    assert options.preferred_provider == "mpesa"
    assert options.preferred_method.provider == "mpesa"
    assert options.available_providers == PROVIDERS
    assert [m.provider for m in options.saved_methods] == ["mpesa", "stripe"]
    assert options.can_change_provider is True
    assert options.amount == kes("1000.00")


def test_checkout_options_for_a_new_customer_have_no_preference(core, carol):
    options = customers.checkout_options(core.deps, carol, CUSTOMER, kes("1000.00"))
    assert (options.preferred_provider, options.preferred_method, options.saved_methods) == (None, None, ())
    assert options.available_providers == PROVIDERS


def test_checkout_options_leave_out_providers_the_tenant_no_longer_offers(core, carol):
    customers.set_preferred_provider(core.deps, carol, CUSTOMER, "mpesa")
    save(core, carol, "stripe", STRIPE)
    save(core, carol)
    with core.deps.uow() as uow:
        tenant = uow.tenants.get("t3")
        uow.tenants.update(attrs.evolve(tenant, providers=("mpesa", "sandbox")))
        uow.commit()
    options = customers.checkout_options(core.deps, carol, CUSTOMER, kes("1000.00"))
    assert [m.provider for m in options.saved_methods] == ["mpesa"]
    assert options.preferred_method.provider == "mpesa"
    assert not options.preferred_method.is_default


@pytest.mark.parametrize("amount", ["0", "-1.00"])
def test_checkout_options_refuse_zero_and_negative_amounts(core, carol, amount):
    refused("INVALID_AMOUNT", customers.checkout_options, core.deps, carol, CUSTOMER, kes(amount))


def test_checkout_options_refuse_another_currency(core, carol):
    usd = Money.parse("10.00", "USD")
    refused("CURRENCY_MISMATCH", customers.checkout_options, core.deps, carol, CUSTOMER, usd)


def test_checkout_options_refuse_an_amount_that_is_not_money(core, carol):
    refused("INVALID_PARAMETER", customers.checkout_options, core.deps, carol, CUSTOMER, 1000.0)


def test_checkout_options_need_conversations_view(core):
    payer = core.user("eve", [Scope.PAYMENTS_WRITE.value], tenant_id="t3")
    refused("INSUFFICIENT_PERMISSIONS", customers.checkout_options, core.deps, payer, CUSTOMER, kes("10.00"))


def test_an_api_key_with_the_scope_may_manage_preferences(core):
    key = core.api_key("key_bot", [Scope.CONVERSATIONS_VIEW.value], tenant_id="t3")
    view = save(core, key)
    assert view.saved_methods[0].provider == "mpesa"
