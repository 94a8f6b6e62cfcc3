"""Seed 000 over HTTP: a customer's payment sessions and the tenant's MercadoPago configuration."""

import uuid

import pytest

from payments_core.money import Money
from tests.support.http import error_code

PHONE = "5511966609208"
TOKEN = "APP_USR-1111-2222-3333-987654321"
NEW_TOKEN = "APP_USR-4444-5555-6666-123456789"
WEBHOOK_SECRET = "whsec-mercadopago-0123456789abcdef"
SEED_SESSION_FIELDS = {
    "id", "tenant_id", "client_phone_number", "total_amount", "selected_payment_method", "payment_link",
    "payment_id_external", "preference_id", "current_step", "created_at", "updated_at", "status",
    "confirmed_at",
}  # fmt: skip
SEED_CONFIG_FIELDS = {
    "tenant_id", "access_token", "webhook_secret", "mp_user_id", "mp_application_id", "mp_public_key",
}  # fmt: skip
CONFIG = {
    "access_token": TOKEN,
    "webhook_secret": WEBHOOK_SECRET,
    "mp_user_id": "mp-user-42",
    "mp_application_id": "mp-app-7",
    "mp_public_key": "APP_USR-pub-0001",
}
READ_ONLY = ["payments:read"]
WRITE_ONLY = ["payments:write"]


def open_session(tenant, amount="150.00", phone=PHONE, methods=()):
    return tenant.api.core.checkout.create_session(
        tenant.principal(),
        amount=Money.parse(amount, tenant.currency),
        reference=f"ord-{uuid.uuid4().hex[:8]}",
        method_types=methods,
        client_phone_number=phone,
    )


def stored_config(api, tenant):
    """The configuration row as the repository holds it (None if there is none)."""
    with api.core.deps.uow() as uow:
        return uow.provider_configs.get(tenant.id, "mercadopago")


def register(api, tenant, body=CONFIG, **headers):
    return api.post("/payments/mercadopago-config", json=body, headers=tenant.headers(**headers))


# --- sessions ------------------------------------------------------------------------------------


def test_list_sessions_by_phone_answers_the_seed_fields_newest_first(api):
    acme = api.tenant(currency="BRL")
    first = open_session(acme, "150.00")
    second = open_session(acme, "20.50", methods=("pix",))
    open_session(acme, "99.00", phone="5511900000000")
    response = api.get(f"/payments/sessions?client_phone_number={PHONE}", headers=acme.headers())
    assert response.status_code == 200, response.text
    sessions = response.json()["sessions"]
    assert [s["id"] for s in sessions] == [second.id, first.id]
    assert all(set(s) >= SEED_SESSION_FIELDS for s in sessions)
    newest = sessions[0]
    assert newest["tenant_id"] == acme.id and newest["client_phone_number"] == PHONE
    assert newest["status"] == "pending" and newest["current_step"] == "awaiting_payment"
    assert newest["selected_payment_method"] == "pix" and newest["currency"] == "BRL"
    assert newest["preference_id"] == second.provider_reference
    assert newest["payment_link"] == second.redirect_url
    assert newest["confirmed_at"] is None and newest["payment_id_external"] is None
    assert '"total_amount":20.50' in response.text  # exact major units, not a float


def test_a_session_is_read_by_id_and_shows_its_completion(api):
    acme = api.tenant()
    session = open_session(acme, "42.00")
    api.sandbox.complete_checkout(session.provider_reference)
    response = api.get(f"/payments/sessions/{session.id}", headers=acme.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= SEED_SESSION_FIELDS
    assert (body["id"], body["status"], body["current_step"]) == (
        session.id,
        "completed",
        "payment_confirmed",
    )
    assert body["confirmed_at"] is not None and body["confirmed_at"].endswith("Z")
    assert body["payment_id_external"] == session.provider_reference
    assert '"total_amount":42.00' in response.text


def test_sessions_need_the_read_scope(api):
    acme = api.tenant()
    session = open_session(acme)
    listed = api.get(
        f"/payments/sessions?client_phone_number={PHONE}", headers=acme.headers(scopes=WRITE_ONLY)
    )
    assert listed.status_code == 403 and error_code(listed) == "INSUFFICIENT_PERMISSIONS"
    one = api.get(f"/payments/sessions/{session.id}", headers=acme.headers(scopes=WRITE_ONLY))
    assert one.status_code == 403 and error_code(one) == "INSUFFICIENT_PERMISSIONS"


def test_another_tenants_sessions_are_invisible(api):
    acme, globex = api.tenant(), api.tenant()
    session = open_session(acme)
    one = api.get(f"/payments/sessions/{session.id}", headers=globex.headers())
    assert one.status_code == 404 and error_code(one) == "RESOURCE_NOT_FOUND"
    listed = api.get(f"/payments/sessions?client_phone_number={PHONE}", headers=globex.headers())
    assert listed.status_code == 200 and listed.json() == {"sessions": []}


@pytest.mark.parametrize("query", ["", "?client_phone_number=", "?client_phone_number=abc",
                                   "?client_phone_number=%2B5511966609208", f"?client_phone_number={'9' * 40}"])  # fmt: skip
def test_a_missing_or_malformed_phone_number_is_400(api, query):
    acme = api.tenant()
    open_session(acme)
    response = api.get(f"/payments/sessions{query}", headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"


def test_static_paths_are_not_taken_for_a_payment_id(api):
    acme = api.tenant()
    session = open_session(acme)
    payment = api.get(f"/payments/{session.payment_id}", headers=acme.headers())
    assert payment.status_code == 200 and payment.json()["id"] == session.payment_id
    listed = api.get(f"/payments/sessions?client_phone_number={PHONE}", headers=acme.headers())
    assert listed.status_code == 200 and [s["id"] for s in listed.json()["sessions"]] == [session.id]
    missing = api.get("/payments/mercadopago-config", headers=acme.headers())
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["resource"] == "provider_config"
    assert register(api, acme).status_code == 201
    config = api.get("/payments/mercadopago-config", headers=acme.headers())
    assert config.status_code == 200 and config.json()["tenant_id"] == acme.id


# --- MercadoPago configuration ---------------------------------------------------------------------


def test_register_stores_secrets_sealed_and_answers_them_masked(api):
    acme = api.tenant()
    response = register(api, acme)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= SEED_CONFIG_FIELDS
    assert body["tenant_id"] == acme.id
    assert body["access_token"] == "APP_USR-…4321"
    assert body["webhook_secret"] == "…cdef"
    assert (body["mp_user_id"], body["mp_application_id"], body["mp_public_key"]) == (
        "mp-user-42", "mp-app-7", "APP_USR-pub-0001",
    )  # fmt: skip
    assert body["sandbox_mode"] is False  # a live APP_USR token
    assert TOKEN not in response.text and WEBHOOK_SECRET not in response.text
    stored = stored_config(api, acme)
    assert all(
        TOKEN not in sealed and WEBHOOK_SECRET not in sealed for sealed in stored.sealed_secrets.values()
    )
    core = api.core.provider_config
    assert core.provider_secret(acme.id, "mercadopago", "access_token") == TOKEN
    read = api.get("/payments/mercadopago-config", headers=acme.headers(scopes=READ_ONLY))
    assert read.status_code == 200 and read.json() == body
    assert TOKEN not in read.text and WEBHOOK_SECRET not in read.text


def test_patch_changes_only_the_fields_sent_and_null_clears(api):
    acme = api.tenant()
    assert register(api, acme).status_code == 201
    changes = {"access_token": NEW_TOKEN, "mp_public_key": "APP_USR-pub-0002"}
    response = api.patch("/payments/mercadopago-config", json=changes, headers=acme.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"] == "APP_USR-…6789" and NEW_TOKEN not in response.text
    assert body["mp_public_key"] == "APP_USR-pub-0002"
    assert body["webhook_secret"] == "…cdef" and body["mp_user_id"] == "mp-user-42"
    assert api.core.provider_config.provider_secret(acme.id, "mercadopago", "access_token") == NEW_TOKEN
    cleared = api.patch("/payments/mercadopago-config", json={"mp_user_id": None}, headers=acme.headers())
    assert cleared.status_code == 200 and cleared.json()["mp_user_id"] is None
    assert cleared.json()["mp_application_id"] == "mp-app-7"


def test_configuration_writes_need_a_fresh_mfa(api):
    acme = api.tenant()
    stale = {"Authorization": f"Bearer {acme.token(mfa=False)}"}
    refused = api.post("/payments/mercadopago-config", json=CONFIG, headers=stale)
    assert refused.status_code == 401 and error_code(refused) == "MFA_CHALLENGE_REQUIRED"
    assert stored_config(api, acme) is None
    assert register(api, acme).status_code == 201
    patched = api.patch("/payments/mercadopago-config", json={"access_token": NEW_TOKEN}, headers=stale)
    assert patched.status_code == 401 and error_code(patched) == "MFA_CHALLENGE_REQUIRED"
    assert api.core.provider_config.provider_secret(acme.id, "mercadopago", "access_token") == TOKEN


def test_configuration_scopes(api):
    acme = api.tenant()
    refused = register(api, acme, scopes=READ_ONLY)
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    assert stored_config(api, acme) is None
    assert register(api, acme).status_code == 201
    patched = api.patch(
        "/payments/mercadopago-config", json={"mp_user_id": "x"}, headers=acme.headers(scopes=READ_ONLY)
    )
    assert patched.status_code == 403 and error_code(patched) == "INSUFFICIENT_PERMISSIONS"
    read = api.get("/payments/mercadopago-config", headers=acme.headers(scopes=WRITE_ONLY))
    assert read.status_code == 403 and error_code(read) == "INSUFFICIENT_PERMISSIONS"
    assert stored_config(api, acme).settings["mp_user_id"] == "mp-user-42"


def test_another_tenants_configuration_is_invisible_and_untouchable(api):
    acme, globex = api.tenant(), api.tenant()
    assert register(api, acme).status_code == 201
    read = api.get("/payments/mercadopago-config", headers=globex.headers())
    assert read.status_code == 404 and error_code(read) == "RESOURCE_NOT_FOUND"
    patched = api.patch(
        "/payments/mercadopago-config", json={"access_token": NEW_TOKEN}, headers=globex.headers()
    )
    assert patched.status_code == 404 and error_code(patched) == "RESOURCE_NOT_FOUND"
    assert api.core.provider_config.provider_secret(acme.id, "mercadopago", "access_token") == TOKEN
    assert stored_config(api, globex) is None


def test_register_with_an_idempotency_key_replays_the_first_answer(api):
    acme = api.tenant()
    key = {"Idempotency-Key": "mp-config-1"}
    first = register(api, acme, **key)
    assert first.status_code == 201, first.text
    again = register(api, acme, **key)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = register(api, acme, body={**CONFIG, "access_token": NEW_TOKEN}, **key)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert api.core.provider_config.provider_secret(acme.id, "mercadopago", "access_token") == TOKEN


BAD_REGISTRATIONS = {
    "token without a known prefix": {**CONFIG, "access_token": "not-a-token-1234567890"},
    "token with spaces": {**CONFIG, "access_token": "APP_USR- 1234 5678 9012"},
    "over-long token": {**CONFIG, "access_token": "APP_USR-" + "1" * 2000},
    "over-long setting": {**CONFIG, "mp_user_id": "u" * 300},
    "wrong type": {**CONFIG, "access_token": 12345},
    "missing token": {"webhook_secret": WEBHOOK_SECRET},
    "unknown field": {**CONFIG, "acess_token": TOKEN},
    "unknown currency": {**CONFIG, "currency": "XXX"},
    "unknown country": {**CONFIG, "country": "ZZ"},
    "sandbox_mode not a boolean": {**CONFIG, "sandbox_mode": "yes"},
}


@pytest.mark.parametrize("body", BAD_REGISTRATIONS.values(), ids=BAD_REGISTRATIONS.keys())
def test_a_bad_registration_is_400_and_stores_nothing(api, body):
    acme = api.tenant()
    response = register(api, acme, body=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert "1" * 50 not in response.text and WEBHOOK_SECRET not in response.text
    assert stored_config(api, acme) is None


def test_malformed_json_is_400_and_stores_nothing(api):
    acme = api.tenant()
    headers = acme.headers(**{"Content-Type": "application/json"})
    response = api.post(
        "/payments/mercadopago-config", content=b'{"access_token": "APP_USR-', headers=headers
    )
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert stored_config(api, acme) is None


BAD_UPDATES = {
    "nothing to update": {},
    "clearing the required token": {"access_token": None},
    "clearing sandbox_mode": {"sandbox_mode": None},
    "token without a known prefix": {"access_token": "sk_live_abcdefghijklmnop"},
    "unknown field": {"colour": "blue"},
    "unknown currency": {"currency": "ABC"},
    "methods not a list": {"payment_methods_enabled": "pse"},
}


@pytest.mark.parametrize("body", BAD_UPDATES.values(), ids=BAD_UPDATES.keys())
def test_a_bad_update_is_400_and_changes_nothing(api, body):
    acme = api.tenant()
    assert register(api, acme).status_code == 201
    before = stored_config(api, acme)
    response = api.patch("/payments/mercadopago-config", json=body, headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert stored_config(api, acme) == before
