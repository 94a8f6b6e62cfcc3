"""The tenant's wallet and its withdrawals (seed 002), under four-eyes approval.

The use cases: balances, withdrawal options, and a withdrawal from initiation through approval or
cancellation. How a payout ends (the provider's receipt or a later event settles or fails it) and
the record each change of a withdrawal leaves are in `wallet_payouts`. Every name stays importable
from here.

Invariants
- The gross of a withdrawal is held in the ledger the moment it is initiated (transfer
  `{id}.hold`), so the available balance drops at once and two withdrawals can never spend the
  same money; a wallet that cannot cover it raises `INSUFFICIENT_FUNDS` and nothing is stored.
- Every ledger transfer id is derived from the withdrawal id (`.hold`, `.approved`, `.cancelled`
  here; `.settled`, `.failed` in `wallet_payouts`), so no business event can ever post twice.
- Approval needs a second person (`require_four_eyes`): never the initiator, never an API key,
  and acting in the withdrawal's own mode (test or live).
- Approval commits its intent first (processing, hold posted), then calls the payout provider
  outside any unit of work, then records the provider's answer in a second unit of work. If the
  provider is unavailable the withdrawal stays `processing` for the janitor to retry.
- Settling and failing from the receipt or a later event: see `wallet_payouts`.

Decision: seed 002 says a withdrawal is `completed` once approved. An M-Pesa B2C or Paystack
transfer is confirmed asynchronously, so an approved withdrawal stays `processing` until the
provider confirms it, in its receipt (SUCCEEDED / FAILED) or later by a PAYOUT_SETTLED /
PAYOUT_FAILED event. The sandbox answers PENDING by default (`payout_outcome`), as the real ones do.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeVar

import attrs

from payments_core import flows
from payments_core.errors import CurrencyMismatch, IdempotencyConflict, InvalidOperation, ValidationError
from payments_core.fees import FeeOperation, FeeRule
from payments_core.ledger import AccountNotFound, Chart
from payments_core.model.access import Tenant
from payments_core.model.common import MAX_REASON_LENGTH, check_text
from payments_core.model.wallet import Withdrawal, WithdrawalMethod
from payments_core.money import Money, exponent_of
from payments_core.policies import Operation, Principal, require_four_eyes, require_scope
from payments_core.ports import PayoutRequest, ReceiptStatus, UnitOfWork
from payments_core.services.context import PAYOUT_PROVIDERS, Deps, found, open_chart, tenant_of
from payments_core.services.validation import validate_withdrawal_details
from payments_core.services.wallet_payouts import (
    apply_payout_event,
    fail_payout,
    payout_failure_reason,
    record_withdrawal,
    settle_payout,
    with_receipt,
    withdrawal_view,
)
from payments_core.states import WithdrawalStatus

__all__ = [
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_PAGE",
    "ApprovalResult",
    "ConfiguredMethod",
    "WalletBalance",
    "WithdrawalOptions",
    "WithdrawalPage",
    "apply_payout_event",
    "approve_withdrawal",
    "cancel_withdrawal",
    "get_withdrawal",
    "initiate_withdrawal",
    "list_withdrawals",
    "parse_withdrawal_status",
    "wallet_balance",
    "withdrawal_options",
    "withdrawal_view",
]

E = TypeVar("E", bound=StrEnum)

MAX_PAGE: Final = 100
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255


@attrs.frozen
class WalletBalance:
    """`available` = posted credits - posted debits - held debits; `pending` = what holds reserve."""

    available: Money
    pending: Money
    posted: Money
    currency: str


@attrs.frozen
class ConfiguredMethod:
    method_type: str
    details: Mapping[str, str]


@attrs.frozen
class WithdrawalOptions:
    """`fees[m]` is the fee on the smallest withdrawal method `m` allows (all of it for flat fees)."""

    available_methods: tuple[str, ...]
    configured_method: ConfiguredMethod | None
    minimum_amounts: Mapping[str, Money]
    fees: Mapping[str, Money]
    wallet_balance: Money
    currency: str


@attrs.frozen
class ApprovalResult:
    withdrawal: Withdrawal
    provider_response: Mapping[str, str]

    @property
    def success(self) -> bool:
        return self.withdrawal.status is not WithdrawalStatus.FAILED

    @property
    def transaction_id(self) -> str:
        return self.withdrawal.id


@attrs.frozen
class WithdrawalPage:
    """`count` counts every match; `results` holds at most the requested page, newest first."""

    results: tuple[Withdrawal, ...]
    count: int


def parse_withdrawal_status(text: object) -> WithdrawalStatus:
    """The `status` query parameter; `canceled` is spelled with one "l", as the seed does."""
    return _member(WithdrawalStatus, text, "status")


def wallet_balance(deps: Deps, principal: Principal, currency: str | None = None) -> WalletBalance:
    require_scope(principal, Operation.WALLET_READ)
    if currency is not None:
        exponent_of(currency)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        return _balance(uow, tenant.id, currency or tenant.currency)


def withdrawal_options(deps: Deps, principal: Principal) -> WithdrawalOptions:
    require_scope(principal, Operation.WALLET_READ)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        balance = _balance(uow, tenant.id, tenant.currency)
    rules = _withdrawal_rules(deps, tenant)
    minimums = {
        method: Money(rule.minimum_operation_minor, tenant.currency) for method, rule in rules.items()
    }
    configured = (
        ConfiguredMethod(tenant.withdrawal_method, tenant.withdrawal_details)
        if tenant.withdrawal_method is not None
        else None
    )
    return WithdrawalOptions(
        available_methods=tuple(rules),
        configured_method=configured,
        minimum_amounts=MappingProxyType(minimums),
        fees=MappingProxyType(
            {method: rule.uncapped_fee(minimums[method]) for method, rule in rules.items()}
        ),
        wallet_balance=balance.available,
        currency=tenant.currency,
    )


def initiate_withdrawal(
    deps: Deps,
    principal: Principal,
    amount: Money,
    method_type: str,
    method_details: Mapping[str, str] | None = None,
    notes: str | None = None,
    idempotency_key: str | None = None,
) -> Withdrawal:
    """Hold the gross in the wallet and wait for a second person's approval."""
    require_scope(principal, Operation.WITHDRAWAL_INITIATE)
    method = _member(WithdrawalMethod, method_type, "method_type")
    check_text("notes", notes, MAX_REASON_LENGTH, optional=True)
    check_text("idempotency_key", idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH, optional=True)
    if not isinstance(amount, Money):
        raise ValidationError("amount must be an amount of money", field="amount")
    amount.require_positive()
    details = validate_withdrawal_details(method, method_details) if method_details is not None else None
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        _require_tenant_currency(tenant, amount)
        details = details if details is not None else _configured_details(tenant, method)
        content = (amount, method, details, notes)
        if idempotency_key is not None:
            first = uow.withdrawals.by_idempotency_key(tenant.id, idempotency_key)
            if first is not None:
                return _replayed(first, content)
        _require_offered(deps, tenant, method)
        quote = deps.fees.quote(tenant.id, FeeOperation.WITHDRAWAL, method, amount)
        withdrawal_id = deps.ids.new_id("wd")
        chart = open_chart(uow, tenant.id, tenant.currency)
        hold = flows.withdrawal_initiated(
            chart, f"{withdrawal_id}.hold", quote, {"withdrawalId": withdrawal_id}
        )
        uow.ledger.submit(hold)
        now = deps.clock.now()
        withdrawal = Withdrawal(
            id=withdrawal_id,
            tenant_id=tenant.id,
            amount=quote.gross,
            fee=quote.fee,
            net_amount=quote.net,
            method_type=method,
            method_details=details,
            initiated_by=principal.subject,
            hold_id=hold.id,
            provider=deps.payout_provider(principal.livemode, method.value),
            created_at=now,
            updated_at=now,
            livemode=principal.livemode,
            notes=notes,
            idempotency_key=idempotency_key,
        )
        uow.withdrawals.add(withdrawal)
        record_withdrawal(uow, deps, principal, withdrawal, "withdrawal.initiated")
        uow.commit()
    return withdrawal


def approve_withdrawal(deps: Deps, principal: Principal, withdrawal_id: str) -> ApprovalResult:
    """Four-eyes approval: post the hold, then ask the provider to pay the net out."""
    require_scope(principal, Operation.WITHDRAWAL_APPROVE)
    with deps.uow() as uow:
        withdrawal = _get(uow, principal, withdrawal_id)
        require_four_eyes(principal, withdrawal.initiated_by)
        if principal.livemode != withdrawal.livemode:
            raise InvalidOperation(
                "a withdrawal is approved with credentials of its own mode", livemode=withdrawal.livemode
            )
        provider = deps.provider(withdrawal.provider)
        approved = withdrawal.moved(
            WithdrawalStatus.PROCESSING, deps.clock.now(), approved_by=principal.subject
        )
        chart = open_chart(uow, approved.tenant_id, approved.amount.currency)
        uow.ledger.submit(flows.withdrawal_approved(chart, f"{approved.id}.approved", approved.hold_id))
        uow.withdrawals.update(approved)
        record_withdrawal(uow, deps, principal, approved, "withdrawal.approved")
        uow.commit()
    receipt = provider.payout(
        PayoutRequest(
            tenant_id=approved.tenant_id,
            withdrawal_id=approved.id,
            amount=approved.net_amount,
            method_type=approved.method_type.value,
            method_details=approved.method_details,
            livemode=approved.livemode,
        )
    )
    with deps.uow() as uow:
        current = found(uow.withdrawals.get(approved.tenant_id, approved.id), "withdrawal", approved.id)
        answered = with_receipt(deps, current, receipt)
        uow.withdrawals.update(answered)
        if answered.status is WithdrawalStatus.PROCESSING:
            if receipt.status is ReceiptStatus.SUCCEEDED:
                answered = settle_payout(uow, deps, answered)
            elif receipt.status is ReceiptStatus.FAILED:
                answered = fail_payout(uow, deps, answered, payout_failure_reason(receipt.details))
        uow.commit()
    return ApprovalResult(answered, answered.provider_response)


def cancel_withdrawal(
    deps: Deps, principal: Principal, withdrawal_id: str, reason: str | None = None
) -> Withdrawal:
    """Release the hold of a withdrawal nobody approved yet."""
    require_scope(principal, Operation.WITHDRAWAL_CANCEL)
    check_text("reason", reason, MAX_REASON_LENGTH, optional=True)
    with deps.uow() as uow:
        withdrawal = _get(uow, principal, withdrawal_id)
        canceled = withdrawal.moved(WithdrawalStatus.CANCELED, deps.clock.now(), cancel_reason=reason)
        chart = open_chart(uow, canceled.tenant_id, canceled.amount.currency)
        uow.ledger.submit(flows.withdrawal_cancelled(chart, f"{canceled.id}.cancelled", canceled.hold_id))
        uow.withdrawals.update(canceled)
        record_withdrawal(uow, deps, principal, canceled, "withdrawal.canceled", reason=reason)
        uow.commit()
    return canceled


def list_withdrawals(
    deps: Deps, principal: Principal, status: WithdrawalStatus | None = None, limit: int = 50
) -> WithdrawalPage:
    require_scope(principal, Operation.WALLET_READ)
    if status is not None and not isinstance(status, WithdrawalStatus):
        status = parse_withdrawal_status(status)
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(
            f"limit must be from 1 to {MAX_PAGE}", field="limit", minimum=1, maximum=MAX_PAGE
        )
    with deps.uow() as uow:
        page = uow.withdrawals.search(principal.tenant_id, status, limit)
    return WithdrawalPage(page.items, page.total)


def get_withdrawal(deps: Deps, principal: Principal, withdrawal_id: str) -> Withdrawal:
    require_scope(principal, Operation.WALLET_READ)
    with deps.uow() as uow:
        return _get(uow, principal, withdrawal_id)


# --- helpers ------------------------------------------------------------------------------------


def _balance(uow: UnitOfWork, tenant_id: str, currency: str) -> WalletBalance:
    """A currency the tenant never held reads as an empty wallet."""
    try:
        account = uow.ledger.account(tenant_id, Chart(tenant_id).wallet(currency))
    except AccountNotFound:
        zero = Money.zero(currency)
        return WalletBalance(zero, zero, zero, currency)
    return WalletBalance(
        available=account.available(),
        pending=Money(account.debits_pending, currency),
        posted=account.posted_credit_balance(),
        currency=currency,
    )


def _withdrawal_rules(deps: Deps, tenant: Tenant) -> dict[str, FeeRule]:
    """The methods offered, with their fee rule: a payout provider and a withdrawal fee rule of
    their own in the tenant's currency (the tenant's schedule first, then the platform's)."""
    schedules = (deps.fees.platform_default, deps.fees.tenant_schedules.get(tenant.id))
    priced = {
        m for s in schedules if s is not None for m in s.methods(FeeOperation.WITHDRAWAL, tenant.currency)
    }
    rules = {
        m: deps.fees.find(tenant.id, FeeOperation.WITHDRAWAL, m, tenant.currency) for m in PAYOUT_PROVIDERS
    }
    return {method: rule for method, rule in rules.items() if method in priced and rule is not None}


def _require_offered(deps: Deps, tenant: Tenant, method: WithdrawalMethod) -> None:
    offered = list(_withdrawal_rules(deps, tenant))
    if method.value not in offered:
        raise ValidationError(
            f"withdrawals by {method.value} are not offered in {tenant.currency}",
            field="method_type",
            allowedValues=offered,
        )


def _member(kind: type[E], text: object, field: str) -> E:
    """The enum member spelled `text`, or a refusal listing the allowed values."""
    if isinstance(text, str) and text in {member.value for member in kind}:
        return kind(text)
    raise ValidationError(f"unknown {field}", field=field, allowedValues=[member.value for member in kind])


def _require_tenant_currency(tenant: Tenant, amount: Money) -> None:
    if amount.currency != tenant.currency:
        raise CurrencyMismatch(
            f"withdrawals are made in {tenant.currency}",
            field="amount",
            currencies=sorted({tenant.currency, amount.currency}),
        )


def _configured_details(tenant: Tenant, method: WithdrawalMethod) -> dict[str, str]:
    """Without details, the tenant's configured destination, if it is one for this method."""
    if tenant.withdrawal_method != method.value:
        raise ValidationError(
            "method_details are required: no destination is configured for this method",
            field="method_details",
        )
    return dict(tenant.withdrawal_details)


def _replayed(first: Withdrawal, content: tuple[object, ...]) -> Withdrawal:
    if (first.amount, first.method_type, dict(first.method_details), first.notes) != content:
        raise IdempotencyConflict(
            "this idempotency key was used for another withdrawal", idempotencyKey=first.idempotency_key
        )
    return first


def _get(uow: UnitOfWork, principal: Principal, withdrawal_id: str) -> Withdrawal:
    return found(uow.withdrawals.get(principal.tenant_id, withdrawal_id), "withdrawal", withdrawal_id)
