"""The janitor and checkout payments: asked about once late, applied once, backed off, crash-safe.

Runs on both stores (tests/unit/services/conftest.py), with a scripted fake status source in
place of a provider's status query (the sandbox's own is tested through the composition, in
tests/entrypoints/test_janitor_sandbox.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments_core.errors import ProviderUnavailable, ValidationError
from payments_core.money import Money
from payments_core.ports import ProviderEventType
from payments_core.ports.janitor import CheckKind, PendingCheck
from payments_core.services import checkout, janitor, provider_events
from payments_core.services.provider_events import EventOutcome
from payments_core.states import CheckoutSessionStatus, PaymentStatus
from tests.support.core import T0, Core, make_core
from tests.support.janitor import FakeStatus, janitor_deps

PAID = ProviderEventType.PAYMENT_SUCCEEDED
AMOUNT = Money.parse("10.00", "KES")
NET = 975  # 10.00 KES less the platform's 2.5 % fee


@pytest.fixture
def core() -> Core:
    return make_core()


@pytest.fixture
def status() -> FakeStatus:
    return FakeStatus()


def open_session(core: Core, reference: str = "order-1"):
    return checkout.create_session(core.deps, core.user("alice"), AMOUNT, reference)


def payment_of(core: Core, session):
    return core.store.payments.get(session.tenant_id, session.payment_id)


def session_of(core: Core, session):
    return core.store.sessions.get(session.tenant_id, session.id)


def outbox_count(core: Core, event_type: str) -> int:
    return sum(1 for event in core.store.outbox.for_tenant(core.tenant.id) if event.type == event_type)


def later(core: Core, **delta: float) -> None:
    core.clock.advance(timedelta(**delta))


# --- a verdict is applied once --------------------------------------------------------------------


def test_a_payment_the_provider_says_is_paid_is_completed_once_and_the_wallet_credited_once(core, status):
    session = open_session(core)
    status.says(session.provider_reference, PAID)
    deps = janitor_deps(core, status)
    later(core, minutes=6)

    report = janitor.sweep(deps)

    assert (report.claimed, report.applied, report.unsettled) == (1, 1, 0)
    assert payment_of(core, session).status is PaymentStatus.COMPLETED
    assert session_of(core, session).status is CheckoutSessionStatus.COMPLETED
    assert core.wallet() == NET
    later(core, hours=2)
    assert janitor.sweep(deps).claimed == 0  # completed: never asked about again
    assert status.asked[session.payment_id] == 1
    assert core.wallet() == NET
    assert outbox_count(core, "payment.succeeded") == 1
    assert core.ledger_problems() == []


def test_the_verdict_is_recorded_as_the_providers_event_under_the_janitors_id(core, status):
    session = open_session(core)
    status.says(session.provider_reference, PAID)
    later(core, minutes=6)
    janitor.sweep(janitor_deps(core, status))

    again = janitor.verdict_event(
        janitor_check(core, session), status.answers[session.provider_reference], core.clock.now()
    )
    assert again.event_id == f"janitor:{session.payment_id}:payment.succeeded"
    assert provider_events.apply_event(core.deps, again) is EventOutcome.DUPLICATE
    assert core.wallet() == NET


def janitor_check(core: Core, session) -> PendingCheck:
    return PendingCheck(
        CheckKind.CHECKOUT, session.tenant_id, session.payment_id, "sandbox", session.provider_reference,
        False, session.created_at, 1, expires_at=session.expires_at,
    )  # fmt: skip


def test_a_real_webhook_after_the_janitor_applied_it_has_no_second_effect(core, status):
    session = open_session(core)
    status.says(session.provider_reference, PAID)
    later(core, minutes=6)
    janitor.sweep(janitor_deps(core, status))

    webhook = core.sandbox.complete_checkout(session.provider_reference)
    outcomes = provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)

    assert outcomes == [EventOutcome.IGNORED]
    assert core.wallet() == NET
    assert outbox_count(core, "payment.succeeded") == 1
    assert payment_of(core, session).status is PaymentStatus.COMPLETED
    assert core.ledger_problems() == []


def test_a_webhook_applied_while_the_janitor_was_asking_wins_and_the_janitors_answer_changes_nothing(
    core, status
):
    session = open_session(core)
    status.says(session.provider_reference, PAID)

    def webhook_meanwhile(_check) -> None:
        webhook = core.sandbox.complete_checkout(session.provider_reference)
        provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)

    status.while_asked = webhook_meanwhile
    later(core, minutes=6)

    report = janitor.sweep(janitor_deps(core, status))

    assert (report.applied, report.unsettled) == (0, 1)
    assert core.wallet() == NET
    assert outbox_count(core, "payment.succeeded") == 1
    assert core.ledger_problems() == []


def test_a_failed_verdict_cancels_the_session_and_fails_the_payment(core, status):
    session = open_session(core)
    status.says(session.provider_reference, ProviderEventType.PAYMENT_FAILED)
    later(core, minutes=6)

    assert janitor.sweep(janitor_deps(core, status)).applied == 1

    assert session_of(core, session).status is CheckoutSessionStatus.CANCELLED
    assert payment_of(core, session).status is PaymentStatus.FAILED
    assert core.wallet() == 0


def test_a_verdict_about_another_amount_is_audited_not_applied_and_asked_about_later(core, status):
    session = open_session(core)
    status.says(session.provider_reference, PAID, Money.parse("1.00", "KES"))
    deps = janitor_deps(core, status)
    later(core, minutes=6)

    assert janitor.sweep(deps).unsettled == 1
    with core.deps.uow() as uow:
        audited = uow.audit.search(core.tenant.id, "provider_event.amount_mismatch", session.id, 0, 10)
    assert audited.total == 1
    assert payment_of(core, session).status is PaymentStatus.PENDING
    later(core, minutes=1)
    assert janitor.sweep(deps).unsettled == 1  # the same answer again: a duplicate, still nothing
    assert status.asked[session.payment_id] == 2
    assert core.wallet() == 0


# --- what is asked about, and when ----------------------------------------------------------------


def test_nothing_is_asked_about_before_the_threshold(core, status):
    session = open_session(core)
    deps = janitor_deps(core, status)
    later(core, minutes=5)
    assert janitor.sweep(deps).claimed == 0  # pending for exactly the threshold: not yet late
    later(core, seconds=1)
    assert janitor.sweep(deps).claimed == 1
    assert status.asked[session.payment_id] == 1


def test_still_pending_stays_pending_and_is_not_asked_again_before_its_backoff(core, status):
    session = open_session(core)
    status.says(session.provider_reference, None)
    deps = janitor_deps(core, status)
    later(core, minutes=6)

    asked_at = []
    for _ in range(40):  # ten minutes, in 15 s steps
        if janitor.sweep(deps).claimed:
            asked_at.append(core.clock.now() - T0)
        later(core, seconds=15)

    # at 6 min, then 1, 2 and 4 minutes after each check that settled nothing
    assert asked_at == [timedelta(minutes=minutes) for minutes in (6, 7, 9, 13)]
    assert status.asked[session.payment_id] == 4
    assert payment_of(core, session).status is PaymentStatus.PENDING


def test_a_provider_that_cannot_answer_is_asked_again_after_the_backoff(core, status):
    session = open_session(core)
    status.answers[session.provider_reference] = ProviderUnavailable("down", provider="sandbox")
    deps = janitor_deps(core, status)
    later(core, minutes=6)

    assert janitor.sweep(deps).unanswered == 1
    later(core, seconds=59)
    assert janitor.sweep(deps).claimed == 0
    status.says(session.provider_reference, PAID)
    later(core, seconds=1)
    assert janitor.sweep(deps).applied == 1
    assert status.asked[session.payment_id] == 2
    assert core.wallet() == NET


def test_a_janitor_that_crashes_after_claiming_leaves_the_object_due_again_after_the_lease(core, status):
    session = open_session(core)
    status.answers[session.provider_reference] = RuntimeError("the worker died mid-sweep")
    deps = janitor_deps(core, status)
    later(core, minutes=6)

    with pytest.raises(RuntimeError):
        janitor.sweep(deps)

    assert payment_of(core, session).status is PaymentStatus.PENDING
    status.says(session.provider_reference, PAID)
    later(core, minutes=4, seconds=59)
    assert janitor.sweep(deps).claimed == 0  # still leased to the janitor that died
    later(core, seconds=1)
    assert janitor.sweep(deps).applied == 1
    assert status.asked[session.payment_id] == 2
    assert core.wallet() == NET


def test_the_oldest_are_claimed_first_and_a_full_batch_is_not_caught_up(core, status):
    sessions = []
    for number in range(3):
        sessions.append(open_session(core, f"order-{number}"))
        later(core, seconds=1)
    deps = janitor_deps(core, status)
    later(core, minutes=6)

    first = janitor.sweep(deps, batch=2)
    assert (first.claimed, first.caught_up) == (2, False)
    assert set(status.asked) == {sessions[0].payment_id, sessions[1].payment_id}
    second = janitor.sweep(deps, batch=2)
    assert (second.claimed, second.caught_up) == (1, True)
    assert set(status.asked) == {session.payment_id for session in sessions}


def test_only_what_the_status_source_covers_is_claimed(core):
    session = open_session(core)
    refunds_only = FakeStatus(kinds=[CheckKind.REFUND])
    other_provider = FakeStatus(provider="stripe")
    later(core, minutes=6)
    assert janitor.sweep(janitor_deps(core, refunds_only)).claimed == 0
    assert janitor.sweep(janitor_deps(core, other_provider)).claimed == 0
    assert payment_of(core, session).status is PaymentStatus.PENDING


@pytest.mark.parametrize("batch", [0, 501, "50", 2.5])
def test_a_batch_out_of_range_is_refused(core, status, batch):
    with pytest.raises(ValidationError):
        janitor.sweep(janitor_deps(core, status), batch=batch)


# --- checkout sessions end with their expiry, after a final question -----------------------------


def test_a_session_is_asked_about_once_more_at_its_expiry_then_expired(core, status):
    session = open_session(core)
    status.says(session.provider_reference, None)
    deps = janitor_deps(core, status, first_delay=timedelta(hours=1))
    later(core, minutes=6)
    assert janitor.sweep(deps).claimed == 1  # the next check would be at 1 h 6 min: past the expiry
    later(core, minutes=23, seconds=59)
    assert janitor.sweep(deps).claimed == 0
    later(core, seconds=1)  # T0 + 30 min: the session's expiry

    report = janitor.sweep(deps)

    assert (report.claimed, report.unsettled, report.expired) == (1, 1, 1)
    assert status.asked[session.payment_id] == 2
    assert session_of(core, session).status is CheckoutSessionStatus.EXPIRED
    assert payment_of(core, session).status is PaymentStatus.CANCELLED


def test_a_session_paid_by_its_expiry_is_completed_not_expired(core, status):
    session = open_session(core)
    deps = janitor_deps(core, status, first_delay=timedelta(hours=1))
    later(core, minutes=6)
    janitor.sweep(deps)
    status.says(session.provider_reference, PAID)
    later(core, minutes=24)

    report = janitor.sweep(deps)

    assert (report.applied, report.expired) == (1, 0)
    assert session_of(core, session).status is CheckoutSessionStatus.COMPLETED
    assert core.wallet() == NET


def test_a_sweep_that_has_not_caught_up_leaves_expiry_for_later(core, status):
    first, second = open_session(core, "order-1"), open_session(core, "order-2")
    deps = janitor_deps(core, status)
    later(core, minutes=31)

    sweeps = [janitor.sweep(deps, batch=1) for _ in range(4)]

    # two sweeps ask the final questions (a full batch each: maybe more is due), then expiry runs
    assert [(s.claimed, s.expired) for s in sweeps] == [(1, 0), (1, 0), (0, 1), (0, 1)]
    assert status.asked == {first.payment_id: 1, second.payment_id: 1}
    assert {session_of(core, s).status for s in (first, second)} == {CheckoutSessionStatus.EXPIRED}
