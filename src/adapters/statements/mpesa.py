"""M-Pesa's organisation account statement (CSV), read through a configurable column mapping.

Invariants
- Column names vary by export, so they come from `MpesaColumns`; the default is the portal's own
  export (`Receipt No.`, `Completion Time`, `Details`, `Transaction Status`, `Paid In`, `Withdrawn`).
  Columns not named in the mapping are ignored.
- Each row is one movement: exactly one of `Paid In` and `Withdrawn` is non-zero (a withdrawal may be
  written `-100.00` or `100.00`; either way it leaves the balance). M-Pesa charges its fees as rows of
  their own, so a row's fee is zero and gross == net (positive in, negative out).
- Amounts are major units of the mapping's currency (KES); thousands separators (`1,000.00`) are
  removed first; more decimals than the currency has is an error.
- Only completed rows moved money. Rows in a status the mapping lists as skipped (failed,
  cancelled, ...) are passed over by design; any other status is an error.
- The type comes from keywords in the details (`Charge` → fee, `Reversal` → refund, tried in order),
  else from the direction: money in is a charge, money out a payout.
- Times carry no offset: they are read in the mapping's zone (East Africa Time, UTC+3, no DST).
- `external_id` is the receipt number; `reference` is the mapped reference column, if any.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, timezone, tzinfo

import attrs

from adapters.statements.errors import StatementError
from adapters.statements.reading import (
    Amounts,
    RowError,
    Source,
    Table,
    currency_of,
    formatted_moment,
    moment,
    statement_line,
    text_lines,
)
from payments_core.errors import ValidationError
from payments_core.model.reconciliation import StagedLine
from payments_core.ports import StatementLine, StatementLineType

PROVIDER = "mpesa"
EAST_AFRICA_TIME = timezone(timedelta(hours=3), "EAT")


@attrs.frozen
class MpesaColumns:
    """Where an export keeps each fact, and how it writes times and amounts."""

    receipt: str = "Receipt No."
    completed_at: str = "Completion Time"
    details: str = "Details"
    status: str = "Transaction Status"
    paid_in: str = "Paid In"
    withdrawn: str = "Withdrawn"
    reference: str | None = None
    currency: str = "KES"
    time_format: str | None = None  # a `strptime` pattern; None reads ISO 8601 (`2024-01-15 10:23:45`)
    zone: tzinfo = EAST_AFRICA_TIME
    thousands_separator: str = ","
    completed_statuses: frozenset[str] = frozenset({"Completed"})
    skipped_statuses: frozenset[str] = frozenset({"Failed", "Cancelled", "Declined", "Expired", "Pending"})
    type_keywords: tuple[tuple[str, StatementLineType], ...] = (
        ("Reversal", StatementLineType.REFUND),
        ("Charge", StatementLineType.FEE),
    )


class MpesaStatement:
    """A `StatementSource` over one organisation statement, read through `columns`."""

    def __init__(self, source: Source, *, columns: MpesaColumns | None = None) -> None:
        self._columns = columns or MpesaColumns()
        try:
            self._currency, self._exponent = currency_of(self._columns.currency)
        except RowError as error:
            raise ValidationError(f"M-Pesa statement currency: {error}") from None
        self._source = source

    def lines(self) -> Iterator[StatementLine]:
        return (statement_line(PROVIDER, line) for line in self.staged())

    def staged(self) -> Iterator[StagedLine]:
        spec = self._columns
        required = (spec.receipt, spec.completed_at, spec.details, spec.status, spec.paid_in, spec.withdrawn)
        with text_lines(self._source) as text:
            yield from self._parse(Table(text, required, [spec.reference] if spec.reference else []))

    def _parse(self, table: Table) -> Iterator[StagedLine]:
        spec, index = self._columns, table.index
        receipt_at, time_at, details_at = index[spec.receipt], index[spec.completed_at], index[spec.details]
        status_at, in_at, out_at = index[spec.status], index[spec.paid_in], index[spec.withdrawn]
        reference_at = table.optional(spec.reference)
        currency, exponent, separator = self._currency, self._exponent, spec.thousands_separator
        completed, skipped, keywords = spec.completed_statuses, spec.skipped_statuses, spec.type_keywords
        pattern, zone = spec.time_format, spec.zone
        amounts = Amounts()
        amount = amounts.minor

        def minor(text: str, column: str) -> int:
            if separator:
                text = text.replace(separator, "")
            return amount(text, column, currency, exponent) if text else 0

        for number, row in table.rows():
            status = row[status_at]
            if status not in completed:
                if status in skipped:
                    continue
                raise StatementError(number, f"{spec.status}: unknown status {status[:40]!r}")
            try:
                receipt = row[receipt_at]
                if not receipt:
                    raise RowError(f"{spec.receipt} is empty")
                paid_in, withdrawn = minor(row[in_at], spec.paid_in), abs(minor(row[out_at], spec.withdrawn))
                if bool(paid_in) == bool(withdrawn):
                    raise RowError(f"exactly one of {spec.paid_in!r} and {spec.withdrawn!r} must be non-zero")
                moved = amounts.checked(paid_in - withdrawn)
                occurred_at = (
                    moment(row[time_at], spec.completed_at, zone)
                    if pattern is None
                    else formatted_moment(row[time_at], spec.completed_at, pattern, zone)
                )
            except RowError as error:
                raise StatementError(number, str(error)) from None
            details = row[details_at]
            kind = StatementLineType.CHARGE if paid_in else StatementLineType.PAYOUT
            for keyword, keyword_kind in keywords:
                if keyword in details:
                    kind = keyword_kind
                    break
            reference = (row[reference_at] or None) if reference_at is not None else None
            yield StagedLine(number, kind.value, receipt, reference, moved, 0, moved, currency, occurred_at)
