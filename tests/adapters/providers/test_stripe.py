"""The Stripe adapter against a loopback Stripe (tests/fakes/stripe_server.py) over real HTTP, and its
webhook verification, cross-checked with the official `stripe` package's own signer and verifier."""

import json
import time
from datetime import UTC, datetime, timedelta

import attrs
import httpx
import pytest
import stripe

from adapters.memory.clock import ManualClock
from adapters.providers.http_policy import ProviderHttp, RetryPolicy
from adapters.providers.stripe import SIGNATURE_HEADER, STRIPE_VERSION, StripeProvider
from payments_core.errors import (
    IdempotencyConflict,
    InvalidAmount,
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
    PayoutRequest,
    ProviderEventType,
    ReceiptStatus,
    RefundRequest,
)
from tests.fakes.serving import serve
from tests.fakes.stripe_server import DEFAULT_KEYS, FakeStripe, load_contract, signature_header

TEST_KEY, LIVE_KEY = DEFAULT_KEYS
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
OLD_SECRET = "whsec_test_old_fedcba9876543210"
RETRIES = 2
TIMEOUT = 0.25
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
AMOUNT = Money(250000, "KES")
PART = Money(100000, "KES")


def keys(test=TEST_KEY, live=LIVE_KEY):
    return lambda tenant_id, livemode: {"secret_key": live if livemode else test}


class Current:
    """One loopback server for the module, talking to each test's own fake."""

    def __init__(self):
        self.app = FakeStripe()

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server():
    current = Current()
    with serve(current) as url:
        yield current, url


@pytest.fixture
def fake(server):
    server[0].app = FakeStripe()
    return server[0].app


@pytest.fixture
def base_url(server, fake):
    return server[1]


def make_provider(base_url, credentials=None, clock=None):
    http = ProviderHttp(
        "stripe",
        base_url,
        timeout=httpx.Timeout(TIMEOUT),
        retry=RetryPolicy(retries=RETRIES, base_delay=0.01, max_delay=0.02),
    )
    return StripeProvider(
        credentials or keys(), clock or ManualClock(NOW), webhook_secret=WEBHOOK_SECRET, http=http
    )


@pytest.fixture
def provider(base_url):
    return make_provider(base_url)


def checkout_request(session_id="cs_000001", livemode=False):
    return CheckoutRequest(
        "t_1", session_id, AMOUNT, "order-42", livemode=livemode,
        success_url="https://shop.example.com/ok", cancel_url="https://shop.example.com/back",
    )  # fmt: skip


def paid_intent(provider, fake):
    started = provider.start_checkout(checkout_request())
    return fake.complete_session(started.provider_reference)


def refund_request(reference, refund_id="rf_000001", amount=PART):
    return RefundRequest("t_1", refund_id, reference, amount, livemode=False)


def assert_nothing_leaks(error, *secrets):
    text = f"{error} {error!r} {dict(error.details)}"
    for secret in secrets:
        assert secret not in text


# --- calls -------------------------------------------------------------------------------------------


def test_a_checkout_is_a_form_encoded_session_with_our_ids_and_the_secret_key(provider, fake):
    started = provider.start_checkout(checkout_request())
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert sent.headers["stripe-version"] == STRIPE_VERSION
    assert sent.headers["idempotency-key"] == "payments-core/checkout/t_1/cs_000001"
    assert sent.form == {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "kes",
        "line_items[0][price_data][unit_amount]": "250000",
        "line_items[0][price_data][product_data][name]": "order-42",
        "success_url": "https://shop.example.com/ok",
        "cancel_url": "https://shop.example.com/back",
        "client_reference_id": "cs_000001",
        "expires_at": str(int((NOW + timedelta(minutes=31)).timestamp())),
        "metadata[tenant_id]": "t_1",
        "metadata[session_id]": "cs_000001",
        "payment_intent_data[metadata][tenant_id]": "t_1",
        "payment_intent_data[metadata][session_id]": "cs_000001",
    }
    session = fake.sessions[started.provider_reference]
    assert started.provider_reference.startswith("cs_test_")
    assert started.redirect_url == session["url"]
    assert session["amount_total"] == 250000


def test_a_checkout_without_return_urls_sends_none_and_follows_our_expiry_within_stripes_bounds(
    base_url, fake
):
    request = CheckoutRequest("t_1", "cs_000001", AMOUNT, "order-42", livemode=False)
    for ttl, expected in [
        (timedelta(hours=2), timedelta(hours=2, minutes=1)),
        (timedelta(days=3), timedelta(hours=24)),
    ]:
        http = ProviderHttp("stripe", base_url)
        provider = StripeProvider(keys(), ManualClock(NOW), checkout_ttl=ttl, http=http)
        provider.start_checkout(attrs.evolve(request, session_id=f"cs_{ttl.total_seconds():.0f}"))
        sent = fake.requests[-1].form
        assert "success_url" not in sent
        assert "cancel_url" not in sent
        assert sent["expires_at"] == str(int((NOW + expected).timestamp()))


def test_a_live_checkout_uses_the_live_key(provider, fake):
    started = provider.start_checkout(checkout_request(livemode=True))
    assert fake.requests[0].headers["authorization"] == f"Bearer {LIVE_KEY}"
    assert started.provider_reference.startswith("cs_live_")


@pytest.mark.parametrize("status", [500, 429])
def test_a_failed_post_is_retried_with_the_same_idempotency_key_and_form(provider, fake, status):
    fake.fail_next(1, status)
    started = provider.start_checkout(checkout_request())
    first, second = fake.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.form == second.form
    assert list(fake.sessions) == [started.provider_reference]


def test_asking_again_for_the_same_checkout_replays_stripes_first_answer(provider, fake):
    first = provider.start_checkout(checkout_request())
    again = provider.start_checkout(checkout_request())
    assert again == first
    assert len(fake.sessions) == 1
    other = provider.start_checkout(checkout_request("cs_000002"))
    assert other.provider_reference != first.provider_reference


def test_a_permanent_outage_ends_in_provider_unavailable_after_bounded_attempts(provider, fake, base_url):
    fake.fail_next(10, 503)
    with pytest.raises(ProviderUnavailable) as raised:
        provider.start_checkout(checkout_request())
    assert len(fake.requests) == 1 + RETRIES
    assert raised.value.details == {"provider": "stripe", "reason": "status 503"}
    assert_nothing_leaks(raised.value, base_url, "127.0.0.1", TEST_KEY, "sk_test", "order-42", "Stripe's end")


def test_a_provider_that_does_not_answer_in_time_is_unavailable(provider, fake, base_url):
    fake.slow_next(1 + RETRIES, TIMEOUT * 3)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as raised:
        provider.start_checkout(checkout_request())
    assert raised.value.details["reason"] == "timeout"
    assert time.monotonic() - started < (1 + RETRIES) * TIMEOUT * 2
    assert_nothing_leaks(raised.value, base_url, TEST_KEY)


def test_a_slow_attempt_then_a_retry_still_creates_one_session(provider, fake):
    fake.slow_next(1, TIMEOUT * 2)
    started = provider.start_checkout(checkout_request())
    deadline = time.monotonic() + 5
    while fake.answered < len(fake.requests) and time.monotonic() < deadline:
        time.sleep(0.01)  # the slow first attempt executes on the server after the client gave up on it
    assert fake.answered == len(fake.requests) == 2
    assert list(fake.sessions) == [started.provider_reference]


def test_a_declined_card_is_a_domain_error_without_stripes_message(provider, fake):
    intent = paid_intent(provider, fake)["payment_intent"]
    fake.answer_error_next(402, load_contract("error_card_declined"))
    with pytest.raises(InvalidOperation) as raised:
        provider.refund(refund_request(intent))
    assert raised.value.details["code"] == "card_declined"
    assert raised.value.details["decline_code"] == "generic_decline"
    assert raised.value.details["type"] == "card_error"
    assert raised.value.details["request_id"].startswith("req_")
    assert_nothing_leaks(raised.value, "Your card was declined", "dashboard.stripe.com")


def test_a_key_stripe_refuses_is_a_credentials_outage_that_names_no_key(base_url, fake):
    revoked = "sk_test_revoked000000000000wxyz"
    provider = make_provider(base_url, keys(test=revoked))
    with pytest.raises(ProviderUnavailable) as raised:
        provider.start_checkout(checkout_request())
    assert len(fake.requests) == 1  # a 401 is a verdict, not retried
    assert raised.value.details == {"provider": "stripe", "reason": "credentials"}
    assert_nothing_leaks(raised.value, revoked, "wxyz", "Invalid API Key")


@pytest.mark.parametrize(
    ("livemode", "credentials"),
    [
        (False, keys(test=LIVE_KEY)),
        (True, keys(live=TEST_KEY)),
        (False, keys(test="pk_test_publishable0000")),
        (False, lambda tenant_id, livemode: {}),
    ],
    ids=["live-key-in-test-mode", "test-key-in-live-mode", "publishable-key", "no-key"],
)
def test_a_key_of_the_other_mode_is_refused_before_anything_is_sent(base_url, fake, livemode, credentials):
    provider = make_provider(base_url, credentials)
    with pytest.raises(ProviderUnavailable) as raised:
        provider.start_checkout(checkout_request(livemode=livemode))
    assert raised.value.details["reason"] == "credentials"
    assert fake.requests == []
    assert_nothing_leaks(raised.value, LIVE_KEY, TEST_KEY)


def test_direct_card_payments_are_not_offered(provider, fake):
    request = DirectPaymentRequest("t_1", "pay_1", AMOUNT, "x", "visa", {}, livemode=False, token="tok_1")
    with pytest.raises(InvalidOperation):
        provider.create_payment(request)
    assert fake.requests == []


def test_a_refund_names_the_payment_intent_and_amount(provider, fake):
    intent = paid_intent(provider, fake)["payment_intent"]
    receipt = provider.refund(refund_request(intent))
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/refunds")
    assert sent.headers["idempotency-key"] == "payments-core/refund/t_1/rf_000001"
    assert sent.form == {
        "payment_intent": intent,
        "amount": "100000",
        "metadata[tenant_id]": "t_1",
        "metadata[refund_id]": "rf_000001",
    }
    assert receipt.provider_reference in fake.refunds
    assert receipt.provider_reference.startswith("re_")
    assert receipt.status is ReceiptStatus.SUCCEEDED


def test_a_refund_of_a_checkout_session_refunds_its_payment_intent(provider, fake):
    session = paid_intent(provider, fake)
    receipt = provider.refund(refund_request(session["id"]))
    lookup, refund = fake.requests[-2:]
    assert (lookup.method, lookup.path) == ("GET", f"/v1/checkout/sessions/{session['id']}")
    assert refund.form["payment_intent"] == session["payment_intent"]
    assert fake.refunds[receipt.provider_reference]["payment_intent"] == session["payment_intent"]


@pytest.mark.parametrize(
    ("stripe_status", "ours"),
    [
        ("succeeded", ReceiptStatus.SUCCEEDED),
        ("pending", ReceiptStatus.PENDING),
        ("failed", ReceiptStatus.FAILED),
    ],
)
def test_a_refunds_status_is_mapped(provider, fake, stripe_status, ours):
    intent = paid_intent(provider, fake)["payment_intent"]
    fake.refund_status = stripe_status
    receipt = provider.refund(refund_request(intent))
    assert receipt.status is ours
    assert receipt.details["status"] == stripe_status
    assert ("reason" in receipt.details) is (stripe_status == "failed")


def test_refunding_more_than_remains_is_an_invalid_amount(provider, fake):
    intent = paid_intent(provider, fake)["payment_intent"]
    with pytest.raises(InvalidAmount) as raised:
        provider.refund(refund_request(intent, amount=Money(250001, "KES")))
    assert raised.value.details["code"] == "amount_too_large"
    assert fake.refunds == {}


def test_one_refund_id_reused_for_another_amount_is_an_idempotency_conflict(provider, fake):
    intent = paid_intent(provider, fake)["payment_intent"]
    first = provider.refund(refund_request(intent))
    assert provider.refund(refund_request(intent)) == first
    with pytest.raises(IdempotencyConflict):
        provider.refund(refund_request(intent, amount=Money(5, "KES")))
    assert len(fake.refunds) == 1


def test_a_refund_of_an_unknown_payment_is_not_found(provider, fake):
    with pytest.raises(NotFound) as raised:
        provider.refund(refund_request("pi_unknown000"))
    assert raised.value.details["code"] == "resource_missing"
    assert_nothing_leaks(raised.value, "No such")


def test_a_payout_is_pending_with_its_po_reference(provider, fake):
    request = PayoutRequest("t_1", "wd_000001", Money(500000, "KES"), "bank_account", {}, livemode=False)
    receipt = provider.payout(request)
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/payouts")
    assert sent.headers["idempotency-key"] == "payments-core/payout/t_1/wd_000001"
    assert sent.form == {
        "amount": "500000",
        "currency": "kes",
        "metadata[tenant_id]": "t_1",
        "metadata[withdrawal_id]": "wd_000001",
    }
    assert receipt.provider_reference in fake.payouts
    assert receipt.provider_reference.startswith("po_")
    assert receipt.status is ReceiptStatus.PENDING


def test_the_janitor_can_ask_where_a_checkout_stands(provider, fake):
    opened = provider.start_checkout(checkout_request("cs_1")).provider_reference
    paid = provider.start_checkout(checkout_request("cs_2")).provider_reference
    expired = provider.start_checkout(checkout_request("cs_3")).provider_reference
    fake.complete_session(paid)
    fake.expire_session(expired)
    assert provider.checkout_status("t_1", False, opened) is None
    assert provider.checkout_status("t_1", False, paid) is ProviderEventType.PAYMENT_SUCCEEDED
    assert provider.checkout_status("t_1", False, expired) is ProviderEventType.PAYMENT_EXPIRED
    with pytest.raises(NotFound):
        provider.checkout_status("t_1", False, "cs_test_nothere")
    with pytest.raises(ValidationError):
        provider.checkout_status("t_1", False, "../v1/payouts")


def test_a_status_lookup_is_retried_like_any_get(provider, fake):
    reference = provider.start_checkout(checkout_request()).provider_reference
    fake.fail_next(RETRIES, 502)
    assert provider.checkout_status("t_1", False, reference) is None
    assert [r.method for r in fake.requests] == ["POST"] + ["GET"] * (1 + RETRIES)


# --- webhooks ----------------------------------------------------------------------------------------


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def receiver(clock):
    """Webhook parsing needs no HTTP: the client points at a closed port it never calls."""
    return make_provider("http://127.0.0.1:9", clock=clock)


def completed_event():
    return json.dumps(load_contract("event_checkout_session_completed")).encode()


def signed(body, *secrets, at=NOW):
    return {SIGNATURE_HEADER: signature_header(body, secrets or (WEBHOOK_SECRET,), int(at.timestamp()))}


def test_a_signed_completed_checkout_is_a_payment_success(receiver):
    body = completed_event()
    [event] = receiver.parse_webhook(signed(body), body)
    assert event.provider == "stripe"
    assert event.event_id == "evt_1PmQy2LkdIwHu7ix3cBdJ7aZ"
    assert event.type is ProviderEventType.PAYMENT_SUCCEEDED
    assert event.reference == "cs_test_a1b2c3d4e5f6g7h8i9j0"
    assert event.amount == Money(250000, "KES")
    assert event.occurred_at == datetime.fromtimestamp(1777637100, UTC)
    assert event.details["payment_id"] == "pi_3PmQxyLkdIwHu7ix0a1b2c3d"
    assert event.details["client_reference_id"] == "cs_000001"


def test_the_header_name_is_matched_whatever_its_case(receiver):
    body = completed_event()
    header = signed(body)[SIGNATURE_HEADER]
    assert len(receiver.parse_webhook({"stripe-signature": header}, body)) == 1


@pytest.mark.parametrize("order", [(OLD_SECRET, WEBHOOK_SECRET), (WEBHOOK_SECRET, OLD_SECRET)])
def test_during_a_secret_rotation_any_v1_may_match(receiver, order):
    body = completed_event()
    assert len(receiver.parse_webhook(signed(body, *order), body)) == 1


def test_the_secret_argument_overrides_the_default_one(receiver):
    body = completed_event()
    assert len(receiver.parse_webhook(signed(body, OLD_SECRET), body, secret=OLD_SECRET)) == 1
    with pytest.raises(Unauthenticated):
        receiver.parse_webhook(signed(body), body, secret=OLD_SECRET)


def test_a_body_changed_after_signing_is_refused(receiver):
    body = completed_event()
    headers = signed(body)
    with pytest.raises(Unauthenticated):
        receiver.parse_webhook(headers, body.replace(b"250000", b"990000"))


def test_an_event_signed_with_another_secret_is_refused(receiver):
    body = completed_event()
    with pytest.raises(Unauthenticated):
        receiver.parse_webhook(signed(body, "whsec_attacker"), body)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-301, False), (-300, True), (-299, True), (299, True), (300, True), (301, False), (-86400, False)],
)
def test_the_timestamp_must_be_within_300_seconds_either_way(receiver, offset, accepted):
    body = completed_event()
    headers = signed(body, at=NOW + timedelta(seconds=offset))
    if accepted:
        assert len(receiver.parse_webhook(headers, body)) == 1
    else:
        with pytest.raises(Unauthenticated):
            receiver.parse_webhook(headers, body)


def test_the_clock_decides_staleness(receiver, clock):
    body = completed_event()
    headers = signed(body)
    assert len(receiver.parse_webhook(headers, body)) == 1
    clock.advance(timedelta(seconds=301))
    with pytest.raises(Unauthenticated):
        receiver.parse_webhook(headers, body)


def malformed_headers():
    good = signature_header(completed_event(), [WEBHOOK_SECRET], int(NOW.timestamp()))
    t, v1 = good.split(",")
    return {
        "missing": {},
        "empty": {SIGNATURE_HEADER: ""},
        "no-timestamp": {SIGNATURE_HEADER: v1},
        "no-v1": {SIGNATURE_HEADER: t},
        "only-v0": {SIGNATURE_HEADER: f"{t},v0={v1[3:]}"},
        "two-timestamps": {SIGNATURE_HEADER: f"{t},{t},{v1}"},
        "timestamp-not-a-number": {SIGNATURE_HEADER: f"t=soon,{v1}"},
        "unicode-digits": {SIGNATURE_HEADER: f"t=١٧٧٧٦٣٧١٠٠,{v1}"},
        "v1-not-hex": {SIGNATURE_HEADER: f"{t},v1={'z' * 64}"},
        "v1-non-ascii": {SIGNATURE_HEADER: f"{t},v1={'é' * 64}"},
        "v1-truncated": {SIGNATURE_HEADER: f"{t},{v1[:-2]}"},
        "garbage": {SIGNATURE_HEADER: "garbage"},
        "another-header": {"Sandbox-Signature": good},
    }


@pytest.mark.parametrize("case", list(malformed_headers()))
def test_a_missing_or_malformed_signature_is_unauthenticated(receiver, case):
    with pytest.raises(Unauthenticated):
        receiver.parse_webhook(malformed_headers()[case], completed_event())


def test_without_any_secret_nothing_is_believed(clock):
    body = completed_event()
    receiver = StripeProvider(keys(), clock, http=ProviderHttp("stripe", "http://127.0.0.1:9"))
    with pytest.raises(Unauthenticated):
        receiver.parse_webhook(signed(body), body)


@pytest.mark.parametrize(
    "body",
    [completed_event()[:-20], b"not json", b"\xff\xfe", b"[1, 2]", b"{}", b'{"id": "evt_1", "type": "x"}'],
    ids=["truncated", "text", "not-utf8", "array", "empty-object", "no-data"],
)
def test_a_signed_but_unreadable_body_is_a_validation_error(receiver, body):
    with pytest.raises(ValidationError):
        receiver.parse_webhook(signed(body), body)


def test_a_signed_event_in_an_unknown_currency_is_a_validation_error(receiver):
    payload = load_contract("event_checkout_session_completed")
    payload["data"]["object"]["currency"] = "xyz"
    body = json.dumps(payload).encode()
    with pytest.raises(ValidationError):
        receiver.parse_webhook(signed(body), body)


def event_body(fake, event_type, subject):
    return fake.event(event_type, subject, created=int(NOW.timestamp()))


def session_object(**changes):
    return {**load_contract("event_checkout_session_completed")["data"]["object"], **changes}


@pytest.mark.parametrize(
    ("event_type", "changes", "expected"),
    [
        ("checkout.session.completed", {}, ProviderEventType.PAYMENT_SUCCEEDED),
        ("checkout.session.async_payment_succeeded", {}, ProviderEventType.PAYMENT_SUCCEEDED),
        (
            "checkout.session.async_payment_failed",
            {"payment_status": "unpaid"},
            ProviderEventType.PAYMENT_FAILED,
        ),
        (
            "checkout.session.expired",
            {"status": "expired", "payment_status": "unpaid"},
            ProviderEventType.PAYMENT_EXPIRED,
        ),
    ],
)
def test_checkout_events_are_normalised(receiver, fake, event_type, changes, expected):
    body = event_body(fake, event_type, session_object(**changes))
    [event] = receiver.parse_webhook(signed(body), body)
    assert event.type is expected
    assert event.reference == "cs_test_a1b2c3d4e5f6g7h8i9j0"
    assert event.event_id == json.loads(body)["id"]
    assert event.amount == Money(250000, "KES")


def test_a_completed_checkout_still_unpaid_waits_for_the_async_outcome(receiver, fake):
    body = event_body(fake, "checkout.session.completed", session_object(payment_status="unpaid"))
    assert receiver.parse_webhook(signed(body), body) == []


@pytest.mark.parametrize(
    ("event_type", "status", "expected"),
    [
        ("refund.updated", "succeeded", ProviderEventType.REFUND_SUCCEEDED),
        ("refund.updated", "failed", ProviderEventType.REFUND_FAILED),
        ("refund.updated", "canceled", ProviderEventType.REFUND_FAILED),
        ("refund.failed", "failed", ProviderEventType.REFUND_FAILED),
        ("refund.updated", "pending", None),
    ],
)
def test_refund_events_are_normalised_once_final(receiver, fake, event_type, status, expected):
    refund = {**load_contract("refund"), "status": status}
    body = event_body(fake, event_type, refund)
    events = receiver.parse_webhook(signed(body), body)
    assert [e.type for e in events] == ([] if expected is None else [expected])
    for event in events:
        assert event.reference == "re_3PmR0aLkdIwHu7ix0q1w2e3r"
        assert event.amount == Money(100000, "KES")
        assert event.details["payment_id"] == "pi_3PmQxyLkdIwHu7ix0a1b2c3d"


def test_a_charge_refunded_event_names_its_refund(receiver):
    body = json.dumps(load_contract("event_charge_refunded")).encode()
    [event] = receiver.parse_webhook(signed(body), body)
    assert event.type is ProviderEventType.REFUND_SUCCEEDED
    assert event.reference == "re_3PmR0aLkdIwHu7ix0q1w2e3r"
    assert event.event_id == "evt_3PmR0aLkdIwHu7ix1XyZ9wQe"
    assert event.amount == Money(100000, "KES")


def test_a_charge_with_several_refunds_gives_each_its_own_event_id(receiver, fake):
    charge = load_contract("event_charge_refunded")["data"]["object"]
    first = charge["refunds"]["data"][0]
    second = {**first, "id": "re_second", "amount": 50000}
    charge["refunds"]["data"] = [first, second, {**first, "id": "re_waiting", "status": "pending"}]
    body = event_body(fake, "charge.refunded", charge)
    events = receiver.parse_webhook(signed(body), body)
    assert [e.reference for e in events] == ["re_3PmR0aLkdIwHu7ix0q1w2e3r", "re_second"]
    assert len({e.event_id for e in events}) == 2


@pytest.mark.parametrize(
    ("event_type", "status", "expected"),
    [
        ("payout.paid", "paid", ProviderEventType.PAYOUT_SETTLED),
        ("payout.failed", "failed", ProviderEventType.PAYOUT_FAILED),
        ("payout.canceled", "canceled", ProviderEventType.PAYOUT_FAILED),
    ],
)
def test_payout_events_are_normalised(receiver, fake, event_type, status, expected):
    payout = {**load_contract("payout"), "status": status}
    if status == "failed":
        payout.update(failure_code="account_closed", failure_message="The bank account has been closed")
    body = event_body(fake, event_type, payout)
    [event] = receiver.parse_webhook(signed(body), body)
    assert event.type is expected
    assert event.reference == "po_1PmR2bLkdIwHu7ixAbCdEfGh"
    assert event.amount == Money(500000, "KES")
    assert event.details.get("failure_reason") == ("account_closed" if status == "failed" else None)
    assert "The bank account" not in str(event.details)


@pytest.mark.parametrize("event_type", ["customer.created", "payment_intent.succeeded", "payout.created"])
def test_other_event_types_are_ignored(receiver, fake, event_type):
    body = event_body(fake, event_type, {"id": "obj_1", "object": "thing"})
    assert receiver.parse_webhook(signed(body), body) == []


# --- the official stripe package agrees with us ---------------------------------------------------------


def test_our_parser_accepts_a_header_made_by_stripes_own_signer(receiver):
    body = completed_event()
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, timestamp=int(NOW.timestamp())
    )
    [event] = receiver.parse_webhook({SIGNATURE_HEADER: header}, body)
    assert event.reference == "cs_test_a1b2c3d4e5f6g7h8i9j0"
    forged = stripe.WebhookSignature.generate_signature_header(
        body.decode(), "whsec_other", timestamp=int(NOW.timestamp())
    )
    with pytest.raises(Unauthenticated):
        receiver.parse_webhook({SIGNATURE_HEADER: forged}, body)


def test_stripes_own_verifier_accepts_a_header_made_by_our_test_signer():
    body = completed_event()
    header = signature_header(body, [OLD_SECRET, WEBHOOK_SECRET], int(time.time()))
    event = stripe.Webhook.construct_event(body, header, WEBHOOK_SECRET)
    assert event["id"] == "evt_1PmQy2LkdIwHu7ix3cBdJ7aZ"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_other")


def test_a_signed_event_from_the_fake_server_parses_back(provider, fake, clock):
    session = paid_intent(provider, fake)
    body = fake.event("checkout.session.completed", session)
    live_clock = ManualClock(datetime.fromtimestamp(json.loads(body)["created"], UTC))
    receiver = make_provider("http://127.0.0.1:9", clock=live_clock)
    [event] = receiver.parse_webhook(signed(body, at=live_clock.now()), body)
    assert event.reference == session["id"]
    assert event.details["payment_id"] == session["payment_intent"]
    assert event.amount == AMOUNT
