"""Seed 003 over HTTP: `POST /refunds`, in integer minor units, MFA required."""

import pytest

from tests.support.http import error_code, wait_for_a_fresh_window


def funded(api, **tenant_options):
    """A tenant whose wallet can pay a refund of a 99.00 payment back (the 2.5% fee is kept)."""
    acme = api.tenant(**tenant_options)
    acme.paid_payment("100.00")
    return acme, acme.paid_payment("99.00")


def snapshot(api, tenant, payment_id):
    """What a refused refund must leave as it was."""
    principal = tenant.principal()
    return (
        api.core.refunds.list_refunds(principal, payment_id),
        api.core.payments.get_payment(principal, payment_id).status.value,
        api.core.wallet.wallet_balance(principal),
    )


def test_a_full_refund_answers_the_seed_fields_and_refunds_the_payment(api):
    acme, paid = funded(api)
    response = api.post(
        "/refunds",
        json={"paymentId": paid, "amount": 9900, "reason": "Customer request"},
        headers=acme.headers(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["refundId"] and body["status"] == "succeeded" and body["amount"] == 9900
    assert body["providerRefundId"].startswith("sbx_re_")
    assert body["paymentId"] == paid and body["currency"] == "USD" and body["reason"] == "Customer request"
    assert api.core.payments.get_payment(acme.principal(), paid).status.value == "refunded"


def test_partial_refunds_then_the_rest_without_an_amount(api):
    acme, paid = funded(api)
    part = api.post("/refunds", json={"paymentId": paid, "amount": 2000}, headers=acme.headers())
    assert part.status_code == 201, part.text
    assert api.core.payments.get_payment(acme.principal(), paid).status.value == "partially_refunded"
    rest = api.post("/refunds", json={"paymentId": paid}, headers=acme.headers())
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == 7900
    payment = api.core.payments.get_payment(acme.principal(), paid)
    assert payment.status.value == "refunded" and payment.refunded_amount.minor == 9900


def test_refunds_create_alone_is_enough_and_its_absence_is_403(api):
    acme, paid = funded(api)
    before = snapshot(api, acme, paid)
    lacking = acme.headers(scopes=["payments:read", "payments:write"])
    refused = api.post("/refunds", json={"paymentId": paid, "amount": 100}, headers=lacking)
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    assert snapshot(api, acme, paid) == before
    only_refunds = acme.headers(scopes=["refunds:create"])
    allowed = api.post("/refunds", json={"paymentId": paid, "amount": 100}, headers=only_refunds)
    assert allowed.status_code == 201, allowed.text


def test_without_fresh_mfa_the_answer_is_a_challenge_then_mfa_succeeds(api):
    acme, paid = funded(api)
    before = snapshot(api, acme, paid)
    no_mfa = {"Authorization": f"Bearer {acme.token(mfa=False)}"}
    challenged = api.post("/refunds", json={"paymentId": paid, "amount": 100}, headers=no_mfa)
    assert challenged.status_code == 401 and error_code(challenged) == "MFA_CHALLENGE_REQUIRED"
    assert challenged.json()["error"]["details"]["action"] == "refund"
    missing_payment = api.post("/refunds", json={"paymentId": "pay_missing", "amount": 1}, headers=no_mfa)
    assert error_code(missing_payment) == "MFA_CHALLENGE_REQUIRED"  # nothing learnt before the MFA
    assert snapshot(api, acme, paid) == before
    verified = api.post("/refunds", json={"paymentId": paid, "amount": 100}, headers=acme.headers())
    assert verified.status_code == 201, verified.text


def test_an_api_key_cannot_refund(api):
    acme, paid = funded(api)
    before = snapshot(api, acme, paid)
    key = acme.api_key()
    refused = api.post(
        "/refunds", json={"paymentId": paid, "amount": 100}, headers={"Authorization": f"Bearer {key}"}
    )
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    assert snapshot(api, acme, paid) == before


def test_another_tenants_payment_answers_404_and_is_untouched(api):
    acme, paid = funded(api)
    globex = api.tenant()
    before = snapshot(api, acme, paid)
    for body in ({"paymentId": paid, "amount": 100}, {"paymentId": paid}):
        response = api.post("/refunds", json=body, headers=globex.headers())
        assert response.status_code == 404 and error_code(response) == "RESOURCE_NOT_FOUND"
    assert snapshot(api, acme, paid) == before


def test_the_same_idempotency_key_replays_and_another_body_is_refused(api):
    acme, paid = funded(api)
    headers = acme.headers(**{"Idempotency-Key": "refund-1"})
    body = {"paymentId": paid, "amount": 1000, "reason": "damaged"}
    first = api.post("/refunds", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = api.post("/refunds", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post("/refunds", json={**body, "amount": 2000}, headers=headers)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    refunds = api.core.refunds.list_refunds(acme.principal(), paid)
    assert [(r.id, r.amount.minor) for r in refunds] == [(first.json()["refundId"], 1000)]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 0}, "INVALID_AMOUNT"),
        ({"amount": -100}, "INVALID_AMOUNT"),
        ({"amount": 12.5}, "INVALID_AMOUNT"),
        ({"amount": "10.00"}, "INVALID_AMOUNT"),
        ({"amount": 1000.0}, "INVALID_AMOUNT"),
        ({"amount": 9901}, "INVALID_AMOUNT"),
        ({"amount": 10**30}, "INVALID_AMOUNT"),
        ({"amount": "ten"}, "INVALID_PARAMETER"),
        ({"amount": [100]}, "INVALID_PARAMETER"),
        ({"reason": "x" * 501}, "INVALID_PARAMETER"),
        ({"reason": 42}, "INVALID_PARAMETER"),
        ({"paymentId": ""}, "INVALID_PARAMETER"),
        ({"paymentId": "p" * 256}, "INVALID_PARAMETER"),
        ({"paymentId": None}, "INVALID_PARAMETER"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(api, change, code):
    acme, paid = funded(api)
    before = snapshot(api, acme, paid)
    body = {"paymentId": paid, "amount": 100, "reason": "Customer request", **change}
    response = api.post("/refunds", json=body, headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert snapshot(api, acme, paid) == before


@pytest.mark.parametrize("field", ["amount_cents", "refundAmount", "Amount"])
def test_an_amount_under_another_name_is_refused_not_read_as_a_whole_refund(api, field):
    acme, paid = funded(api)
    before = snapshot(api, acme, paid)
    response = api.post("/refunds", json={"paymentId": paid, field: 100}, headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert response.json()["error"]["details"]["field"] == field
    assert snapshot(api, acme, paid) == before


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"amount": 100}'])
def test_malformed_or_incomplete_json_is_400_and_changes_nothing(api, content):
    acme, paid = funded(api)
    before = snapshot(api, acme, paid)
    headers = acme.headers(**{"Content-Type": "application/json"})
    response = api.post("/refunds", content=content, headers=headers)
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert snapshot(api, acme, paid) == before


def test_a_pending_payment_cannot_be_refunded(api):
    acme = api.tenant()
    pending = acme.pending_payment()
    before = snapshot(api, acme, pending)
    response = api.post("/refunds", json={"paymentId": pending, "amount": 100}, headers=acme.headers())
    assert response.status_code == 400 and error_code(response) == "INVALID_OPERATION"
    assert response.json()["error"]["details"]["currentStatus"] == "pending"
    assert snapshot(api, acme, pending) == before


def test_a_wallet_that_cannot_cover_the_refund_refuses_it(api):
    acme = api.tenant()
    paid = acme.paid_payment("99.00")  # the wallet holds 99.00 less the kept 2.5% fee
    before = snapshot(api, acme, paid)
    response = api.post("/refunds", json={"paymentId": paid, "amount": 9900}, headers=acme.headers())
    assert response.status_code == 400 and error_code(response) == "INSUFFICIENT_FUNDS"
    assert snapshot(api, acme, paid) == before


def test_the_sixth_refund_in_a_minute_is_rate_limited(api):
    acme, paid = funded(api)
    wait_for_a_fresh_window(api)
    answers = [
        api.post("/refunds", json={"paymentId": paid, "amount": 1}, headers=acme.headers()) for _ in range(6)
    ]
    assert [answer.status_code for answer in answers] == [201] * 5 + [429]
    assert error_code(answers[-1]) == "RATE_LIMIT_EXCEEDED"
    assert answers[-1].json()["error"]["details"]["retryAfter"] >= 1
    assert answers[0].headers["x-ratelimit-limit"] == "5"
    assert len(api.core.refunds.list_refunds(acme.principal(), paid)) == 5
