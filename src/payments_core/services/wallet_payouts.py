"""How a withdrawal's payout ends, and the record each change of a withdrawal leaves.

Separate from `wallet` because two paths end a payout: the provider's receipt, read by
`wallet.approve_withdrawal`, and a later verified provider event (`provider_events`), which both
reach the same two functions here. Every name stays importable from `wallet`.

Invariants
- Settling and failing are the same two functions whether the provider answers in its receipt or
  later by event; a late or duplicate event never moves a finished withdrawal.
- Their ledger transfers are `{id}.settled` and `{id}.failed`, derived from the withdrawal id, so a
  payout is never booked twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from payments_core import flows
from payments_core.fees import FeeQuote
from payments_core.model.common import MAX_REASON_LENGTH
from payments_core.model.wallet import Withdrawal
from payments_core.policies import Principal
from payments_core.ports import ProviderEvent, ProviderEventType, ProviderReceipt, UnitOfWork
from payments_core.services.context import Deps, audit, emit, open_chart
from payments_core.states import WithdrawalStatus

_MAX_RESPONSE_ITEMS: Final = 16


def apply_payout_event(uow: UnitOfWork, deps: Deps, event: ProviderEvent) -> bool:
    """Settle or fail a withdrawal's payout from a verified provider event; False if unknown,
    already final, or about another amount. The caller commits."""
    withdrawal = uow.withdrawals.by_provider_reference(event.provider, event.reference)
    if withdrawal is None or withdrawal.status is not WithdrawalStatus.PROCESSING:
        return False
    if event.amount is not None and event.amount != withdrawal.net_amount:
        audit(
            uow, deps, None, "provider_event.amount_mismatch", "withdrawal", withdrawal.id,
            withdrawal.tenant_id, eventId=event.event_id, expected=withdrawal.net_amount.minor,
            received=event.amount.minor,
        )  # fmt: skip
        return False
    if event.type is ProviderEventType.PAYOUT_SETTLED:
        settle_payout(uow, deps, withdrawal)
        return True
    if event.type is ProviderEventType.PAYOUT_FAILED:
        fail_payout(uow, deps, withdrawal, payout_failure_reason(event.details))
        return True
    return False


def withdrawal_view(withdrawal: Withdrawal) -> dict[str, Any]:
    """The withdrawal as outbound webhooks describe it (amounts in minor units)."""
    return {
        "id": withdrawal.id,
        "amount": withdrawal.amount.minor,
        "fee": withdrawal.fee.minor,
        "netAmount": withdrawal.net_amount.minor,
        "currency": withdrawal.amount.currency,
        "status": withdrawal.status.value,
        "methodType": withdrawal.method_type.value,
        "initiatedBy": withdrawal.initiated_by,
        "approvedBy": withdrawal.approved_by,
        "providerReference": withdrawal.provider_reference,
    }


# --- the two endings of a payout, shared by the synchronous and the event paths -----------------


def settle_payout(uow: UnitOfWork, deps: Deps, withdrawal: Withdrawal) -> Withdrawal:
    """The provider paid the net out: payouts in transit move to the provider's clearing."""
    chart = open_chart(uow, withdrawal.tenant_id, withdrawal.amount.currency)
    uow.ledger.submit(
        flows.payout_settled(chart, f"{withdrawal.id}.settled", withdrawal.provider, _quote_of(withdrawal))
    )
    completed = withdrawal.moved(WithdrawalStatus.COMPLETED, deps.clock.now())
    uow.withdrawals.update(completed)
    record_withdrawal(uow, deps, None, completed, "withdrawal.completed")
    return completed


def fail_payout(uow: UnitOfWork, deps: Deps, withdrawal: Withdrawal, reason: str) -> Withdrawal:
    """The payout did not happen: the wallet gets the gross back, fee included."""
    chart = open_chart(uow, withdrawal.tenant_id, withdrawal.amount.currency)
    uow.ledger.submit(flows.payout_failed(chart, f"{withdrawal.id}.failed", _quote_of(withdrawal)))
    failed = withdrawal.moved(WithdrawalStatus.FAILED, deps.clock.now(), failure_reason=reason)
    uow.withdrawals.update(failed)
    record_withdrawal(uow, deps, None, failed, "withdrawal.failed", reason=reason)
    return failed


# --- helpers ------------------------------------------------------------------------------------


def _quote_of(withdrawal: Withdrawal) -> FeeQuote:
    return FeeQuote(withdrawal.amount, withdrawal.fee, withdrawal.net_amount, None)


def with_receipt(deps: Deps, withdrawal: Withdrawal, receipt: ProviderReceipt) -> Withdrawal:
    """Keep the provider's reference and a bounded copy of its answer (it is untrusted input)."""
    response = {
        key[:64]: value[:256]
        for key, value in list(receipt.details.items())[:_MAX_RESPONSE_ITEMS]
        if isinstance(key, str) and key and isinstance(value, str)
    }
    response.setdefault("provider", withdrawal.provider)
    return attrs.evolve(
        withdrawal,
        provider_reference=receipt.provider_reference,
        provider_response=response,
        updated_at=deps.clock.now(),
    )


def payout_failure_reason(details: Mapping[str, str]) -> str:
    reason = details.get("reason") or details.get("failure_reason") or "payout_failed"
    return str(reason)[:MAX_REASON_LENGTH]


def record_withdrawal(
    uow: UnitOfWork, deps: Deps, actor: Principal | None, withdrawal: Withdrawal, action: str, **details: Any
) -> None:
    audit(
        uow, deps, actor, action, "withdrawal", withdrawal.id, withdrawal.tenant_id,
        amount=withdrawal.amount.minor, fee=withdrawal.fee.minor, currency=withdrawal.amount.currency,
        methodType=withdrawal.method_type.value, **details,
    )  # fmt: skip
    emit(uow, deps, withdrawal.tenant_id, action, withdrawal_view(withdrawal), withdrawal.livemode)
