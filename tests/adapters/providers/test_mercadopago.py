"""The MercadoPago adapter against a loopback MercadoPago (tests/fakes/mercadopago_server.py) over real
HTTP: exact major-unit amounts on the wire, idempotent retries, refusals, signatures and events."""

import socket
from datetime import UTC, datetime
from decimal import Decimal

import attrs
import httpx
import pytest

from adapters.providers.http_policy import ProviderHttp, RetryPolicy
from adapters.providers.mercadopago import (
    LIVEMODE_HEADER,
    QUERY_DATA_ID_HEADER,
    TENANT_HEADER,
    FinancialInstitution,
    MercadoPagoProvider,
    verify_signature,
)
from payments_core.errors import (
    InvalidOperation,
    NotFound,
    ProviderUnavailable,
    Unauthenticated,
    ValidationError,
)
from payments_core.money import Money, exponent_of
from payments_core.ports import (
    CheckoutRequest,
    DirectPaymentRequest,
    DirectPaymentStatus,
    PayoutRequest,
    ProviderEventType,
    ReceiptStatus,
    RefundRequest,
)
from tests.fakes.mercadopago_server import DECLINED_TOKEN, FakeMercadoPago, dumps, load_contract, sign
from tests.fakes.serving import serve

TEST_TOKEN = "TEST-6295877106812064-052513-9f8e7d6c5b4a39281706f5e4d3c2b1a0-1234567890"
LIVE_TOKEN = "APP_USR-6295877106812064-052513-0a1b2c3d4e5f60718293a4b5c6d7e8f9-1234567890"
WEBHOOK_SECRET = "mp-webhook-secret-0123456789"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
TIMEOUT = 0.25
CARD_AMOUNT = Money(1050, "BRL")  # 10.50 BRL
PSE_AMOUNT = Money(15000000, "COP")  # 150000.00 COP
PSE_PAYER = {
    "email": "comprador@example.com",
    "entity_type": "individual",
    "first_name": "Ana",
    "last_name": "Gómez",
    "identification": {"type": "CC", "number": "1234567890"},
}


def tokens(test=TEST_TOKEN, live=LIVE_TOKEN):
    return lambda tenant_id, livemode: {"access_token": live if livemode else test, "public_key": "pk"}


class Current:
    """One loopback server for the module, talking to each test's own fake."""

    def __init__(self):
        self.app = FakeMercadoPago()

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server():
    current = Current()
    with serve(current) as url:
        yield current, url


@pytest.fixture
def fake(server):
    server[0].app = FakeMercadoPago()
    return server[0].app


@pytest.fixture
def provider(server, fake):
    return make_provider(server[1])


def make_provider(base_url, credentials=None, notification_url=None):
    http = ProviderHttp(
        "mercadopago",
        base_url,
        timeout=httpx.Timeout(TIMEOUT, connect=TIMEOUT),
        retry=RetryPolicy(retries=2, base_delay=0.001, max_delay=0.002),
    )
    return MercadoPagoProvider(
        credentials or tokens(), base_url, http=http, notification_url=notification_url, now=lambda: NOW
    )


def card(amount=CARD_AMOUNT, payment_id="pay_0001", token="tok_visa_4235", livemode=False):
    return DirectPaymentRequest(
        tenant_id="t1", payment_id=payment_id, amount=amount, description="Pedido 1234",
        payment_method_id="visa", payer={"email": "buyer@example.com"}, livemode=livemode,
        token=token, installments=3,
    )  # fmt: skip


def pse(amount=PSE_AMOUNT, payment_id="pay_0002", payer=None):
    return DirectPaymentRequest(
        tenant_id="t1", payment_id=payment_id, amount=amount, description="Pedido 5678",
        payment_method_id="pse", payer=payer or {**PSE_PAYER, "ip_address": "190.0.2.10"},
        livemode=False, financial_institution="1007", callback_url="https://shop.example.com/pse/return",
    )  # fmt: skip


def notification(data_id, ts=TS, secret=WEBHOOK_SECRET, request_id="8f1e2d3c-0001", tenant="t1", **body):
    payload = load_contract("notification_payment_updated")
    payload["data"]["id"] = data_id
    payload.update(body)
    headers = {
        "x-signature": sign(secret, data_id, request_id, ts),
        "x-request-id": request_id,
        QUERY_DATA_ID_HEADER: data_id,
        TENANT_HEADER: tenant,
        LIVEMODE_HEADER: "false",
    }
    return headers, dumps(payload)


# --- amounts on the wire ------------------------------------------------------------------------------


def test_a_card_payment_sends_the_exact_major_amount_and_maps_the_answer(fake, provider):
    result = provider.create_payment(card())

    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/payments")
    assert b'"transaction_amount":10.50' in sent.body
    assert sent.json()["transaction_amount"] == Decimal("10.50")
    assert sent.headers["authorization"] == f"Bearer {TEST_TOKEN}"
    assert sent.headers["x-idempotency-key"] == "payment-pay_0001"
    assert sent.headers["content-type"] == "application/json"
    body = sent.json()
    assert (body["token"], body["installments"], body["payment_method_id"]) == ("tok_visa_4235", 3, "visa")
    assert body["payer"] == {"email": "buyer@example.com"}
    assert body["external_reference"] == "pay_0001"
    assert result.status is DirectPaymentStatus.APPROVED
    assert result.status_detail == "accredited"
    assert result.provider_reference in fake.payments


def test_a_pse_payment_sends_cop_with_its_two_iso_decimals_and_starts_pending(fake, provider):
    assert exponent_of("COP") == 2  # what Money says: 15000000 minor COP is 150000.00
    result = provider.create_payment(pse())

    (sent,) = fake.requests
    assert b'"transaction_amount":150000.00' in sent.body
    body = sent.json()
    assert body["payment_method_id"] == "pse"
    assert body["transaction_details"] == {"financial_institution": "1007"}
    assert body["callback_url"] == "https://shop.example.com/pse/return"
    assert body["additional_info"] == {"ip_address": "190.0.2.10"}
    assert body["payer"] == PSE_PAYER  # the IP goes to additional_info, not into payer
    assert "token" not in body
    assert result.status is DirectPaymentStatus.PENDING
    assert result.status_detail == "pending_waiting_transfer"
    assert result.external_resource_url.endswith(f"/payments/{result.provider_reference}/bank_transfer")


def test_a_currency_without_decimals_goes_as_a_whole_number(fake, provider):
    provider.create_payment(card(amount=Money(1000, "CLP")))

    assert b'"transaction_amount":1000,' in fake.requests[0].body


def test_a_declined_card_is_a_rejected_result_not_an_error(fake, provider):
    result = provider.create_payment(card(token=DECLINED_TOKEN))

    assert result.status is DirectPaymentStatus.REJECTED
    assert result.status_detail == "cc_rejected_other_reason"


def test_pse_without_a_bank_is_refused_before_any_call(fake, provider):
    with pytest.raises(ValidationError):
        provider.create_payment(attrs.evolve(pse(), financial_institution=None))
    assert fake.requests == []


# --- idempotency and retries ------------------------------------------------------------------------


def test_a_retried_post_carries_the_same_key_and_body_and_creates_one_payment(fake, provider):
    fake.fail_next(2)

    result = provider.create_payment(card())

    assert len(fake.requests) == 3
    assert {r.headers["x-idempotency-key"] for r in fake.requests} == {"payment-pay_0001"}
    assert len({r.body for r in fake.requests}) == 1
    assert list(fake.payments) == [result.provider_reference]


def test_repeating_a_payment_answers_the_first_one(fake, provider):
    first = provider.create_payment(card())
    second = provider.create_payment(card())

    assert second.provider_reference == first.provider_reference
    assert len(fake.payments) == 1


def test_a_provider_that_stays_down_is_unavailable_and_nothing_leaks(fake, provider, server):
    fake.fail_next(3)

    with pytest.raises(ProviderUnavailable) as caught:
        provider.create_payment(pse())

    assert len(fake.requests) == 3
    shown = f"{caught.value} {caught.value!r} {dict(caught.value.details)}"
    for secret in (TEST_TOKEN, server[1], "comprador@example.com", "150000"):
        assert secret not in shown
    assert caught.value.details["reason"] == "status 500"


def test_a_slow_provider_times_out_into_unavailable(fake, provider):
    fake.slow_next(3, TIMEOUT * 3)

    with pytest.raises(ProviderUnavailable) as caught:
        provider.payment_status("t1", False, "1319600000")

    assert caught.value.details["reason"] == "timeout"


def test_a_provider_that_refuses_connections_is_unavailable():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{placeholder.getsockname()[1]}"
    with pytest.raises(ProviderUnavailable) as caught:
        make_provider(closed_url).create_payment(card())
    assert caught.value.details["reason"] == "connect"


# --- refusals -------------------------------------------------------------------------------------------


def test_a_400_is_a_validation_error_with_cause_codes_only(fake, provider):
    fake.answer_error_next(400, load_contract("error_bad_request"))

    with pytest.raises(ValidationError) as caught:
        provider.create_payment(pse())

    assert caught.value.details["causes"] == ["2067"]
    assert caught.value.details["error"] == "bad_request"
    assert "identification" not in f"{caught.value} {dict(caught.value.details)}"
    assert len(fake.requests) == 1  # a verdict is not retried


def test_an_unknown_payment_is_not_found(fake, provider):
    with pytest.raises(NotFound):
        provider.payment_status("t1", False, "999")


def test_a_refused_token_is_unavailable_for_credentials(fake, provider):
    fake.answer_error_next(401, load_contract("error_unauthorized"))

    with pytest.raises(ProviderUnavailable) as caught:
        provider.create_payment(card())

    assert caught.value.details["reason"] == "credentials"
    assert TEST_TOKEN not in repr(caught.value)


@pytest.mark.parametrize(
    ("livemode", "test", "live"), [(True, TEST_TOKEN, TEST_TOKEN), (False, LIVE_TOKEN, LIVE_TOKEN)]
)
def test_a_token_of_the_other_mode_is_refused_before_any_call(fake, server, livemode, test, live):
    provider = make_provider(server[1], credentials=tokens(test=test, live=live))

    with pytest.raises(ProviderUnavailable) as caught:
        provider.create_payment(card(livemode=livemode))

    assert caught.value.details["reason"] == "credentials"
    assert fake.requests == []


def test_payouts_are_not_offered(provider):
    request = PayoutRequest("t1", "wd_1", Money(5000, "BRL"), "bank_transfer", {"account_number": "1"})
    with pytest.raises(InvalidOperation):
        provider.payout(request)


# --- checkout pro, refunds, banks -----------------------------------------------------------------------


@pytest.mark.parametrize(("livemode", "host"), [(True, "https://www."), (False, "https://sandbox.")])
def test_a_checkout_is_a_preference_and_its_page_follows_the_mode(fake, server, livemode, host):
    provider = make_provider(
        server[1], notification_url=lambda tenant: f"https://api.example.com/mp/{tenant}"
    )
    request = CheckoutRequest(
        tenant_id="t1", session_id="cs_0001", amount=Money(1050, "BRL"), reference="Pedido 1234",
        livemode=livemode, success_url="https://shop.example.com/ok", cancel_url="https://shop.example.com/cancel",
    )  # fmt: skip

    checkout = provider.start_checkout(request)

    (sent,) = fake.requests
    assert sent.path == "/checkout/preferences"
    assert b'"unit_price":10.50' in sent.body
    body = sent.json()
    assert body["items"] == [
        {"title": "Pedido 1234", "quantity": 1, "unit_price": Decimal("10.50"), "currency_id": "BRL"}
    ]
    assert body["external_reference"] == "cs_0001"
    assert body["back_urls"]["failure"] == "https://shop.example.com/cancel"
    assert body["notification_url"] == "https://api.example.com/mp/t1"
    assert sent.headers["x-idempotency-key"] == "checkout-cs_0001"
    assert checkout.provider_reference in fake.preferences
    assert checkout.redirect_url.startswith(host)
    assert checkout.redirect_url.endswith(checkout.provider_reference)


def test_a_partial_refund_sends_its_major_amount_and_is_receipted(fake, provider):
    payment = provider.create_payment(card())

    receipt = provider.refund(RefundRequest("t1", "re_1", payment.provider_reference, Money(525, "BRL")))

    sent = fake.requests[-1]
    assert sent.path == f"/v1/payments/{payment.provider_reference}/refunds"
    assert sent.body == b'{"amount":5.25}'
    assert sent.headers["x-idempotency-key"] == "refund-re_1"
    assert receipt.status is ReceiptStatus.SUCCEEDED
    assert receipt.provider_reference == str(fake.payments[payment.provider_reference]["refunds"][0]["id"])


def test_refunding_more_than_was_paid_is_refused(fake, provider):
    payment = provider.create_payment(card())
    with pytest.raises(ValidationError) as caught:
        provider.refund(RefundRequest("t1", "re_2", payment.provider_reference, Money(1051, "BRL")))
    assert caught.value.details["causes"] == ["2034"]


def test_the_pse_banks_come_from_the_pse_payment_method(fake, provider):
    banks = provider.pse_banks("t1", False)

    assert FinancialInstitution("1007", "Bancolombia") in banks
    assert len(banks) == 3
    assert fake.requests[0].path == "/v1/payment_methods"


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        ("pending", "pending_waiting_transfer", None),
        ("in_process", "pending_contingency", None),
        ("approved", "accredited", ProviderEventType.PAYMENT_SUCCEEDED),
        ("rejected", "cc_rejected_other_reason", ProviderEventType.PAYMENT_FAILED),
        ("cancelled", "expired", ProviderEventType.PAYMENT_EXPIRED),
        ("cancelled", "by_collector", ProviderEventType.PAYMENT_FAILED),
    ],
)
def test_the_janitor_reads_a_payments_outcome(fake, provider, status, detail, expected):
    payment = provider.create_payment(pse())
    fake.set_status(payment.provider_reference, status, detail)

    assert provider.payment_status("t1", False, payment.provider_reference) is expected


# --- signatures --------------------------------------------------------------------------------------------


def test_a_signed_notification_is_confirmed_into_an_exact_event(fake, provider):
    payment = provider.create_payment(pse())
    fake.set_status(payment.provider_reference, "approved", "accredited")
    headers, body = notification(payment.provider_reference)

    (event,) = provider.parse_webhook(headers, body, WEBHOOK_SECRET)

    assert event.provider == "mercadopago"
    assert event.type is ProviderEventType.PAYMENT_SUCCEEDED
    assert event.reference == payment.provider_reference
    assert event.amount == Money(15000000, "COP")
    assert event.event_id == f"payment:{payment.provider_reference}:approved"
    assert event.occurred_at == datetime(2024, 5, 25, 18, 10, tzinfo=UTC)  # 13:10 at UTC-5
    assert fake.requests[-1].path == f"/v1/payments/{payment.provider_reference}"


def test_a_millisecond_timestamp_is_accepted(fake, provider):
    payment = provider.create_payment(card())
    headers, body = notification(payment.provider_reference, ts=TS * 1000 + 250)

    assert len(provider.parse_webhook(headers, body, WEBHOOK_SECRET)) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h: {**h, "x-signature": h["x-signature"][:-4] + "0000"}, id="forged"),
        pytest.param(lambda h: {**h, "x-request-id": "another-request"}, id="other-request-id"),
        pytest.param(lambda h: {k: v for k, v in h.items() if k != "x-signature"}, id="missing"),
        pytest.param(lambda h: {**h, "x-signature": "ts=abc,v1=00"}, id="malformed"),
        pytest.param(lambda h: {**h, QUERY_DATA_ID_HEADER: "1319600099"}, id="other-query-id"),
    ],
)
def test_a_tampered_notification_is_refused_before_any_fetch(fake, provider, tamper):
    headers, body = notification("1319600000")

    with pytest.raises(Unauthenticated):
        provider.parse_webhook(tamper(headers), body, WEBHOOK_SECRET)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("ts", "secret"),
    [(TS - 301, WEBHOOK_SECRET), (TS + 301, WEBHOOK_SECRET), (TS, "another-tenants-secret")],
    ids=["stale", "from-the-future", "another-secret"],
)
def test_a_stale_or_foreign_signature_is_refused(fake, provider, ts, secret):
    headers, body = notification("1319600000", ts=ts, secret=secret)

    with pytest.raises(Unauthenticated):
        provider.parse_webhook(headers, body, WEBHOOK_SECRET)
    assert fake.requests == []


def test_no_configured_secret_verifies_nothing(provider):
    headers, body = notification("1319600000")
    with pytest.raises(Unauthenticated):
        provider.parse_webhook(headers, body, None)


def test_the_signature_holds_at_the_edge_of_the_tolerance():
    headers, body = notification("1319600000", ts=TS - 300)
    verify_signature(headers, "1319600000", body, WEBHOOK_SECRET, NOW)


def test_an_alphanumeric_id_is_signed_lower_cased_and_the_body_id_stands_in_for_the_query():
    headers, body = notification("ABC123def")
    verify_signature(headers, "ABC123def", body, WEBHOOK_SECRET, NOW)
    verify_signature(headers, None, body, WEBHOOK_SECRET, NOW)
    assert sign(WEBHOOK_SECRET, "ABC123def", "r", TS) == sign(WEBHOOK_SECRET, "abc123def", "r", TS)


def test_a_missing_request_id_is_left_out_of_the_manifest():
    headers, body = notification("1319600000", request_id=None)
    headers = {k: v for k, v in headers.items() if k != "x-request-id"}
    verify_signature(headers, "1319600000", body, WEBHOOK_SECRET, NOW)


# --- events ------------------------------------------------------------------------------------------------


def test_pending_yields_no_event_then_approval_does_and_a_replay_has_the_same_id(fake, provider):
    payment = provider.create_payment(pse())
    headers, body = notification(payment.provider_reference)

    assert provider.parse_webhook(headers, body, WEBHOOK_SECRET) == []
    fake.set_status(payment.provider_reference, "approved", "accredited")
    first = provider.parse_webhook(headers, body, WEBHOOK_SECRET)
    again = provider.parse_webhook(headers, body, WEBHOOK_SECRET)

    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert first[0].type is ProviderEventType.PAYMENT_SUCCEEDED


def test_a_checkout_pro_payment_refers_to_its_preference(fake, provider):
    request = CheckoutRequest("t1", "cs_0009", Money(1050, "BRL"), "Pedido 9", livemode=False)
    checkout = provider.start_checkout(request)
    payment_id = fake.pay_preference(checkout.provider_reference)
    headers, body = notification(payment_id)

    (event,) = provider.parse_webhook(headers, body, WEBHOOK_SECRET)

    assert event.reference == checkout.provider_reference
    assert event.details["payment_id"] == payment_id
    assert event.amount == Money(1050, "BRL")


def test_a_refund_shows_up_as_its_own_event(fake, provider):
    payment = provider.create_payment(card())
    receipt = provider.refund(RefundRequest("t1", "re_1", payment.provider_reference, Money(525, "BRL")))
    headers, body = notification(payment.provider_reference)

    events = provider.parse_webhook(headers, body, WEBHOOK_SECRET)

    by_type = {event.type: event for event in events}
    refund = by_type[ProviderEventType.REFUND_SUCCEEDED]
    assert (refund.reference, refund.amount) == (receipt.provider_reference, Money(525, "BRL"))
    assert refund.event_id == f"refund:{receipt.provider_reference}:approved"
    assert by_type[ProviderEventType.PAYMENT_SUCCEEDED].amount == Money(1050, "BRL")


def test_a_notification_of_another_type_verifies_and_yields_nothing(fake, provider):
    headers, body = notification("1319600000", type="plan", action="plan.updated")

    assert provider.parse_webhook(headers, body, WEBHOOK_SECRET) == []
    assert fake.requests == []


def test_without_its_tenant_a_payment_notification_is_not_acknowledged(fake, provider):
    headers, body = notification("1319600000")
    del headers[TENANT_HEADER]

    with pytest.raises(ProviderUnavailable):
        provider.parse_webhook(headers, body, WEBHOOK_SECRET)
    assert fake.requests == []


def test_a_signed_body_that_is_not_json_is_a_validation_error(provider):
    headers, _ = notification("1319600000")
    with pytest.raises(ValidationError):
        provider.parse_webhook(headers, b"not json", WEBHOOK_SECRET)
