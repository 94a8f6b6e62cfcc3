"""The Pesapal adapter against a loopback Pesapal (tests/fakes/pesapal_server.py) over real HTTP: the
order's exact amount, the token and IPN id reuse and refresh, status queries, refunds, and IPNs that
never move money by themselves."""

import socket
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from adapters.memory.clock import ManualClock
from adapters.providers.http_policy import ProviderHttp, RetryPolicy
from adapters.providers.pesapal import PesapalProvider, parse_ipn
from payments_core.errors import InvalidAmount, InvalidOperation, ProviderUnavailable, ValidationError
from payments_core.money import MAX_MINOR, Money
from payments_core.ports import (
    CheckoutRequest,
    DirectPaymentRequest,
    PayoutRequest,
    ProviderEventType,
    ReceiptStatus,
    RefundRequest,
)
from tests.fakes.pesapal_server import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    FakePesapal,
    contract_bytes,
    load_contract,
)
from tests.fakes.serving import serve

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TIMEOUT = 0.3
RETRIES = 1
AMOUNT = Money(100050, "KES")  # 1000.50
TOKEN = "/api/Auth/RequestToken"
REGISTER_IPN = "/api/URLSetup/RegisterIPN"
ORDER = "/api/Transactions/SubmitOrderRequest"
STATUS = "/api/Transactions/GetTransactionStatus"
REFUND = "/api/Transactions/RefundRequest"
CREDENTIALS = {
    "consumer_key": CONSUMER_KEY,
    "consumer_secret": CONSUMER_SECRET,
    "ipn_url": "https://payments.example.com/hooks/pesapal/ipn-7c1d",
    "callback_url": "https://payments.example.com/pesapal/return",
}


class Current:
    """One loopback server for the module, talking to each test's own fake."""

    def __init__(self):
        self.app = FakePesapal()

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server():
    current = Current()
    with serve(current) as url:
        yield current, url


@pytest.fixture
def fake(server):
    server[0].app = FakePesapal()
    return server[0].app


@pytest.fixture
def base_url(server, fake):
    return server[1]


def make_provider(base_url, credentials=None):
    http = ProviderHttp(
        "pesapal",
        base_url,
        timeout=httpx.Timeout(TIMEOUT),
        retry=RetryPolicy(retries=RETRIES, base_delay=0.01, max_delay=0.02),
    )
    return PesapalProvider(
        credentials or (lambda tenant_id, livemode: CREDENTIALS), ManualClock(NOW), http=http
    )


@pytest.fixture
def provider(base_url):
    return make_provider(base_url)


def checkout(amount=AMOUNT, tenant="t_1", livemode=False, phone="254712345678", session_id="cs_000001"):
    return CheckoutRequest(
        tenant, session_id, amount, "order-42", livemode=livemode, customer_phone_number=phone,
        success_url="https://shop.example.com/ok", cancel_url="https://shop.example.com/back",
    )  # fmt: skip


def bearer(request):
    return request.headers["authorization"].removeprefix("Bearer ")


def paid_order(provider, fake, amount=AMOUNT):
    tracking_id = provider.start_checkout(checkout(amount)).provider_reference
    fake.pay(tracking_id)
    return tracking_id


# --- orders ---------------------------------------------------------------------------------------


def test_an_order_speaks_pesapals_shape_and_answers_its_hosted_page(provider, fake):
    started = provider.start_checkout(checkout())

    assert started.provider_reference in fake.orders
    assert started.provider_reference in started.redirect_url
    [order] = fake.calls_to(ORDER)
    body = order.json
    assert set(body) - {"cancellation_url"} <= set(load_contract("order_request"))
    assert (body["id"], body["currency"], body["description"]) == ("cs_000001", "KES", "order-42")
    assert body["callback_url"] == "https://shop.example.com/ok"
    assert body["cancellation_url"] == "https://shop.example.com/back"
    assert body["billing_address"] == {"phone_number": "254712345678"}
    assert body["notification_id"] in fake.ipns
    assert bearer(order) == fake.tokens_issued[0]


@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        (Money(100050, "KES"), "1000.5"),
        (Money(100000, "KES"), "1000"),
        (Money(1, "KES"), "0.01"),
        (Money(123456789012, "KES"), "1234567890.12"),
        (Money(7, "USD"), "0.07"),
        (Money(250000, "UGX"), "250000"),
    ],
)
def test_the_amount_goes_in_major_units_as_a_json_number_digit_for_digit(provider, fake, amount, wire):
    provider.start_checkout(checkout(amount))

    [order] = fake.calls_to(ORDER)
    assert f'"amount":{wire},'.encode() in order.raw
    assert Decimal(wire) == amount.to_decimal()


def test_an_amount_that_cannot_be_written_exactly_is_refused_not_rounded(provider, fake):
    with pytest.raises(InvalidAmount):
        provider.start_checkout(checkout(Money(MAX_MINOR, "KES")))  # 90071992547409.91
    assert fake.calls_to(ORDER) == []


def test_an_order_needs_the_customers_phone_number(provider, fake):
    with pytest.raises(ValidationError):
        provider.start_checkout(checkout(phone=None))
    assert fake.requests == []


def test_the_token_and_the_ipn_id_are_fetched_once_per_tenant_and_mode(provider, fake):
    for n in range(3):
        provider.start_checkout(checkout(session_id=f"cs_{n}"))
    provider.order_status("t_1", False, next(iter(fake.orders)))

    [token] = fake.calls_to(TOKEN)
    assert token.json == {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
    [registration] = fake.calls_to(REGISTER_IPN)
    assert registration.json == {"url": CREDENTIALS["ipn_url"], "ipn_notification_type": "POST"}
    assert {bearer(r) for r in fake.requests if r.path != TOKEN} == {fake.tokens_issued[0]}
    assert len({o["notification_id"] for o in fake.orders.values()}) == 1

    provider.start_checkout(checkout(livemode=True))
    assert (len(fake.calls_to(TOKEN)), len(fake.calls_to(REGISTER_IPN))) == (2, 2)


def test_a_refused_token_is_forgotten_fetched_again_and_the_call_made_once_more(provider, fake):
    provider.start_checkout(checkout())
    fake.revoke_tokens()

    second = provider.start_checkout(checkout(session_id="cs_2"))

    assert second.provider_reference in fake.orders
    assert len(fake.tokens_issued) == 2
    assert [bearer(o) for o in fake.calls_to(ORDER)] == [
        fake.tokens_issued[0],
        fake.tokens_issued[0],
        fake.tokens_issued[1],
    ]
    assert len(fake.orders) == 2


# --- status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settle", "expected"),
    [
        ("pay", ProviderEventType.PAYMENT_SUCCEEDED),
        ("fail", ProviderEventType.PAYMENT_FAILED),
        ("reverse", ProviderEventType.PAYMENT_FAILED),
        (None, None),
    ],
)
def test_the_status_query_maps_pesapals_status_code(provider, fake, settle, expected):
    """A FAILED or INVALID status comes, as in Pesapal's example, with `error.code` set and
    `status: "500"`: it is the payment's verdict, not a refusal of the query."""
    tracking_id = provider.start_checkout(checkout()).provider_reference
    if settle == "reverse":
        fake.pay(tracking_id)
    if settle is not None:
        getattr(fake, settle)(tracking_id)

    assert provider.order_status("t_1", False, tracking_id) is expected

    query = fake.calls_to(STATUS)[-1]
    assert (query.method, query.query) == ("GET", {"orderTrackingId": tracking_id})


def test_a_completed_order_is_an_event_with_the_exact_paid_amount_and_a_stable_id(provider, fake):
    tracking_id = paid_order(provider, fake)

    event = provider.order_event("t_1", False, tracking_id)
    again = provider.order_event("t_1", False, tracking_id)

    assert event is not None and event == again
    assert (event.provider, event.reference, event.event_id) == (
        "pesapal",
        tracking_id,
        f"order:{tracking_id}:1",
    )
    assert event.amount == AMOUNT
    assert event.details["confirmation_code"] == fake.orders[tracking_id]["confirmation_code"]


def test_a_reversed_order_is_another_event_than_its_completion(provider, fake):
    tracking_id = paid_order(provider, fake)
    completed = provider.order_event("t_1", False, tracking_id)
    fake.reverse(tracking_id)

    reversed_ = provider.order_event("t_1", False, tracking_id)

    assert completed is not None and reversed_ is not None
    assert reversed_.event_id != completed.event_id
    assert (reversed_.type, reversed_.amount, reversed_.details["reason"]) == (
        ProviderEventType.PAYMENT_FAILED, None, "reversed",
    )  # fmt: skip


# --- IPNs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_ipn_moves_no_money_by_itself_and_names_the_order_to_ask_about(provider, fake, method):
    tracking_id = paid_order(provider, fake)
    ipn = fake.ipn(tracking_id, method)
    calls_before = len(fake.requests)

    assert provider.parse_webhook({}, ipn, None) == []
    assert provider.parse_webhook({}, ipn, "any-url-token") == []
    assert len(fake.requests) == calls_before  # nothing asked, nothing applied
    assert provider.ipn_reference(ipn) == tracking_id


def test_a_repeated_ipn_leads_to_the_same_event(provider, fake):
    tracking_id = paid_order(provider, fake)
    first, again = fake.ipn(tracking_id), fake.ipn(tracking_id)

    events = [provider.order_event("t_1", False, provider.ipn_reference(body)) for body in (first, again)]

    assert events[0] is not None and events[0].event_id == events[1].event_id


def test_the_ipn_acknowledgement_is_the_documented_answer():
    assert parse_ipn(contract_bytes("ipn_post")).acknowledgement() == load_contract("ipn_response")


@pytest.mark.parametrize(
    "bad", [b"not json at all", b"[1]", b'{"OrderTrackingId": ""}', b"OrderMerchantReference=x"]
)
def test_a_malformed_ipn_is_refused(provider, bad):
    with pytest.raises(ValidationError):
        provider.parse_webhook({}, bad)


# --- refunds, payouts -----------------------------------------------------------------------------


def test_a_refund_asks_for_the_confirmation_code_and_requests_the_exact_amount(provider, fake):
    tracking_id = paid_order(provider, fake)

    receipt = provider.refund(
        RefundRequest("t_1", "re_000001", tracking_id, Money(50025, "KES"), livemode=False)
    )

    confirmation = fake.orders[tracking_id]["confirmation_code"]
    [call] = fake.calls_to(REFUND)
    assert set(call.json) == set(load_contract("refund_request"))
    assert (call.json["confirmation_code"], call.json["amount"]) == (confirmation, "500.25")
    assert "re_000001" in call.json["remarks"]
    assert (receipt.status, receipt.provider_reference) == (ReceiptStatus.PENDING, confirmation)
    assert receipt.details["order_tracking_id"] == tracking_id


def test_a_refund_pesapal_refuses_is_a_failed_receipt(provider, fake):
    tracking_id = paid_order(provider, fake)
    fake.refuse_refunds = True

    receipt = provider.refund(RefundRequest("t_1", "re_1", tracking_id, Money(100, "KES"), livemode=False))

    assert receipt.status is ReceiptStatus.FAILED
    assert len(fake.calls_to(REFUND)) == 1


def test_only_a_completed_order_is_refunded_and_never_beyond_what_was_paid(provider, fake):
    unpaid = provider.start_checkout(checkout()).provider_reference
    with pytest.raises(InvalidOperation):
        provider.refund(RefundRequest("t_1", "re_1", unpaid, Money(100, "KES"), livemode=False))
    paid = paid_order(provider, fake)
    with pytest.raises(InvalidAmount):
        provider.refund(RefundRequest("t_1", "re_2", paid, Money(100051, "KES"), livemode=False))
    with pytest.raises(InvalidAmount):
        provider.refund(RefundRequest("t_1", "re_3", paid, Money(100, "USD"), livemode=False))
    assert fake.calls_to(REFUND) == []


def test_payouts_and_direct_payments_are_not_offered(provider, fake):
    with pytest.raises(InvalidOperation):
        provider.payout(PayoutRequest("t_1", "wd_1", AMOUNT, "mpesa", {"phone_number": "254712345678"}))
    with pytest.raises(InvalidOperation):
        provider.create_payment(DirectPaymentRequest("t_1", "pay_1", AMOUNT, "x", "card", {}, livemode=False))
    assert fake.requests == []


# --- an unavailable Pesapal -----------------------------------------------------------------------


def assert_clean(error, base_url):
    text = f"{error} {error!r}"
    assert base_url not in text and "127.0.0.1" not in text
    for secret in (CONSUMER_KEY, CONSUMER_SECRET, CREDENTIALS["ipn_url"]):
        assert secret not in text


def test_an_outage_on_an_order_is_provider_unavailable_and_the_order_is_never_retried(
    provider, fake, base_url
):
    provider.start_checkout(checkout())
    fake.fail_next(5)

    with pytest.raises(ProviderUnavailable) as down:
        provider.start_checkout(checkout(session_id="cs_2"))

    assert len(fake.calls_to(ORDER)) == 2
    assert_clean(down.value, base_url)


def test_a_status_query_is_retried_through_a_passing_outage(provider, fake):
    tracking_id = paid_order(provider, fake)
    fake.fail_next(1, 503)

    assert provider.order_status("t_1", False, tracking_id) is ProviderEventType.PAYMENT_SUCCEEDED
    assert len(fake.calls_to(STATUS)) == 2


def test_a_slow_pesapal_times_out_as_provider_unavailable(provider, fake, base_url):
    tracking_id = paid_order(provider, fake)
    fake.slow_next(1 + RETRIES, TIMEOUT * 3)

    with pytest.raises(ProviderUnavailable) as down:
        provider.order_status("t_1", False, tracking_id)

    assert down.value.details["reason"] == "timeout"
    assert_clean(down.value, base_url)


def test_an_unreachable_pesapal_is_provider_unavailable_without_its_url_or_credentials():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    with pytest.raises(ProviderUnavailable) as down:
        make_provider(base_url).start_checkout(checkout())

    assert down.value.details["reason"] == "connect"
    assert_clean(down.value, base_url)


def test_wrong_consumer_credentials_refused_with_http_200_are_provider_unavailable(base_url, fake):
    wrong = {**CREDENTIALS, "consumer_secret": "not-the-secret"}

    with pytest.raises(ProviderUnavailable) as refused:
        make_provider(base_url, lambda tenant_id, livemode: wrong).start_checkout(checkout())

    assert refused.value.details["reason"] == "credentials"
    assert "not-the-secret" not in f"{refused.value} {refused.value!r}"
    assert fake.calls_to(ORDER) == []
