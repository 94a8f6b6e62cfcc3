"""Withdrawals: a tenant's money leaving its wallet, under four-eyes approval.

Invariants
- `amount == fee + net_amount`, one currency; the gross is held in the ledger (`hold_id`) from
  the moment the withdrawal is initiated, so the same money can never be withdrawn twice.
- `approved_by` is set only on approval and differs from `initiated_by` (four-eyes).
- pending -> processing (approved, hold posted, payout requested) -> completed | failed;
  pending -> canceled (hold voided). Nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from payments_core.errors import InvalidAmount
from payments_core.model.common import MAX_REASON_LENGTH, aware, freeze_strings, text
from payments_core.money import Money
from payments_core.states import WITHDRAWAL, WithdrawalStatus


class WithdrawalMethod(StrEnum):
    MPESA = "mpesa"
    TILL = "till"
    BANK_TRANSFER = "bank_transfer"


@attrs.frozen
class Withdrawal:
    id: str
    tenant_id: str
    amount: Money
    fee: Money
    net_amount: Money
    method_type: WithdrawalMethod
    method_details: Mapping[str, str] = attrs.field(converter=freeze_strings)
    initiated_by: str = attrs.field(validator=text("initiated_by", 128))
    hold_id: str = attrs.field(validator=text("hold_id", 128))
    provider: str = attrs.field(validator=text("provider", 64))
    created_at: datetime = attrs.field(validator=aware)
    updated_at: datetime = attrs.field(validator=aware)
    livemode: bool = True
    status: WithdrawalStatus = WithdrawalStatus.PENDING
    notes: str | None = attrs.field(default=None, validator=text("notes", MAX_REASON_LENGTH, optional=True))
    approved_by: str | None = None
    idempotency_key: str | None = None
    provider_reference: str | None = None
    provider_response: Mapping[str, str] = attrs.field(factory=dict, converter=freeze_strings)
    cancel_reason: str | None = None
    failure_reason: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.fee + self.net_amount != self.amount:
            raise InvalidAmount("a withdrawal's fee and net must add up to its amount")

    def moved(self, status: WithdrawalStatus, now: datetime, **changes: Any) -> Withdrawal:
        return attrs.evolve(self, status=WITHDRAWAL.require(self.status, status), updated_at=now, **changes)
