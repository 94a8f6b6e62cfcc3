"""Paystack's transaction / settlement export (CSV), one row per transaction.

Invariants
- Columns are found by name, in the API's own field names: `id`, `reference`, `status`, `amount`,
  `fees`, `currency`, `paid_at`, and optionally `type` (absent: every row is a charge). Others
  (`channel`, `customer_email`, `settlement`, ...) are ignored.
- Amounts are MAJOR units with decimals by default (the dashboard export); the API speaks subunits,
  so an export in subunits is read with `minor_units=True` (integers only). Which one Paystack's
  export uses is unconfirmed: both are accepted, neither is guessed per row.
- The export writes magnitudes; the sign comes from the type, as the balance sees it: a charge is
  positive, a refund, payout or fee negative, an adjustment as written. `fees` is what Paystack kept,
  net = gross - fees.
- Only successful rows moved money; rows in a status listed in `SKIPPED_STATUSES` (failed, abandoned,
  ...) are passed over by design; any other status is an error.
- `paid_at` is ISO 8601; a time without an offset is UTC (Paystack reports in UTC).
- `external_id` is Paystack's `id`; `reference` is the transaction `reference` (the merchant's).
"""

from __future__ import annotations

from collections.abc import Iterator

from adapters.statements.errors import StatementError
from adapters.statements.reading import (
    Amounts,
    RowError,
    Source,
    Table,
    currency_of,
    moment,
    statement_line,
    text_lines,
)
from payments_core.model.reconciliation import StagedLine
from payments_core.ports import StatementLine, StatementLineType

PROVIDER = "paystack"

REQUIRED = ("id", "reference", "status", "amount", "fees", "currency", "paid_at")
SUCCESS_STATUSES = frozenset({"success", "successful", "processed"})
SKIPPED_STATUSES = frozenset({"failed", "abandoned", "pending", "ongoing", "reversed", "queued"})

TYPES: dict[str, StatementLineType] = {
    "charge": StatementLineType.CHARGE,
    "transaction": StatementLineType.CHARGE,
    "payment": StatementLineType.CHARGE,
    "refund": StatementLineType.REFUND,
    "settlement": StatementLineType.PAYOUT,
    "transfer": StatementLineType.PAYOUT,
    "payout": StatementLineType.PAYOUT,
    "fee": StatementLineType.FEE,
    "adjustment": StatementLineType.ADJUSTMENT,
    "chargeback": StatementLineType.ADJUSTMENT,
    "dispute": StatementLineType.ADJUSTMENT,
}
# -1: the balance loses the magnitude; +1: it gains it; 0: the row's own sign stands.
SIGNS = {
    StatementLineType.CHARGE: 1,
    StatementLineType.REFUND: -1,
    StatementLineType.PAYOUT: -1,
    StatementLineType.FEE: -1,
    StatementLineType.ADJUSTMENT: 0,
}


class PaystackStatement:
    """A `StatementSource` over one Paystack export."""

    def __init__(self, source: Source, *, minor_units: bool = False) -> None:
        self._source = source
        self._minor_units = minor_units

    def lines(self) -> Iterator[StatementLine]:
        return (statement_line(PROVIDER, line) for line in self.staged())

    def staged(self) -> Iterator[StagedLine]:
        with text_lines(self._source) as text:
            yield from self._parse(Table(text, REQUIRED, ("type",)))

    def _parse(self, table: Table) -> Iterator[StagedLine]:
        index = table.index
        id_at, reference_at, status_at = index["id"], index["reference"], index["status"]
        amount_at, fees_at, currency_at, paid_at = (
            index["amount"],
            index["fees"],
            index["currency"],
            index["paid_at"],
        )
        type_at = table.optional("type")
        amounts = Amounts()
        in_minor = self._minor_units

        def money(text: str, column: str, currency: str, exponent: int) -> int:
            if not in_minor:
                return amounts.minor(text, column, currency, exponent)
            digits = text[1:] if text[:1] == "-" else text
            if not (digits.isascii() and digits.isdigit() and len(digits) < 20):
                raise RowError(f"{column}: subunit amounts are whole numbers ({text[:40]!r})")
            return amounts.checked(int(text))

        for number, row in table.rows():
            status = row[status_at].lower()
            if status not in SUCCESS_STATUSES:
                if status in SKIPPED_STATUSES:
                    continue
                raise StatementError(number, f"status: unknown status {row[status_at][:40]!r}")
            try:
                type_text = row[type_at] if type_at is not None else "charge"
                kind = TYPES.get(type_text.lower())
                if kind is None:
                    raise RowError(f"type: unknown transaction type {type_text[:40]!r}")
                if not row[id_at]:
                    raise RowError("id is empty")
                currency, exponent = currency_of(row[currency_at])
                gross = money(row[amount_at], "amount", currency, exponent)
                fee = money(row[fees_at], "fees", currency, exponent)
                sign = SIGNS[kind]
                if sign:
                    gross = sign * abs(gross)
                net = amounts.checked(gross - fee)
                occurred_at = moment(row[paid_at], "paid_at")
            except RowError as error:
                raise StatementError(number, str(error)) from None
            yield StagedLine(
                number,
                kind.value,
                row[id_at],
                row[reference_at] or None,
                gross,
                fee,
                net,
                currency,
                occurred_at,
            )
