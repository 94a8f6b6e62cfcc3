"""Provider settlement statements, streamed as normalised lines for reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import attrs

from payments_core.money import Money


class StatementLineType(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    PAYOUT = "payout"
    FEE = "fee"
    ADJUSTMENT = "adjustment"


@attrs.frozen
class StatementLine:
    line_number: int
    provider: str
    external_id: str
    type: StatementLineType
    gross: Money
    fee: Money
    net: Money
    occurred_at: datetime
    reference: str | None = None


class StatementSource(Protocol):
    def lines(self) -> Iterator[StatementLine]:
        """Stream the statement's lines; a malformed row raises with its line number."""
        ...
