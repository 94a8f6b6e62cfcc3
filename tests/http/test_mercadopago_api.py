"""Seed 001 over HTTP: MercadoPago configuration, card and PSE payments, and the inbound webhook,
all in JSON:API envelopes with amounts in decimal major units."""

import hashlib
import hmac
import json
import time
import uuid

import pytest

from payments_core.money import Money

TEST_TOKEN = "TEST-1111-2222-3333-444455556666"
LIVE_TOKEN = "APP_USR-1111-2222-3333-444455556666"
CONFIG = {
    "access_token": TEST_TOKEN,
    "webhook_secret": "mp-webhook-secret-0123456789",
    "mp_public_key": "APP_USR-pub-xxxxx",
    "country": "CO",
    "currency": "COP",
    "payment_methods_enabled": ["credit_card", "debit_card", "pse", "cash"],
}
CARD = {
    "payment": {
        "transaction_amount": 150000,
        "description": "Premium Plan Subscription",
        "payment_method_id": "visa",
        "token": "card_token_abc123",
        "installments": 1,
        "payer": {
            "email": "user@example.com",
            "first_name": "John",
            "last_name": "Doe",
            "identification": {"type": "CC", "number": "1234567890"},
        },
        "metadata": {"order_id": "order-uuid-123"},
    }
}
PSE = {
    "payment": {
        "transaction_amount": 250000,
        "description": "Enterprise Plan Payment",
        "payer": {
            "email": "empresa@example.com",
            "entity_type": "individual",
            "first_name": "Maria",
            "last_name": "Garcia",
            "identification": {"type": "CC", "number": "9876543210"},
        },
        "transaction_details": {"financial_institution": "1007"},
        "callback_url": "https://app.example.com/payment/callback",
        "metadata": {"order_id": "order-uuid-456"},
    }
}
READ_ONLY = ["payments:read"]


def configure(api, tenant, **changes):
    response = api.post("/payments/mercadopago-config", json={**CONFIG, **changes}, headers=tenant.headers())
    assert response.status_code == 201, response.text
    return response.json()


def with_payment(body, **changes):
    return {"payment": {**body["payment"], **changes}}


def payment_count(api, tenant):
    return api.core.payments.list_payments(tenant.principal()).pagination.total_items


def errors_of(response):
    """The JSON:API error list; the seed's routes never answer the other envelope."""
    body = response.json()
    assert set(body) == {"errors"}, body
    return body["errors"]


def webhook_url_id(api, tenant):
    url = api.get("/mercadopago", headers=tenant.headers()).json()["data"]["attributes"]["webhook_url"]
    return url.split("/mercadopago/")[1].removesuffix("/webhook")


def sandbox_event(reference, minor, currency, event_type="payment.succeeded"):
    payload = {
        "id": f"sbx_evt_{uuid.uuid4().hex[:24]}",
        "type": event_type,
        "data": {"reference": reference, "amount": minor, "currency": currency},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def forged_headers(body, key=b"a-key-the-platform-never-had"):
    moment = int(time.time())
    digest = hmac.new(key, f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Sandbox-Signature": f"t={moment},v1={digest}", "Content-Type": "application/json"}


# --- configuration -----------------------------------------------------------------------------------


def test_get_configuration_is_json_api_with_the_seed_attributes(api):
    acme = api.tenant()
    configure(api, acme)
    response = api.get("/mercadopago", headers=acme.headers(scopes=READ_ONLY))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["type"] == "mercadopago_config" and data["id"] == data["attributes"]["unique_id"]
    attributes = data["attributes"]
    assert set(attributes) == {
        "unique_id", "public_key", "country", "currency", "sandbox_mode", "webhook_url",
        "payment_methods_enabled", "created_at",
    }  # fmt: skip
    assert (attributes["public_key"], attributes["country"], attributes["currency"]) == (
        "APP_USR-pub-xxxxx", "CO", "COP",
    )  # fmt: skip
    assert attributes["sandbox_mode"] is True  # a TEST- token
    assert attributes["payment_methods_enabled"] == ["credit_card", "debit_card", "pse", "cash"]
    assert attributes["webhook_url"].startswith(api.runtime.settings.public_base_url + "/api/v1/mercadopago/")
    assert attributes["webhook_url"].endswith("/webhook") and attributes["created_at"].endswith("Z")
    assert TEST_TOKEN not in response.text and CONFIG["webhook_secret"] not in response.text


def test_get_configuration_errors_are_json_api(api):
    acme, globex = api.tenant(), api.tenant()
    configure(api, acme)
    missing = api.get("/mercadopago", headers=globex.headers())
    assert missing.status_code == 404
    [error] = errors_of(missing)
    assert error["status"] == "404" and error["code"] == "RESOURCE_NOT_FOUND" and error["detail"]
    refused = api.get("/mercadopago", headers=acme.headers(scopes=["payments:write"]))
    assert refused.status_code == 403
    assert errors_of(refused)[0]["code"] == "INSUFFICIENT_PERMISSIONS"
    anonymous = api.get("/mercadopago")
    assert anonymous.status_code == 401 and errors_of(anonymous)[0]["code"] == "UNAUTHENTICATED"


# --- card payments ------------------------------------------------------------------------------------


def test_a_card_payment_is_created_in_major_units_of_the_configured_currency(api):
    acme = api.tenant(currency="USD")
    configure(api, acme)  # currency COP
    response = api.post("/mercadopago/payments", json=CARD, headers=acme.headers())
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["type"] == "mercadopago_payment" and data["id"] == data["attributes"]["unique_id"]
    attributes = data["attributes"]
    assert {k: attributes[k] for k in ("currency", "status", "status_detail", "payment_method_id", "installments")} == {
        "currency": "COP", "status": "approved", "status_detail": "accredited", "payment_method_id": "visa",
        "installments": 1,
    }  # fmt: skip
    assert attributes["mp_payment_id"] and attributes["created_at"].endswith("Z")
    assert attributes["metadata"] == {"order_id": "order-uuid-123"}
    assert '"transaction_amount":150000.00' in response.text
    stored = api.core.payments.get_payment(acme.principal(), data["id"])
    assert stored.amount == Money.parse("150000", "COP") and stored.status.value == "completed"


def test_without_a_configured_currency_the_tenants_own_is_used(api):
    acme = api.tenant(currency="KES")
    response = api.post(
        "/mercadopago/payments", json=with_payment(CARD, transaction_amount="99.50"), headers=acme.headers()
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["attributes"]["currency"] == "KES"
    assert '"transaction_amount":99.50' in response.text


def test_a_declined_card_is_the_seeds_422_payment_rejected_and_recorded_failed(api):
    acme = api.tenant(currency="COP")
    response = api.post(
        "/mercadopago/payments", json=with_payment(CARD, token="tok_declined"), headers=acme.headers()
    )
    assert response.status_code == 422, response.text
    [error] = errors_of(response)
    assert (error["status"], error["code"], error["title"]) == ("422", "payment_rejected", "Payment Rejected")
    assert "cc_rejected_other_reason" in error["detail"]
    stored = api.core.payments.get_payment(acme.principal(), error["meta"]["unique_id"])
    assert stored.status.value == "failed" and stored.status_detail == "cc_rejected_other_reason"


def test_payments_need_the_write_scope(api):
    acme = api.tenant(currency="COP")
    for path, body in (("/mercadopago/payments", CARD), ("/mercadopago/payments/pse", PSE)):
        response = api.post(path, json=body, headers=acme.headers(scopes=READ_ONLY))
        assert response.status_code == 403, response.text
        assert errors_of(response)[0]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert payment_count(api, acme) == 0


def test_a_person_needs_a_fresh_mfa_and_an_api_key_does_not(api):
    acme = api.tenant(currency="COP")
    stale = {"Authorization": f"Bearer {acme.token(mfa=False)}"}
    for path, body in (("/mercadopago/payments", CARD), ("/mercadopago/payments/pse", PSE)):
        response = api.post(path, json=body, headers=stale)
        assert response.status_code == 401, response.text
        assert errors_of(response)[0]["code"] == "MFA_CHALLENGE_REQUIRED"
    assert payment_count(api, acme) == 0
    key = {"AppId": acme.api_key(scopes=["payments:write"])}
    assert api.post("/mercadopago/payments", json=CARD, headers=key).status_code == 201
    assert api.post("/mercadopago/payments/pse", json=PSE, headers=key).status_code == 201
    assert payment_count(api, acme) == 2


@pytest.mark.parametrize(
    ("path", "body"), [("/mercadopago/payments", CARD), ("/mercadopago/payments/pse", PSE)]
)
def test_an_idempotency_key_replays_the_first_payment(api, path, body):
    acme = api.tenant(currency="COP")
    headers = acme.headers(**{"Idempotency-Key": f"mp-{uuid.uuid4().hex}"})
    first = api.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = api.post(path, json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post(path, json=with_payment(body, description="something else"), headers=headers)
    assert other.status_code == 400 and errors_of(other)[0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert payment_count(api, acme) == 1


BAD_AMOUNTS = {
    "zero": 0,
    "negative": -5,
    "over-precise": 1.005,
    "over-precise text": "10.001",
    "beyond exact Decimal": "5.00000000000000000000000000000000001",
    "huge": 1e30,
    "astronomical": 1e999999999,
    "not a number": "lots",
    "boolean": True,
    "null": None,
}


@pytest.mark.parametrize("amount", BAD_AMOUNTS.values(), ids=BAD_AMOUNTS.keys())
@pytest.mark.parametrize(
    ("path", "body"), [("/mercadopago/payments", CARD), ("/mercadopago/payments/pse", PSE)]
)
def test_a_bad_amount_is_refused_and_creates_nothing(api, path, body, amount):
    acme = api.tenant(currency="COP")
    content = json.dumps(with_payment(body, transaction_amount=amount)).replace("Infinity", "1e999999999")
    response = api.post(path, content=content, headers=acme.headers(**{"Content-Type": "application/json"}))
    assert response.status_code == 400, response.text
    assert errors_of(response)[0]["code"] in {"INVALID_AMOUNT", "INVALID_PARAMETER"}
    assert payment_count(api, acme) == 0


def payer_with(**changes):
    return {**CARD["payment"]["payer"], **changes}


BAD_CARDS = {
    "missing token": {"token": None},
    "unknown payment method format": {"payment_method_id": "Visa Card!"},
    "pse through the card route": {"payment_method_id": "pse"},
    "zero installments": {"installments": 0},
    "too many installments": {"installments": 99},
    "installments as words": {"installments": "one"},
    "fractional installments": {"installments": 1.5},
    "installments as a boolean": {"installments": True},
    "blank description": {"description": "   "},
    "over-long description": {"description": "d" * 501},
    "bad email": {"payer": payer_with(email="not-an-email")},
    "unknown identification type": {"payer": payer_with(identification={"type": "XX", "number": "123"})},
    "unknown payer field": {"payer": payer_with(nickname="jd")},
    "unknown payment field": {"currency_id": "USD"},
    "metadata not an object": {"metadata": ["a"]},
}


@pytest.mark.parametrize("changes", BAD_CARDS.values(), ids=BAD_CARDS.keys())
def test_bad_card_input_is_400_and_creates_nothing(api, changes):
    acme = api.tenant(currency="COP")
    response = api.post("/mercadopago/payments", json=with_payment(CARD, **changes), headers=acme.headers())
    assert response.status_code == 400, response.text
    assert errors_of(response)[0]["code"] == "INVALID_PARAMETER"
    assert payment_count(api, acme) == 0


def test_malformed_json_is_a_json_api_400(api):
    acme = api.tenant(currency="COP")
    headers = acme.headers(**{"Content-Type": "application/json"})
    response = api.post(
        "/mercadopago/payments", content=b'{"payment": {"transaction_amount": 1', headers=headers
    )
    assert response.status_code == 400 and errors_of(response)[0]["code"] == "INVALID_PARAMETER"
    assert payment_count(api, acme) == 0


# --- PSE ------------------------------------------------------------------------------------------------


def test_a_pse_payment_starts_pending_with_the_bank_redirect(api):
    acme = api.tenant(currency="COP")
    response = api.post("/mercadopago/payments/pse", json=PSE, headers=acme.headers())
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    attributes = data["attributes"]
    assert data["type"] == "mercadopago_payment" and attributes["unique_id"] == data["id"]
    assert (attributes["status"], attributes["status_detail"], attributes["payment_method_id"]) == (
        "pending", "pending_waiting_transfer", "pse",
    )  # fmt: skip
    assert attributes["external_resource_url"] and attributes["currency"] == "COP"
    assert '"transaction_amount":250000.00' in response.text
    assert api.core.payments.get_payment(acme.principal(), data["id"]).status.value == "pending"


def pse_payer_with(**changes):
    return {**PSE["payment"]["payer"], **changes}


BAD_PSE = {
    "unknown entity type": {"payer": pse_payer_with(entity_type="company")},
    "missing first name": {"payer": pse_payer_with(first_name=None)},
    "missing identification": {"payer": pse_payer_with(identification=None)},
    "missing bank": {"transaction_details": {}},
    "bank code not digits": {"transaction_details": {"financial_institution": "Bancolombia"}},
    "plain http callback": {"callback_url": "http://app.example.com/callback"},
    "over-long callback": {"callback_url": "https://app.example.com/" + "c" * 3000},
}


@pytest.mark.parametrize("changes", BAD_PSE.values(), ids=BAD_PSE.keys())
def test_bad_pse_input_is_400_and_creates_nothing(api, changes):
    acme = api.tenant(currency="COP")
    response = api.post(
        "/mercadopago/payments/pse", json=with_payment(PSE, **changes), headers=acme.headers()
    )
    assert response.status_code == 400, response.text
    assert errors_of(response)[0]["code"] == "INVALID_PARAMETER"
    assert payment_count(api, acme) == 0


# --- the inbound webhook --------------------------------------------------------------------------------


def pending_pse(api, tenant):
    response = api.post("/mercadopago/payments/pse", json=PSE, headers=tenant.headers())
    assert response.status_code == 201, response.text
    payment_id = response.json()["data"]["id"]
    return api.core.payments.get_payment(tenant.principal(), payment_id)


def test_a_verified_webhook_completes_the_payment_once(api):
    acme = api.tenant(currency="COP")
    configure(api, acme)  # sandbox mode: the sandbox adapter verifies
    payment = pending_pse(api, acme)
    body = sandbox_event(payment.provider_reference, payment.amount.minor, "COP")
    url = f"/mercadopago/{webhook_url_id(api, acme)}/webhook"
    response = api.post(url, content=body, headers=api.sandbox.sign(body))  # no credential: public
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}
    assert api.core.payments.get_payment(acme.principal(), payment.id).status.value == "completed"
    balance = api.core.wallet.wallet_balance(acme.principal(), "COP")
    again = api.post(url, content=body, headers=api.sandbox.sign(body))
    assert again.status_code == 200 and again.json() == {"received": True}
    assert api.core.wallet.wallet_balance(acme.principal(), "COP") == balance
    assert balance.available.minor > 0


def test_a_forged_webhook_is_400_an_unsigned_one_401_and_neither_changes_anything(api):
    acme = api.tenant(currency="COP")
    configure(api, acme)
    payment = pending_pse(api, acme)
    body = sandbox_event(payment.provider_reference, payment.amount.minor, "COP")
    url = f"/mercadopago/{webhook_url_id(api, acme)}/webhook"
    tenant_signed = forged_headers(
        body, CONFIG["webhook_secret"].encode()
    )  # only the platform signs sandbox events
    for headers in (forged_headers(body), tenant_signed):
        response = api.post(url, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert errors_of(response)[0]["code"] == "INVALID_SIGNATURE"
    unsigned = api.post(url, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and errors_of(unsigned)[0]["code"] == "UNAUTHENTICATED"
    stale = api.sandbox.sign(body, timestamp=int(time.time()) - 3600)
    assert api.post(url, content=body, headers=stale).status_code == 400
    assert api.core.payments.get_payment(acme.principal(), payment.id).status.value == "pending"
    good = api.post(url, content=body, headers=api.sandbox.sign(body))  # the event was not recorded
    assert good.status_code == 200
    assert api.core.payments.get_payment(acme.principal(), payment.id).status.value == "completed"


def test_an_unknown_webhook_url_is_a_json_api_404(api):
    acme = api.tenant(currency="COP")
    body = sandbox_event("sbx_py_unknown", 100, "COP")
    for url_id in ("wh_does_not_exist", "x" * 200):
        response = api.post(f"/mercadopago/{url_id}/webhook", content=body, headers=api.sandbox.sign(body))
        assert response.status_code == 404, response.text
        assert errors_of(response)[0]["code"] == "RESOURCE_NOT_FOUND"
    stripe = api.core.provider_config.register_provider_config(
        acme.principal(), "stripe", {"secret_key": "sk_test_0123456789abcdef"}
    )
    other_provider = stripe.webhook_path.split("/stripe/")[1].removesuffix("/webhook")
    response = api.post(
        f"/mercadopago/{other_provider}/webhook", content=body, headers=api.sandbox.sign(body)
    )
    assert response.status_code == 404 and errors_of(response)[0]["code"] == "RESOURCE_NOT_FOUND"


def test_a_sandbox_signed_event_for_a_live_configuration_is_refused_and_changes_nothing(api):
    acme = api.tenant(currency="COP")
    configure(api, acme, access_token=LIVE_TOKEN)
    payment = pending_pse(api, acme)  # test-mode credentials: a sandbox payment
    body = sandbox_event(payment.provider_reference, payment.amount.minor, "COP")
    url = f"/mercadopago/{webhook_url_id(api, acme)}/webhook"
    response = api.post(url, content=body, headers=api.sandbox.sign(body))
    # A live configuration is verified by MercadoPago's own x-signature, which this event lacks.
    assert response.status_code == 401, response.text
    assert errors_of(response)[0]["code"] == "UNAUTHENTICATED"
    assert api.core.payments.get_payment(acme.principal(), payment.id).status.value == "pending"
