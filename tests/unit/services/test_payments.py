"""Payments (seed 004): list with filters and pagination, read, cancel, and the full refund."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from payments_core.errors import DomainError
from payments_core.model.links import PaymentLink
from payments_core.model.payments import CheckoutSession, Payment
from payments_core.ports import ReceiptStatus
from payments_core.services import payments, refunds
from payments_core.states import CheckoutSessionStatus, PaymentStatus
from tests.support import payments as payments_support
from tests.support.payments import kes, refundable_core


@pytest.fixture
def core():
    return refundable_core()


@pytest.fixture
def alice(core):
    return core.user("alice")


def pending_payment(core, amount="99.00", tenant_id=None, **fields) -> Payment:
    return payments_support.pending_payment(
        core, amount, tenant_id, description="Assinatura Premium", **fields
    )


def completed_payment(core, amount="99.00", tenant_id=None, **fields) -> Payment:
    return payments_support.completed_payment(
        core, amount, tenant_id, description="Assinatura Premium", **fields
    )


def with_status(core, payment, status) -> Payment:
    moved = payment.moved(status, core.clock.now())
    with core.deps.uow() as uow:
        uow.payments.update(moved)
        uow.commit()
    return moved


def stored(core, payment_id) -> Payment:
    return core.store.payments.get(core.tenant.id, payment_id)


def refused(call, code):
    with pytest.raises(DomainError) as raised:
        call()
    assert raised.value.code == code
    return raised.value


def payments_made_a_minute_apart(core, count):
    made = []
    for _ in range(count):
        made.append(pending_payment(core))
        core.clock.advance(timedelta(minutes=1))
    return made


# --- listing ------------------------------------------------------------------------------------


def test_list_is_newest_first_with_seed_pagination(core, alice):
    made = payments_made_a_minute_apart(core, 12)
    page = payments.list_payments(core.deps, alice, page=1, limit=10)
    assert [p.id for p in page.items] == [p.id for p in reversed(made)][:10]
    assert page.pagination == payments.Pagination(
        current_page=1, total_pages=2, total_items=12, items_per_page=10
    )
    second = payments.list_payments(core.deps, alice, page=2, limit=10)
    assert [p.id for p in second.items] == [made[1].id, made[0].id]


def test_a_page_past_the_last_is_empty_and_no_payment_means_zero_pages(core, alice):
    empty = payments.list_payments(core.deps, alice)
    assert empty.items == ()
    assert (empty.pagination.total_pages, empty.pagination.total_items) == (0, 0)
    payments_made_a_minute_apart(core, 3)
    beyond = payments.list_payments(core.deps, alice, page=5, limit=2)
    assert beyond.items == ()
    assert beyond.pagination.total_pages == 2


def test_list_filters_by_status(core, alice):
    pending, done = pending_payment(core), completed_payment(core)
    cancelled = with_status(core, pending_payment(core), PaymentStatus.CANCELLED)
    only_done = payments.list_payments(core.deps, alice, status=PaymentStatus.COMPLETED)
    assert [p.id for p in only_done.items] == [done.id]
    only_pending = payments.list_payments(core.deps, alice, status=payments.parse_payment_status("pending"))
    assert [p.id for p in only_pending.items] == [pending.id]
    assert cancelled.id not in {p.id for p in only_pending.items}


def test_list_filters_by_creation_time_both_ends_inclusive(core, alice):
    made = payments_made_a_minute_apart(core, 5)
    window = payments.list_payments(core.deps, alice, start=made[1].created_at, end=made[3].created_at)
    assert [p.id for p in window.items] == [made[3].id, made[2].id, made[1].id]


def test_list_shows_only_the_callers_tenant(core, alice):
    mine = pending_payment(core)
    pending_payment(core, tenant_id="t2")
    listed = payments.list_payments(core.deps, alice)
    assert [p.id for p in listed.items] == [mine.id]
    assert listed.pagination.total_items == 1


@pytest.mark.parametrize(
    ("page", "limit", "field"),
    [
        (0, 10, "page"),
        (-1, 10, "page"),
        (1, 0, "limit"),
        (1, 101, "limit"),
        ("1", 10, "page"),
        (1, True, "limit"),
    ],
)
def test_out_of_range_pages_and_limits_are_invalid_parameters(core, alice, page, limit, field):
    error = refused(
        lambda: payments.list_payments(core.deps, alice, page=page, limit=limit), "INVALID_PARAMETER"
    )
    assert error.details["field"] == field


def test_a_limit_of_100_is_the_largest_accepted(core, alice):
    assert payments.list_payments(core.deps, alice, limit=100).pagination.items_per_page == 100


def test_a_start_after_the_end_is_refused(core, alice):
    now = core.clock.now()
    refused(
        lambda: payments.list_payments(core.deps, alice, start=now, end=now - timedelta(seconds=1)),
        "INVALID_PARAMETER",
    )


def test_naive_times_are_refused(core, alice):
    naive = datetime(2026, 3, 1, 9, 0)  # naive on purpose
    refused(lambda: payments.list_payments(core.deps, alice, start=naive), "INVALID_PARAMETER")


def test_an_unknown_status_gives_seed_004s_invalid_parameter_with_the_allowed_values():
    with pytest.raises(DomainError) as raised:
        payments.parse_payment_status("paid")
    assert raised.value.code == "INVALID_PARAMETER"
    assert raised.value.message == "Invalid status value"
    assert raised.value.details == {
        "parameter": "status",
        "allowedValues": ["pending", "completed", "failed", "cancelled", "refunded", "partially_refunded"],
    }


@pytest.mark.parametrize("text", ["", "PENDING", " pending", "Pending"])
def test_status_parsing_is_exact(text):
    with pytest.raises(DomainError):
        payments.parse_payment_status(text)


def test_every_status_value_parses_to_its_status():
    for status in PaymentStatus:
        assert payments.parse_payment_status(status.value) is status


def test_listing_needs_the_read_scope(core):
    writer = core.user("walt", scopes=["payments:write"])
    refused(lambda: payments.list_payments(core.deps, writer), "INSUFFICIENT_PERMISSIONS")


# --- reading ------------------------------------------------------------------------------------


def test_get_payment_returns_it(core, alice):
    payment = completed_payment(core)
    assert payments.get_payment(core.deps, alice, payment.id) == payment


def test_another_tenants_payment_is_not_found(core):
    payment = completed_payment(core)
    eve = core.user("eve", tenant_id="t2")
    error = refused(lambda: payments.get_payment(core.deps, eve, payment.id), "RESOURCE_NOT_FOUND")
    assert error.details["id"] == payment.id
    refused(lambda: payments.get_payment(core.deps, eve, "pay_missing"), "RESOURCE_NOT_FOUND")


def test_reading_a_payment_needs_the_read_scope(core):
    payment = completed_payment(core)
    refused(
        lambda: payments.get_payment(core.deps, core.user("walt", scopes=[]), payment.id),
        "INSUFFICIENT_PERMISSIONS",
    )


# --- cancelling ---------------------------------------------------------------------------------


def test_a_pending_payment_is_cancelled_with_its_reason_in_the_metadata(core, alice):
    payment = pending_payment(core, metadata={"plan": "premium"})
    core.clock.advance(timedelta(minutes=30))
    cancelled = payments.cancel_payment(core.deps, alice, payment.id, "Cliente desistiu da compra")
    assert cancelled.status is PaymentStatus.CANCELLED
    assert dict(cancelled.metadata) == {"plan": "premium", "cancellationReason": "Cliente desistiu da compra"}
    assert cancelled.updated_at == payment.created_at + timedelta(minutes=30)
    assert stored(core, payment.id) == cancelled
    assert core.wallet() == 0
    assert core.ledger_problems() == []


def test_a_cancellation_is_audited_and_announced(core, alice):
    payment = pending_payment(core)
    payments.cancel_payment(core.deps, alice, payment.id)
    actions = [e.action for e in core.store.audit.search(core.tenant.id, None, payment.id, 0, 10).items]
    assert actions == ["payment.cancelled"]
    assert [e.type for e in core.store.outbox.for_tenant(core.tenant.id)] == ["payment.cancelled"]


def test_a_cancellation_without_reason_adds_no_metadata(core, alice):
    payment = pending_payment(core)
    assert "cancellationReason" not in payments.cancel_payment(core.deps, alice, payment.id).metadata


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_only_pending_payments_can_be_cancelled(core, alice, status):
    payment = with_status(core, pending_payment(core), PaymentStatus(status))
    error = refused(lambda: payments.cancel_payment(core.deps, alice, payment.id), "INVALID_OPERATION")
    assert error.details == {"currentStatus": status, "reason": "Only pending payments can be cancelled"}
    assert stored(core, payment.id) == payment


def test_a_completed_payment_cannot_be_cancelled(core, alice):
    payment = completed_payment(core)
    error = refused(
        lambda: payments.cancel_payment(core.deps, alice, payment.id, "late"), "INVALID_OPERATION"
    )
    assert error.details["currentStatus"] == "completed"
    assert core.wallet() == 9652


def test_an_over_long_reason_is_refused_and_changes_nothing(core, alice):
    payment = pending_payment(core)
    refused(lambda: payments.cancel_payment(core.deps, alice, payment.id, "x" * 501), "INVALID_PARAMETER")
    assert stored(core, payment.id) == payment


def test_cancelling_needs_the_write_scope_and_the_callers_tenant(core):
    payment = pending_payment(core)
    reader = core.user("rita", scopes=["payments:read"])
    refused(lambda: payments.cancel_payment(core.deps, reader, payment.id), "INSUFFICIENT_PERMISSIONS")
    eve = core.user("eve", tenant_id="t2")
    refused(lambda: payments.cancel_payment(core.deps, eve, payment.id), "RESOURCE_NOT_FOUND")
    assert stored(core, payment.id).status is PaymentStatus.PENDING


def a_link_checkout(core, slug="summer-promo"):
    """A pending checkout session started from a payment link that reserved one use."""
    now = core.clock.now()
    link = PaymentLink(slug, core.tenant.id, kes("99.00"), "promo", now, now, usage_limit=1, reserved=1)
    session = CheckoutSession(
        "cs_1", core.tenant.id, "unused", kes("99.00"), "promo", "sandbox", "sbx_cs_1", "/pay",
        now + timedelta(minutes=30), now, now, livemode=False, link_slug=slug,
    )  # fmt: skip
    with core.deps.uow() as uow:
        uow.links.add(link)
        uow.sessions.add(session)
        uow.commit()
    return pending_payment(core, session_id="cs_1", provider_reference=None)


def test_cancelling_cancels_the_pending_session_and_frees_the_link_reservation(core, alice):
    payment = a_link_checkout(core)
    payments.cancel_payment(core.deps, alice, payment.id)
    assert core.store.sessions.get(core.tenant.id, "cs_1").status is CheckoutSessionStatus.CANCELLED
    link = core.store.links.get(core.tenant.id, "summer-promo")
    assert (link.reserved, link.used) == (0, 0)
    assert link.can_pay(core.clock.now())


# --- the full refund of seed 004 ----------------------------------------------------------------


def test_refund_payment_refunds_everything_and_returns_the_refunded_payment(core):
    payment = completed_payment(core)
    assert core.wallet() == 9652
    core.clock.advance(timedelta(days=1))
    alice = core.user("alice")  # her MFA is fresh now
    refunded = payments.refund_payment(core.deps, alice, payment.id, "Solicitação do cliente")
    assert refunded.status is PaymentStatus.REFUNDED
    assert refunded.refunded == payment.amount
    assert refunded.metadata["refundReason"] == "Solicitação do cliente"
    assert refunded.metadata["refundedAt"] == "2026-03-02T09:00:00Z"
    assert core.wallet() == 0
    assert core.ledger_problems() == []


def test_refund_payment_after_a_partial_refund_refunds_the_rest(core, alice):
    payment = completed_payment(core, "100.00")
    refunds.create_refund(core.deps, alice, payment.id, kes("30.00"))
    refunded = payments.refund_payment(core.deps, alice, payment.id)
    assert refunded.refunded == kes("100.00")
    assert [r.amount for r in refunds.list_refunds(core.deps, alice, payment.id)] == [
        kes("30.00"),
        kes("70.00"),
    ]
    assert core.wallet() == 0


def test_refund_payment_returns_the_payment_still_completed_while_the_provider_works(core, alice):
    payment = completed_payment(core)
    core.sandbox.refund_outcome = ReceiptStatus.PENDING
    answered = payments.refund_payment(core.deps, alice, payment.id)
    assert answered.status is PaymentStatus.COMPLETED
    assert core.wallet() == 0  # the hold already took the money


def test_a_pending_payment_cannot_be_refunded(core, alice):
    payment = pending_payment(core)
    error = refused(lambda: payments.refund_payment(core.deps, alice, payment.id), "INVALID_OPERATION")
    assert error.details == {"currentStatus": "pending", "reason": "Only completed payments can be refunded"}


def test_refund_payment_needs_a_person_with_fresh_mfa_and_the_refund_scope(core):
    payment = completed_payment(core)
    refused(
        lambda: payments.refund_payment(core.deps, core.api_key(), payment.id), "INSUFFICIENT_PERMISSIONS"
    )
    refused(
        lambda: payments.refund_payment(core.deps, core.user("bob", mfa=False), payment.id),
        "MFA_CHALLENGE_REQUIRED",
    )
    writer = core.user("walt", scopes=["payments:write", "payments:read"])
    refused(lambda: payments.refund_payment(core.deps, writer, payment.id), "INSUFFICIENT_PERMISSIONS")
    assert stored(core, payment.id).status is PaymentStatus.COMPLETED
    assert core.wallet() == 9652


def test_refund_payment_of_another_tenants_payment_is_not_found(core):
    payment = completed_payment(core)
    eve = core.user("eve", tenant_id="t2")
    refused(lambda: payments.refund_payment(core.deps, eve, payment.id), "RESOURCE_NOT_FOUND")
    assert stored(core, payment.id).status is PaymentStatus.COMPLETED


def test_refund_payment_with_an_over_long_reason_changes_nothing(core, alice):
    payment = completed_payment(core)
    refused(lambda: payments.refund_payment(core.deps, alice, payment.id, "x" * 501), "INVALID_PARAMETER")
    assert stored(core, payment.id) == payment
    assert core.wallet() == 9652


def test_refund_payment_with_the_same_idempotency_key_refunds_once(core, alice):
    payment = completed_payment(core)
    first = payments.refund_payment(core.deps, alice, payment.id, idempotency_key="k")
    again = payments.refund_payment(core.deps, alice, payment.id, idempotency_key="k")
    assert first == again
    assert len(core.store.refunds.for_payment(core.tenant.id, payment.id)) == 1
