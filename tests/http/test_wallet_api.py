"""Seed 002 over HTTP: the wallet, its withdrawal options and four-eyes withdrawals, in major units."""

import json
import time

import pytest

from tests.support.http import error_code

VIEW = ["finance:view"]
INITIATE = ["finance:withdraw:initiate"]
APPROVE = ["finance:withdraw:approve"]
JSON = {"Content-Type": "application/json"}
PHONE = "254712345678"


def withdrawal_body(amount="1000.00", **fields):
    """A JSON body with the amount written verbatim, as a client types it (never through a float)."""
    content = {
        "method_type": "mpesa",
        "method_details": {"phone_number": PHONE},
        "notes": "Monthly",
        **fields,
    }
    return '{"amount": ' + amount + ", " + json.dumps(content)[1:]


def funded(api):
    """A KES tenant whose wallet holds 4875.00 (a 5000.00 payment less the 2.5% payment fee)."""
    acme = api.tenant(currency="KES")
    acme.paid_payment("5000.00")
    return acme


def initiate(api, tenant, user="ann", body=None, **headers):
    return api.post(
        "/wallet/withdrawals",
        content=body or withdrawal_body(),
        headers=tenant.headers(user=user, scopes=INITIATE, **JSON, **headers),
    )


def wallet_state(api, tenant):
    """What a refused request must leave as it was: the balances and every withdrawal."""
    principal = tenant.principal()
    balance = api.core.wallet.wallet_balance(principal)
    page = api.core.wallet.list_withdrawals(principal, None, 100)
    return (
        balance.available.minor,
        balance.pending.minor,
        balance.posted.minor,
        [(item.id, item.status.value) for item in page.results],
    )


def balance_of(api, tenant, **params):
    response = api.get("/wallet/balance", params=params, headers=tenant.headers(scopes=VIEW))
    assert response.status_code == 200, response.text
    return response


# --- balance and options ----------------------------------------------------------------------------


def test_balance_answers_available_pending_and_total_in_exact_major_units(api):
    acme = funded(api)
    response = balance_of(api, acme)
    assert response.json() == {"currency": "KES", "available": 4875.0, "pending": 0.0, "total": 4875.0}
    assert '"available":4875.00' in response.text  # an exact JSON number, never a float's rendering
    assert initiate(api, acme).status_code == 201
    held = balance_of(api, acme)
    assert held.json() == {"currency": "KES", "available": 3875.0, "pending": 1000.0, "total": 4875.0}
    assert '"pending":1000.00' in held.text


def test_balance_of_another_currency_and_an_unknown_one(api):
    acme = funded(api)
    assert balance_of(api, acme, currency="USD").json() == {
        "currency": "USD",
        "available": 0.0,
        "pending": 0.0,
        "total": 0.0,
    }
    unknown = api.get("/wallet/balance?currency=XYZ", headers=acme.headers(scopes=VIEW))
    assert unknown.status_code == 400 and error_code(unknown) == "INVALID_CURRENCY"


def test_withdrawal_options_carry_the_seed_fees_minimums_and_balance(api):
    acme = funded(api)
    response = api.get("/wallet/withdrawal-options", headers=acme.headers(scopes=VIEW))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "available_methods": ["mpesa", "till", "bank_transfer"],
        "configured_method": None,
        "minimum_amounts": {"mpesa": 10.0, "till": 10.0, "bank_transfer": 100.0},
        "fees": {"mpesa": 33.0, "till": 27.0, "bank_transfer": 50.0},
        "wallet_balance": 4875.0,
        "currency": "KES",
    }
    assert '"wallet_balance":4875.00' in response.text and '"mpesa":33.00' in response.text


def test_an_api_key_in_the_seed_headers_reads_the_options(api):
    acme = funded(api)
    headers = {"X-TENANT-ID": acme.id, "X-TENANT-API-KEY": acme.api_key(scopes=VIEW)}
    response = api.get("/wallet/withdrawal-options", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["wallet_balance"] == 4875.0


def test_a_configured_method_is_shown_and_used_when_a_withdrawal_names_no_details(api):
    acme = funded(api)
    api.core.tenants.configure_withdrawal_method(acme.principal(), "till", {"till_number": "123456"})
    options = api.get("/wallet/withdrawal-options", headers=acme.headers(scopes=VIEW)).json()
    assert options["configured_method"] == {"method_type": "till", "details": {"till_number": "123456"}}
    body = '{"amount": 100.00, "method_type": "till"}'
    response = initiate(api, acme, body=body)
    assert response.status_code == 201, response.text
    assert (response.json()["fee"], response.json()["net_amount"]) == (27.0, 73.0)
    mpesa_without_details = initiate(api, acme, body='{"amount": 100.00, "method_type": "mpesa"}')
    assert mpesa_without_details.status_code == 400
    assert mpesa_without_details.json()["error"]["details"]["field"] == "method_details"


# --- the four-eyes flow -----------------------------------------------------------------------------


def test_four_eyes_withdrawal_from_initiation_to_settlement(api):
    acme = funded(api)
    started = initiate(api, acme, user="ann")
    assert started.status_code == 201, started.text
    answer = started.json()
    withdrawal_id = answer.pop("transaction_id")
    assert answer == {
        "message": "Withdrawal request initiated successfully",
        "status": "pending",
        "amount": 1000.0,
        "fee": 33.0,
        "net_amount": 967.0,
        "currency": "KES",
        "requires_approval": True,
    }
    assert '"amount":1000.00,"fee":33.00,"net_amount":967.00' in started.text
    approve = f"/wallet/withdrawals/{withdrawal_id}/approve"

    by_initiator = api.post(approve, headers=acme.headers(user="ann", scopes=INITIATE + APPROVE))
    assert by_initiator.status_code == 403 and error_code(by_initiator) == "FOUR_EYES_VIOLATION"
    by_key = api.post(approve, headers={"Authorization": f"Bearer {acme.api_key(scopes=APPROVE)}"})
    assert by_key.status_code == 403 and error_code(by_key) == "FOUR_EYES_VIOLATION"
    assert wallet_state(api, acme) == (387500, 100000, 487500, [(withdrawal_id, "pending")])

    approved = api.post(approve, headers=acme.headers(user="bob", scopes=APPROVE))
    assert approved.status_code == 200, approved.text
    result = approved.json()
    assert result["success"] is True and result["transaction_id"] == withdrawal_id
    assert result["status"] == "processing"  # the sandbox, like M-Pesa, confirms the payout later
    assert (result["amount"], result["fee"], result["net_amount"]) == (1000.0, 33.0, 967.0)
    assert result["provider_response"]["provider"] == "sandbox"
    assert wallet_state(api, acme) == (387500, 0, 387500, [(withdrawal_id, "processing")])

    again = api.post(approve, headers=acme.headers(user="carol", scopes=APPROVE))
    assert again.status_code == 400 and error_code(again) == "INVALID_OPERATION"
    api.sandbox.settle_payout(result["provider_response"]["conversation_id"])
    assert wallet_state(api, acme) == (387500, 0, 387500, [(withdrawal_id, "completed")])  # debited once

    listed = api.get("/wallet/withdrawals?status=completed", headers=acme.headers(scopes=VIEW)).json()
    assert listed["count"] == 1
    (item,) = listed["results"]
    assert item["id"] == withdrawal_id and item["net_amount"] == 967.0
    assert (item["initiated_by"], item["approved_by"], item["method_type"]) == ("ann", "bob", "mpesa")
    assert item["notes"] == "Monthly" and item["created_at"].endswith("Z")


def test_cents_arrive_exactly_as_typed(api):
    acme = funded(api)
    response = initiate(api, acme, body=withdrawal_body("1000.10"))
    assert response.status_code == 201, response.text
    assert '"amount":1000.10,"fee":33.00,"net_amount":967.10' in response.text
    assert wallet_state(api, acme)[:3] == (387490, 100010, 487500)


def test_a_failed_payout_gives_the_wallet_its_money_back(api):
    acme = funded(api)
    withdrawal_id = initiate(api, acme).json()["transaction_id"]
    approved = api.post(
        f"/wallet/withdrawals/{withdrawal_id}/approve", headers=acme.headers(user="bob", scopes=APPROVE)
    ).json()
    api.sandbox.fail_payout(approved["provider_response"]["conversation_id"])
    assert wallet_state(api, acme) == (487500, 0, 487500, [(withdrawal_id, "failed")])


def test_approving_twice_with_one_idempotency_key_pays_out_once(api):
    acme = funded(api)
    withdrawal_id = initiate(api, acme).json()["transaction_id"]
    headers = acme.headers(user="bob", scopes=APPROVE, **{"Idempotency-Key": "approve-1"})
    first = api.post(f"/wallet/withdrawals/{withdrawal_id}/approve", headers=headers)
    assert first.status_code == 200, first.text
    again = api.post(f"/wallet/withdrawals/{withdrawal_id}/approve", headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert wallet_state(api, acme) == (387500, 0, 387500, [(withdrawal_id, "processing")])


# --- cancel and list -------------------------------------------------------------------------------


def test_cancel_releases_the_hold_and_either_withdrawal_scope_may_cancel(api):
    acme = funded(api)
    first = initiate(api, acme).json()["transaction_id"]
    second = initiate(api, acme, body=withdrawal_body("500.00")).json()["transaction_id"]
    canceled = api.post(
        f"/wallet/withdrawals/{first}/cancel",
        json={"reason": "Changed mind"},
        headers=acme.headers(user="ann", scopes=INITIATE),
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json() == {
        "message": "Withdrawal canceled successfully",
        "transaction_id": first,
        "status": "canceled",
    }
    by_approver = api.post(
        f"/wallet/withdrawals/{second}/cancel", headers=acme.headers(user="bob", scopes=APPROVE)
    )
    assert by_approver.status_code == 200 and by_approver.json()["status"] == "canceled"
    assert wallet_state(api, acme)[:3] == (487500, 0, 487500)
    again = api.post(f"/wallet/withdrawals/{first}/cancel", headers=acme.headers(scopes=INITIATE))
    assert again.status_code == 400 and error_code(again) == "INVALID_OPERATION"


def test_cancel_refuses_a_viewer_and_an_over_long_reason_and_changes_nothing(api):
    acme = funded(api)
    withdrawal_id = initiate(api, acme).json()["transaction_id"]
    before = wallet_state(api, acme)
    path = f"/wallet/withdrawals/{withdrawal_id}/cancel"
    viewer = api.post(path, headers=acme.headers(scopes=VIEW))
    assert viewer.status_code == 403 and error_code(viewer) == "INSUFFICIENT_PERMISSIONS"
    long_reason = api.post(path, json={"reason": "x" * 501}, headers=acme.headers(scopes=INITIATE))
    assert long_reason.status_code == 400 and error_code(long_reason) == "INVALID_PARAMETER"
    assert wallet_state(api, acme) == before


def test_list_filters_by_status_and_limits_the_page(api):
    acme = funded(api)
    ids = [initiate(api, acme, body=withdrawal_body("100.00")).json()["transaction_id"] for _ in range(3)]
    api.post(f"/wallet/withdrawals/{ids[0]}/cancel", headers=acme.headers(scopes=INITIATE))
    headers = acme.headers(scopes=VIEW)
    pending = api.get("/wallet/withdrawals?status=pending&limit=1", headers=headers).json()
    assert pending["count"] == 2 and len(pending["results"]) == 1
    assert pending["results"][0]["id"] in ids[1:]
    canceled = api.get("/wallet/withdrawals?status=canceled", headers=headers).json()
    assert [item["id"] for item in canceled["results"]] == [ids[0]]
    assert api.get("/wallet/withdrawals", headers=headers).json()["count"] == 3


@pytest.mark.parametrize("query", ["status=lost", "limit=0", "limit=101", "limit=ten"])
def test_list_refuses_bad_filters(api, query):
    acme = api.tenant(currency="KES")
    response = api.get(f"/wallet/withdrawals?{query}", headers=acme.headers(scopes=VIEW))
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"


# --- scopes and tenants ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/wallet/balance", "/wallet/withdrawal-options", "/wallet/withdrawals"])
def test_reading_the_wallet_needs_finance_view(api, path):
    acme = funded(api)
    response = api.get(path, headers=acme.headers(scopes=INITIATE + APPROVE))
    assert response.status_code == 403 and error_code(response) == "INSUFFICIENT_PERMISSIONS"
    assert response.json()["error"]["details"]["requiredScopes"] == ["finance:view"]


def test_initiating_and_approving_need_their_own_scopes(api):
    acme = funded(api)
    before = wallet_state(api, acme)
    refused = api.post(
        "/wallet/withdrawals", content=withdrawal_body(), headers=acme.headers(scopes=VIEW + APPROVE, **JSON)
    )
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    assert wallet_state(api, acme) == before
    withdrawal_id = initiate(api, acme, user="ann").json()["transaction_id"]
    held = wallet_state(api, acme)
    not_approver = api.post(
        f"/wallet/withdrawals/{withdrawal_id}/approve",
        headers=acme.headers(user="bob", scopes=VIEW + INITIATE),
    )
    assert not_approver.status_code == 403 and error_code(not_approver) == "INSUFFICIENT_PERMISSIONS"
    assert wallet_state(api, acme) == held


def test_another_tenants_withdrawal_is_not_found_and_stays_untouched(api):
    acme, globex = funded(api), funded(api)
    withdrawal_id = initiate(api, acme).json()["transaction_id"]
    before = wallet_state(api, acme)
    for action in ("approve", "cancel"):
        response = api.post(
            f"/wallet/withdrawals/{withdrawal_id}/{action}",
            headers=globex.headers(user="bob", scopes=APPROVE),
        )
        assert response.status_code == 404 and error_code(response) == "RESOURCE_NOT_FOUND"
    assert api.get("/wallet/withdrawals", headers=globex.headers(scopes=VIEW)).json() == {
        "count": 0,
        "results": [],
    }
    assert wallet_state(api, acme) == before
    assert wallet_state(api, globex)[:3] == (487500, 0, 487500)


def test_a_tenant_header_naming_another_tenant_is_refused(api):
    acme, globex = funded(api), funded(api)
    response = initiate(api, acme, **{"X-TENANT-ID": globex.id})
    assert response.status_code == 403
    assert wallet_state(api, acme)[3] == [] and wallet_state(api, globex)[3] == []


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (withdrawal_body("1000.001"), "INVALID_AMOUNT"),
        (withdrawal_body("1000.000000000000000000000000001"), "INVALID_AMOUNT"),
        (withdrawal_body("0"), "INVALID_AMOUNT"),
        (withdrawal_body("-100.00"), "INVALID_AMOUNT"),
        (withdrawal_body("5.00"), "INVALID_AMOUNT"),  # below M-Pesa's minimum of 10.00
        (withdrawal_body("99999999999999999999"), "INVALID_AMOUNT"),
        (withdrawal_body('"ten"'), "INVALID_PARAMETER"),
        (withdrawal_body("true"), "INVALID_PARAMETER"),
        (withdrawal_body("null"), "INVALID_PARAMETER"),
        (withdrawal_body(currency="XYZ"), "INVALID_CURRENCY"),
        (withdrawal_body(currency="USD"), "CURRENCY_MISMATCH"),
        (withdrawal_body(method_type="paypal"), "INVALID_PARAMETER"),
        (withdrawal_body(method_details={"phone_number": "12345"}), "INVALID_PARAMETER"),
        (withdrawal_body(method_details={"phone_number": PHONE, "pin": "1234"}), "INVALID_PARAMETER"),
        (withdrawal_body(method_details={"phone_number": 254712345678}), "INVALID_PARAMETER"),
        (withdrawal_body(notes="x" * 501), "INVALID_PARAMETER"),
        ('{"method_type": "mpesa"}', "INVALID_PARAMETER"),
        ('{"amount": 1000.00, "method_type": ', "INVALID_PARAMETER"),
        ("[1000]", "INVALID_PARAMETER"),
    ],
)
def test_bad_withdrawal_input_is_refused_and_nothing_is_held(api, body, code):
    acme = funded(api)
    before = wallet_state(api, acme)
    response = initiate(api, acme, body=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert wallet_state(api, acme) == before


def test_an_absurd_exponent_is_refused_at_once(api):
    acme = funded(api)
    before = wallet_state(api, acme)
    started = time.monotonic()
    response = initiate(api, acme, body=withdrawal_body("9e999990"))
    assert time.monotonic() - started < 5  # building that integer would take many seconds of CPU
    assert response.status_code == 400 and error_code(response) == "INVALID_AMOUNT"
    assert wallet_state(api, acme) == before


def test_insufficient_funds_is_refused_and_nothing_changes(api):
    acme = funded(api)
    assert initiate(api, acme, body=withdrawal_body("4000.00")).status_code == 201
    before = wallet_state(api, acme)
    response = initiate(api, acme, body=withdrawal_body("1000.00"))  # 875.00 is left
    assert response.status_code == 400 and error_code(response) == "INSUFFICIENT_FUNDS"
    assert wallet_state(api, acme) == before


# --- idempotency ---------------------------------------------------------------------------------


def test_an_initiation_replays_for_the_same_key_and_refuses_another_body(api):
    acme = funded(api)
    first = initiate(api, acme, **{"Idempotency-Key": "wd-1"})
    assert first.status_code == 201, first.text
    again = initiate(api, acme, **{"Idempotency-Key": "wd-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = initiate(api, acme, body=withdrawal_body("2000.00"), **{"Idempotency-Key": "wd-1"})
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert wallet_state(api, acme) == (387500, 100000, 487500, [(first.json()["transaction_id"], "pending")])


def test_without_credentials_the_wallet_answers_401(api):
    assert api.get("/wallet/balance").status_code == 401
    response = api.post("/wallet/withdrawals", content=withdrawal_body(), headers=JSON)
    assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED"
