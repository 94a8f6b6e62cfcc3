"""Wallet and withdrawals (seed 002): balances, options, four-eyes withdrawals and their payouts."""

from __future__ import annotations

import threading
from datetime import timedelta

import attrs
import pytest

from payments_core.errors import DomainError, ProviderUnavailable
from payments_core.fees import FeeOperation, FeeRule, FeeSchedule
from payments_core.model.payments import Payment
from payments_core.money import Money
from payments_core.policies import Scope
from payments_core.ports import ProviderEvent, ProviderEventType, ReceiptStatus
from payments_core.services import provider_events, tenants, wallet
from payments_core.services.payment_lifecycle import complete_payment
from payments_core.services.provider_events import EventOutcome
from payments_core.states import WithdrawalStatus
from tests.support.core import make_core

PHONE = {"phone_number": "254712345678"}
VIEW = Scope.FINANCE_VIEW.value
INITIATE = Scope.FINANCE_WITHDRAW_INITIATE.value
APPROVE = Scope.FINANCE_WITHDRAW_APPROVE.value


def kes(major: str) -> Money:
    return Money.parse(major, "KES")


def fund(core, net: str, tenant_id: str = "t1") -> None:
    """Complete a sandbox payment whose net (after the 2.5% payment fee) is exactly `net` KES."""
    target = kes(net)
    gross = next(
        Money(minor, "KES")
        for minor in range(target.minor, target.minor * 2)
        if core.deps.fees.quote(tenant_id, FeeOperation.PAYMENT, "mpesa", Money(minor, "KES")).net == target
    )
    now = core.clock.now()
    payment_id = core.deps.ids.new_id("pay")
    with core.deps.uow() as uow:
        uow.payments.add(Payment(payment_id, tenant_id, gross, "mpesa", "sandbox", now, now, livemode=False))
        complete_payment(uow, core.deps, uow.payments.get(tenant_id, payment_id))
        uow.commit()


def account_balance(core, role: str, tenant_id: str = "t1") -> int:
    """Credits less debits, posted, of one of the tenant's accounts (minor units)."""
    account = core.store.ledger.account(tenant_id, f"{tenant_id}/{role}/KES")
    return account.credits_posted - account.debits_posted


def refused(code: str, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, repr(caught.value)
    return caught.value


def deliver(core, webhook):
    return provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)


def event(
    core, kind: ProviderEventType, reference: str, amount: Money | None, event_id: str = "evt_manual_1"
):
    """A verified sandbox event built by hand, for what the sandbox itself would never send."""
    return ProviderEvent("sandbox", event_id, kind, reference, core.clock.now(), amount)


@pytest.fixture
def core():
    core = make_core()
    fund(core, "10000.00")
    return core


@pytest.fixture
def alice(core):
    return core.user("alice")


@pytest.fixture
def bob(core):
    return core.user("bob")


def initiate(core, principal, amount: str = "1000.00", method: str = "mpesa", details=PHONE, **kwargs):
    return wallet.initiate_withdrawal(core.deps, principal, kes(amount), method, details, **kwargs)


def stored(core, withdrawal_id: str, tenant_id: str = "t1"):
    return core.store.withdrawals.get(tenant_id, withdrawal_id)


def audit_actions(core, target_id: str) -> list[str]:
    with core.deps.uow() as uow:
        page = uow.audit.search("t1", None, target_id, 0, 100)
    return sorted(event.action for event in page.items)


# --- balances and options ----------------------------------------------------------------------


def test_the_funding_helper_puts_exactly_the_net_in_the_wallet(core):
    assert core.wallet() == 1_000_000
    assert core.ledger_problems() == []


def test_balance_shows_available_held_and_posted_amounts(core, alice):
    initiate(core, alice)
    balance = wallet.wallet_balance(core.deps, alice)
    assert balance == wallet.WalletBalance(kes("9000.00"), kes("1000.00"), kes("10000.00"), "KES")


def test_balance_in_a_currency_the_tenant_never_held_is_zero(core, alice):
    balance = wallet.wallet_balance(core.deps, alice, "USD")
    assert balance.available == Money.zero("USD")
    assert balance.posted == Money.zero("USD")


def test_balance_in_an_unknown_currency_is_refused(core, alice):
    refused("INVALID_CURRENCY", wallet.wallet_balance, core.deps, alice, "XYZ")


def test_balance_needs_finance_view(core):
    refused("INSUFFICIENT_PERMISSIONS", wallet.wallet_balance, core.deps, core.user("eve", [INITIATE]))


def test_balance_is_the_callers_tenants_own(core):
    t2 = core.user("zed", tenant_id="t2")
    assert wallet.wallet_balance(core.deps, t2).available == kes("0.00")


def test_withdrawal_options_are_the_seeds(core, alice):
    options = wallet.withdrawal_options(core.deps, alice)
    assert options.available_methods == ("mpesa", "till", "bank_transfer")
    assert dict(options.fees) == {"mpesa": kes("33.00"), "bank_transfer": kes("50.00"), "till": kes("27.00")}
    assert dict(options.minimum_amounts) == {
        "mpesa": kes("10.00"),
        "bank_transfer": kes("100.00"),
        "till": kes("10.00"),
    }
    assert options.wallet_balance == kes("10000.00")
    assert options.currency == "KES"
    assert options.configured_method is None


def test_withdrawal_options_show_the_configured_destination(core, alice):
    tenants.configure_withdrawal_method(core.deps, alice, "till", {"till_number": "123456"})
    configured = wallet.withdrawal_options(core.deps, alice).configured_method
    assert configured is not None
    assert (configured.method_type, dict(configured.details)) == ("till", {"till_number": "123456"})


def test_withdrawal_options_use_the_tenants_own_fee_schedule(core, alice):
    own = FeeSchedule(
        [FeeRule(FeeOperation.WITHDRAWAL, "KES", "mpesa", flat_minor=2000, minimum_operation_minor=500)]
    )
    core.deps = attrs.evolve(core.deps, fees=core.deps.fees.with_tenant_schedule("t1", own))
    options = wallet.withdrawal_options(core.deps, alice)
    assert options.fees["mpesa"] == kes("20.00")
    assert options.minimum_amounts["mpesa"] == kes("5.00")
    assert options.fees["till"] == kes("27.00")


def test_no_withdrawal_method_is_offered_where_no_fee_rule_prices_it():
    core = make_core("USD")
    options = wallet.withdrawal_options(core.deps, core.user("alice"))
    assert options.available_methods == ()
    assert options.currency == "USD"


def test_withdrawal_options_need_finance_view(core):
    refused("INSUFFICIENT_PERMISSIONS", wallet.withdrawal_options, core.deps, core.user("eve", [APPROVE]))


# --- initiating ----------------------------------------------------------------------------------


def test_withdrawing_1000_by_mpesa_holds_the_gross_at_once(core, alice):
    withdrawal = initiate(core, alice, notes="Monthly withdrawal")
    assert withdrawal.status is WithdrawalStatus.PENDING
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net_amount) == (
        kes("1000.00"),
        kes("33.00"),
        kes("967.00"),
    )
    assert withdrawal.initiated_by == "alice"
    assert withdrawal.approved_by is None
    assert withdrawal.hold_id == f"{withdrawal.id}.hold"
    assert withdrawal.provider == "sandbox"
    assert withdrawal.livemode is False
    assert withdrawal.notes == "Monthly withdrawal"
    assert core.wallet() == 900_000
    assert stored(core, withdrawal.id) == withdrawal
    assert core.ledger_problems() == []


def test_initiating_is_audited_and_announced(core, alice):
    withdrawal = initiate(core, alice)
    assert audit_actions(core, withdrawal.id) == ["withdrawal.initiated"]
    events = [e for e in core.store.outbox.for_tenant("t1") if e.type == "withdrawal.initiated"]
    assert [e.data["id"] for e in events] == [withdrawal.id]
    assert events[0].data["netAmount"] == 96_700


def test_an_api_key_with_the_scope_may_initiate(core):
    withdrawal = initiate(core, core.api_key("key_finance", [INITIATE]))
    assert withdrawal.initiated_by == "key_finance"


def test_initiating_needs_the_initiate_scope(core):
    refused("INSUFFICIENT_PERMISSIONS", initiate, core, core.user("eve", [VIEW, APPROVE]))
    assert core.wallet() == 1_000_000


def test_an_unknown_method_is_refused_with_the_allowed_values(core, alice):
    error = refused("INVALID_PARAMETER", initiate, core, alice, method="paypal")
    assert error.details["allowedValues"] == ["mpesa", "till", "bank_transfer"]


def test_less_than_the_methods_minimum_is_refused(core, alice):
    error = refused("INVALID_AMOUNT", initiate, core, alice, "5.00")
    assert error.details["minimum"] == "10.00"
    assert core.wallet() == 1_000_000


def test_an_amount_the_fee_would_swallow_is_refused(core, alice):
    error = refused("INVALID_AMOUNT", initiate, core, alice, "20.00")
    assert error.details["fee"] == "33.00"
    assert core.wallet() == 1_000_000
    assert wallet.list_withdrawals(core.deps, alice).count == 0


@pytest.mark.parametrize("amount", ["0", "-100.00"])
def test_zero_and_negative_amounts_are_refused(core, alice, amount):
    refused("INVALID_AMOUNT", initiate, core, alice, amount)
    assert core.wallet() == 1_000_000


def test_an_over_precise_amount_never_reaches_the_use_case():
    with pytest.raises(DomainError) as caught:
        kes("1000.001")
    assert caught.value.code == "INVALID_AMOUNT"


def test_an_amount_that_is_not_money_is_refused(core, alice):
    refused("INVALID_PARAMETER", wallet.initiate_withdrawal, core.deps, alice, 1000.0, "mpesa", PHONE)


def test_more_than_available_is_refused_and_nothing_is_stored(core, alice):
    error = refused("INSUFFICIENT_FUNDS", initiate, core, alice, "10000.01")
    assert error.details["available"] == 1_000_000
    assert core.wallet() == 1_000_000
    assert core.store.withdrawals.table.where(lambda w: True) == []
    assert core.ledger_problems() == []


def test_two_withdrawals_can_never_spend_the_same_money(core, alice):
    initiate(core, alice, "6000.00")
    refused("INSUFFICIENT_FUNDS", initiate, core, alice, "6000.00")
    assert core.wallet() == 400_000
    assert wallet.list_withdrawals(core.deps, alice).count == 1


def test_an_amount_in_another_currency_is_refused(core, alice):
    usd = Money.parse("1000.00", "USD")
    refused("CURRENCY_MISMATCH", wallet.initiate_withdrawal, core.deps, alice, usd, "mpesa", PHONE)


@pytest.mark.parametrize(
    ("method", "details"),
    [
        ("mpesa", {"phone_number": "0712345678"}),
        ("mpesa", {"phone_number": "25471234567"}),
        ("mpesa", {"phone_number": "254712345678", "extra": "x"}),
        ("mpesa", {}),
        ("till", {"till_number": "12"}),
        ("till", {"till_number": "12345a"}),
        ("bank_transfer", {"account_number": "1234567890", "bank_code": "063"}),
        ("bank_transfer", {"account_number": "12ab", "bank_code": "063", "account_name": "Biz"}),
        ("bank_transfer", {"account_number": "1234567890", "bank_code": "BANK", "account_name": "Biz"}),
    ],
)
def test_bad_destination_details_are_refused(core, alice, method, details):
    refused("INVALID_PARAMETER", initiate, core, alice, "1000.00", method, details)
    assert core.wallet() == 1_000_000


def test_till_and_bank_transfer_withdrawals_price_their_own_fees(core, alice):
    till = initiate(core, alice, "500.00", "till", {"till_number": "123456"})
    bank = initiate(
        core,
        alice,
        "500.00",
        "bank_transfer",
        {"account_number": "1234567890", "bank_code": "063", "account_name": "Business Account"},
    )
    assert (till.fee, bank.fee) == (kes("27.00"), kes("50.00"))


def test_without_details_the_configured_destination_of_that_method_is_used(core, alice):
    tenants.configure_withdrawal_method(core.deps, alice, "mpesa", {"phone_number": "254700000001"})
    withdrawal = initiate(core, alice, details=None)
    assert dict(withdrawal.method_details) == {"phone_number": "254700000001"}


def test_without_details_and_no_destination_for_that_method_it_is_refused(core, alice):
    tenants.configure_withdrawal_method(core.deps, alice, "till", {"till_number": "123456"})
    error = refused("INVALID_PARAMETER", initiate, core, alice, details=None)
    assert error.details["field"] == "method_details"


def test_notes_longer_than_500_characters_are_refused(core, alice):
    refused("INVALID_PARAMETER", initiate, core, alice, notes="n" * 501)
    assert initiate(core, alice, notes="n" * 500).notes == "n" * 500


def test_the_same_idempotency_key_and_content_returns_the_first_withdrawal(core, alice):
    first = initiate(core, alice, idempotency_key="idem-1")
    again = initiate(core, alice, idempotency_key="idem-1")
    assert again == first
    assert core.wallet() == 900_000
    assert wallet.list_withdrawals(core.deps, alice).count == 1


def test_the_same_idempotency_key_with_other_content_is_a_conflict(core, alice):
    initiate(core, alice, idempotency_key="idem-1")
    refused("IDEMPOTENCY_CONFLICT", initiate, core, alice, "2000.00", idempotency_key="idem-1")
    assert core.wallet() == 900_000


def test_idempotency_keys_belong_to_one_tenant(core, alice):
    fund(core, "5000.00", tenant_id="t2")
    first = initiate(core, alice, idempotency_key="idem-1")
    other = initiate(core, core.user("zed", tenant_id="t2"), "2000.00", idempotency_key="idem-1")
    assert other.id != first.id
    assert other.tenant_id == "t2"


# --- approving -----------------------------------------------------------------------------------


def test_the_initiator_cannot_approve(core, alice):
    withdrawal = initiate(core, alice)
    refused("FOUR_EYES_VIOLATION", wallet.approve_withdrawal, core.deps, alice, withdrawal.id)
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PENDING


def test_an_api_key_never_approves(core, alice):
    withdrawal = initiate(core, alice)
    refused("FOUR_EYES_VIOLATION", wallet.approve_withdrawal, core.deps, core.api_key(), withdrawal.id)
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PENDING


def test_approving_needs_the_approve_scope(core, alice):
    withdrawal = initiate(core, alice)
    bob = core.user("bob", [VIEW, INITIATE], mfa=False)
    refused("INSUFFICIENT_PERMISSIONS", wallet.approve_withdrawal, core.deps, bob, withdrawal.id)
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PENDING


def test_a_second_person_approves_and_the_payout_is_requested(core, alice, bob):
    withdrawal = initiate(core, alice)
    result = wallet.approve_withdrawal(core.deps, bob, withdrawal.id)
    approved = result.withdrawal
    assert approved.status is WithdrawalStatus.PROCESSING
    assert approved.approved_by == "bob"
    assert approved.provider_reference is not None
    assert dict(result.provider_response) == {
        "provider": "sandbox",
        "conversation_id": approved.provider_reference,
        "response_code": "0",
    }
    assert result.success
    assert result.transaction_id == withdrawal.id
    assert stored(core, withdrawal.id) == approved
    assert core.wallet() == 900_000
    assert account_balance(core, "payouts_in_transit") == 96_700
    assert core.ledger_problems() == []


def test_approval_is_audited(core, alice, bob):
    withdrawal = initiate(core, alice)
    wallet.approve_withdrawal(core.deps, bob, withdrawal.id)
    assert audit_actions(core, withdrawal.id) == ["withdrawal.approved", "withdrawal.initiated"]


def test_the_provider_settlement_event_completes_the_withdrawal(core, alice, bob):
    withdrawal = initiate(core, alice)
    reference = wallet.approve_withdrawal(core.deps, bob, withdrawal.id).withdrawal.provider_reference
    assert deliver(core, core.sandbox.settle_payout(reference)) == [EventOutcome.APPLIED]
    assert stored(core, withdrawal.id).status is WithdrawalStatus.COMPLETED
    assert account_balance(core, "payouts_in_transit") == 0
    assert core.wallet() == 900_000
    assert core.ledger_problems() == []
    assert "withdrawal.completed" in [e.type for e in core.store.outbox.for_tenant("t1")]


def test_a_duplicate_settlement_event_changes_nothing(core, alice, bob):
    withdrawal = initiate(core, alice)
    reference = wallet.approve_withdrawal(core.deps, bob, withdrawal.id).withdrawal.provider_reference
    webhook = core.sandbox.settle_payout(reference)
    deliver(core, webhook)
    completed = stored(core, withdrawal.id)
    entries = len(core.store.ledger.entries("t1"))
    assert deliver(core, webhook) == [EventOutcome.DUPLICATE]
    assert stored(core, withdrawal.id) == completed
    assert len(core.store.ledger.entries("t1")) == entries


def test_a_late_failure_event_never_moves_a_completed_withdrawal(core, alice, bob):
    withdrawal = initiate(core, alice)
    reference = wallet.approve_withdrawal(core.deps, bob, withdrawal.id).withdrawal.provider_reference
    deliver(core, core.sandbox.settle_payout(reference))
    late = event(core, ProviderEventType.PAYOUT_FAILED, reference, kes("967.00"), "evt_late")
    assert provider_events.apply_event(core.deps, late) is EventOutcome.IGNORED
    assert stored(core, withdrawal.id).status is WithdrawalStatus.COMPLETED
    assert core.wallet() == 900_000


def test_a_payout_failure_gives_the_gross_back_fee_included(core, alice, bob):
    withdrawal = initiate(core, alice)
    fees_before = account_balance(core, "platform_fees")
    reference = wallet.approve_withdrawal(core.deps, bob, withdrawal.id).withdrawal.provider_reference
    assert deliver(core, core.sandbox.fail_payout(reference)) == [EventOutcome.APPLIED]
    failed = stored(core, withdrawal.id)
    assert failed.status is WithdrawalStatus.FAILED
    assert failed.failure_reason == "payout_failed"
    assert core.wallet() == 1_000_000
    assert account_balance(core, "platform_fees") == fees_before
    assert account_balance(core, "payouts_in_transit") == 0
    assert core.ledger_problems() == []


def test_a_payout_event_with_another_amount_is_audited_and_not_applied(core, alice, bob):
    withdrawal = initiate(core, alice)
    reference = wallet.approve_withdrawal(core.deps, bob, withdrawal.id).withdrawal.provider_reference
    wrong = event(core, ProviderEventType.PAYOUT_SETTLED, reference, kes("1000.00"))
    assert provider_events.apply_event(core.deps, wrong) is EventOutcome.IGNORED
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PROCESSING
    assert "provider_event.amount_mismatch" in audit_actions(core, withdrawal.id)


def test_a_payout_event_about_an_unknown_reference_is_ignored(core):
    unknown = event(core, ProviderEventType.PAYOUT_SETTLED, "sbx_po_unknown", kes("967.00"))
    assert provider_events.apply_event(core.deps, unknown) is EventOutcome.IGNORED


def test_applying_a_payout_event_leaves_the_commit_to_the_caller(core, alice, bob):
    withdrawal = initiate(core, alice)
    reference = wallet.approve_withdrawal(core.deps, bob, withdrawal.id).withdrawal.provider_reference
    with core.deps.uow() as uow:
        settled = event(core, ProviderEventType.PAYOUT_SETTLED, reference, kes("967.00"))
        assert wallet.apply_payout_event(uow, core.deps, settled) is True
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PROCESSING
    assert account_balance(core, "payouts_in_transit") == 96_700


def test_a_payout_the_provider_confirms_at_once_completes_on_approval(core, alice, bob):
    core.sandbox.payout_outcome = ReceiptStatus.SUCCEEDED
    withdrawal = initiate(core, alice)
    result = wallet.approve_withdrawal(core.deps, bob, withdrawal.id)
    assert result.withdrawal.status is WithdrawalStatus.COMPLETED
    assert stored(core, withdrawal.id).status is WithdrawalStatus.COMPLETED
    assert account_balance(core, "payouts_in_transit") == 0
    assert core.ledger_problems() == []


def test_a_payout_the_provider_declines_at_once_fails_on_approval(core, alice, bob):
    core.sandbox.payout_outcome = ReceiptStatus.FAILED
    withdrawal = initiate(core, alice)
    result = wallet.approve_withdrawal(core.deps, bob, withdrawal.id)
    assert result.withdrawal.status is WithdrawalStatus.FAILED
    assert not result.success
    assert core.wallet() == 1_000_000
    assert core.ledger_problems() == []


def test_an_unavailable_provider_leaves_the_withdrawal_processing(core, alice, bob):
    withdrawal = initiate(core, alice)
    core.sandbox.unavailable = True
    refused("PROVIDER_UNAVAILABLE", wallet.approve_withdrawal, core.deps, bob, withdrawal.id)
    left = stored(core, withdrawal.id)
    assert left.status is WithdrawalStatus.PROCESSING
    assert left.approved_by == "bob"
    assert left.provider_reference is None
    assert core.wallet() == 900_000
    assert account_balance(core, "payouts_in_transit") == 96_700
    assert core.ledger_problems() == []


def test_a_payout_provider_that_is_not_configured_changes_nothing(core, alice, bob):
    withdrawal = initiate(core, alice)
    core.deps = attrs.evolve(core.deps, providers={})
    with pytest.raises(ProviderUnavailable):
        wallet.approve_withdrawal(core.deps, bob, withdrawal.id)
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PENDING


def test_a_withdrawal_is_approved_once(core, alice, bob):
    withdrawal = initiate(core, alice)
    wallet.approve_withdrawal(core.deps, bob, withdrawal.id)
    carol = core.user("carol")
    error = refused("INVALID_OPERATION", wallet.approve_withdrawal, core.deps, carol, withdrawal.id)
    assert error.details["currentStatus"] == "processing"
    assert account_balance(core, "payouts_in_transit") == 96_700


def test_live_credentials_cannot_approve_a_test_withdrawal(core, alice):
    withdrawal = initiate(core, alice)
    live_bob = core.user("bob", livemode=True)
    refused("INVALID_OPERATION", wallet.approve_withdrawal, core.deps, live_bob, withdrawal.id)
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PENDING


def test_another_tenant_cannot_approve(core, alice):
    withdrawal = initiate(core, alice)
    zed = core.user("zed", tenant_id="t2")
    refused("RESOURCE_NOT_FOUND", wallet.approve_withdrawal, core.deps, zed, withdrawal.id)
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PENDING


def test_approving_an_unknown_withdrawal_is_not_found(core, bob):
    refused("RESOURCE_NOT_FOUND", wallet.approve_withdrawal, core.deps, bob, "wd_missing")


# --- canceling -----------------------------------------------------------------------------------


def test_canceling_a_pending_withdrawal_releases_the_hold(core, alice):
    withdrawal = initiate(core, alice)
    canceled = wallet.cancel_withdrawal(core.deps, alice, withdrawal.id, "Changed mind")
    assert canceled.status is WithdrawalStatus.CANCELED
    assert canceled.cancel_reason == "Changed mind"
    assert stored(core, withdrawal.id) == canceled
    assert core.wallet() == 1_000_000
    assert core.ledger_problems() == []
    assert audit_actions(core, withdrawal.id) == ["withdrawal.canceled", "withdrawal.initiated"]


def test_an_approver_may_cancel_too(core, alice):
    withdrawal = initiate(core, alice)
    approver = core.user("bob", [APPROVE])
    assert wallet.cancel_withdrawal(core.deps, approver, withdrawal.id).status is WithdrawalStatus.CANCELED


def test_canceling_needs_a_withdrawal_scope(core, alice):
    withdrawal = initiate(core, alice)
    viewer = core.user("vic", [VIEW])
    refused("INSUFFICIENT_PERMISSIONS", wallet.cancel_withdrawal, core.deps, viewer, withdrawal.id)
    assert core.wallet() == 900_000


def test_a_processing_withdrawal_cannot_be_canceled(core, alice, bob):
    withdrawal = initiate(core, alice)
    wallet.approve_withdrawal(core.deps, bob, withdrawal.id)
    error = refused("INVALID_OPERATION", wallet.cancel_withdrawal, core.deps, alice, withdrawal.id)
    assert error.details["currentStatus"] == "processing"
    assert account_balance(core, "payouts_in_transit") == 96_700


def test_a_canceled_withdrawal_cannot_be_canceled_again(core, alice):
    withdrawal = initiate(core, alice)
    wallet.cancel_withdrawal(core.deps, alice, withdrawal.id)
    error = refused("INVALID_OPERATION", wallet.cancel_withdrawal, core.deps, alice, withdrawal.id)
    assert error.details["currentStatus"] == "canceled"
    assert core.wallet() == 1_000_000


def test_a_cancel_reason_longer_than_500_characters_is_refused(core, alice):
    withdrawal = initiate(core, alice)
    refused("INVALID_PARAMETER", wallet.cancel_withdrawal, core.deps, alice, withdrawal.id, "r" * 501)
    assert stored(core, withdrawal.id).status is WithdrawalStatus.PENDING


def test_another_tenant_cannot_cancel(core, alice):
    withdrawal = initiate(core, alice)
    zed = core.user("zed", tenant_id="t2")
    refused("RESOURCE_NOT_FOUND", wallet.cancel_withdrawal, core.deps, zed, withdrawal.id)
    assert core.wallet() == 900_000


# --- listing and reading -------------------------------------------------------------------------


def test_listing_is_newest_first_and_counts_every_match(core, alice):
    first = initiate(core, alice, "100.00")
    core.clock.advance(timedelta(minutes=1))
    second = initiate(core, alice, "200.00")
    core.clock.advance(timedelta(minutes=1))
    third = initiate(core, alice, "300.00")
    page = wallet.list_withdrawals(core.deps, alice, limit=2)
    assert [w.id for w in page.results] == [third.id, second.id]
    assert page.count == 3
    assert first.id not in [w.id for w in page.results]


def test_listing_filters_by_status(core, alice):
    kept = initiate(core, alice, "100.00")
    dropped = initiate(core, alice, "200.00")
    wallet.cancel_withdrawal(core.deps, alice, dropped.id)
    pending = wallet.list_withdrawals(core.deps, alice, WithdrawalStatus.PENDING)
    canceled = wallet.list_withdrawals(core.deps, alice, wallet.parse_withdrawal_status("canceled"))
    assert [w.id for w in pending.results] == [kept.id]
    assert [w.id for w in canceled.results] == [dropped.id]
    assert wallet.list_withdrawals(core.deps, alice, WithdrawalStatus.COMPLETED).count == 0


@pytest.mark.parametrize("limit", [0, 101, -1, True, "50"])
def test_listing_limits_outside_1_to_100_are_refused(core, alice, limit):
    error = refused("INVALID_PARAMETER", wallet.list_withdrawals, core.deps, alice, None, limit)
    assert error.details["field"] == "limit"


@pytest.mark.parametrize("limit", [1, 100])
def test_listing_limits_at_the_bounds_are_accepted(core, alice, limit):
    initiate(core, alice, "100.00")
    assert wallet.list_withdrawals(core.deps, alice, limit=limit).count == 1


def test_listing_shows_only_the_callers_tenant(core, alice):
    initiate(core, alice)
    assert wallet.list_withdrawals(core.deps, core.user("zed", tenant_id="t2")).count == 0


def test_listing_needs_finance_view(core):
    refused("INSUFFICIENT_PERMISSIONS", wallet.list_withdrawals, core.deps, core.user("eve", [INITIATE]))


@pytest.mark.parametrize("text", ["pending", "processing", "completed", "failed", "canceled"])
def test_every_withdrawal_status_parses(text):
    assert wallet.parse_withdrawal_status(text).value == text


@pytest.mark.parametrize("text", ["cancelled", "PENDING", "", None, "done"])
def test_unknown_statuses_are_refused_with_the_allowed_values(text):
    error = refused("INVALID_PARAMETER", wallet.parse_withdrawal_status, text)
    assert error.details["allowedValues"] == ["pending", "processing", "completed", "failed", "canceled"]


def test_a_withdrawal_can_be_read_back(core, alice):
    withdrawal = initiate(core, alice)
    assert wallet.get_withdrawal(core.deps, alice, withdrawal.id) == withdrawal


def test_another_tenants_withdrawal_reads_as_not_found(core, alice):
    withdrawal = initiate(core, alice)
    zed = core.user("zed", tenant_id="t2")
    refused("RESOURCE_NOT_FOUND", wallet.get_withdrawal, core.deps, zed, withdrawal.id)


def test_reading_a_withdrawal_needs_finance_view(core, alice):
    withdrawal = initiate(core, alice)
    refused(
        "INSUFFICIENT_PERMISSIONS",
        wallet.get_withdrawal,
        core.deps,
        core.user("eve", [INITIATE]),
        withdrawal.id,
    )


# --- concurrency ---------------------------------------------------------------------------------


def test_concurrent_withdrawals_never_overdraw_the_wallet():
    core = make_core()
    fund(core, "1000.00")
    alice = core.user("alice")
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def withdraw() -> None:
        start.wait()
        try:
            initiate(core, alice, "100.00")
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=withdraw) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["INSUFFICIENT_FUNDS"] * 10 + ["ok"] * 10
    assert core.wallet() == 0
    assert wallet.list_withdrawals(core.deps, alice).count == 10
    assert core.ledger_problems() == []
