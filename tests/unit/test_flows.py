"""The money flows of the design, each one balanced transfer, played through a ledger."""

import pytest

from payments_core import flows
from payments_core.errors import InsufficientFunds, InvalidAmount, ValidationError
from payments_core.fees import PLATFORM_DEFAULT_SCHEDULE, FeeOperation, FeeQuote, FeeRule
from payments_core.ledger import Chart, TransferMode, problems
from payments_core.money import Money
from payments_core.states import HoldStatus
from tests.support.ledger import kes, store_with_chart


def balance(store, account_id):
    a = store.account("t1", account_id)
    return a.credits_posted - a.debits_posted


def payment_of(store, chart, gross, transfer_id="pay-1"):
    quote = PLATFORM_DEFAULT_SCHEDULE.quote(FeeOperation.PAYMENT, "card", gross)
    store.submit(flows.payment_completed(chart, transfer_id, "mpesa", quote))
    return quote


def withdrawal_quote(amount, method="mpesa"):
    return PLATFORM_DEFAULT_SCHEDULE.quote(FeeOperation.WITHDRAWAL, method, kes(amount))


def test_chart_names_accounts_by_tenant_role_and_currency():
    chart = Chart("t1")
    assert chart.wallet("KES") == "t1/wallet/KES"
    assert chart.clearing("mpesa", "KES") == "t1/provider_clearing:mpesa/KES"
    codes = {a.code for a in chart.accounts("KES", ["mpesa", "paystack"])}
    assert codes == {
        "wallet",
        "provider_clearing",
        "platform_fees",
        "payouts_in_transit",
        "recon_suspense",
        "external",
    }
    wallet = next(a for a in chart.accounts("KES", []) if a.code == "wallet")
    assert wallet.flags.debits_must_not_exceed_credits


def test_chart_refuses_unknown_currencies_and_misplaced_providers():
    with pytest.raises(ValidationError):
        Chart("t1").wallet("XYZ")
    with pytest.raises(ValidationError):
        Chart("")


def test_a_completed_payment_credits_the_wallet_net_of_the_fee():
    store, chart, _ = store_with_chart()
    quote = payment_of(store, chart, kes("1000.00"))
    assert quote.fee == kes("25.00")
    assert balance(store, chart.wallet("KES")) == 97500
    assert balance(store, chart.platform_fees("KES")) == 2500
    assert balance(store, chart.clearing("mpesa", "KES")) == -100000
    assert problems(store.accounts("t1"), store.entries("t1")) == []


def test_a_payment_without_fee_moves_one_leg():
    chart = Chart("t1")
    free = FeeQuote(gross=kes("10.00"), fee=kes("0.00"), net=kes("10.00"), rule=None)
    request = flows.payment_completed(chart, "p", "mpesa", free)
    assert len(request.postings) == 1


def available(store, account_id):
    return store.account("t1", account_id).available().minor


def test_a_refund_hold_lowers_the_available_wallet_at_once_and_moves_nothing_posted():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("1000.00"))
    hold = store.submit(flows.refund_initiated(chart, "ref-1", "mpesa", kes("400.00")))
    assert hold.mode is TransferMode.PENDING
    assert hold.kind == flows.REFUND
    assert available(store, chart.wallet("KES")) == 57500
    assert balance(store, chart.wallet("KES")) == 97500
    assert balance(store, chart.clearing("mpesa", "KES")) == -100000
    assert problems(store.accounts("t1"), store.entries("t1")) == []


def test_a_succeeded_refund_posts_the_hold_back_to_clearing():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("1000.00"))
    store.submit(flows.refund_initiated(chart, "ref-1", "mpesa", kes("400.00")))
    posted = store.submit(flows.refund_succeeded(chart, "ref-1-ok", "ref-1"))
    assert posted.mode is TransferMode.POST_PENDING
    assert posted.kind == flows.REFUND_SUCCEEDED
    assert store.hold("t1", "ref-1").status is HoldStatus.POSTED
    assert balance(store, chart.wallet("KES")) == 57500
    assert balance(store, chart.clearing("mpesa", "KES")) == -60000
    assert balance(store, chart.platform_fees("KES")) == 2500
    assert problems(store.accounts("t1"), store.entries("t1")) == []


def test_a_failed_refund_voids_the_hold_and_the_wallet_is_whole_again():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("1000.00"))
    store.submit(flows.refund_initiated(chart, "ref-1", "mpesa", kes("400.00")))
    voided = store.submit(flows.refund_failed(chart, "ref-1-failed", "ref-1"))
    assert voided.mode is TransferMode.VOID_PENDING
    assert voided.kind == flows.REFUND_FAILED
    assert store.hold("t1", "ref-1").status is HoldStatus.VOIDED
    assert available(store, chart.wallet("KES")) == 97500
    assert balance(store, chart.clearing("mpesa", "KES")) == -100000
    assert problems(store.accounts("t1"), store.entries("t1")) == []


def test_a_refund_can_return_a_share_of_the_fee():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("1000.00"))
    store.submit(flows.refund_initiated(chart, "ref-1", "mpesa", kes("1000.00"), fee_share=kes("25.00")))
    store.submit(flows.refund_succeeded(chart, "ref-1-ok", "ref-1"))
    assert balance(store, chart.wallet("KES")) == 0
    assert balance(store, chart.platform_fees("KES")) == 0
    assert balance(store, chart.clearing("mpesa", "KES")) == 0


def test_a_refund_the_wallet_cannot_cover_is_refused_with_insufficient_funds_when_held():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("100.00"))
    with pytest.raises(InsufficientFunds) as raised:
        store.submit(flows.refund_initiated(chart, "ref-1", "mpesa", kes("100.00")))
    assert raised.value.code == "INSUFFICIENT_FUNDS"
    assert available(store, chart.wallet("KES")) == 9750


def test_two_refund_holds_can_never_spend_the_same_money():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("1000.00"))
    store.submit(flows.refund_initiated(chart, "ref-1", "mpesa", kes("600.00")))
    with pytest.raises(InsufficientFunds):
        store.submit(flows.refund_initiated(chart, "ref-2", "mpesa", kes("600.00")))


def test_a_refund_moves_a_positive_amount_and_a_sane_fee_share():
    chart = Chart("t1")
    with pytest.raises(InvalidAmount):
        flows.refund_initiated(chart, "r", "mpesa", kes("0.00"))
    with pytest.raises(InvalidAmount):
        flows.refund_initiated(chart, "r", "mpesa", kes("1.00"), fee_share=kes("2.00"))
    with pytest.raises(InvalidAmount):
        flows.refund_initiated(chart, "r", "mpesa", kes("1.00"), fee_share=-kes("0.01"))


def test_the_seed_withdrawal_holds_the_gross_and_splits_net_and_fee():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("2000.00"))
    quote = withdrawal_quote("1000.00")
    assert (quote.fee, quote.net) == (kes("33.00"), kes("967.00"))
    hold = store.submit(flows.withdrawal_initiated(chart, "wd-1", quote))
    assert hold.mode is TransferMode.PENDING
    wallet = store.account("t1", chart.wallet("KES"))
    assert wallet.available() == kes("950.00")
    store.submit(flows.withdrawal_approved(chart, "wd-1-approve", "wd-1"))
    assert balance(store, chart.payouts_in_transit("KES")) == 96700
    assert balance(store, chart.platform_fees("KES")) == 5000 + 3300
    store.submit(flows.payout_settled(chart, "wd-1-settle", "mpesa", quote))
    assert balance(store, chart.payouts_in_transit("KES")) == 0
    assert balance(store, chart.wallet("KES")) == 95000
    assert problems(store.accounts("t1"), store.entries("t1")) == []


def test_a_cancelled_withdrawal_releases_its_hold():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("2000.00"))
    store.submit(flows.withdrawal_initiated(chart, "wd-1", withdrawal_quote("1000.00")))
    store.submit(flows.withdrawal_cancelled(chart, "wd-1-cancel", "wd-1"))
    assert store.hold("t1", "wd-1").status is HoldStatus.VOIDED
    assert store.account("t1", chart.wallet("KES")).available() == kes("1950.00")


def test_a_failed_payout_gives_the_tenant_the_gross_back_fee_included():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("2000.00"))
    quote = withdrawal_quote("1000.00", "bank_transfer")
    store.submit(flows.withdrawal_initiated(chart, "wd-1", quote))
    store.submit(flows.withdrawal_approved(chart, "wd-1-approve", "wd-1"))
    store.submit(flows.payout_failed(chart, "wd-1-failed", quote))
    assert balance(store, chart.wallet("KES")) == 195000
    assert balance(store, chart.payouts_in_transit("KES")) == 0
    assert balance(store, chart.platform_fees("KES")) == 5000
    assert problems(store.accounts("t1"), store.entries("t1")) == []


def test_two_withdrawals_can_never_spend_the_same_money():
    store, chart, _ = store_with_chart()
    payment_of(store, chart, kes("1000.00"))
    store.submit(flows.withdrawal_initiated(chart, "wd-1", withdrawal_quote("900.00")))
    with pytest.raises(InsufficientFunds):
        store.submit(flows.withdrawal_initiated(chart, "wd-2", withdrawal_quote("900.00")))


def test_a_withdrawal_smaller_than_its_fee_is_refused():
    rule = FeeRule(FeeOperation.WITHDRAWAL, "KES", "mpesa", flat_minor=3300, minimum_operation_minor=1000)
    quote = rule.quote(kes("20.00"))
    with pytest.raises(InvalidAmount) as raised:
        flows.withdrawal_initiated(Chart("t1"), "wd", quote)
    assert raised.value.details["fee"] == "33.00"


def test_a_reconciliation_adjustment_goes_through_suspense_in_either_direction():
    store, chart, _ = store_with_chart()
    clearing = chart.clearing("mpesa", "KES")
    store.submit(flows.reconciliation_adjustment(chart, "adj-1", clearing, kes("5.00"), "short settlement"))
    assert balance(store, chart.recon_suspense("KES")) == 500
    store.submit(flows.reconciliation_adjustment(chart, "adj-2", clearing, -kes("5.00"), "reversal"))
    assert balance(store, chart.recon_suspense("KES")) == 0
    assert balance(store, clearing) == 0
    with pytest.raises(InvalidAmount):
        flows.reconciliation_adjustment(chart, "adj-3", clearing, Money(0, "KES"), "nothing")
