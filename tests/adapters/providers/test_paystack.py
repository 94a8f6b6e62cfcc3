"""The Paystack adapter against a loopback Paystack (tests/fakes/paystack_server.py) over real HTTP:
integer subunits on the wire, reference-based dedupe on retries, refusals, signatures and events."""

import socket
from datetime import UTC, datetime

import httpx
import pytest

from adapters.providers.http_policy import ProviderHttp, RetryPolicy
from adapters.providers.paystack import PaystackProvider
from adapters.providers.paystack_wire import SIGNATURE_HEADER
from payments_core.errors import (
    IdempotencyConflict,
    InvalidOperation,
    NotFound,
    ProviderUnavailable,
    Unauthenticated,
    ValidationError,
)
from payments_core.money import Money
from payments_core.ports import (
    CheckoutRequest,
    DirectPaymentRequest,
    DirectPaymentStatus,
    PayoutRequest,
    ProviderEventType,
    ReceiptStatus,
    RefundRequest,
)
from tests.fakes.paystack_server import DECLINED_AUTHORIZATION, FakePaystack, event, load_contract, sign
from tests.fakes.serving import serve

TEST_KEY = "sk_test_3f9a1c0d2b8e4f6a7c5d9e0b1a2c3d4e5f6a7b8c"
LIVE_KEY = "sk_live_8c7b6a5f4e3d2c1b0a9e8d7c6b5a4f3e2d1c0b9a"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TIMEOUT = 0.25
CHECKOUT_AMOUNT = Money(1050000, "NGN")  # 10,500.00 NGN
CHARGE_AMOUNT = Money(27000, "NGN")
PAYOUT_AMOUNT = Money(5000000, "NGN")
BANK = {"account_number": "0001234567", "bank_code": "058", "account_name": "Business Account"}


def keys(test=TEST_KEY, live=LIVE_KEY):
    return lambda tenant_id, livemode: {"secret_key": live if livemode else test}


class Current:
    """One loopback server for the module, talking to each test's own fake."""

    def __init__(self):
        self.app = FakePaystack()

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server():
    current = Current()
    with serve(current) as url:
        yield current, url


@pytest.fixture
def fake(server):
    server[0].app = FakePaystack()
    return server[0].app


@pytest.fixture
def provider(server, fake):
    return make_provider(server[1])


def make_provider(base_url, credentials=None):
    http = ProviderHttp(
        "paystack",
        base_url,
        timeout=httpx.Timeout(TIMEOUT, connect=TIMEOUT),
        retry=RetryPolicy(retries=2, base_delay=0.001, max_delay=0.002),
    )
    return PaystackProvider(credentials or keys(), base_url, http=http, now=lambda: NOW)


def checkout(amount=CHECKOUT_AMOUNT, session_id="cs_0001", livemode=False, methods=()):
    return CheckoutRequest(
        tenant_id="t1", session_id=session_id, amount=amount, reference="order-77", livemode=livemode,
        method_types=methods, success_url="https://shop.example.com/ok", cancel_url="https://shop.example.com/no",
    )  # fmt: skip


def saved_card(authorization="AUTH_pmx3mgawyd", payment_id="pay_0001", amount=CHARGE_AMOUNT):
    return DirectPaymentRequest(
        tenant_id="t1", payment_id=payment_id, amount=amount, description="Plan renewal",
        payment_method_id="card", payer={"email": "mail@mail.com"}, livemode=False, token=authorization,
    )  # fmt: skip


def withdrawal(
    amount=PAYOUT_AMOUNT, withdrawal_id="wd_5c1f0e9a8b7d6c5e4f3a2b1c0d9e8f7a", method="bank_transfer"
):
    return PayoutRequest("t1", withdrawal_id, amount, method, BANK, livemode=False)


def signed(body, key=TEST_KEY):
    return {SIGNATURE_HEADER: sign(key, body), "content-type": "application/json"}


# --- checkout and verification -----------------------------------------------------------------------


def test_a_checkout_initializes_a_transaction_in_subunits_under_our_reference(fake, provider):
    result = provider.start_checkout(checkout(methods=("card", "mpesa", "bank_transfer")))

    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("POST", "/transaction/initialize")
    assert sent.headers["authorization"] == f"Bearer {TEST_KEY}"
    body = sent.json()
    assert body["amount"] == "1050000"  # 10,500.00 NGN in kobo, an integer string as documented
    assert (body["currency"], body["reference"]) == ("NGN", "cs.0001")
    assert body["callback_url"] == "https://shop.example.com/ok"
    assert body["metadata"] == {
        "session_id": "cs_0001",
        "order_reference": "order-77",
        "cancel_action": "https://shop.example.com/no",
    }
    assert body["channels"] == ["card", "bank_transfer"]
    assert "@" in body["email"]
    assert result.provider_reference == "cs.0001"
    assert result.redirect_url.startswith("https://checkout.paystack.com/")


def test_a_checkout_that_paystack_already_has_is_an_idempotency_conflict(fake, provider):
    provider.start_checkout(checkout())
    with pytest.raises(IdempotencyConflict):
        provider.start_checkout(checkout())


def test_verify_tells_the_janitor_the_outcome(fake, provider):
    reference = provider.start_checkout(checkout()).provider_reference
    assert provider.verify("t1", False, reference) is None  # initialized, unpaid: "abandoned"
    fake.pay(reference)
    assert provider.verify("t1", False, reference) is ProviderEventType.PAYMENT_SUCCEEDED
    fake.pay(reference, status="failed")
    assert provider.verify("t1", False, reference) is ProviderEventType.PAYMENT_FAILED
    assert fake.requests[-1].path == "/transaction/verify/cs.0001"


def test_verifying_an_unknown_reference_is_not_found(fake, provider):
    with pytest.raises(NotFound):
        provider.verify("t1", False, "nope")


def test_a_currency_whose_subunit_is_unconfirmed_is_refused_unsent(fake, provider):
    with pytest.raises(ValidationError):
        provider.start_checkout(checkout(amount=Money(5000, "XOF")))
    assert fake.requests == []


# --- saved cards ------------------------------------------------------------------------------------------


def test_a_saved_card_is_charged_by_authorization_code(fake, provider):
    result = provider.create_payment(saved_card())

    (sent,) = fake.requests
    assert sent.path == "/transaction/charge_authorization"
    assert sent.json() == {
        "email": "mail@mail.com", "amount": "27000", "currency": "NGN",
        "authorization_code": "AUTH_pmx3mgawyd", "reference": "pay.0001",
    }  # fmt: skip
    assert (result.status, result.status_detail) == (DirectPaymentStatus.APPROVED, "Approved")
    assert result.provider_reference == "pay.0001"


def test_a_declined_saved_card_is_rejected(fake, provider):
    result = provider.create_payment(saved_card(authorization=DECLINED_AUTHORIZATION))
    assert (result.status, result.status_detail) == (DirectPaymentStatus.REJECTED, "Declined")


def test_a_charge_whose_answer_was_lost_is_read_back_not_repeated(fake, provider):
    fake.lose_next_answer("/transaction/charge_authorization")

    result = provider.create_payment(saved_card())

    assert [r.path for r in fake.requests] == [
        "/transaction/charge_authorization", "/transaction/charge_authorization", "/transaction/verify/pay.0001",
    ]  # fmt: skip
    assert {r.json()["reference"] for r in fake.requests[:2]} == {"pay.0001"}
    assert list(fake.transactions) == ["pay.0001"]
    assert result.status is DirectPaymentStatus.APPROVED


def test_a_charge_needs_an_authorization_code_and_pse_is_not_offered(fake, provider):
    with pytest.raises(ValidationError):
        provider.create_payment(saved_card(authorization="tok_visa"))
    with pytest.raises(InvalidOperation):
        provider.create_payment(DirectPaymentRequest("t1", "pay_2", Money(100, "NGN"), "x", "pse", {}))
    assert fake.requests == []


# --- refunds and payouts ------------------------------------------------------------------------------------


def test_a_refund_names_the_transaction_and_its_subunits(fake, provider):
    payment = provider.create_payment(saved_card())

    receipt = provider.refund(RefundRequest("t1", "re_1", payment.provider_reference, Money(5000, "NGN")))

    sent = fake.requests[-1]
    assert sent.path == "/refund"
    assert sent.json() == {"transaction": "pay.0001", "amount": 5000, "currency": "NGN"}
    assert receipt.status is ReceiptStatus.PENDING
    assert receipt.provider_reference == "pay.0001:5000"
    assert receipt.details["refund_id"] == str(fake.refunds[0]["id"])


def test_a_refunds_event_names_what_its_receipt_names(fake, provider):
    """Paystack's refund events name the transaction and the amount, not the refund id."""
    payment = provider.create_payment(saved_card())
    receipt = provider.refund(RefundRequest("t1", "re_1", payment.provider_reference, Money(5000, "NGN")))
    body = event("refund_processed", transaction_reference=payment.provider_reference, amount="5000")

    (received,) = provider.parse_webhook(signed(body), body, TEST_KEY)

    assert received.reference == receipt.provider_reference
    assert received.event_id == "refund.processed:pay.0001:5000:132013318360"


def test_a_refund_is_never_retried(fake, provider):
    payment = provider.create_payment(saved_card())
    fake.fail_next(1)

    with pytest.raises(ProviderUnavailable):
        provider.refund(RefundRequest("t1", "re_1", payment.provider_reference, Money(5000, "NGN")))

    assert [r.path for r in fake.requests].count("/refund") == 1


def test_a_payout_creates_a_recipient_then_a_transfer_under_the_withdrawal_id(fake, provider):
    receipt = provider.payout(withdrawal())

    recipient, transfer = fake.requests
    assert recipient.path == "/transferrecipient"
    assert recipient.json() == {
        "type": "nuban", "name": "Business Account", "currency": "NGN",
        "account_number": "0001234567", "bank_code": "058",
    }  # fmt: skip
    assert transfer.path == "/transfer"
    sent = transfer.json()
    assert (sent["source"], sent["amount"], sent["currency"]) == ("balance", 5000000, "NGN")
    assert sent["recipient"] == fake.recipients["0001234567"]["recipient_code"]
    assert sent["reference"] == "wd_5c1f0e9a8b7d6c5e4f3a2b1c0d9e8f7a"
    assert receipt.status is ReceiptStatus.PENDING
    assert receipt.provider_reference == fake.transfers[sent["reference"]]["transfer_code"]


def test_a_kenyan_payout_uses_the_kenyan_recipient_type(fake, provider):
    provider.payout(withdrawal(amount=Money(500000, "KES")))
    assert fake.requests[0].json()["type"] == "kepss"


def test_a_transfer_whose_answer_was_lost_is_read_back_not_repeated(fake, provider):
    fake.lose_next_answer("/transfer")

    receipt = provider.payout(withdrawal())

    paths = [r.path for r in fake.requests]
    assert paths == [
        "/transferrecipient",
        "/transfer",
        "/transfer",
        "/transfer/verify/wd_5c1f0e9a8b7d6c5e4f3a2b1c0d9e8f7a",
    ]
    (transfer,) = fake.transfers.values()
    assert receipt.provider_reference == transfer["transfer_code"]


def test_repeating_a_payout_reuses_the_recipient_and_moves_money_once(fake, provider):
    first = provider.payout(withdrawal())
    second = provider.payout(withdrawal())

    assert first.provider_reference == second.provider_reference
    assert len(fake.recipients) == 1 and len(fake.transfers) == 1


def test_a_withdrawal_id_that_paystack_would_refuse_is_replaced_by_a_stable_digest(fake, provider):
    provider.payout(withdrawal(withdrawal_id="WD_Short"))
    reference = fake.requests[-1].json()["reference"]
    assert reference.startswith("withdrawal-") and reference == reference.lower()
    assert len(reference) <= 50


def test_only_bank_transfers_are_paid_out_and_only_where_a_recipient_type_is_known(fake, provider):
    with pytest.raises(InvalidOperation):
        provider.payout(withdrawal(method="mpesa"))
    with pytest.raises(ValidationError):
        provider.payout(withdrawal(amount=Money(10000, "USD")))
    assert fake.requests == []


# --- refusals and outages -------------------------------------------------------------------------------------


def test_a_refusal_is_a_validation_error_carrying_only_paystacks_code(fake, provider):
    fake.answer_error_next(400, load_contract("error_validation"))

    with pytest.raises(ValidationError) as caught:
        provider.start_checkout(checkout())

    assert caught.value.details["code"] == "invalid_transfer_recipient"
    assert "Recipient" not in f"{caught.value} {dict(caught.value.details)}"
    assert len(fake.requests) == 1


def test_a_refused_key_is_unavailable_for_credentials(fake, provider):
    fake.answer_error_next(401, load_contract("error_invalid_key"))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.start_checkout(checkout())
    assert caught.value.details["reason"] == "credentials"


@pytest.mark.parametrize(
    ("livemode", "test", "live"), [(True, TEST_KEY, TEST_KEY), (False, LIVE_KEY, LIVE_KEY)]
)
def test_a_key_of_the_other_mode_is_refused_before_any_call(fake, server, livemode, test, live):
    provider = make_provider(server[1], keys(test=test, live=live))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.start_checkout(checkout(livemode=livemode))
    assert caught.value.details["reason"] == "credentials"
    assert fake.requests == []


def test_a_provider_that_stays_down_is_unavailable_and_nothing_leaks(fake, provider, server):
    fake.fail_next(3)

    with pytest.raises(ProviderUnavailable) as caught:
        provider.create_payment(saved_card())

    assert len(fake.requests) == 3  # the reference makes the charge safe to retry
    shown = f"{caught.value} {caught.value!r} {dict(caught.value.details)}"
    for secret in (TEST_KEY, server[1], "mail@mail.com", "AUTH_pmx3mgawyd", "27000"):
        assert secret not in shown


def test_a_slow_provider_times_out_and_a_closed_one_refuses(fake, provider):
    fake.slow_next(3, TIMEOUT * 3)
    with pytest.raises(ProviderUnavailable) as slow:
        provider.verify("t1", False, "cs.0001")
    assert slow.value.details["reason"] == "timeout"

    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{placeholder.getsockname()[1]}"
    with pytest.raises(ProviderUnavailable) as closed:
        make_provider(closed_url).verify("t1", False, "cs.0001")
    assert closed.value.details["reason"] == "connect"


# --- signatures --------------------------------------------------------------------------------------------


def test_a_signed_charge_success_is_a_payment_success_for_the_checkout(fake, provider):
    reference = provider.start_checkout(checkout()).provider_reference
    body = event("charge_success", reference=reference, amount=1050000)

    (received,) = provider.parse_webhook(signed(body), body, TEST_KEY)

    assert received.type is ProviderEventType.PAYMENT_SUCCEEDED
    assert received.reference == reference
    assert received.amount == Money(1050000, "NGN")
    assert received.event_id == "charge.success:302961"
    assert received.occurred_at == datetime(2016, 9, 30, 21, 10, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: signed(body, key="sk_test_another_tenants_key"), id="another-secret"),
        pytest.param(lambda body: {SIGNATURE_HEADER: sign(TEST_KEY, body)[:-2] + "00"}, id="forged"),
        pytest.param(lambda body: signed(body + b" "), id="body-changed"),
        pytest.param(lambda body: {"content-type": "application/json"}, id="missing"),
    ],
)
def test_a_forged_or_foreign_webhook_is_refused(provider, headers):
    body = event("charge_success")
    with pytest.raises(Unauthenticated):
        provider.parse_webhook(headers(body), body, TEST_KEY)


def test_no_secret_verifies_nothing(provider):
    body = event("charge_success")
    with pytest.raises(Unauthenticated):
        provider.parse_webhook(signed(body), body, None)


def test_the_signature_header_is_found_whatever_its_case(provider):
    body = event("charge_success")
    assert (
        len(provider.parse_webhook({"X-Paystack-Signature": sign(TEST_KEY, body).upper()}, body, TEST_KEY))
        == 1
    )


def test_a_replayed_event_has_the_same_id(provider):
    """Paystack signs no timestamp: a replay is stopped by its event id, which the core records once."""
    body = event("transfer_success")
    first = provider.parse_webhook(signed(body), body, TEST_KEY)
    again = provider.parse_webhook(signed(body), body, TEST_KEY)
    assert [e.event_id for e in first] == [e.event_id for e in again] == ["transfer.success:37272792"]


# --- event normalisation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "paystack_event", "expected", "reference", "amount"),
    [
        (
            "transfer_success",
            "transfer.success",
            ProviderEventType.PAYOUT_SETTLED,
            "TRF_wpl1dem4967avzm",
            30000,
        ),
        (
            "transfer_failed",
            "transfer.failed",
            ProviderEventType.PAYOUT_FAILED,
            "TRF_chs98y5rykjb47w",
            200000,
        ),
        (
            "transfer_failed",
            "transfer.reversed",
            ProviderEventType.PAYOUT_FAILED,
            "TRF_chs98y5rykjb47w",
            200000,
        ),
        (
            "refund_processed",
            "refund.processed",
            ProviderEventType.REFUND_SUCCEEDED,
            "T2154954_412829_3be32076_6lcg3:5000",
            5000,
        ),
        (
            "refund_failed",
            "refund.failed",
            ProviderEventType.REFUND_FAILED,
            "T9171231_412325_3be2736c_n6tml:20000",
            20000,
        ),
    ],
)
def test_events_are_normalised(provider, name, paystack_event, expected, reference, amount):
    body = event(name)
    body = body.replace(b'"event":"transfer.failed"', f'"event":"{paystack_event}"'.encode())

    (received,) = provider.parse_webhook(signed(body), body, TEST_KEY)

    assert (received.type, received.reference, received.amount) == (expected, reference, Money(amount, "NGN"))
    assert received.event_id.startswith(f"{paystack_event}:")
    assert received.details["paystack_event"] == paystack_event
    if expected is ProviderEventType.PAYOUT_FAILED:
        assert received.details["failure_reason"] == paystack_event
        assert "reason" not in received.details  # Paystack's `reason` is the narration, not why it failed


def test_a_refund_event_with_an_id_takes_its_event_id_from_it(provider):
    body = event("refund_processed", id=3018284)
    (received,) = provider.parse_webhook(signed(body), body, TEST_KEY)
    assert received.event_id == "refund.processed:3018284"
    assert received.reference == "T2154954_412829_3be32076_6lcg3:5000"


def test_other_events_yield_nothing(provider):
    body = b'{"event":"subscription.create","data":{"id":1}}'
    assert provider.parse_webhook(signed(body), body, TEST_KEY) == []


@pytest.mark.parametrize(
    "body",
    [b"not json", event("charge_success", currency="XOF"), event("charge_success", amount=100.5)],
    ids=["not-json", "unsupported-currency", "fractional-amount"],
)
def test_a_signed_but_unusable_event_is_a_validation_error(provider, body):
    with pytest.raises(ValidationError):
        provider.parse_webhook(signed(body), body, TEST_KEY)
