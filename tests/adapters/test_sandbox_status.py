"""The sandbox's status query: what each object it made finished with, delivered or not; nothing
about what is pending or what it never made; refused while the sandbox is down."""

from datetime import UTC, datetime

import pytest

from adapters.memory.clock import ManualClock
from adapters.providers.sandbox import SandboxProvider, Webhook
from payments_core.errors import ProviderUnavailable
from payments_core.money import Money
from payments_core.ports import (
    CheckoutRequest,
    DirectPaymentRequest,
    PayoutRequest,
    ProviderEventType,
    ReceiptStatus,
    RefundRequest,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
KES = Money(10000, "KES")
PHONE = {"phone_number": "254712345678"}


@pytest.fixture
def sandbox() -> SandboxProvider:
    return SandboxProvider(ManualClock(T0), signing_secret="whsec_unit")


def checkout(sandbox: SandboxProvider) -> str:
    return sandbox.start_checkout(
        CheckoutRequest("t1", "cs_1", KES, "order-1", livemode=False)
    ).provider_reference


def payment(sandbox: SandboxProvider, method: str = "pse", token: str | None = None) -> str:
    request = DirectPaymentRequest("t1", "pay_1", Money(150000, "COP"), "plan", method, {}, token=token)
    return sandbox.create_payment(request).provider_reference


def refund(sandbox: SandboxProvider, told: ReceiptStatus = ReceiptStatus.PENDING) -> str:
    sandbox.refund_outcome = told
    return sandbox.refund(RefundRequest("t1", "re_1", "sbx_cs_x", Money(500, "KES"))).provider_reference


def payout(sandbox: SandboxProvider, told: ReceiptStatus = ReceiptStatus.PENDING) -> str:
    sandbox.payout_outcome = told
    return sandbox.payout(PayoutRequest("t1", "wd_1", Money(96700, "KES"), "mpesa", PHONE)).provider_reference


# (kind, how the object is made, the command that finishes it, the outcome it then answers)
FINISHED_BY_A_COMMAND = [
    ("checkout", checkout, SandboxProvider.complete_checkout, ProviderEventType.PAYMENT_SUCCEEDED),
    ("checkout", checkout, SandboxProvider.fail_checkout, ProviderEventType.PAYMENT_FAILED),
    ("checkout", checkout, SandboxProvider.expire_checkout, ProviderEventType.PAYMENT_EXPIRED),
    ("payment", payment, SandboxProvider.complete_payment, ProviderEventType.PAYMENT_SUCCEEDED),
    ("payment", payment, SandboxProvider.fail_payment, ProviderEventType.PAYMENT_FAILED),
    ("refund", refund, SandboxProvider.succeed_refund, ProviderEventType.REFUND_SUCCEEDED),
    ("refund", refund, SandboxProvider.fail_refund, ProviderEventType.REFUND_FAILED),
    ("payout", payout, SandboxProvider.settle_payout, ProviderEventType.PAYOUT_SETTLED),
    ("payout", payout, SandboxProvider.fail_payout, ProviderEventType.PAYOUT_FAILED),
]


@pytest.mark.parametrize(("kind", "make", "finish", "outcome"), FINISHED_BY_A_COMMAND)
def test_an_object_is_pending_until_finished_then_answers_its_webhooks_type(
    sandbox, kind, make, finish, outcome
):
    reference = make(sandbox)
    assert sandbox.outcome(kind, reference) is None

    webhook = finish(sandbox, reference)

    assert sandbox.outcome(kind, reference) is outcome
    [event] = sandbox.parse_webhook(webhook.headers, webhook.body)
    assert event.type is outcome  # the answer is what the webhook carried


def test_an_outcome_is_known_even_when_its_webhook_never_arrived():
    def lost(_webhook: Webhook) -> None:
        raise ConnectionError("the service was down")

    sandbox = SandboxProvider(ManualClock(T0), signing_secret="whsec_unit", deliver=lost)
    reference = checkout(sandbox)
    with pytest.raises(ConnectionError):
        sandbox.complete_checkout(reference)

    assert sandbox.outcome("checkout", reference) is ProviderEventType.PAYMENT_SUCCEEDED


@pytest.mark.parametrize(
    ("kind", "make", "outcome"),
    [
        ("payment", lambda s: payment(s, "visa", "tok_visa"), ProviderEventType.PAYMENT_SUCCEEDED),
        ("payment", lambda s: payment(s, "visa", "tok_declined"), ProviderEventType.PAYMENT_FAILED),
        ("refund", lambda s: refund(s, ReceiptStatus.SUCCEEDED), ProviderEventType.REFUND_SUCCEEDED),
        ("refund", lambda s: refund(s, ReceiptStatus.FAILED), ProviderEventType.REFUND_FAILED),
        ("payout", lambda s: payout(s, ReceiptStatus.SUCCEEDED), ProviderEventType.PAYOUT_SETTLED),
        ("payout", lambda s: payout(s, ReceiptStatus.FAILED), ProviderEventType.PAYOUT_FAILED),
    ],
)
def test_an_object_finished_at_once_answers_the_outcome_it_was_given(sandbox, kind, make, outcome):
    assert sandbox.outcome(kind, make(sandbox)) is outcome


def test_nothing_is_known_of_a_reference_never_made_another_kind_or_another_instance(sandbox):
    reference = checkout(sandbox)
    sandbox.complete_checkout(reference)
    elsewhere = SandboxProvider(ManualClock(T0), signing_secret="whsec_unit")  # another process's

    assert sandbox.outcome("checkout", "sbx_cs_never") is None
    assert sandbox.outcome("payment", reference) is None
    assert sandbox.outcome("payout", reference) is None
    assert elsewhere.outcome("checkout", reference) is None
    assert sandbox.outcome("checkout", reference) is ProviderEventType.PAYMENT_SUCCEEDED


def test_an_outage_refuses_the_status_query_and_nothing_is_lost_meanwhile(sandbox):
    reference = checkout(sandbox)
    sandbox.unavailable = True
    sandbox.fail_checkout(reference)  # the hosted page still works during the outage

    with pytest.raises(ProviderUnavailable) as raised:
        sandbox.outcome("checkout", reference)

    assert raised.value.code == "PROVIDER_UNAVAILABLE"
    sandbox.unavailable = False
    assert sandbox.outcome("checkout", reference) is ProviderEventType.PAYMENT_FAILED
