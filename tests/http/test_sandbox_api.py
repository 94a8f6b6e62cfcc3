"""Test mode over HTTP: the sandbox pays or fails a checkout session through the provider-event path,
and the end-to-end journey of a payment and its refund, over HTTP only."""

import attrs
import pytest
from litestar.testing import TestClient

from entrypoints.http import create_app
from entrypoints.http.settings import HttpSettings
from tests.support.http import BASE, error_code

SESSION_BODY = {"amount": 9900, "currency": "USD", "reference": "order_12345", "methodTypes": ["card"]}


def open_session(api, tenant, amount=9900):
    response = api.post(
        "/checkout/sessions", json={**SESSION_BODY, "amount": amount}, headers=tenant.headers()
    )
    assert response.status_code == 201, response.text
    return response.json()


def session_status(api, tenant, session_id) -> str:
    return api.core.checkout.get_session(tenant.principal(), session_id).session.status.value


def test_paying_completes_the_session_and_answers_as_get_does(api):
    acme = api.tenant()
    session = open_session(api, acme)
    paid = api.post(f"/sandbox/sessions/{session['id']}/pay", headers=acme.headers())
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "completed" and paid.json()["remaining_seconds"] == 0
    assert paid.json() == api.get(f"/checkout/sessions/{session['id']}", headers=acme.headers()).json()
    payment = api.core.payments.get_payment(acme.principal(), session["payment_id"])
    assert payment.status.value == "completed"
    assert len(api.sandbox.sent) > 0 and api.sandbox.sent[-1].body.count(b"payment.succeeded") == 1


def test_failing_cancels_the_session_and_fails_the_payment(api):
    acme = api.tenant()
    session = open_session(api, acme)
    failed = api.post(f"/sandbox/sessions/{session['id']}/fail", headers=acme.headers())
    assert failed.status_code == 200, failed.text
    assert failed.json()["status"] == "cancelled"
    payment = api.core.payments.get_payment(acme.principal(), session["payment_id"])
    assert payment.status.value == "failed"


@pytest.mark.parametrize("action", ["pay", "fail"])
def test_a_finished_session_cannot_be_driven_again(api, action):
    acme = api.tenant()
    session = open_session(api, acme)
    assert api.post(f"/sandbox/sessions/{session['id']}/pay", headers=acme.headers()).status_code == 200
    again = api.post(f"/sandbox/sessions/{session['id']}/{action}", headers=acme.headers())
    assert again.status_code == 400 and error_code(again) == "INVALID_OPERATION"
    assert again.json()["error"]["details"]["currentStatus"] == "completed"
    assert api.core.payments.get_payment(acme.principal(), session["payment_id"]).status.value == "completed"


@pytest.mark.parametrize("action", ["pay", "fail"])
def test_a_live_credential_gets_404(api, action):
    acme = api.tenant()
    session = open_session(api, acme)
    live = {"Authorization": f"Bearer {acme.token(livemode=True)}"}
    response = api.post(f"/sandbox/sessions/{session['id']}/{action}", headers=live)
    assert response.status_code == 404 and error_code(response) == "RESOURCE_NOT_FOUND"
    assert session_status(api, acme, session["id"]) == "pending"


@pytest.mark.parametrize(
    "change",
    [{"settings": HttpSettings(sandbox_enabled=False)}, {"sandbox": None}],
    ids=["disabled", "absent"],
)
def test_without_the_sandbox_the_routes_answer_404(api, change):
    acme = api.tenant()
    session = open_session(api, acme)
    with TestClient(create_app(attrs.evolve(api.runtime, **change))) as client:
        response = client.post(f"{BASE}/sandbox/sessions/{session['id']}/pay", headers=acme.headers())
    assert response.status_code == 404 and error_code(response) == "RESOURCE_NOT_FOUND"
    assert session_status(api, acme, session["id"]) == "pending"


def test_another_tenants_session_and_a_missing_one_answer_404(api):
    acme, globex = api.tenant(), api.tenant()
    session = open_session(api, acme)
    foreign = api.post(f"/sandbox/sessions/{session['id']}/pay", headers=globex.headers())
    assert foreign.status_code == 404 and error_code(foreign) == "RESOURCE_NOT_FOUND"
    missing = api.post("/sandbox/sessions/cs_missing/fail", headers=acme.headers())
    assert missing.status_code == 404 and error_code(missing) == "RESOURCE_NOT_FOUND"
    assert session_status(api, acme, session["id"]) == "pending"


def test_paying_needs_payments_write_and_credentials(api):
    acme = api.tenant()
    session = open_session(api, acme)
    reader = api.post(
        f"/sandbox/sessions/{session['id']}/pay", headers=acme.headers(scopes=["payments:read"])
    )
    assert reader.status_code == 403 and error_code(reader) == "INSUFFICIENT_PERMISSIONS"
    anonymous = api.post(f"/sandbox/sessions/{session['id']}/pay")
    assert anonymous.status_code == 401 and error_code(anonymous) == "UNAUTHENTICATED"
    assert session_status(api, acme, session["id"]) == "pending"


def test_a_test_mode_api_key_may_drive_its_tenants_session(api):
    acme = api.tenant()
    session = open_session(api, acme)
    key = {"Authorization": f"Bearer {acme.api_key()}"}
    response = api.post(f"/sandbox/sessions/{session['id']}/pay", headers=key)
    assert response.status_code == 200 and response.json()["status"] == "completed"


def test_end_to_end_pay_then_refund_over_http(api):
    """The fee (2.5%, kept on refund) stays with the platform: a full refund takes back from the
    wallet exactly what the payment brought it, plus that fee."""
    acme = api.tenant()
    headers = acme.headers()
    funding = open_session(api, acme, amount=10000)  # a refund is paid from the wallet
    assert api.post(f"/sandbox/sessions/{funding['id']}/pay", headers=headers).json()["status"] == "completed"
    before = api.core.wallet.wallet_balance(acme.principal()).available

    session = open_session(api, acme)
    paid = api.post(f"/sandbox/sessions/{session['id']}/pay", headers=headers)
    assert paid.status_code == 200, paid.text
    shown = api.get(f"/checkout/sessions/{session['id']}", headers=headers).json()
    assert shown["status"] == "completed" and shown["amount"] == 9900
    payment = api.get(f"/payments/{session['payment_id']}", headers=headers)
    assert payment.status_code == 200 and payment.json()["status"] == "completed"
    assert payment.json()["amount"] == 9900
    fee = api.core.payments.get_payment(acme.principal(), session["payment_id"]).fee
    assert fee.minor == 248  # 2.5% of 99.00, half up
    after_payment = api.core.wallet.wallet_balance(acme.principal()).available
    assert after_payment.minor == before.minor + 9900 - fee.minor

    refund = api.post("/refunds", json={"paymentId": session["payment_id"], "amount": 9900}, headers=headers)
    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "succeeded"
    refunded = api.get(f"/payments/{session['payment_id']}", headers=headers).json()
    assert refunded["status"] == "refunded"
    after_refund = api.core.wallet.wallet_balance(acme.principal())
    assert after_refund.available.minor == before.minor - fee.minor
    assert after_refund.pending.minor == 0


# --- payouts ----------------------------------------------------------------------------------------

WITHDRAWAL = {"amount": 1000.00, "method_type": "mpesa", "method_details": {"phone_number": "254712345678"}}


def approved_withdrawal(api, tenant) -> str:
    tenant.paid_payment("5000.00")
    initiated = api.post("/wallet/withdrawals", json=WITHDRAWAL, headers=tenant.headers(user="ann"))
    assert initiated.status_code == 201, initiated.text
    withdrawal_id = initiated.json()["transaction_id"]
    approved = api.post(f"/wallet/withdrawals/{withdrawal_id}/approve", headers=tenant.headers(user="bob"))
    assert approved.status_code == 200 and approved.json()["status"] == "processing", approved.text
    return withdrawal_id


def wallet_available(api, tenant) -> int:
    return api.core.wallet.wallet_balance(tenant.principal()).available.minor


def test_settling_a_payout_completes_the_withdrawal_and_the_wallet_stays_debited_once(api):
    acme = api.tenant(currency="KES")
    withdrawal_id = approved_withdrawal(api, acme)
    before = wallet_available(api, acme)
    settled = api.post(f"/sandbox/withdrawals/{withdrawal_id}/settle", headers=acme.headers())
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "completed" and settled.json()["id"] == withdrawal_id
    assert wallet_available(api, acme) == before
    again = api.post(f"/sandbox/withdrawals/{withdrawal_id}/settle", headers=acme.headers())
    assert again.status_code == 400 and again.json()["error"]["details"]["currentStatus"] == "completed"


def test_a_failed_payout_gives_the_wallet_its_money_back(api):
    acme = api.tenant(currency="KES")
    withdrawal_id = approved_withdrawal(api, acme)
    before = wallet_available(api, acme)
    failed = api.post(f"/sandbox/withdrawals/{withdrawal_id}/fail", headers=acme.headers())
    assert failed.status_code == 200 and failed.json()["status"] == "failed", failed.text
    assert wallet_available(api, acme) == before + 100_000  # 1000.00 KES, fee included, back


def test_payouts_are_driven_only_by_their_tenant_an_approver_and_in_test_mode(api):
    acme, globex = api.tenant(currency="KES"), api.tenant(currency="KES")
    withdrawal_id = approved_withdrawal(api, acme)
    path = f"/sandbox/withdrawals/{withdrawal_id}/settle"
    other = api.post(path, headers=globex.headers())
    assert other.status_code == 404 and error_code(other) == "RESOURCE_NOT_FOUND"
    viewer = api.post(path, headers=acme.headers(scopes=["finance:view"]))
    assert viewer.status_code == 403 and error_code(viewer) == "INSUFFICIENT_PERMISSIONS"
    live = api.post(path, headers={"Authorization": f"Bearer {acme.token(livemode=True)}"})
    assert live.status_code == 404
    still = api.core.wallet.get_withdrawal(acme.principal(), withdrawal_id)
    assert still.status.value == "processing"
