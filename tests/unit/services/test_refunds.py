"""Refunds (seed 003's POST /refunds): a two-phase ledger hold, settled or voided by the provider."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from payments_core import flows
from payments_core.errors import DomainError
from payments_core.fees import (
    PLATFORM_DEFAULT_SCHEDULE,
    FeeOperation,
)
from payments_core.ledger import Chart
from payments_core.model.payments import CheckoutSession, Payment
from payments_core.money import Money
from payments_core.ports import (
    ProviderEvent,
    ProviderEventType,
    ReceiptStatus,
    RefundRequest,
)
from payments_core.services import provider_events, refunds
from payments_core.services.provider_events import EventOutcome
from payments_core.states import HoldStatus, PaymentStatus, RefundStatus
from tests.support import payments as payments_support
from tests.support.core import make_core
from tests.support.payments import kes, refundable_core


@pytest.fixture
def core():
    return refundable_core()


@pytest.fixture
def alice(core):
    return core.user("alice")


def pending_payment(core, amount="1000.00", tenant_id=None, **fields) -> Payment:
    return payments_support.pending_payment(core, amount, tenant_id, **fields)


def completed_payment(core, amount="1000.00", tenant_id=None, **fields) -> Payment:
    return payments_support.completed_payment(core, amount, tenant_id, **fields)


def payment_of(core, payment_id, tenant_id=None) -> Payment:
    return core.store.payments.get(tenant_id or core.tenant.id, payment_id)


def deliver(core, webhook) -> list[EventOutcome]:
    return provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)


def audit_actions(core, target_id) -> list[str]:
    return [e.action for e in core.store.audit.search(core.tenant.id, None, target_id, 0, 100).items]


def outbox_types(core) -> list[str]:
    return [e.type for e in core.store.outbox.for_tenant(core.tenant.id)]


def hold_status(core, refund) -> HoldStatus:
    return core.store.ledger.hold(refund.tenant_id, refund.hold_id).status


def balance(core, account_id) -> int:
    account = core.store.ledger.account(core.tenant.id, account_id)
    return account.credits_posted - account.debits_posted


def platform_fees(core) -> int:
    return balance(core, Chart(core.tenant.id).platform_fees("KES"))


def snapshot(core, payment_id):
    """What a refused request must leave exactly as it was."""
    tenant = core.tenant.id
    return (
        core.wallet(),
        payment_of(core, payment_id),
        tuple(core.store.refunds.for_payment(tenant, payment_id)),
        len(core.store.ledger.entries(tenant)),
        core.store.audit.search(tenant, None, None, 0, 1000).total,
    )


def refused(call, code):
    with pytest.raises(DomainError) as raised:
        call()
    assert raised.value.code == code
    return raised.value


# --- success paths ------------------------------------------------------------------------------


def test_a_full_refund_succeeds_at_once_in_the_sandbox_and_empties_the_wallet(core, alice):
    payment = completed_payment(core)
    assert core.wallet() == 97500

    refund = refunds.create_refund(core.deps, alice, payment.id, reason="Customer request")

    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.amount == kes("1000.00")
    assert refund.fee_share == kes("25.00")
    assert refund.provider_refund_id is not None and refund.provider_refund_id.startswith("sbx_re_")
    refunded = payment_of(core, payment.id)
    assert refunded.status is PaymentStatus.REFUNDED
    assert refunded.refunded == kes("1000.00")
    assert refunded.metadata["refundReason"] == "Customer request"
    assert refunded.metadata["refundedAt"] == "2026-03-01T09:00:00Z"
    assert core.wallet() == 0
    assert platform_fees(core) == 0
    assert hold_status(core, refund) is HoldStatus.POSTED
    assert core.ledger_problems() == []


def test_a_refund_is_audited_and_announced(core, alice):
    payment = completed_payment(core)
    refund = refunds.create_refund(core.deps, alice, payment.id)
    assert audit_actions(core, refund.id) == ["refund.succeeded", "refund.created"]
    assert outbox_types(core)[-2:] == ["refund.succeeded", "payment.refunded"]


def test_a_partial_refund_leaves_the_payment_partially_refunded_with_a_pro_rata_fee_share(core, alice):
    payment = completed_payment(core)
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("400.00"))
    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.fee_share == kes("10.00")
    after = payment_of(core, payment.id)
    assert after.status is PaymentStatus.PARTIALLY_REFUNDED
    assert after.refunded == kes("400.00")
    assert "refundedAt" not in after.metadata
    assert core.wallet() == 97500 - 39000
    assert core.ledger_problems() == []


def test_two_partial_refunds_make_the_payment_partially_refunded_then_refunded(core, alice):
    payment = completed_payment(core)
    refunds.create_refund(core.deps, alice, payment.id, kes("333.33"))
    assert payment_of(core, payment.id).status is PaymentStatus.PARTIALLY_REFUNDED
    refunds.create_refund(core.deps, alice, payment.id, kes("666.67"))
    after = payment_of(core, payment.id)
    assert after.status is PaymentStatus.REFUNDED
    assert after.refunded == kes("1000.00")
    assert core.wallet() == 0
    assert platform_fees(core) == 0
    assert core.ledger_problems() == []


def test_without_an_amount_the_refund_takes_what_is_left(core, alice):
    payment = completed_payment(core)
    refunds.create_refund(core.deps, alice, payment.id, kes("250.00"))
    rest = refunds.create_refund(core.deps, alice, payment.id)
    assert rest.amount == kes("750.00")
    assert payment_of(core, payment.id).status is PaymentStatus.REFUNDED


def test_a_kept_fee_is_not_given_back_so_the_wallet_pays_the_whole_refund():
    core = make_core()  # the platform default keeps its 2.5% on refunds
    assert core.deps.fees.platform_default == PLATFORM_DEFAULT_SCHEDULE
    alice = core.user("alice")
    first, _second = completed_payment(core), completed_payment(core)
    refund = refunds.create_refund(core.deps, alice, first.id)
    assert refund.fee_share == kes("0.00")
    assert core.wallet() == 2 * 97500 - 100000
    assert platform_fees(core) == 5000
    assert core.ledger_problems() == []


def test_fee_shares_add_up_to_the_fee_even_after_a_refund_in_between_failed(core, alice):
    payment = completed_payment(core, "3.00")  # fee 0.08 (2.5% rounded half up)
    assert payment.fee == kes("0.08")
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    first = refunds.create_refund(core.deps, alice, payment.id, kes("1.00"))
    second = refunds.create_refund(core.deps, alice, payment.id, kes("1.00"))
    assert (first.fee_share, second.fee_share) == (kes("0.03"), kes("0.02"))
    deliver(core, core.sandbox.fail_refund(first.provider_refund_id))
    deliver(core, core.sandbox.succeed_refund(second.provider_refund_id))
    core.sandbox.refund_outcome = ReceiptStatus.SUCCEEDED
    last = refunds.create_refund(core.deps, alice, payment.id)
    assert last.amount == kes("2.00")
    assert last.fee_share == kes("0.06")
    assert payment_of(core, payment.id).status is PaymentStatus.REFUNDED
    assert core.wallet() == 0
    assert platform_fees(core) == 0
    assert core.ledger_problems() == []


# --- the provider answers later, refuses, or is down -------------------------------------------


def test_a_pending_refund_holds_the_money_until_the_provider_confirms_it_by_event(core, alice):
    payment = completed_payment(core)
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("400.00"))

    assert refund.status is RefundStatus.PENDING
    assert hold_status(core, refund) is HoldStatus.PENDING
    assert core.wallet() == 97500 - 39000
    untouched = payment_of(core, payment.id)
    assert (untouched.status, untouched.refunded) == (PaymentStatus.COMPLETED, None)

    assert deliver(core, core.sandbox.succeed_refund(refund.provider_refund_id)) == [EventOutcome.APPLIED]

    settled = core.store.refunds.get(core.tenant.id, refund.id)
    assert settled.status is RefundStatus.SUCCEEDED
    assert hold_status(core, refund) is HoldStatus.POSTED
    after = payment_of(core, payment.id)
    assert (after.status, after.refunded) == (PaymentStatus.PARTIALLY_REFUNDED, kes("400.00"))
    assert core.wallet() == 97500 - 39000
    assert audit_actions(core, refund.id)[0] == "refund.succeeded"
    assert core.ledger_problems() == []


def test_a_replayed_refund_event_has_no_second_effect(core, alice):
    payment = completed_payment(core)
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("400.00"))
    webhook = core.sandbox.succeed_refund(refund.provider_refund_id)
    deliver(core, webhook)
    assert deliver(core, webhook) == [EventOutcome.DUPLICATE]
    assert payment_of(core, payment.id).refunded == kes("400.00")
    assert core.ledger_problems() == []


def test_a_refund_refused_in_the_receipt_voids_the_hold_and_restores_the_wallet(core, alice):
    payment = completed_payment(core)
    core.sandbox.refund_outcome = ReceiptStatus.FAILED
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("400.00"))

    assert refund.status is RefundStatus.FAILED
    assert refund.failure_reason
    assert hold_status(core, refund) is HoldStatus.VOIDED
    assert core.wallet() == 97500
    assert payment_of(core, payment.id).status is PaymentStatus.COMPLETED
    assert audit_actions(core, refund.id) == ["refund.failed", "refund.created"]
    assert outbox_types(core)[-1] == "refund.failed"
    assert core.ledger_problems() == []


def test_a_refund_failed_by_event_voids_the_hold_and_the_money_can_be_refunded_again(core, alice):
    payment = completed_payment(core)
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    refund = refunds.create_refund(core.deps, alice, payment.id)
    assert core.wallet() == 0

    assert deliver(core, core.sandbox.fail_refund(refund.provider_refund_id)) == [EventOutcome.APPLIED]

    assert core.store.refunds.get(core.tenant.id, refund.id).status is RefundStatus.FAILED
    assert hold_status(core, refund) is HoldStatus.VOIDED
    assert core.wallet() == 97500
    core.sandbox.refund_outcome = ReceiptStatus.SUCCEEDED
    again = refunds.create_refund(core.deps, alice, payment.id)
    assert again.amount == kes("1000.00")
    assert core.ledger_problems() == []


def test_an_unavailable_provider_leaves_the_refund_pending_with_its_hold(core, alice):
    payment = completed_payment(core)
    core.sandbox.unavailable = True
    refused(
        lambda: refunds.create_refund(core.deps, alice, payment.id, kes("400.00")), "PROVIDER_UNAVAILABLE"
    )

    [refund] = core.store.refunds.for_payment(core.tenant.id, payment.id)
    assert refund.status is RefundStatus.PENDING
    assert refund.provider_refund_id is None
    assert hold_status(core, refund) is HoldStatus.PENDING
    assert core.wallet() == 97500 - 39000
    assert payment_of(core, payment.id).status is PaymentStatus.COMPLETED
    assert core.ledger_problems() == []


def test_pending_refunds_count_against_what_is_left_to_refund(core, alice):
    payment = completed_payment(core)
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    refunds.create_refund(core.deps, alice, payment.id, kes("600.00"))
    error = refused(
        lambda: refunds.create_refund(core.deps, alice, payment.id, kes("600.00")), "INVALID_AMOUNT"
    )
    assert error.details["maximum"] == "400.00"


def test_an_event_for_a_finished_refund_changes_nothing(core, alice):
    payment = completed_payment(core)
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("400.00"))
    event = ProviderEvent(
        "sandbox", "evt_late", ProviderEventType.REFUND_FAILED, refund.provider_refund_id, core.clock.now()
    )
    assert provider_events.apply_event(core.deps, event) is EventOutcome.IGNORED
    assert core.store.refunds.get(core.tenant.id, refund.id).status is RefundStatus.SUCCEEDED
    assert core.wallet() == 97500 - 39000


def test_an_event_for_an_unknown_refund_is_ignored(core):
    event = ProviderEvent(
        "sandbox", "evt_x", ProviderEventType.REFUND_SUCCEEDED, "sbx_re_nope", core.clock.now()
    )
    with core.deps.uow() as uow:
        assert refunds.apply_refund_event(uow, core.deps, event) is False


def test_an_event_with_another_amount_is_audited_and_not_applied(core, alice):
    payment = completed_payment(core)
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("400.00"))
    event = ProviderEvent(
        "sandbox", "evt_odd", ProviderEventType.REFUND_SUCCEEDED, refund.provider_refund_id,
        core.clock.now(), amount=kes("500.00"),
    )  # fmt: skip
    assert provider_events.apply_event(core.deps, event) is EventOutcome.IGNORED
    assert core.store.refunds.get(core.tenant.id, refund.id).status is RefundStatus.PENDING
    assert "provider_event.amount_mismatch" in audit_actions(core, refund.id)


# --- which provider reference is refunded ---------------------------------------------------------


@attrs.define
class RecordingProvider:
    """The sandbox, remembering the refund requests it was sent."""

    inner: object
    refunds: list[RefundRequest] = attrs.field(factory=list)

    @property
    def name(self):
        return "sandbox"

    def refund(self, request):
        self.refunds.append(request)
        return self.inner.refund(request)


def test_a_checkout_payment_is_refunded_under_its_sessions_provider_reference(core, alice):
    recorder = RecordingProvider(core.sandbox)
    core.deps = attrs.evolve(core.deps, providers={"sandbox": recorder})
    now = core.clock.now()
    session = CheckoutSession(
        "cs_1", core.tenant.id, "pay_cs", kes("100.00"), "order-1", "sandbox", "sbx_cs_ref", "/pay",
        now + timedelta(minutes=30), now, now, livemode=False,
    )  # fmt: skip
    with core.deps.uow() as uow:
        uow.sessions.add(session)
        uow.commit()
    payment = completed_payment(core, "100.00", provider_reference=None, session_id="cs_1")

    refunds.create_refund(core.deps, alice, payment.id)

    [request] = recorder.refunds
    assert request.provider_payment_reference == "sbx_cs_ref"
    assert request.amount == kes("100.00")


def test_a_payment_without_any_provider_reference_cannot_be_refunded(core, alice):
    payment = completed_payment(core, provider_reference=None)
    before = snapshot(core, payment.id)
    error = refused(lambda: refunds.create_refund(core.deps, alice, payment.id), "INVALID_OPERATION")
    assert error.details["currentStatus"] == "completed"
    assert snapshot(core, payment.id) == before


# --- refusals -----------------------------------------------------------------------------------


def test_refunding_more_than_is_left_is_an_invalid_amount_and_changes_nothing(core, alice):
    payment = completed_payment(core)
    refunds.create_refund(core.deps, alice, payment.id, kes("400.00"))
    before = snapshot(core, payment.id)
    error = refused(
        lambda: refunds.create_refund(core.deps, alice, payment.id, kes("600.01")), "INVALID_AMOUNT"
    )
    assert error.details["maximum"] == "600.00"
    assert snapshot(core, payment.id) == before


@pytest.mark.parametrize("amount", [Money(0, "KES"), Money(-100, "KES"), 100, "10.00"])
def test_zero_negative_or_non_money_amounts_are_refused_and_change_nothing(core, alice, amount):
    payment = completed_payment(core)
    before = snapshot(core, payment.id)
    refused(lambda: refunds.create_refund(core.deps, alice, payment.id, amount), "INVALID_AMOUNT")
    assert snapshot(core, payment.id) == before


def test_an_amount_in_another_currency_is_refused(core, alice):
    payment = completed_payment(core)
    before = snapshot(core, payment.id)
    error = refused(
        lambda: refunds.create_refund(core.deps, alice, payment.id, Money(100, "USD")), "CURRENCY_MISMATCH"
    )
    assert error.details["expected"] == "KES"
    assert snapshot(core, payment.id) == before


@pytest.mark.parametrize("reason", ["x" * 501, "", 42])
def test_a_bad_reason_is_refused(core, alice, reason):
    payment = completed_payment(core)
    before = snapshot(core, payment.id)
    refused(lambda: refunds.create_refund(core.deps, alice, payment.id, reason=reason), "INVALID_PARAMETER")
    assert snapshot(core, payment.id) == before


def test_a_reason_of_500_characters_is_accepted(core, alice):
    payment = completed_payment(core)
    refund = refunds.create_refund(core.deps, alice, payment.id, reason="x" * 500)
    assert refund.reason == "x" * 500


@pytest.mark.parametrize("status", ["pending", "failed", "cancelled"])
def test_only_completed_payments_can_be_refunded(core, alice, status):
    payment = pending_payment(core)
    if status != "pending":
        with core.deps.uow() as uow:
            uow.payments.update(payment.moved(PaymentStatus(status), core.clock.now()))
            uow.commit()
    error = refused(lambda: refunds.create_refund(core.deps, alice, payment.id), "INVALID_OPERATION")
    assert error.details == {"currentStatus": status, "reason": "Only completed payments can be refunded"}
    assert core.store.refunds.for_payment(core.tenant.id, payment.id) == []


def test_a_fully_refunded_payment_cannot_be_refunded_again(core, alice):
    payment = completed_payment(core)
    refunds.create_refund(core.deps, alice, payment.id)
    error = refused(lambda: refunds.create_refund(core.deps, alice, payment.id), "INVALID_OPERATION")
    assert error.details["currentStatus"] == "refunded"


def test_a_refund_the_wallet_cannot_cover_is_refused_and_nothing_is_recorded(core, alice):
    payment = completed_payment(core)
    chart = Chart(core.tenant.id)
    quote = core.deps.fees.quote(core.tenant.id, FeeOperation.WITHDRAWAL, "mpesa", kes("975.00"))
    core.store.ledger.submit(flows.withdrawal_initiated(chart, "wd_drain", quote))
    assert core.wallet() == 0
    before = snapshot(core, payment.id)

    refused(lambda: refunds.create_refund(core.deps, alice, payment.id, kes("100.00")), "INSUFFICIENT_FUNDS")

    assert snapshot(core, payment.id) == before
    assert core.store.refunds.for_payment(core.tenant.id, payment.id) == []
    assert core.ledger_problems() == []


def test_an_api_key_cannot_refund(core):
    payment = completed_payment(core)
    refused(lambda: refunds.create_refund(core.deps, core.api_key(), payment.id), "INSUFFICIENT_PERMISSIONS")
    assert core.store.refunds.for_payment(core.tenant.id, payment.id) == []


def test_a_user_without_fresh_mfa_cannot_refund(core):
    payment = completed_payment(core)
    stale = core.user("alice")
    core.clock.advance(timedelta(minutes=6))
    refused(lambda: refunds.create_refund(core.deps, stale, payment.id), "MFA_CHALLENGE_REQUIRED")
    never = core.user("bob", mfa=False)
    refused(lambda: refunds.create_refund(core.deps, never, payment.id), "MFA_CHALLENGE_REQUIRED")
    assert core.store.refunds.for_payment(core.tenant.id, payment.id) == []


def test_a_user_without_the_refund_scope_cannot_refund(core):
    payment = completed_payment(core)
    reader = core.user("carol", scopes=["payments:read", "payments:write"])
    error = refused(lambda: refunds.create_refund(core.deps, reader, payment.id), "INSUFFICIENT_PERMISSIONS")
    assert error.details["requiredScopes"] == ["refunds:create"]


def test_another_tenants_payment_and_refunds_are_not_found(core, alice):
    payment = completed_payment(core)
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("100.00"))
    eve = core.user("eve", tenant_id="t2")
    refused(lambda: refunds.create_refund(core.deps, eve, payment.id), "RESOURCE_NOT_FOUND")
    refused(lambda: refunds.get_refund(core.deps, eve, refund.id), "RESOURCE_NOT_FOUND")
    refused(lambda: refunds.list_refunds(core.deps, eve, payment.id), "RESOURCE_NOT_FOUND")
    assert payment_of(core, payment.id).refunded == kes("100.00")


# --- idempotency and reads ------------------------------------------------------------------------


def test_the_same_idempotency_key_returns_the_first_refund_and_moves_money_once(core, alice):
    payment = completed_payment(core)
    first = refunds.create_refund(core.deps, alice, payment.id, kes("100.00"), idempotency_key="k-1")
    again = refunds.create_refund(core.deps, alice, payment.id, kes("100.00"), idempotency_key="k-1")
    assert again == first
    assert len(core.store.refunds.for_payment(core.tenant.id, payment.id)) == 1
    assert core.wallet() == 97500 - 9750
    assert payment_of(core, payment.id).refunded == kes("100.00")


def test_the_same_idempotency_key_with_another_request_is_a_conflict(core, alice):
    payment = completed_payment(core)
    refunds.create_refund(core.deps, alice, payment.id, kes("100.00"), idempotency_key="k-1")
    refused(
        lambda: refunds.create_refund(core.deps, alice, payment.id, kes("200.00"), idempotency_key="k-1"),
        "IDEMPOTENCY_CONFLICT",
    )
    assert len(core.store.refunds.for_payment(core.tenant.id, payment.id)) == 1


def test_idempotency_keys_belong_to_one_tenant(core, alice):
    mine = completed_payment(core)
    theirs = completed_payment(core, tenant_id="t2")
    eve = core.user("eve", tenant_id="t2")
    a = refunds.create_refund(core.deps, alice, mine.id, kes("100.00"), idempotency_key="same")
    b = refunds.create_refund(core.deps, eve, theirs.id, kes("100.00"), idempotency_key="same")
    assert a.id != b.id
    assert core.store.refunds.get("t2", b.id).tenant_id == "t2"


def test_get_and_list_refunds(core, alice):
    payment = completed_payment(core)
    first = refunds.create_refund(core.deps, alice, payment.id, kes("100.00"))
    core.clock.advance(timedelta(seconds=1))
    second = refunds.create_refund(core.deps, alice, payment.id, kes("200.00"))
    reader = core.user("rita", scopes=["payments:read"], mfa=False)
    assert refunds.get_refund(core.deps, reader, first.id) == first
    assert [r.id for r in refunds.list_refunds(core.deps, reader, payment.id)] == [first.id, second.id]


def test_reading_refunds_needs_the_read_scope(core, alice):
    payment = completed_payment(core)
    refund = refunds.create_refund(core.deps, alice, payment.id, kes("100.00"))
    nobody = core.user("nora", scopes=["finance:view"])
    refused(lambda: refunds.get_refund(core.deps, nobody, refund.id), "INSUFFICIENT_PERMISSIONS")
    refused(lambda: refunds.list_refunds(core.deps, nobody, payment.id), "INSUFFICIENT_PERMISSIONS")
