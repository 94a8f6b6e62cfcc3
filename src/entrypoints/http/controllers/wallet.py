"""Seed 002: the tenant's wallet and its withdrawals, under four-eyes approval.

Invariants
- Amounts are decimal major units (`1000.00` KES) in the tenant's currency unless a request names
  another; they are parsed exactly, never through a float, and never rounded (over-precise or
  huge: 400 `INVALID_AMOUNT`, nothing held, nothing stored).
- The core checks the scopes (`finance:view`, `finance:withdraw:initiate`, `finance:withdraw:approve`)
  and four-eyes: the approver is a person other than the initiator (else 403 `FOUR_EYES_VIOLATION`).
- Initiating, approving and canceling replay their first answer for the same `Idempotency-Key`, so a
  retried request never holds, pays or releases twice; the initiation also hands the key to the core.
- Another tenant's withdrawal id answers 404 `RESOURCE_NOT_FOUND`.

Decision: `GET /wallet/balance` is not in a seed. It answers one currency's wallet, the tenant's own
unless `?currency=` names another: `available` (what may be withdrawn now), `pending` (held by
withdrawals awaiting approval) and `total` (their sum, the posted balance), all in major units.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime, tenant_currency
from entrypoints.http.views import iso, major, parse_major
from payments_core.model.common import MAX_REASON_LENGTH
from payments_core.model.wallet import Withdrawal
from payments_core.services.wallet import (
    MAX_PAGE,
    ApprovalResult,
    WalletBalance,
    WithdrawalOptions,
    parse_withdrawal_status,
)
from payments_core.states import WithdrawalStatus

DEFAULT_PAGE: Final = 50
Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON_LENGTH)]


class WithdrawalBody(msgspec.Struct):
    amount: Decimal
    method_type: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    method_details: Annotated[dict[str, str], msgspec.Meta(max_length=10)] | None = None
    notes: Reason | None = None
    currency: Annotated[str, msgspec.Meta(min_length=1, max_length=8)] | None = None


class CancelBody(msgspec.Struct):
    reason: Reason | None = None


def withdrawal_json(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "id": withdrawal.id,
        "amount": major(withdrawal.amount),
        "fee": major(withdrawal.fee),
        "net_amount": major(withdrawal.net_amount),
        "currency": withdrawal.amount.currency,
        "status": withdrawal.status.value,
        "method_type": withdrawal.method_type.value,
        "initiated_by": withdrawal.initiated_by,
        "approved_by": withdrawal.approved_by,
        "created_at": iso(withdrawal.created_at),
        "notes": withdrawal.notes,
    }


def options_json(options: WithdrawalOptions) -> dict[str, Any]:
    configured = options.configured_method
    return {
        "available_methods": list(options.available_methods),
        "configured_method": (
            {"method_type": configured.method_type, "details": dict(configured.details)}
            if configured is not None
            else None
        ),
        "minimum_amounts": {method: major(amount) for method, amount in options.minimum_amounts.items()},
        "fees": {method: major(fee) for method, fee in options.fees.items()},
        "wallet_balance": major(options.wallet_balance),
        "currency": options.currency,
    }


def balance_json(balance: WalletBalance) -> dict[str, Any]:
    return {
        "currency": balance.currency,
        "available": major(balance.available),
        "pending": major(balance.pending),
        "total": major(balance.posted),
    }


def approval_json(result: ApprovalResult) -> dict[str, Any]:
    """Seed 002's answer; `status` tells whether the provider has confirmed the payout yet."""
    withdrawal = result.withdrawal
    messages = {
        WithdrawalStatus.COMPLETED: "Withdrawal approved and processed successfully",
        WithdrawalStatus.FAILED: "Withdrawal approved but the payout failed; the wallet was credited back",
    }
    return {
        "success": result.success,
        "message": messages.get(withdrawal.status, "Withdrawal approved; the payout is being processed"),
        "transaction_id": result.transaction_id,
        "status": withdrawal.status.value,
        "amount": major(withdrawal.amount),
        "net_amount": major(withdrawal.net_amount),
        "fee": major(withdrawal.fee),
        "provider_response": dict(result.provider_response),
    }


class WalletController(Controller):
    path = "/wallet"
    tags = ["wallet (seed 002)"]

    @get("/balance", sync_to_thread=True)
    def balance(
        self,
        runtime: Runtime,
        principal: Caller,
        currency: Annotated[str | None, QueryParameter(max_length=8)] = None,
    ) -> dict[str, Any]:
        return balance_json(runtime.core.wallet.wallet_balance(principal, currency))

    @get("/withdrawal-options", sync_to_thread=True)
    def withdrawal_options(self, runtime: Runtime, principal: Caller) -> dict[str, Any]:
        return options_json(runtime.core.wallet.withdrawal_options(principal))

    @post("/withdrawals", status_code=201, sync_to_thread=True, opt={"idempotent": True})
    def initiate_withdrawal(
        self,
        runtime: Runtime,
        principal: Caller,
        data: JSONBody[WithdrawalBody],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        amount = parse_major(data.amount, data.currency or tenant_currency(runtime, principal))
        withdrawal: Withdrawal = runtime.core.wallet.initiate_withdrawal(
            principal, amount, data.method_type, data.method_details, data.notes, idempotency_key
        )
        return {
            "message": "Withdrawal request initiated successfully",
            "transaction_id": withdrawal.id,
            "status": withdrawal.status.value,
            "amount": major(withdrawal.amount),
            "fee": major(withdrawal.fee),
            "net_amount": major(withdrawal.net_amount),
            "currency": withdrawal.amount.currency,
            "requires_approval": True,
        }

    @post(
        "/withdrawals/{transaction_id:str}/approve",
        status_code=200,
        sync_to_thread=True,
        opt={"idempotent": True},
    )
    def approve_withdrawal(
        self, runtime: Runtime, principal: Caller, transaction_id: FromPath[str]
    ) -> dict[str, Any]:
        return approval_json(runtime.core.wallet.approve_withdrawal(principal, transaction_id))

    @post(
        "/withdrawals/{transaction_id:str}/cancel",
        status_code=200,
        sync_to_thread=True,
        opt={"idempotent": True},
    )
    def cancel_withdrawal(
        self,
        runtime: Runtime,
        principal: Caller,
        transaction_id: FromPath[str],
        data: JSONBody[CancelBody | None] = None,
    ) -> dict[str, Any]:
        reason = data.reason if data else None
        withdrawal: Withdrawal = runtime.core.wallet.cancel_withdrawal(principal, transaction_id, reason)
        return {
            "message": "Withdrawal canceled successfully",
            "transaction_id": withdrawal.id,
            "status": withdrawal.status.value,
        }

    @get("/withdrawals", sync_to_thread=True)
    def list_withdrawals(
        self,
        runtime: Runtime,
        principal: Caller,
        status: Annotated[str | None, QueryParameter(max_length=32)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> dict[str, Any]:
        wanted = parse_withdrawal_status(status) if status is not None else None
        page = runtime.core.wallet.list_withdrawals(principal, wanted, limit)
        return {"count": page.count, "results": [withdrawal_json(item) for item in page.results]}


ROUTES = [WalletController]
