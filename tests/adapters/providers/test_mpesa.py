"""The M-Pesa adapter against a loopback Daraja (tests/fakes/mpesa_server.py) over real HTTP: request
shapes, the OAuth token's reuse and refresh, STK push and query, B2C and B2B payouts, callbacks."""

import base64
import json
import socket
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from adapters.memory.clock import ManualClock
from adapters.providers.http_policy import ProviderHttp, RetryPolicy
from adapters.providers.mpesa import MpesaProvider
from payments_core.errors import (
    InvalidAmount,
    InvalidOperation,
    ProviderUnavailable,
    Unauthenticated,
    ValidationError,
)
from payments_core.money import Money
from payments_core.ports import (
    CheckoutRequest,
    DirectPaymentRequest,
    PayoutRequest,
    ProviderEventType,
    ReceiptStatus,
    RefundRequest,
)
from tests.fakes.mpesa_server import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSKEY,
    SHORTCODE,
    FakeMpesa,
    contract_bytes,
    load_contract,
)
from tests.fakes.serving import serve

NOW = datetime(2026, 3, 1, 9, 0, 5, tzinfo=UTC)  # 12:00:05 in Nairobi
NAIROBI_STAMP = "20260301120005"
CALLBACK_URL = "https://payments.example.com/hooks/mpesa/cb-2f9c1e7d"
URL_TOKEN = "cb-2f9c1e7d"
TIMEOUT = 0.3
RETRIES = 1
STK = "/mpesa/stkpush/v1/processrequest"
QUERY = "/mpesa/stkpushquery/v1/query"
B2C = "/mpesa/b2c/v3/paymentrequest"
B2B = "/mpesa/b2b/v1/paymentrequest"
OAUTH = "/oauth/v1/generate"
AMOUNT = Money(150000, "KES")  # 1500.00
NET = Money(96700, "KES")  # 967.00: a withdrawal of 1000 less the 33 fee

CREDENTIALS = {
    "consumer_key": CONSUMER_KEY,
    "consumer_secret": CONSUMER_SECRET,
    "shortcode": SHORTCODE,
    "passkey": PASSKEY,
    "initiator_name": "testapi",
    "security_credential": "RVNqb2NLNytOanFaUEMzSTNFTytUYnZTK3hWYjlUeW1Xd2FLQUJvYVpy",
    "callback_url": CALLBACK_URL,
}
SECRETS = (CONSUMER_KEY, CONSUMER_SECRET, PASSKEY, CREDENTIALS["security_credential"], URL_TOKEN)


class Current:
    """One loopback server for the module, talking to each test's own fake."""

    def __init__(self):
        self.app = FakeMpesa()

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server():
    current = Current()
    with serve(current) as url:
        yield current, url


@pytest.fixture
def fake(server):
    server[0].app = FakeMpesa()
    return server[0].app


@pytest.fixture
def base_url(server, fake):
    return server[1]


def make_provider(base_url, credentials=None):
    http = ProviderHttp(
        "mpesa",
        base_url,
        timeout=httpx.Timeout(TIMEOUT),
        retry=RetryPolicy(retries=RETRIES, base_delay=0.01, max_delay=0.02),
    )
    return MpesaProvider(
        credentials or (lambda tenant_id, livemode: CREDENTIALS), ManualClock(NOW), http=http
    )


@pytest.fixture
def provider(base_url):
    return make_provider(base_url)


def checkout(amount=AMOUNT, phone="0712 345 678", tenant="t_1", livemode=False):
    return CheckoutRequest(
        tenant, "cs_000001", amount, "order-42-long-reference", livemode=livemode, customer_phone_number=phone
    )


def payout(method_type="mpesa", details=None, amount=NET, withdrawal_id="wd_000001"):
    details = details if details is not None else {"phone_number": "254712345678"}
    return PayoutRequest("t_1", withdrawal_id, amount, method_type, details, livemode=False)


def bearer(request):
    return request.headers["authorization"].removeprefix("Bearer ")


# --- the STK push --------------------------------------------------------------------------------


def test_an_stk_push_speaks_darajas_shape_with_the_nairobi_timestamp_and_password(provider, fake):
    started = provider.start_checkout(checkout())

    assert started.provider_reference in fake.pushes
    assert started.redirect_url == ""
    [push] = fake.calls_to(STK)
    body = push.json
    assert set(body) == set(load_contract("stk_push_request"))
    assert body["Timestamp"] == NAIROBI_STAMP
    assert base64.b64decode(body["Password"]).decode() == f"{SHORTCODE}{PASSKEY}{NAIROBI_STAMP}"
    assert body["BusinessShortCode"] == body["PartyB"] == SHORTCODE
    assert body["TransactionType"] == "CustomerPayBillOnline"
    assert type(body["Amount"]) is int and body["Amount"] == 1500
    assert body["PartyA"] == body["PhoneNumber"] == "254712345678"
    assert body["CallBackURL"] == CALLBACK_URL
    assert body["AccountReference"] == "order-42-lon"
    assert bearer(push) == fake.tokens_issued[0]


def test_the_oauth_call_is_a_get_with_basic_auth_of_the_consumer_key_and_secret(provider, fake):
    provider.start_checkout(checkout())

    [oauth] = fake.calls_to(OAUTH)
    assert oauth.method == "GET"
    assert oauth.query == {"grant_type": "client_credentials"}
    assert base64.b64decode(oauth.headers["authorization"].removeprefix("Basic ")).decode() == (
        f"{CONSUMER_KEY}:{CONSUMER_SECRET}"
    )


def test_one_token_serves_many_calls_and_each_tenant_and_mode_has_its_own(provider, fake):
    first = provider.start_checkout(checkout())
    provider.start_checkout(checkout())
    provider.payout(payout())
    fake.finish_push(first.provider_reference)
    provider.stk_status("t_1", False, first.provider_reference)

    assert len(fake.calls_to(OAUTH)) == 1
    assert {bearer(r) for r in fake.requests if r.path != OAUTH} == {fake.tokens_issued[0]}

    provider.start_checkout(checkout(livemode=True))
    provider.start_checkout(checkout(tenant="t_2"))
    assert len(fake.calls_to(OAUTH)) == 3


def test_a_refused_token_is_forgotten_fetched_again_and_the_call_made_once_more(provider, fake):
    provider.start_checkout(checkout())
    fake.revoke_tokens()

    second = provider.start_checkout(checkout())

    assert second.provider_reference in fake.pushes
    assert len(fake.tokens_issued) == 2
    pushes = fake.calls_to(STK)
    assert [bearer(p) for p in pushes] == [
        fake.tokens_issued[0],
        fake.tokens_issued[0],
        fake.tokens_issued[1],
    ]
    assert len(fake.pushes) == 2  # the refused call moved nothing; the retried one did


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (Money(150050, "KES"), InvalidAmount),  # 1500.50: M-Pesa takes whole shillings
        (Money(0, "KES"), InvalidAmount),
        (Money(150000, "USD"), ValidationError),
    ],
)
def test_amounts_m_pesa_cannot_take_are_refused_before_any_call(provider, fake, amount, error):
    with pytest.raises(error):
        provider.start_checkout(checkout(amount=amount))
    with pytest.raises(error):
        provider.payout(payout(amount=amount))
    assert fake.requests == []


@pytest.mark.parametrize("phone", [None, "12345", "255712345678", "07123456789"])
def test_a_checkout_needs_a_kenyan_mobile_number(provider, fake, phone):
    with pytest.raises(ValidationError) as refused:
        provider.start_checkout(checkout(phone=phone))
    assert "712345" not in str(refused.value)
    assert fake.requests == []


def test_darajas_refusal_is_an_invalid_operation_with_its_error_code(provider, fake):
    fake.passkey = "another-passkey"  # the tenant's passkey no longer matches: Daraja says 400

    with pytest.raises(InvalidOperation) as refused:
        provider.start_checkout(checkout())

    assert refused.value.details["errorCode"] == "400.002.02"
    assert fake.pushes == {}


# --- payouts --------------------------------------------------------------------------------------


def test_an_mpesa_payout_is_a_b2c_payment_keyed_by_our_withdrawal_id(provider, fake):
    receipt = provider.payout(payout())

    [call] = fake.calls_to(B2C)
    body = call.json
    assert set(body) == set(load_contract("b2c_request"))
    assert body["OriginatorConversationID"] == "wd_000001"
    assert body["CommandID"] == "BusinessPayment"
    assert type(body["Amount"]) is int and body["Amount"] == 967
    assert (body["PartyA"], body["PartyB"]) == (SHORTCODE, "254712345678")
    assert (body["InitiatorName"], body["SecurityCredential"]) == (
        "testapi",
        CREDENTIALS["security_credential"],
    )
    assert body["ResultURL"] == body["QueueTimeOutURL"] == CALLBACK_URL
    assert fake.calls_to(B2B) == []
    assert receipt.status is ReceiptStatus.PENDING
    assert receipt.provider_reference == "wd_000001"
    assert receipt.details["conversation_id"] == fake.payouts["wd_000001"]["_conversation_id"]


def test_a_till_payout_is_a_b2b_buy_goods_payment(provider, fake):
    receipt = provider.payout(payout("till", {"till_number": "123456"}))

    [call] = fake.calls_to(B2B)
    body = call.json
    assert set(body) == set(load_contract("b2b_request"))
    assert body["CommandID"] == "BusinessBuyGoods"
    assert (body["SenderIdentifierType"], body["RecieverIdentifierType"]) == ("4", "4")
    assert (body["PartyA"], body["PartyB"], body["Amount"]) == (SHORTCODE, "123456", 967)
    assert fake.calls_to(B2C) == []
    assert receipt.status is ReceiptStatus.PENDING
    assert receipt.provider_reference in fake.payouts  # Safaricom's OriginatorConversationID
    assert receipt.details["command"] == "b2b"


def test_the_same_withdrawal_is_not_paid_twice(provider, fake):
    provider.payout(payout())
    with pytest.raises(InvalidOperation):
        provider.payout(payout())
    assert len(fake.payouts) == 1
    assert [c.json["OriginatorConversationID"] for c in fake.calls_to(B2C)] == ["wd_000001", "wd_000001"]


@pytest.mark.parametrize(
    ("method_type", "details"),
    [("bank_transfer", {"account_number": "1"}), ("till", {"till_number": "12ab"}), ("mpesa", {})],
)
def test_payouts_m_pesa_cannot_make_are_refused_before_any_call(provider, fake, method_type, details):
    with pytest.raises((InvalidOperation, ValidationError)):
        provider.payout(payout(method_type, details))
    assert fake.requests == []


def test_refunds_and_direct_payments_are_not_offered(provider, fake):
    with pytest.raises(InvalidOperation):
        provider.refund(RefundRequest("t_1", "re_1", "NLJ7RT61SV", Money(100, "KES"), livemode=False))
    with pytest.raises(InvalidOperation):
        provider.create_payment(
            DirectPaymentRequest("t_1", "pay_1", Money(100, "KES"), "x", "card", {}, livemode=False)
        )
    assert fake.requests == []


# --- the status query ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result_code", "expected"),
    [
        (0, ProviderEventType.PAYMENT_SUCCEEDED),
        (1032, ProviderEventType.PAYMENT_FAILED),
        (1, ProviderEventType.PAYMENT_FAILED),
        (2001, ProviderEventType.PAYMENT_FAILED),
        (1019, ProviderEventType.PAYMENT_EXPIRED),
    ],
)
def test_the_stk_query_maps_darajas_result_code(provider, fake, result_code, expected):
    checkout_id = provider.start_checkout(checkout()).provider_reference
    fake.finish_push(checkout_id, result_code)

    assert provider.stk_status("t_1", False, checkout_id) is expected

    [query] = fake.calls_to(QUERY)
    assert query.json["CheckoutRequestID"] == checkout_id
    assert base64.b64decode(query.json["Password"]).decode() == f"{SHORTCODE}{PASSKEY}{NAIROBI_STAMP}"


def test_a_push_still_being_processed_has_no_verdict_yet(provider, fake):
    checkout_id = provider.start_checkout(checkout()).provider_reference

    # Daraja answers "being processed" with HTTP 500: the shared policy asks again, then gives up.
    with pytest.raises(ProviderUnavailable):
        provider.stk_status("t_1", False, checkout_id)
    assert len(fake.calls_to(QUERY)) == 1 + RETRIES

    fake.processing_status = 400  # the same error relayed with a 4xx: read as "no verdict yet"
    assert provider.stk_status("t_1", False, checkout_id) is None


# --- an unavailable Daraja ------------------------------------------------------------------------


def assert_clean(error, base_url):
    text = f"{error} {error!r}"
    assert base_url not in text and "127.0.0.1" not in text
    for secret in SECRETS:
        assert secret not in text


def test_a_daraja_outage_is_provider_unavailable_and_a_push_is_never_retried(provider, fake, base_url):
    provider.start_checkout(checkout())
    fake.fail_next(5)

    with pytest.raises(ProviderUnavailable) as down:
        provider.start_checkout(checkout())

    assert len(fake.calls_to(STK)) == 2  # the first push, and the failed one, once
    assert down.value.details["provider"] == "mpesa"
    assert_clean(down.value, base_url)


def test_a_slow_daraja_times_out_as_provider_unavailable(provider, fake, base_url):
    provider.start_checkout(checkout())
    fake.slow_next(1, TIMEOUT * 3)

    with pytest.raises(ProviderUnavailable) as down:
        provider.payout(payout())

    assert down.value.details["reason"] == "timeout"
    assert_clean(down.value, base_url)


def test_an_unreachable_daraja_is_provider_unavailable_without_its_url_or_credentials():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    with pytest.raises(ProviderUnavailable) as down:
        make_provider(base_url).start_checkout(checkout())

    assert down.value.details["reason"] == "connect"
    assert_clean(down.value, base_url)


def test_wrong_consumer_credentials_are_provider_unavailable_without_them(base_url, fake):
    wrong = {**CREDENTIALS, "consumer_secret": "not-the-secret"}
    provider = make_provider(base_url, lambda tenant_id, livemode: wrong)

    with pytest.raises(ProviderUnavailable) as refused:
        provider.start_checkout(checkout())

    assert refused.value.details["reason"] == "credentials"
    assert "not-the-secret" not in f"{refused.value} {refused.value!r}"
    assert fake.calls_to(STK) == []


# --- callbacks ------------------------------------------------------------------------------------


def test_a_paid_stk_callback_is_a_payment_succeeded_for_the_checkout(provider, fake):
    checkout_id = provider.start_checkout(checkout()).provider_reference
    body = fake.finish_push(checkout_id)
    receipt = json.loads(body)["Body"]["stkCallback"]["CallbackMetadata"]["Item"][1]["Value"]

    [event] = provider.parse_webhook({"content-type": "application/json"}, body, URL_TOKEN)

    assert event.type is ProviderEventType.PAYMENT_SUCCEEDED
    assert (event.provider, event.reference, event.event_id) == ("mpesa", checkout_id, f"stk:{checkout_id}")
    assert event.amount == Money(150000, "KES")
    assert event.details["payment_id"] == event.details["mpesa_receipt_number"] == receipt


def test_the_documented_callback_reads_its_decimal_amount_and_nairobi_time_exactly(provider):
    [event] = provider.parse_webhook({}, contract_bytes("stk_callback_success"), URL_TOKEN)

    assert event.amount == Money(100, "KES")  # "Amount": 1.00
    assert event.occurred_at == datetime(2019, 12, 19, 10, 21, 15, tzinfo=timezone(timedelta(hours=3)))
    assert event.reference == "ws_CO_191220191020363925"


def test_a_cancelled_push_is_a_payment_failed_without_an_amount(provider, fake):
    checkout_id = provider.start_checkout(checkout()).provider_reference

    [event] = provider.parse_webhook({}, fake.finish_push(checkout_id, 1032), URL_TOKEN)

    assert event.type is ProviderEventType.PAYMENT_FAILED
    assert event.amount is None
    assert (event.details["reason"], event.details["result_code"]) == ("cancelled", "1032")


def test_a_repeated_callback_is_the_same_event(provider, fake):
    checkout_id = provider.start_checkout(checkout()).provider_reference
    first = fake.finish_push(checkout_id)
    again = fake.finish_push(checkout_id)

    assert first == again
    assert provider.parse_webhook({}, first, URL_TOKEN) == provider.parse_webhook({}, again, URL_TOKEN)

    receipt = provider.payout(payout())
    [settled] = provider.parse_webhook({}, fake.finish_payout(receipt.provider_reference), URL_TOKEN)
    [resent] = provider.parse_webhook({}, fake.finish_payout(receipt.provider_reference), URL_TOKEN)
    assert settled.event_id == resent.event_id == f"payout:{receipt.details['conversation_id']}"


def test_a_b2c_result_settles_the_payout_its_receipt_named(provider, fake):
    receipt = provider.payout(payout())

    [event] = provider.parse_webhook({}, fake.finish_payout(receipt.provider_reference), URL_TOKEN)

    assert event.type is ProviderEventType.PAYOUT_SETTLED
    assert event.reference == receipt.provider_reference == "wd_000001"
    assert event.amount == Money(96700, "KES")
    assert event.details["receipt"]


def test_a_b2b_result_reads_its_amount_given_as_text(provider, fake):
    receipt = provider.payout(payout("till", {"till_number": "123456"}))

    [event] = provider.parse_webhook({}, fake.finish_payout(receipt.provider_reference), URL_TOKEN)

    assert event.type is ProviderEventType.PAYOUT_SETTLED
    assert event.reference == receipt.provider_reference
    assert event.amount == Money(96700, "KES")  # "Amount": "967.00"


def test_a_failed_result_fails_the_payout_with_its_code(provider, fake):
    receipt = provider.payout(payout())

    [event] = provider.parse_webhook({}, fake.finish_payout(receipt.provider_reference, 2001), URL_TOKEN)

    assert event.type is ProviderEventType.PAYOUT_FAILED
    assert event.amount is None
    assert event.details["reason"] == "result_code_2001"


def test_a_callback_off_the_secret_url_or_malformed_is_refused(provider):
    body = contract_bytes("stk_callback_success")
    with pytest.raises(Unauthenticated):
        provider.parse_webhook({}, body, None)
    for bad in (b"not json", b"[1]", b'{"Body": {}}', b'{"Other": 1}', contract_bytes("b2c_request")):
        with pytest.raises(ValidationError):
            provider.parse_webhook({}, bad, URL_TOKEN)
