"""Seed 003 over HTTP: create and read checkout sessions, in integer minor units."""

from datetime import timedelta

import pytest

from tests.support.http import error_code

SEED_BODY = {
    "amount": 10000,
    "currency": "USD",
    "reference": "order_12345",
    "methodTypes": ["card"],
    "successUrl": "https://yoursite.com/success",
    "cancelUrl": "https://yoursite.com/cancel",
}


def payment_count(api, tenant) -> int:
    return api.core.payments.list_payments(tenant.principal()).pagination.total_items


def test_create_then_read_a_session_with_the_seed_fields(api):
    acme = api.tenant()
    created = api.post("/checkout/sessions", json=SEED_BODY, headers=acme.headers())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending"
    assert body["amount"] == 10000 and body["currency"] == "USD" and body["reference"] == "order_12345"
    assert body["redirect_url"] and body["qr_image_url"] and body["expires_at"].endswith("Z")
    assert created.headers["x-ratelimit-limit"] == "10"

    read = api.get(f"/checkout/sessions/{body['id']}", headers=acme.headers())
    assert read.status_code == 200, read.text
    session = read.json()
    assert {key: session[key] for key in body} == body
    assert 0 < session["remaining_seconds"] <= 30 * 60
    assert session["created_at"].endswith("Z")
    assert read.headers["x-ratelimit-limit"] == "30"
    payment = api.core.payments.get_payment(acme.principal(), body["payment_id"])
    assert payment.amount.minor == 10000 and payment.status.value == "pending"


def test_an_api_key_creates_a_session_without_mfa(api):
    acme = api.tenant()
    key = acme.api_key()
    created = api.post("/checkout/sessions", json=SEED_BODY, headers={"Authorization": f"Bearer {key}"})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending"


def test_a_person_without_fresh_mfa_is_challenged_then_succeeds_after_mfa(api):
    acme = api.tenant()
    no_mfa = {"Authorization": f"Bearer {acme.token(mfa=False)}"}
    challenged = api.post("/checkout/sessions", json=SEED_BODY, headers=no_mfa)
    assert challenged.status_code == 401
    assert error_code(challenged) == "MFA_CHALLENGE_REQUIRED"
    assert challenged.json()["error"]["details"]["action"] == "create-payment"

    stale_at = api.clock.now() - timedelta(minutes=10)
    stale = {"Authorization": f"Bearer {acme.token(mfa_at=stale_at)}"}
    stale_answer = api.post("/checkout/sessions", json=SEED_BODY, headers=stale)
    assert stale_answer.status_code == 401 and error_code(stale_answer) == "MFA_CHALLENGE_REQUIRED"
    assert payment_count(api, acme) == 0

    verified = api.post("/checkout/sessions", json=SEED_BODY, headers=acme.headers())
    assert verified.status_code == 201, verified.text
    assert payment_count(api, acme) == 1


def test_scopes_are_checked_for_create_and_read(api):
    acme = api.tenant()
    reader = acme.headers(scopes=["payments:read"])
    refused = api.post("/checkout/sessions", json=SEED_BODY, headers=reader)
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    assert payment_count(api, acme) == 0

    created = api.post("/checkout/sessions", json=SEED_BODY, headers=acme.headers()).json()
    writer = acme.headers(scopes=["payments:write"])
    unreadable = api.get(f"/checkout/sessions/{created['id']}", headers=writer)
    assert unreadable.status_code == 403 and error_code(unreadable) == "INSUFFICIENT_PERMISSIONS"
    assert api.get(f"/checkout/sessions/{created['id']}", headers=reader).status_code == 200


def test_another_tenants_session_answers_404(api):
    acme, globex = api.tenant(), api.tenant()
    created = api.post("/checkout/sessions", json=SEED_BODY, headers=acme.headers()).json()
    response = api.get(f"/checkout/sessions/{created['id']}", headers=globex.headers())
    assert response.status_code == 404 and error_code(response) == "RESOURCE_NOT_FOUND"
    missing = api.get("/checkout/sessions/cs_missing", headers=acme.headers())
    assert missing.status_code == 404 and error_code(missing) == "RESOURCE_NOT_FOUND"


def test_without_credentials_the_answer_is_401(api):
    response = api.post("/checkout/sessions", json=SEED_BODY)
    assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED"


def test_the_same_idempotency_key_replays_and_another_body_is_refused(api):
    acme = api.tenant()
    headers = acme.headers(**{"Idempotency-Key": "checkout-1"})
    first = api.post("/checkout/sessions", json=SEED_BODY, headers=headers)
    assert first.status_code == 201, first.text
    again = api.post("/checkout/sessions", json=SEED_BODY, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post("/checkout/sessions", json={**SEED_BODY, "amount": 20000}, headers=headers)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert payment_count(api, acme) == 1


def test_the_idempotency_key_reaches_the_core(api):
    acme = api.tenant()
    created = api.post(
        "/checkout/sessions", json=SEED_BODY, headers=acme.headers(**{"Idempotency-Key": "core-key"})
    ).json()
    stored = api.core.checkout.get_session(acme.principal(), created["id"]).session
    assert stored.idempotency_key == "core-key"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 0}, "INVALID_AMOUNT"),
        ({"amount": -100}, "INVALID_AMOUNT"),
        ({"amount": 99.5}, "INVALID_AMOUNT"),
        ({"amount": "10.00"}, "INVALID_AMOUNT"),
        ({"amount": 1000.0}, "INVALID_AMOUNT"),
        ({"amount": 2**53}, "INVALID_AMOUNT"),
        ({"amount": 10**30}, "INVALID_AMOUNT"),
        ({"amount": "ten"}, "INVALID_PARAMETER"),
        ({"amount": True}, "INVALID_PARAMETER"),
        ({"amount": None}, "INVALID_PARAMETER"),
        ({"currency": "XYZ"}, "INVALID_CURRENCY"),
        ({"currency": "usd"}, "INVALID_CURRENCY"),
        ({"currency": "U" * 100}, "INVALID_PARAMETER"),
        ({"reference": ""}, "INVALID_PARAMETER"),
        ({"reference": "x" * 201}, "INVALID_PARAMETER"),
        ({"reference": 12345}, "INVALID_PARAMETER"),
        ({"methodTypes": ["bitcoin"]}, "INVALID_PARAMETER"),
        ({"methodTypes": "card"}, "INVALID_PARAMETER"),
        ({"successUrl": "ftp://yoursite.com/success"}, "INVALID_PARAMETER"),
        ({"cancelUrl": "https://" + "a" * 3000 + ".com"}, "INVALID_PARAMETER"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(api, change, code):
    acme = api.tenant()
    response = api.post("/checkout/sessions", json={**SEED_BODY, **change}, headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert payment_count(api, acme) == 0


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"currency": "USD", "reference": "r"}', b""])
def test_malformed_or_incomplete_json_is_400(api, content):
    acme = api.tenant()
    headers = acme.headers(**{"Content-Type": "application/json"})
    response = api.post("/checkout/sessions", content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert payment_count(api, acme) == 0
