"""The sandbox provider speaks like a real one: signed webhooks, refusals, outages on command."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.clock import ManualClock
from adapters.providers.sandbox import SIGNATURE_HEADER, SandboxProvider
from payments_core.errors import InvalidOperation, ProviderUnavailable, Unauthenticated, ValidationError
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

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def sandbox(clock):
    return SandboxProvider(clock, signing_secret="whsec_unit")


TEN_THOUSAND_CENTS = Money(10000, "KES")


def checkout(sandbox, amount=TEN_THOUSAND_CENTS):
    return sandbox.start_checkout(CheckoutRequest("t1", "cs_1", amount, "order-1", livemode=False))


def test_a_checkout_gets_a_reference_and_a_hosted_page(sandbox):
    started = checkout(sandbox)
    assert started.provider_reference.startswith("sbx_cs_")
    assert started.redirect_url == "/sandbox/checkout/cs_1"
    assert started.qr_image_url == "/sandbox/checkout/cs_1/qr.svg"


def test_completing_a_checkout_emits_a_signed_event_that_parses_back(sandbox):
    reference = checkout(sandbox).provider_reference
    webhook = sandbox.complete_checkout(reference)
    assert SIGNATURE_HEADER in webhook.headers
    [event] = sandbox.parse_webhook(webhook.headers, webhook.body)
    assert event.type is ProviderEventType.PAYMENT_SUCCEEDED
    assert event.reference == reference
    assert event.amount == Money(10000, "KES")
    assert event.event_id.startswith("sbx_evt_")


def test_a_checkout_finishes_once(sandbox):
    reference = checkout(sandbox).provider_reference
    sandbox.fail_checkout(reference)
    with pytest.raises(InvalidOperation):
        sandbox.complete_checkout(reference)


def test_commands_refuse_unknown_references_and_wrong_kinds(sandbox):
    with pytest.raises(InvalidOperation):
        sandbox.complete_checkout("sbx_cs_nope")
    reference = checkout(sandbox).provider_reference
    with pytest.raises(InvalidOperation):
        sandbox.settle_payout(reference)


def test_a_tampered_body_fails_verification(sandbox):
    webhook = sandbox.complete_checkout(checkout(sandbox).provider_reference)
    forged = webhook.body.replace(b'"amount":10000', b'"amount":99999')
    with pytest.raises(Unauthenticated):
        sandbox.parse_webhook(webhook.headers, forged)


def test_a_signature_made_with_another_secret_fails(sandbox, clock):
    webhook = sandbox.complete_checkout(checkout(sandbox).provider_reference)
    other = SandboxProvider(clock, signing_secret="whsec_other")
    with pytest.raises(Unauthenticated):
        other.parse_webhook(webhook.headers, webhook.body)


def test_a_stale_signature_fails_after_five_minutes(sandbox, clock):
    webhook = sandbox.complete_checkout(checkout(sandbox).provider_reference)
    clock.advance(timedelta(seconds=300))
    assert sandbox.parse_webhook(webhook.headers, webhook.body)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated):
        sandbox.parse_webhook(webhook.headers, webhook.body)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1", "garbage"])
def test_missing_or_malformed_signatures_fail(sandbox, header):
    webhook = sandbox.complete_checkout(checkout(sandbox).provider_reference)
    with pytest.raises(Unauthenticated):
        sandbox.parse_webhook({SIGNATURE_HEADER: header}, webhook.body)


def test_a_correctly_signed_but_malformed_event_is_a_validation_error(sandbox):
    body = json.dumps({"id": "e1", "type": "payment.bogus", "data": {}}).encode()
    with pytest.raises(ValidationError):
        sandbox.parse_webhook(sandbox.sign(body), body)


def test_declined_test_cards_are_rejected_and_pse_waits_for_the_bank(sandbox):
    def pay(method, token):
        return sandbox.create_payment(
            DirectPaymentRequest(
                "t1", "pay_1", Money(150000, "COP"), "plan", method, {"email": "a@b.co"}, token=token
            )
        )

    assert pay("visa", "tok_visa").status is DirectPaymentStatus.APPROVED
    declined = pay("visa", "tok_declined")
    assert (declined.status, declined.status_detail) == (
        DirectPaymentStatus.REJECTED,
        "cc_rejected_other_reason",
    )
    pse = pay("pse", None)
    assert pse.status is DirectPaymentStatus.PENDING
    assert pse.external_resource_url == f"/sandbox/pse/{pse.provider_reference}"
    assert sandbox.parse_webhook(*_hb(sandbox.complete_payment(pse.provider_reference)))[0].type is (
        ProviderEventType.PAYMENT_SUCCEEDED
    )


def _hb(webhook):
    return webhook.headers, webhook.body


def test_payouts_wait_for_settlement_unless_told_otherwise(sandbox):
    request = PayoutRequest("t1", "wd_1", Money(96700, "KES"), "mpesa", {"phone_number": "254712345678"})
    receipt = sandbox.payout(request)
    assert receipt.status is ReceiptStatus.PENDING
    assert receipt.details["response_code"] == "0"
    [event] = sandbox.parse_webhook(*_hb(sandbox.settle_payout(receipt.provider_reference)))
    assert event.type is ProviderEventType.PAYOUT_SETTLED
    sandbox.payout_outcome = ReceiptStatus.FAILED
    assert sandbox.payout(request).status is ReceiptStatus.FAILED


def test_refunds_succeed_at_once_by_default_and_can_be_made_to_wait(sandbox):
    request = RefundRequest("t1", "re_1", "sbx_cs_x", Money(500, "KES"))
    assert sandbox.refund(request).status is ReceiptStatus.SUCCEEDED
    sandbox.refund_outcome = ReceiptStatus.PENDING
    waiting = sandbox.refund(request)
    [event] = sandbox.parse_webhook(*_hb(sandbox.fail_refund(waiting.provider_reference)))
    assert event.type is ProviderEventType.REFUND_FAILED


def test_an_outage_refuses_every_call_with_provider_unavailable(sandbox):
    sandbox.unavailable = True
    with pytest.raises(ProviderUnavailable) as raised:
        checkout(sandbox)
    assert raised.value.code == "PROVIDER_UNAVAILABLE"


def test_delivery_hands_each_webhook_to_the_receiver_and_resend_repeats_it(clock):
    received = []
    sandbox = SandboxProvider(clock, signing_secret="whsec_unit", deliver=received.append)
    webhook = sandbox.complete_checkout(checkout(sandbox).provider_reference)
    sandbox.resend(webhook)
    assert received == [webhook, webhook]
