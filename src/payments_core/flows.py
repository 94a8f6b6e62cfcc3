"""The money flows: each business event is one function that builds one balanced transfer.

Amounts are in one currency; F is the tenant's fee from its fee schedule.

| event                   | mode         | postings (debit -> credit: amount)                          |
|-------------------------|--------------|-------------------------------------------------------------|
| payment completed, G    | posted       | clearing -> wallet: G-F; clearing -> platform_fees: F       |
| refund initiated, R (s) | pending      | wallet -> clearing: R-s; platform_fees -> clearing: s       |
| refund succeeded        | post_pending | the hold, in full                                           |
| refund failed           | void_pending | the hold is released                                        |
| withdrawal initiated, A | pending      | wallet -> payouts_in_transit: A-f; wallet -> platform_fees: f |
| withdrawal approved     | post_pending | the hold, in full                                           |
| withdrawal cancelled    | void_pending | the hold is released                                        |
| payout settled          | posted       | payouts_in_transit -> clearing: A-f                         |
| payout failed           | posted       | payouts_in_transit -> wallet: A-f; platform_fees -> wallet: f |
| reconciliation, +d / -d | posted       | account -> recon_suspense: d / recon_suspense -> account: d |

Zero-amount legs (no fee, no fee share) are left out: a posting always moves something.
Each function checks its own preconditions; the ledger checks the flags (a wallet that cannot
cover a refund or a withdrawal raises `INSUFFICIENT_FUNDS` when the transfer is submitted).

Refunds and withdrawals are two-phase: the hold lowers the wallet's available balance when the
request is made, so two requests can never spend the same money, and the provider's answer
later posts the hold (it paid) or voids it (it refused, the money is back).
"""

from __future__ import annotations

from collections.abc import Mapping

from payments_core.errors import InvalidAmount
from payments_core.fees import FeeQuote
from payments_core.ledger import Chart, Posting, TransferRequest
from payments_core.money import Money

PAYMENT_COMPLETED = "payment_completed"
REFUND = "refund"  # the hold that carries a refund's postings
REFUND_SUCCEEDED = "refund_succeeded"
REFUND_FAILED = "refund_failed"
WITHDRAWAL_HOLD = "withdrawal_hold"
WITHDRAWAL_APPROVED = "withdrawal_approved"
WITHDRAWAL_CANCELLED = "withdrawal_cancelled"
PAYOUT_SETTLED = "payout_settled"
PAYOUT_FAILED = "payout_failed"
RECONCILIATION_ADJUSTMENT = "reconciliation_adjustment"


def _legs(*legs: tuple[str, str, Money]) -> list[Posting]:
    return [Posting(debit, credit, amount) for debit, credit, amount in legs if amount.minor > 0]


def payment_completed(
    chart: Chart,
    transfer_id: str,
    provider: str,
    quote: FeeQuote,
    metadata: Mapping[str, str] | None = None,
) -> TransferRequest:
    currency = quote.gross.currency
    clearing = chart.clearing(provider, currency)
    return TransferRequest.posted(
        transfer_id,
        chart.tenant_id,
        PAYMENT_COMPLETED,
        _legs(
            (clearing, chart.wallet(currency), quote.net),
            (clearing, chart.platform_fees(currency), quote.fee),
        ),
        metadata,
    )


def refund_initiated(
    chart: Chart,
    transfer_id: str,
    provider: str,
    amount: Money,
    fee_share: Money | None = None,
    metadata: Mapping[str, str] | None = None,
) -> TransferRequest:
    """Hold `amount` for the customer while the provider refunds it; `fee_share` is the part of
    the fee the platform returns. The wallet's available balance drops at once."""
    amount.require_positive()
    share = fee_share if fee_share is not None else Money.zero(amount.currency)
    if share.minor < 0 or share > amount:
        raise InvalidAmount("a fee share lies between zero and the refund", currency=amount.currency)
    clearing = chart.clearing(provider, amount.currency)
    return TransferRequest.pending(
        transfer_id,
        chart.tenant_id,
        REFUND,
        _legs(
            (chart.wallet(amount.currency), clearing, amount - share),
            (chart.platform_fees(amount.currency), clearing, share),
        ),
        metadata=metadata,
    )


def refund_succeeded(chart: Chart, transfer_id: str, hold_id: str) -> TransferRequest:
    """The provider paid the customer back: the held money leaves for good."""
    return TransferRequest.post_pending(transfer_id, chart.tenant_id, REFUND_SUCCEEDED, hold_id)


def refund_failed(chart: Chart, transfer_id: str, hold_id: str) -> TransferRequest:
    """The provider refused the refund: the held money is the tenant's again."""
    return TransferRequest.void_pending(transfer_id, chart.tenant_id, REFUND_FAILED, hold_id)


def withdrawal_initiated(
    chart: Chart,
    transfer_id: str,
    quote: FeeQuote,
    metadata: Mapping[str, str] | None = None,
) -> TransferRequest:
    """Reserve the gross at once, so that two withdrawals can never spend the same money."""
    if quote.net.minor <= 0:
        fee = quote.rule.uncapped_fee(quote.gross) if quote.rule is not None else quote.fee
        raise InvalidAmount(
            f"the amount must be larger than the withdrawal fee of {fee}",
            fee=fee.to_major_string(),
            currency=quote.gross.currency,
        )
    currency = quote.gross.currency
    wallet = chart.wallet(currency)
    return TransferRequest.pending(
        transfer_id,
        chart.tenant_id,
        WITHDRAWAL_HOLD,
        _legs(
            (wallet, chart.payouts_in_transit(currency), quote.net),
            (wallet, chart.platform_fees(currency), quote.fee),
        ),
        metadata=metadata,
    )


def withdrawal_approved(chart: Chart, transfer_id: str, hold_id: str) -> TransferRequest:
    return TransferRequest.post_pending(transfer_id, chart.tenant_id, WITHDRAWAL_APPROVED, hold_id)


def withdrawal_cancelled(chart: Chart, transfer_id: str, hold_id: str) -> TransferRequest:
    return TransferRequest.void_pending(transfer_id, chart.tenant_id, WITHDRAWAL_CANCELLED, hold_id)


def payout_settled(chart: Chart, transfer_id: str, provider: str, quote: FeeQuote) -> TransferRequest:
    """The provider paid the net out of the money it holds for us."""
    currency = quote.net.currency
    return TransferRequest.posted(
        transfer_id,
        chart.tenant_id,
        PAYOUT_SETTLED,
        _legs((chart.payouts_in_transit(currency), chart.clearing(provider, currency), quote.net)),
    )


def payout_failed(chart: Chart, transfer_id: str, quote: FeeQuote) -> TransferRequest:
    """The payout did not happen: the tenant gets the gross back, fee included."""
    currency = quote.gross.currency
    wallet = chart.wallet(currency)
    return TransferRequest.posted(
        transfer_id,
        chart.tenant_id,
        PAYOUT_FAILED,
        _legs(
            (chart.payouts_in_transit(currency), wallet, quote.net),
            (chart.platform_fees(currency), wallet, quote.fee),
        ),
    )


def reconciliation_adjustment(
    chart: Chart,
    transfer_id: str,
    account_id: str,
    difference: Money,
    reason: str,
) -> TransferRequest:
    """An accepted break: a positive difference debits `account_id`, a negative one credits it."""
    if difference.is_zero():
        raise InvalidAmount("an adjustment moves a non-zero amount", currency=difference.currency)
    suspense = chart.recon_suspense(difference.currency)
    leg = (account_id, suspense, difference) if difference.minor > 0 else (suspense, account_id, -difference)
    return TransferRequest.posted(
        transfer_id, chart.tenant_id, RECONCILIATION_ADJUSTMENT, _legs(leg), {"reason": reason}
    )
