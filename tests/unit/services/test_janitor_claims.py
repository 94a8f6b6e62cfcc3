"""The janitor beyond checkouts: direct payments, refunds and payouts; its claims, its give-up age, and
two janitors at once. Runs on both stores (tests/unit/services/conftest.py)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from payments_core.money import Money
from payments_core.ports import ProviderEventType, ReceiptStatus
from payments_core.ports.janitor import CheckKind, JanitorStore
from payments_core.services import checkout, janitor, refunds, wallet
from payments_core.states import PaymentStatus, RefundStatus, WithdrawalStatus
from tests.support.core import Core, make_core
from tests.support.janitor import FakeStatus, janitor_deps, janitor_store
from tests.support.payments import completed_payment, kes, pending_payment

PHONE = {"phone_number": "254712345678"}


@pytest.fixture
def core() -> Core:
    return make_core()


@pytest.fixture
def status() -> FakeStatus:
    return FakeStatus()


@pytest.fixture
def store(core: Core) -> JanitorStore:
    """One per store, as the composition makes it: in memory, the schedule lives in it."""
    return janitor_store(core)


def later(core: Core, **delta: float) -> None:
    core.clock.advance(timedelta(**delta))


def claim(core: Core, store: JanitorStore, kind: CheckKind = CheckKind.PAYMENT):
    now = core.clock.now()
    return store.claim_due(
        kind, frozenset({"sandbox"}), now=now, older_than=now, newer_than=now - timedelta(days=3),
        lease_until=now + timedelta(minutes=5), limit=10,
    )  # fmt: skip


# --- direct payments, refunds, payouts ------------------------------------------------------------


def test_a_direct_payment_is_asked_about_by_its_own_reference(core, status):
    payment = pending_payment(core, "50.00")
    status.says(payment.provider_reference, ProviderEventType.PAYMENT_FAILED)
    later(core, minutes=6)

    report = janitor.sweep(janitor_deps(core, status))

    assert (report.claimed, report.applied) == (1, 1)
    assert core.store.payments.get(core.tenant.id, payment.id).status is PaymentStatus.FAILED


def test_a_pending_refund_is_settled_by_the_providers_answer(core, status):
    payment = completed_payment(core, "100.00")
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    refund = refunds.create_refund(core.deps, core.user("alice"), payment.id, kes("40.00"))
    status.says(refund.provider_refund_id, ProviderEventType.REFUND_SUCCEEDED, kes("40.00"))
    later(core, minutes=6)

    report = janitor.sweep(janitor_deps(core, status))

    assert (report.claimed, report.applied) == (1, 1)
    assert core.store.refunds.get(core.tenant.id, refund.id).status is RefundStatus.SUCCEEDED
    refunded = core.store.payments.get(core.tenant.id, payment.id)
    assert (refunded.status, refunded.refunded) == (PaymentStatus.PARTIALLY_REFUNDED, kes("40.00"))
    assert core.ledger_problems() == []


def test_a_processing_withdrawal_is_asked_about_from_its_approval_and_settled_once(core, status):
    completed_payment(core, "10000.00")
    withdrawal = wallet.initiate_withdrawal(core.deps, core.user("alice"), kes("1000.00"), "mpesa", PHONE)
    later(core, hours=2)  # approved long after it was initiated: late only from the approval
    approved = wallet.approve_withdrawal(core.deps, core.user("bob"), withdrawal.id).withdrawal
    assert approved.status is WithdrawalStatus.PROCESSING
    status.says(approved.provider_reference, ProviderEventType.PAYOUT_SETTLED)
    deps = janitor_deps(core, status)

    assert janitor.sweep(deps).claimed == 0
    later(core, minutes=6)
    assert janitor.sweep(deps).applied == 1
    later(core, hours=1)
    assert janitor.sweep(deps).claimed == 0

    assert core.store.withdrawals.get(core.tenant.id, withdrawal.id).status is WithdrawalStatus.COMPLETED
    assert status.asked[withdrawal.id] == 1
    assert core.ledger_problems() == []


def test_after_the_give_up_age_nothing_is_asked_and_the_object_stays_pending(core, status):
    payment = pending_payment(core, "50.00")
    status.says(payment.provider_reference, None)
    deps = janitor_deps(core, status)
    later(core, days=3, seconds=-1)
    assert janitor.sweep(deps).claimed == 1
    later(core, hours=1)

    assert janitor.sweep(deps).claimed == 0

    assert status.asked[payment.id] == 1
    assert core.store.payments.get(core.tenant.id, payment.id).status is PaymentStatus.PENDING


def test_every_tenants_objects_are_claimed(core, store):
    mine, theirs = pending_payment(core, "10.00"), pending_payment(core, "20.00", tenant_id="t2")
    later(core, minutes=6)
    assert {(c.tenant_id, c.object_id) for c in claim(core, store)} == {("t1", mine.id), ("t2", theirs.id)}


# --- the store's claims ---------------------------------------------------------------------------


def test_a_claim_carries_what_the_provider_is_asked_about(core, store):
    session = checkout.create_session(core.deps, core.user("alice"), kes("10.00"), "order-1")
    direct = pending_payment(core, "20.00")
    later(core, minutes=6)

    [of_session] = claim(core, store, CheckKind.CHECKOUT)
    [of_payment] = claim(core, store, CheckKind.PAYMENT)

    assert (of_session.object_id, of_session.reference) == (session.payment_id, session.provider_reference)
    assert (of_session.expires_at, of_session.since, of_session.livemode) == (
        session.expires_at, session.created_at, False,
    )  # fmt: skip
    assert (of_payment.object_id, of_payment.reference) == (direct.id, direct.provider_reference)
    assert of_payment.expires_at is None
    assert of_session.checks == of_payment.checks == 1


def test_a_claim_is_held_for_its_lease_and_counted_again_when_taken_over(core, store):
    payment = pending_payment(core, "10.00")
    later(core, minutes=6)
    [first] = claim(core, store)
    assert claim(core, store) == []
    later(core, minutes=5)

    [second] = claim(core, store)

    assert (first.object_id, first.checks, second.checks) == (payment.id, 1, 2)
    assert store.reschedule(first, core.clock.now()) is False  # its lease was taken over
    assert claim(core, store) == []
    assert store.reschedule(second, core.clock.now()) is True
    assert [check.checks for check in claim(core, store)] == [3]


def test_a_payment_without_a_reference_to_ask_about_is_never_claimed(core, store):
    pending_payment(core, "10.00", provider_reference=None)
    later(core, minutes=6)
    assert claim(core, store) == []


# --- two janitors at once -------------------------------------------------------------------------


def test_two_janitors_at_once_never_ask_about_or_apply_the_same_object_twice(core, status):
    sessions = [
        checkout.create_session(core.deps, core.user("alice"), Money.parse("10.00", "KES"), f"order-{n}")
        for n in range(8)
    ]
    for session in sessions:
        status.says(session.provider_reference, ProviderEventType.PAYMENT_SUCCEEDED)
    both_asking = threading.Barrier(2, timeout=10)
    first_question = threading.local()

    def hold_until_both_ask(_check) -> None:
        """Each janitor's first question waits for the other's: both hold claims at the same time."""
        if not getattr(first_question, "asked", False):
            first_question.asked = True
            both_asking.wait()

    status.while_asked = hold_until_both_ask
    deps = janitor_deps(core, status)
    later(core, minutes=6)
    reports: list[janitor.SweepReport] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            while (report := janitor.sweep(deps, batch=2)).claimed:
                reports.append(report)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert status.asked == {session.payment_id: 1 for session in sessions}
    assert status.most_at_once == 1
    assert sum(report.applied for report in reports) == len(sessions)
    payments = [core.store.payments.get(s.tenant_id, s.payment_id) for s in sessions]
    assert {payment.status for payment in payments} == {PaymentStatus.COMPLETED}
    assert core.wallet() == 975 * len(sessions)
    assert core.ledger_problems() == []
