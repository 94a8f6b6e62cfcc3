"""Provider settlement statements, streamed as normalised lines for reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import attrs

from payments_core.model.reconciliation import StagedLine
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


def staged_line(line: StatementLine) -> StagedLine:
    """A statement line as matching reads it: signed minor units of its one currency."""
    return StagedLine(
        line.line_number, line.type.value, line.external_id, line.reference, line.gross.minor,
        line.fee.minor, line.net.minor, line.gross.currency, line.occurred_at,
    )  # fmt: skip


class StatementSource(Protocol):
    def lines(self) -> Iterator[StatementLine]:
        """Stream the statement's lines; a malformed row raises with its line number."""
        ...

    def staged(self) -> Iterator[StagedLine]:
        """The same lines as `lines()`, as matching reads them (ints, no `Money`): the cheap form
        for millions of lines streamed into a reconciliation."""
        ...
