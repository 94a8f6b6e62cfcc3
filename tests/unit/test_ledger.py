"""The ledger, read as a specification: double entry, holds, idempotent ids, flags, append-only."""

from datetime import timedelta

import pytest

from payments_core.errors import (
    BalanceOverflow,
    CreditsExceedDebits,
    CurrencyMismatch,
    ExceedsPendingAmount,
    IdempotencyConflict,
    InsufficientFunds,
    NotFound,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotFound,
    ValidationError,
)
from payments_core.ledger import (
    AccountFlags,
    AccountNotFound,
    Balances,
    Bucket,
    Posting,
    Side,
    TransferMode,
    TransferRequest,
    fold,
    problems,
    trial_balance,
)
from payments_core.money import Money
from payments_core.states import HoldStatus
from tests.support.ledger import T0, fund_wallet, kes, plain_account, store_with_chart

pytestmark = pytest.mark.usefixtures("ledger_backend")


def assert_sound(store, tenant_id="t1"):
    assert problems(store.accounts(tenant_id), store.entries(tenant_id)) == []


# --- Single-phase transfers -------------------------------------------------------------------


def test_a_posted_transfer_debits_one_account_and_credits_the_other():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    clearing = store.account("t1", chart.clearing("mpesa", "KES"))
    wallet = store.account("t1", chart.wallet("KES"))
    assert (clearing.debits_posted, clearing.credits_posted) == (10000, 0)
    assert (wallet.debits_posted, wallet.credits_posted) == (0, 10000)
    assert wallet.available() == kes("100.00")
    assert_sound(store)


def test_a_transfer_of_many_postings_applies_all_of_them_at_once():
    store, chart, _ = store_with_chart()
    clearing = chart.clearing("mpesa", "KES")
    store.submit(
        TransferRequest.posted(
            "pay-1",
            "t1",
            "payment_completed",
            [
                Posting(clearing, chart.wallet("KES"), kes("97.50")),
                Posting(clearing, chart.platform_fees("KES"), kes("2.50")),
            ],
        )
    )
    assert store.account("t1", clearing).debits_posted == 10000
    assert store.account("t1", chart.wallet("KES")).credits_posted == 9750
    assert store.account("t1", chart.platform_fees("KES")).credits_posted == 250
    assert [(e.account_id, e.side, e.amount) for e in store.entries("t1")] == [
        (clearing, Side.DEBIT, 9750),
        (chart.wallet("KES"), Side.CREDIT, 9750),
        (clearing, Side.DEBIT, 250),
        (chart.platform_fees("KES"), Side.CREDIT, 250),
    ]
    assert trial_balance(store.accounts("t1"))["KES"].balanced
    assert_sound(store)


def test_a_wallet_can_never_be_debited_below_zero():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("10.00"))
    overdraw = TransferRequest.posted(
        "refund-1",
        "t1",
        "refund",
        [Posting(chart.wallet("KES"), chart.clearing("mpesa", "KES"), kes("10.01"))],
    )
    with pytest.raises(InsufficientFunds) as raised:
        store.submit(overdraw)
    assert raised.value.code == "INSUFFICIENT_FUNDS"
    assert raised.value.details["available"] == 1000
    assert store.account("t1", chart.wallet("KES")).available() == kes("10.00")
    assert len(store.entries("t1")) == 2
    with pytest.raises(NotFound):
        store.transfer("t1", "refund-1")


def test_a_failed_posting_leaves_no_trace_of_the_postings_before_it():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("10.00"))
    before = store.accounts("t1")
    request = TransferRequest.posted(
        "mixed",
        "t1",
        "test",
        [
            Posting(chart.clearing("mpesa", "KES"), chart.platform_fees("KES"), kes("1.00")),
            Posting(chart.wallet("KES"), chart.external("KES"), kes("50.00")),
        ],
    )
    with pytest.raises(InsufficientFunds):
        store.submit(request)
    assert store.accounts("t1") == before


def test_credits_must_not_exceed_debits_is_enforced_on_flagged_accounts():
    store, _, _ = store_with_chart()
    store.open_accounts(
        [plain_account("t1/liability", credits_must_not_exceed_debits=True), plain_account("t1/other")]
    )
    with pytest.raises(CreditsExceedDebits):
        store.submit(
            TransferRequest.posted("c1", "t1", "test", [Posting("t1/other", "t1/liability", kes("1.00"))])
        )
    store.submit(
        TransferRequest.posted("d1", "t1", "test", [Posting("t1/liability", "t1/other", kes("5.00"))])
    )
    store.submit(
        TransferRequest.posted("c2", "t1", "test", [Posting("t1/other", "t1/liability", kes("5.00"))])
    )
    assert store.account("t1", "t1/liability").credits_posted == 500


def test_an_account_cannot_carry_both_flags():
    with pytest.raises(ValidationError):
        AccountFlags(debits_must_not_exceed_credits=True, credits_must_not_exceed_debits=True)


def test_balances_that_would_leave_the_64_bit_range_are_refused():
    store, chart, _ = store_with_chart()
    big = Money(2**53 - 1, "KES")
    for n in range(1024):
        store.submit(
            TransferRequest.posted(
                f"big-{n}", "t1", "test", [Posting(chart.external("KES"), chart.recon_suspense("KES"), big)]
            )
        )
    with pytest.raises(BalanceOverflow):
        store.submit(
            TransferRequest.posted(
                "big-overflow",
                "t1",
                "test",
                [Posting(chart.external("KES"), chart.recon_suspense("KES"), big)],
            )
        )
    assert_sound(store)


# --- Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("minor", [0, -1])
def test_postings_move_a_positive_amount(minor):
    with pytest.raises(ValidationError) as raised:
        Posting("a", "b", Money(minor, "KES"))
    assert raised.value.code == "INVALID_AMOUNT"


def test_a_posting_cannot_debit_and_credit_the_same_account():
    with pytest.raises(ValidationError):
        Posting("a", "a", kes("1.00"))


def test_a_posting_amount_must_be_money():
    with pytest.raises(ValidationError):
        Posting("a", "b", 100)


def test_a_transfer_needs_postings():
    with pytest.raises(ValidationError):
        TransferRequest.posted("x", "t1", "test", [])


@pytest.mark.parametrize("bad_id", ["", " ", "a b", "x" * 129, "with#hash", "tab\there", "new\nline"])
def test_transfer_ids_are_short_printable_and_without_spaces(bad_id):
    with pytest.raises(ValidationError):
        TransferRequest.posted(bad_id, "t1", "test", [Posting("a", "b", kes("1.00"))])


def test_a_posting_in_another_currency_than_its_accounts_is_refused():
    store, chart, _ = store_with_chart()
    with pytest.raises(CurrencyMismatch):
        store.submit(
            TransferRequest.posted(
                "usd",
                "t1",
                "test",
                [Posting(chart.clearing("mpesa", "KES"), chart.wallet("KES"), Money(100, "USD"))],
            )
        )
    assert store.entries("t1") == []


def test_unknown_accounts_are_not_found():
    store, chart, _ = store_with_chart()
    with pytest.raises(AccountNotFound) as raised:
        store.submit(
            TransferRequest.posted("x", "t1", "test", [Posting(chart.wallet("KES"), "t1/nope", kes("1.00"))])
        )
    assert raised.value.code == "RESOURCE_NOT_FOUND"


def test_another_tenants_account_is_as_unknown_as_a_missing_one():
    store, chart, _ = store_with_chart("t1")
    store.open_accounts(type(chart)("t2").accounts("KES", ["mpesa"]))
    fund_wallet(store, type(chart)("t2"), kes("50.00"))
    with pytest.raises(AccountNotFound):
        store.submit(
            TransferRequest.posted(
                "steal", "t1", "test", [Posting("t2/wallet/KES", chart.wallet("KES"), kes("50.00"))]
            )
        )
    with pytest.raises(AccountNotFound):
        store.account("t1", "t2/wallet/KES")
    assert store.account("t2", "t2/wallet/KES").available() == kes("50.00")


def test_metadata_is_small_strings_only():
    posting = [Posting("a", "b", kes("1.00"))]
    assert TransferRequest.posted("m", "t1", "k", posting, {"b": "2", "a": "1"}).metadata == (
        ("a", "1"),
        ("b", "2"),
    )
    with pytest.raises(ValidationError):
        TransferRequest.posted("m", "t1", "k", posting, {"a": 1})
    with pytest.raises(ValidationError):
        TransferRequest.posted("m", "t1", "k", posting, {"a": "x" * 501})
    with pytest.raises(ValidationError):
        TransferRequest.posted("m", "t1", "k", posting, {str(i): "v" for i in range(33)})


def test_naive_times_are_refused():
    with pytest.raises(ValidationError):
        TransferRequest.pending(
            "h", "t1", "k", [Posting("a", "b", kes("1.00"))], expires_at=T0.replace(tzinfo=None)
        )


# --- Idempotent transfer ids -------------------------------------------------------------------


def test_resubmitting_an_identical_transfer_returns_the_first_result_and_posts_once():
    store, chart, clock = store_with_chart()
    first = fund_wallet(store, chart, kes("10.00"), "same-id")
    clock.advance(timedelta(minutes=5))
    again = fund_wallet(store, chart, kes("10.00"), "same-id")
    assert again == first
    assert again.created_at == T0
    assert store.account("t1", chart.wallet("KES")).credits_posted == 1000
    assert len(store.entries("t1")) == 2


def test_resubmitting_an_id_with_different_content_is_a_conflict():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("10.00"), "same-id")
    with pytest.raises(IdempotencyConflict) as raised:
        fund_wallet(store, chart, kes("10.01"), "same-id")
    assert raised.value.code == "IDEMPOTENCY_CONFLICT"
    assert store.account("t1", chart.wallet("KES")).credits_posted == 1000


def test_transfer_ids_are_scoped_by_tenant():
    store, chart, _ = store_with_chart("t1")
    other = type(chart)("t2")
    store.open_accounts(other.accounts("KES", ["mpesa"]))
    fund_wallet(store, chart, kes("1.00"), "shared-id")
    fund_wallet(store, other, kes("2.00"), "shared-id")
    assert store.account("t2", other.wallet("KES")).credits_posted == 200


def test_a_refused_transfer_can_be_resubmitted_once_it_would_succeed():
    store, chart, _ = store_with_chart()
    spend = TransferRequest.posted(
        "spend", "t1", "refund", [Posting(chart.wallet("KES"), chart.clearing("mpesa", "KES"), kes("5.00"))]
    )
    with pytest.raises(InsufficientFunds):
        store.submit(spend)
    fund_wallet(store, chart, kes("5.00"))
    assert store.submit(spend).id == "spend"


# --- Two-phase transfers: holds ---------------------------------------------------------------


def hold_request(chart, amount="100.00", fee="33.00", hold_id="hold-1", expires_at=None):
    return TransferRequest.pending(
        hold_id,
        chart.tenant_id,
        "withdrawal_hold",
        [
            Posting(chart.wallet("KES"), chart.payouts_in_transit("KES"), kes(amount) - kes(fee)),
            Posting(chart.wallet("KES"), chart.platform_fees("KES"), kes(fee)),
        ],
        expires_at=expires_at,
    )


def test_a_hold_lowers_the_available_balance_at_once():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("150.00"))
    store.submit(hold_request(chart, "100.00"))
    wallet = store.account("t1", chart.wallet("KES"))
    assert (wallet.debits_pending, wallet.debits_posted) == (10000, 0)
    assert wallet.available() == kes("50.00")
    assert store.hold("t1", "hold-1").status is HoldStatus.PENDING
    assert_sound(store)


def test_two_holds_can_never_reserve_the_same_money():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("150.00"))
    store.submit(hold_request(chart, "100.00", hold_id="h1"))
    with pytest.raises(InsufficientFunds):
        store.submit(hold_request(chart, "100.00", hold_id="h2"))
    store.submit(hold_request(chart, "50.00", hold_id="h3"))
    assert store.account("t1", chart.wallet("KES")).available() == kes("0.00")


def test_posting_a_hold_in_full_moves_pending_to_posted():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart))
    post = store.submit(TransferRequest.post_pending("post-1", "t1", "withdrawal_approved", "hold-1"))
    assert post.postings == hold_request(chart).postings
    wallet = store.account("t1", chart.wallet("KES"))
    assert (wallet.debits_pending, wallet.debits_posted) == (0, 10000)
    assert store.account("t1", chart.payouts_in_transit("KES")).credits_posted == 6700
    assert store.account("t1", chart.platform_fees("KES")).credits_posted == 3300
    assert store.hold("t1", "hold-1").status is HoldStatus.POSTED
    assert store.hold("t1", "hold-1").resolved_by == "post-1"
    assert_sound(store)


def test_posting_part_of_a_hold_releases_the_rest():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart))
    partial = TransferRequest.post_pending(
        "post-1",
        "t1",
        "capture",
        "hold-1",
        [Posting(chart.wallet("KES"), chart.payouts_in_transit("KES"), kes("40.00"))],
    )
    store.submit(partial)
    wallet = store.account("t1", chart.wallet("KES"))
    assert (wallet.debits_pending, wallet.debits_posted) == (0, 4000)
    assert wallet.available() == kes("60.00")
    assert store.account("t1", chart.platform_fees("KES")).credits_posted == 0
    assert_sound(store)


def test_posting_more_than_the_hold_reserved_is_refused():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("200.00"))
    store.submit(hold_request(chart))
    too_much = TransferRequest.post_pending(
        "post-1", "t1", "capture", "hold-1",
        [Posting(chart.wallet("KES"), chart.payouts_in_transit("KES"), kes("67.01"))],
    )  # fmt: skip
    with pytest.raises(ExceedsPendingAmount):
        store.submit(too_much)
    assert store.hold("t1", "hold-1").status is HoldStatus.PENDING


def test_a_post_may_only_name_the_holds_own_pairs():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("200.00"))
    store.submit(hold_request(chart))
    with pytest.raises(ValidationError):
        store.submit(
            TransferRequest.post_pending(
                "post-1",
                "t1",
                "capture",
                "hold-1",
                [Posting(chart.wallet("KES"), chart.external("KES"), kes("1.00"))],
            )
        )


def test_voiding_a_hold_releases_it_entirely():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart))
    store.submit(TransferRequest.void_pending("void-1", "t1", "withdrawal_cancelled", "hold-1"))
    wallet = store.account("t1", chart.wallet("KES"))
    assert (wallet.debits_pending, wallet.debits_posted) == (0, 0)
    assert wallet.available() == kes("100.00")
    assert store.hold("t1", "hold-1").status is HoldStatus.VOIDED
    assert_sound(store)


def test_a_hold_resolves_exactly_once():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart))
    store.submit(TransferRequest.post_pending("post-1", "t1", "k", "hold-1"))
    with pytest.raises(PendingTransferAlreadyResolved) as raised:
        store.submit(TransferRequest.post_pending("post-2", "t1", "k", "hold-1"))
    assert raised.value.details["currentStatus"] == "posted"
    with pytest.raises(PendingTransferAlreadyResolved):
        store.submit(TransferRequest.void_pending("void-1", "t1", "k", "hold-1"))
    assert store.account("t1", chart.wallet("KES")).debits_posted == 10000


def test_resubmitting_a_post_returns_the_first_result_even_though_the_hold_is_resolved():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart))
    first = store.submit(TransferRequest.post_pending("post-1", "t1", "k", "hold-1"))
    assert store.submit(TransferRequest.post_pending("post-1", "t1", "k", "hold-1")) == first


def test_posting_or_voiding_an_unknown_hold_is_refused():
    store, _, _ = store_with_chart()
    with pytest.raises(PendingTransferNotFound):
        store.submit(TransferRequest.post_pending("p", "t1", "k", "nope"))
    with pytest.raises(PendingTransferNotFound):
        store.submit(TransferRequest.void_pending("v", "t1", "k", "nope"))


def test_a_posted_transfer_is_not_a_hold():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("1.00"), "fund-1")
    with pytest.raises(PendingTransferNotFound):
        store.submit(TransferRequest.void_pending("v", "t1", "k", "fund-1"))


def test_another_tenants_hold_cannot_be_posted():
    store, chart, _ = store_with_chart("t1")
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart))
    with pytest.raises(PendingTransferNotFound):
        store.submit(TransferRequest.post_pending("p", "t2", "k", "hold-1"))


def test_an_expired_hold_can_be_neither_posted_nor_voided_and_is_released():
    store, chart, clock = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart, expires_at=T0 + timedelta(hours=1)))
    clock.advance(timedelta(hours=1))
    with pytest.raises(PendingTransferExpired):
        store.submit(TransferRequest.post_pending("p", "t1", "k", "hold-1"))
    with pytest.raises(PendingTransferExpired):
        store.submit(TransferRequest.void_pending("v", "t1", "k", "hold-1"))
    expired = store.expire_holds()
    assert [t.mode for t in expired] == [TransferMode.EXPIRE_PENDING]
    assert store.hold("t1", "hold-1").status is HoldStatus.EXPIRED
    assert store.account("t1", chart.wallet("KES")).available() == kes("100.00")
    assert store.expire_holds() == []
    assert_sound(store)


def test_a_hold_before_its_expiry_is_not_released():
    store, chart, clock = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart, expires_at=T0 + timedelta(hours=1)))
    clock.advance(timedelta(minutes=59))
    assert store.expire_holds() == []
    store.submit(TransferRequest.post_pending("p", "t1", "k", "hold-1"))
    assert store.hold("t1", "hold-1").status is HoldStatus.POSTED


def test_a_hold_must_expire_in_the_future():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    with pytest.raises(ValidationError):
        store.submit(hold_request(chart, expires_at=T0))


def test_holds_move_each_account_pair_once():
    with pytest.raises(ValidationError):
        TransferRequest.pending(
            "h", "t1", "k", [Posting("a", "b", kes("1.00")), Posting("a", "b", kes("2.00"))]
        )


def test_voids_take_no_postings_and_single_phase_transfers_do_not_expire():
    with pytest.raises(ValidationError):
        TransferRequest("v", "t1", "k", TransferMode.VOID_PENDING, [Posting("a", "b", kes("1.00"))], "h")
    with pytest.raises(ValidationError):
        TransferRequest("p", "t1", "k", TransferMode.POSTED, [Posting("a", "b", kes("1.00"))], expires_at=T0)
    with pytest.raises(ValidationError):
        TransferRequest("p", "t1", "k", TransferMode.POST_PENDING)


# --- Batches, the journal, history --------------------------------------------------------------


def test_a_batch_applies_every_transfer_or_none():
    store, chart, _ = store_with_chart()
    good = [fund_request(chart, f"b{n}", "1.00") for n in range(3)]
    bad = TransferRequest.posted(
        "b-bad", "t1", "refund", [Posting(chart.wallet("KES"), chart.clearing("mpesa", "KES"), kes("100.00"))]
    )
    with pytest.raises(InsufficientFunds):
        store.submit_many([*good, bad])
    assert store.entries("t1") == []
    results = store.submit_many(good)
    assert [t.id for t in results] == ["b0", "b1", "b2"]
    assert store.account("t1", chart.wallet("KES")).available() == kes("3.00")


def test_later_transfers_in_a_batch_see_the_earlier_ones():
    store, chart, _ = store_with_chart()
    spend = TransferRequest.posted(
        "spend", "t1", "refund", [Posting(chart.wallet("KES"), chart.clearing("mpesa", "KES"), kes("1.00"))]
    )
    store.submit_many([fund_request(chart, "f", "1.00"), spend, fund_request(chart, "f", "1.00")])
    assert store.account("t1", chart.wallet("KES")).available() == kes("0.00")
    assert_sound(store)


def fund_request(chart, transfer_id, amount):
    return TransferRequest.posted(
        transfer_id, chart.tenant_id, "payment_completed",
        [Posting(chart.clearing("mpesa", "KES"), chart.wallet("KES"), kes(amount))],
    )  # fmt: skip


def test_balances_are_the_fold_of_the_entries():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart, "60.00", "10.00"))
    store.submit(TransferRequest.post_pending("p", "t1", "k", "hold-1"))
    folded = fold(store.entries("t1"))
    for account in store.accounts("t1"):
        assert folded.get(account.id, Balances()) == account.balances


def test_a_historic_balance_comes_from_the_entries_up_to_that_time():
    store, chart, clock = store_with_chart()
    fund_wallet(store, chart, kes("10.00"), "f1")
    clock.advance(timedelta(hours=1))
    fund_wallet(store, chart, kes("5.00"), "f2")
    wallet = chart.wallet("KES")
    assert store.balance_at("t1", wallet, T0 - timedelta(seconds=1)) == Balances()
    assert store.balance_at("t1", wallet, T0).credits_posted == 1000
    assert store.balance_at("t1", wallet, T0 + timedelta(hours=1)).credits_posted == 1500


def test_entries_are_only_ever_appended():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("100.00"))
    store.submit(hold_request(chart))
    snapshot = store.entries("t1")
    store.submit(TransferRequest.void_pending("v", "t1", "k", "hold-1"))
    after = store.entries("t1")
    assert after[: len(snapshot)] == snapshot
    assert [e.bucket for e in after[len(snapshot) :]] == [Bucket.PENDING] * 4
    assert all(e.amount < 0 for e in after[len(snapshot) :])


def test_reopening_an_account_is_a_no_op_but_redefining_it_is_a_conflict():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("1.00"))
    store.open_accounts(chart.accounts("KES", ["mpesa"]))
    assert store.account("t1", chart.wallet("KES")).credits_posted == 100
    with pytest.raises(IdempotencyConflict):
        store.open_accounts([plain_account(chart.wallet("KES"), currency="USD")])


def test_the_audit_names_every_broken_invariant():
    store, chart, _ = store_with_chart()
    fund_wallet(store, chart, kes("1.00"))
    accounts = store.accounts("t1")
    tampered = [
        a.moved(Side.CREDIT, Bucket.POSTED, 1) if a.id == chart.wallet("KES") else a for a in accounts
    ]
    found = problems(tampered, store.entries("t1"))
    assert any("does not balance" in p for p in found)
    assert any(chart.wallet("KES") in p and "fold" in p for p in found)
