"""Seed 002 over HTTP: customers' payment preferences, checkout options and order checkout."""

import time
import uuid

import pytest

from tests.support.http import TenantHandle, error_code

VIEW = ["conversations:view"]
OTHER = ["finance:view", "payments:read"]
JSON = {"Content-Type": "application/json"}
SEED_PROVIDERS = ("mpesa", "paystack", "pesapal")
MPESA = {"provider": "mpesa", "details": {"phone_number": "254712345678"}}
PAYSTACK = {
    "provider": "paystack",
    "details": {"authorization_code": "AUTH_abc", "last4": "1234", "bank": "Access"},
}


def kenyan_tenant(api):
    """A KES tenant offering the seed's providers (test mode: checkouts still reach the sandbox)."""
    tenant_id = f"ten_{uuid.uuid4().hex[:12]}"
    api.core.tenants.create_tenant(tenant_id, "Duka", "KES", providers=SEED_PROVIDERS, livemode=False)
    return TenantHandle(api, tenant_id, "KES")


def customer():
    return f"cus-{uuid.uuid4().hex[:8]}"


def saved(api, tenant, customer_id):
    """The stored preferences, read through the core: what a refused request must leave alone."""
    view = api.core.customers.get_preferences(tenant.principal(), customer_id)
    return view.preferred_provider, [
        (m.id, m.provider, dict(m.details), m.is_default) for m in view.saved_methods
    ]


def save(api, tenant, customer_id, body, **headers):
    return api.post(
        f"/customers/{customer_id}/payment-methods", json=body, headers=tenant.headers(scopes=VIEW, **headers)
    )


def payments_of(api, tenant):
    found = api.core.payments.list_payments(tenant.principal(), 1, 100, None, None, None)
    return [(p.id, p.amount.minor, p.status.value) for p in found.items]


# --- preferences --------------------------------------------------------------------------------


def test_a_customer_never_seen_has_empty_preferences(api):
    acme = kenyan_tenant(api)
    response = api.get(f"/customers/{customer()}/payment-preferences", headers=acme.headers(scopes=VIEW))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "preferred_provider": None,
        "saved_methods": [],
        "available_providers": ["mpesa", "paystack", "pesapal"],
    }


def test_save_a_method_then_read_it_back_with_the_seed_fields(api):
    acme, customer_id = kenyan_tenant(api), customer()
    response = save(api, acme, customer_id, {**MPESA, "set_as_default": True})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"] == "Payment method saved successfully"
    (method,) = body["preferences"]["saved_methods"]
    assert method["provider"] == "mpesa" and method["details"] == {"phone_number": "254712345678"}
    assert method["is_default"] is True and method["saved_at"].endswith("Z") and method["id"]
    read = api.get(f"/customers/{customer_id}/payment-preferences", headers=acme.headers(scopes=VIEW))
    assert read.json() == body["preferences"]


def test_set_the_preferred_provider(api):
    acme, customer_id = kenyan_tenant(api), customer()
    response = api.put(
        f"/customers/{customer_id}/preferred-provider",
        json={"provider": "paystack"},
        headers=acme.headers(scopes=VIEW),
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Preferred provider updated successfully"
    assert response.json()["preferences"]["preferred_provider"] == "paystack"
    assert saved(api, acme, customer_id) == ("paystack", [])


@pytest.mark.parametrize(
    "body", [{"provider": "stripe"}, {"provider": ""}, {"provider": 7}, {}, {"provider": "x" * 65}]
)
def test_a_provider_the_tenant_does_not_offer_is_refused(api, body):
    acme, customer_id = kenyan_tenant(api), customer()
    api.put(
        f"/customers/{customer_id}/preferred-provider",
        json={"provider": "mpesa"},
        headers=acme.headers(scopes=VIEW),
    )
    before = saved(api, acme, customer_id)
    response = api.put(
        f"/customers/{customer_id}/preferred-provider", json=body, headers=acme.headers(scopes=VIEW)
    )
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert saved(api, acme, customer_id) == before


def test_move_the_default_then_remove_it(api):
    acme, customer_id = kenyan_tenant(api), customer()
    mpesa_id = save(api, acme, customer_id, MPESA).json()["preferences"]["saved_methods"][0]["id"]
    paystack_id = save(api, acme, customer_id, PAYSTACK).json()["preferences"]["saved_methods"][1]["id"]
    assert [m[3] for m in saved(api, acme, customer_id)[1]] == [True, False]  # the first one saved

    moved = api.put(
        f"/customers/{customer_id}/payment-methods/{paystack_id}/default", headers=acme.headers(scopes=VIEW)
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["message"] == "Default payment method updated successfully"
    defaults = {m["id"]: m["is_default"] for m in moved.json()["preferences"]["saved_methods"]}
    assert defaults == {mpesa_id: False, paystack_id: True}

    removed = api.delete(
        f"/customers/{customer_id}/payment-methods/{paystack_id}", headers=acme.headers(scopes=VIEW)
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["message"] == "Payment method removed successfully"
    assert [(m["id"], m["is_default"]) for m in removed.json()["preferences"]["saved_methods"]] == [
        (mpesa_id, True)
    ]
    missing = api.delete(
        f"/customers/{customer_id}/payment-methods/{paystack_id}", headers=acme.headers(scopes=VIEW)
    )
    assert missing.status_code == 404 and error_code(missing) == "RESOURCE_NOT_FOUND"


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "paystack", "details": {"authorization_code": "AUTH_abc", "last4": "4242424242424242"}},
        {"provider": "mpesa", "details": {"phone_number": "254712345678", "pin": "1234"}},
        {"provider": "mpesa", "details": {"phone_number": "07-12"}},
        {"provider": "mpesa", "details": {"phone_number": 254712345678}},
        {"provider": "mpesa", "details": "254712345678"},
        {"provider": "mpesa", "details": {}},
        {"provider": "mpesa", "details": {"phone_number": "2" * 257}},
        {**MPESA, "set_as_default": "yes"},
        {"provider": "stripe", "details": {"payment_method_id": "pm_1"}},
        {"details": {"phone_number": "254712345678"}},
    ],
)
def test_bad_methods_are_refused_and_nothing_is_saved(api, body):
    acme, customer_id = kenyan_tenant(api), customer()
    save(api, acme, customer_id, PAYSTACK)
    before = saved(api, acme, customer_id)
    response = save(api, acme, customer_id, body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert saved(api, acme, customer_id) == before


def test_malformed_json_and_an_over_long_customer_id_are_refused(api):
    acme, customer_id = kenyan_tenant(api), customer()
    malformed = api.post(
        f"/customers/{customer_id}/payment-methods",
        content='{"provider": "mpesa",',
        headers=acme.headers(scopes=VIEW, **JSON),
    )
    assert malformed.status_code == 400 and error_code(malformed) == "INVALID_PARAMETER"
    assert saved(api, acme, customer_id) == (None, [])
    long_id = "c" * 129
    too_long = save(api, acme, long_id, MPESA)
    assert too_long.status_code == 400 and error_code(too_long) == "INVALID_PARAMETER"
    assert too_long.json()["error"]["details"]["field"] == "customer_id"


def test_saving_replays_for_the_same_key_and_refuses_another_body(api):
    acme, customer_id = kenyan_tenant(api), customer()
    key = {"Idempotency-Key": "save-1"}
    first = save(api, acme, customer_id, MPESA, **key)
    assert first.status_code == 201, first.text
    again = save(api, acme, customer_id, MPESA, **key)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = save(api, acme, customer_id, PAYSTACK, **key)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert [m[1] for m in saved(api, acme, customer_id)[1]] == ["mpesa"]


# --- checkout options ---------------------------------------------------------------------------


def test_checkout_options_offer_the_default_method_for_an_exact_amount(api):
    acme, customer_id = kenyan_tenant(api), customer()
    save(api, acme, customer_id, MPESA)
    api.put(
        f"/customers/{customer_id}/preferred-provider",
        json={"provider": "mpesa"},
        headers=acme.headers(scopes=VIEW),
    )
    response = api.get(
        f"/customers/{customer_id}/checkout-options?amount=1000.50", headers=acme.headers(scopes=VIEW)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["preferred_provider"] == "mpesa" and body["can_change_provider"] is True
    assert body["preferred_method"]["provider"] == "mpesa" and body["preferred_method"]["is_default"] is True
    assert body["available_providers"] == list(SEED_PROVIDERS) and len(body["saved_methods"]) == 1
    assert body["currency"] == "KES" and '"amount":1000.50' in response.text
    whole = api.get(
        f"/customers/{customer_id}/checkout-options?amount=1000", headers=acme.headers(scopes=VIEW)
    )
    assert '"amount":1000.00' in whole.text


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1000.001", "INVALID_AMOUNT"),
        ("1000.000000000000000000000000001", "INVALID_AMOUNT"),
        ("0", "INVALID_AMOUNT"),
        ("-10", "INVALID_AMOUNT"),
        ("1e3", "INVALID_AMOUNT"),
        ("NaN", "INVALID_AMOUNT"),
        ("ten", "INVALID_AMOUNT"),
        ("99999999999999999999", "INVALID_AMOUNT"),
        ("1" * 65, "INVALID_PARAMETER"),
    ],
)
def test_checkout_options_refuse_a_bad_amount(api, amount, code):
    acme = kenyan_tenant(api)
    response = api.get(
        f"/customers/{customer()}/checkout-options",
        params={"amount": amount},
        headers=acme.headers(scopes=VIEW),
    )
    assert response.status_code == 400, response.text
    assert error_code(response) == code


def test_checkout_options_need_an_amount(api):
    acme = kenyan_tenant(api)
    response = api.get(f"/customers/{customer()}/checkout-options", headers=acme.headers(scopes=VIEW))
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"


# --- scopes and tenants -------------------------------------------------------------------------


def test_every_customer_endpoint_needs_conversations_view_and_changes_nothing_without_it(api):
    acme, customer_id = kenyan_tenant(api), customer()
    method_id = save(api, acme, customer_id, MPESA).json()["preferences"]["saved_methods"][0]["id"]
    before = saved(api, acme, customer_id)
    headers = acme.headers(scopes=OTHER)
    base = f"/customers/{customer_id}"
    answers = [
        api.get(f"{base}/payment-preferences", headers=headers),
        api.get(f"{base}/checkout-options?amount=1000", headers=headers),
        api.put(f"{base}/preferred-provider", json={"provider": "paystack"}, headers=headers),
        api.post(f"{base}/payment-methods", json=PAYSTACK, headers=headers),
        api.delete(f"{base}/payment-methods/{method_id}", headers=headers),
        api.put(f"{base}/payment-methods/{method_id}/default", headers=headers),
    ]
    for response in answers:
        assert response.status_code == 403, response.text
        assert error_code(response) == "INSUFFICIENT_PERMISSIONS"
        assert response.json()["error"]["details"]["requiredScopes"] == ["conversations:view"]
    assert saved(api, acme, customer_id) == before


def test_another_tenant_sees_none_of_a_customers_preferences(api):
    acme, globex, customer_id = kenyan_tenant(api), kenyan_tenant(api), customer()
    method_id = save(api, acme, customer_id, MPESA).json()["preferences"]["saved_methods"][0]["id"]
    before = saved(api, acme, customer_id)
    theirs = api.get(f"/customers/{customer_id}/payment-preferences", headers=globex.headers(scopes=VIEW))
    assert theirs.json()["saved_methods"] == []
    removed = api.delete(
        f"/customers/{customer_id}/payment-methods/{method_id}", headers=globex.headers(scopes=VIEW)
    )
    assert removed.status_code == 404 and error_code(removed) == "RESOURCE_NOT_FOUND"
    default = api.put(
        f"/customers/{customer_id}/payment-methods/{method_id}/default", headers=globex.headers(scopes=VIEW)
    )
    assert default.status_code == 404 and error_code(default) == "RESOURCE_NOT_FOUND"
    assert saved(api, acme, customer_id) == before


def test_an_api_key_in_the_seed_headers_reads_preferences(api):
    acme = kenyan_tenant(api)
    headers = {"X-TENANT-ID": acme.id, "X-TENANT-API-KEY": acme.api_key(scopes=VIEW)}
    response = api.get(f"/customers/{customer()}/payment-preferences", headers=headers)
    assert response.status_code == 200 and response.json()["saved_methods"] == []


def test_without_credentials_customers_answer_401(api):
    response = api.get(f"/customers/{customer()}/payment-preferences")
    assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED"


# --- order checkout -----------------------------------------------------------------------------


def checkout(api, tenant, order_id, body, scopes=VIEW, **headers):
    return api.post(
        f"/orders/{order_id}/checkout", content=body, headers=tenant.headers(scopes=scopes, **JSON, **headers)
    )


def order_body(customer_id, amount="1000.00", extra=""):
    return '{"customer_id": "' + customer_id + '", "amount": ' + amount + extra + "}"


def test_an_order_checkout_goes_through_the_customers_default_method(api):
    acme, customer_id = kenyan_tenant(api), customer()
    save(api, acme, customer_id, PAYSTACK)
    response = checkout(api, acme, "ord-1", order_body(customer_id))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"] == "Checkout initiated successfully" and body["order_id"] == "ord-1"
    assert (body["customer_id"], body["provider"], body["currency"], body["status"]) == (
        customer_id,
        "paystack",
        "KES",
        "pending",
    )
    assert '"amount":1000.00' in response.text and body["checkout_url"] and body["expires_at"].endswith("Z")
    assert payments_of(api, acme) == [(body["payment_id"], 100000, "pending")]


def test_an_order_checkout_may_name_a_provider_and_needs_one_of_two_scopes(api):
    acme, customer_id = kenyan_tenant(api), customer()
    chosen = checkout(
        api, acme, "ord-2", order_body(customer_id, extra=', "provider": "mpesa"'), scopes=["payments:write"]
    )
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["provider"] == "mpesa"
    refused = checkout(api, acme, "ord-3", order_body(customer_id), scopes=OTHER)
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    assert len(payments_of(api, acme)) == 1


def test_a_customers_preferences_in_one_tenant_do_not_steer_another(api):
    acme, globex, customer_id = kenyan_tenant(api), kenyan_tenant(api), customer()
    save(api, acme, customer_id, PAYSTACK)
    response = checkout(api, globex, "ord-1", order_body(customer_id))
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "mpesa"  # globex's first provider: acme's default is not seen
    assert payments_of(api, acme) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (order_body("cus-1", "1000.001"), "INVALID_AMOUNT"),
        (order_body("cus-1", "1000.000000000000000000000000001"), "INVALID_AMOUNT"),
        (order_body("cus-1", "0"), "INVALID_AMOUNT"),
        (order_body("cus-1", "-1"), "INVALID_AMOUNT"),
        (order_body("cus-1", "1e40"), "INVALID_AMOUNT"),
        (order_body("cus-1", '"ten"'), "INVALID_PARAMETER"),
        (order_body("cus-1", extra=', "currency": "XYZ"'), "INVALID_CURRENCY"),
        (order_body("cus-1", extra=', "currency": "USD"'), "CURRENCY_MISMATCH"),
        (order_body("cus-1", extra=', "provider": "stripe"'), "INVALID_PARAMETER"),
        (order_body("cus-1", extra=', "provider": "paypal"'), "INVALID_PARAMETER"),
        (order_body("cus-1", extra=', "method_details": {"phone_number": "12"}'), "INVALID_PARAMETER"),
        (order_body("c" * 129), "INVALID_PARAMETER"),
        ('{"amount": 1000.00}', "INVALID_PARAMETER"),
        ('{"customer_id": "cus-1", "amount": ', "INVALID_PARAMETER"),
    ],
)
def test_bad_order_checkouts_are_refused_and_no_payment_is_made(api, body, code):
    acme = kenyan_tenant(api)
    response = checkout(api, acme, "ord-1", body)
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert payments_of(api, acme) == []


def test_an_absurd_order_amount_is_refused_at_once(api):
    acme = kenyan_tenant(api)
    started = time.monotonic()
    response = checkout(api, acme, "ord-1", order_body("cus-1", "9e999990"))
    assert time.monotonic() - started < 5
    assert response.status_code == 400 and error_code(response) == "INVALID_AMOUNT"
    assert payments_of(api, acme) == []


def test_an_order_checkout_replays_for_the_same_key_and_refuses_another_body(api):
    acme, customer_id = kenyan_tenant(api), customer()
    key = {"Idempotency-Key": "order-1"}
    first = checkout(api, acme, "ord-1", order_body(customer_id), **key)
    assert first.status_code == 201, first.text
    again = checkout(api, acme, "ord-1", order_body(customer_id), **key)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = checkout(api, acme, "ord-1", order_body(customer_id, "2000.00"), **key)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert payments_of(api, acme) == [(first.json()["payment_id"], 100000, "pending")]
