"""The generic statement CSV: our own normalised format, for providers without a parser of their own.

Invariants
- The header is exactly `provider,external_id,type,gross,fee,net,currency,occurred_at,reference`, in
  that order, optionally followed by `payout_id` (the package docstring documents the format).
- `type` is one of charge, refund, payout, fee, adjustment; `gross - fee == net`; amounts are signed
  major units of `currency`; `occurred_at` is ISO 8601 with its UTC offset; `reference` and
  `payout_id` may be empty (read as None).
- When the reader is told which provider the file is for, a row naming another is an error.
"""

from __future__ import annotations

from collections.abc import Iterator

from adapters.statements.errors import StatementError
from adapters.statements.reading import (
    Amounts,
    RowError,
    Source,
    Table,
    balanced,
    currency_of,
    moment,
    statement_line,
    text_lines,
)
from payments_core.model.reconciliation import StagedLine
from payments_core.ports import StatementLine, StatementLineType

PROVIDER = "generic"
COLUMNS = ("provider", "external_id", "type", "gross", "fee", "net", "currency", "occurred_at", "reference")
PAYOUT_ID = "payout_id"
HEADERS = (COLUMNS, (*COLUMNS, PAYOUT_ID))
TYPES = {kind.value: kind for kind in StatementLineType}


class GenericStatement:
    """A `StatementSource` over a generic statement, optionally bound to one provider."""

    def __init__(self, source: Source, *, provider: str | None = None) -> None:
        self._source = source
        self._provider = provider

    def lines(self) -> Iterator[StatementLine]:
        return (statement_line(provider, line) for provider, line in self._rows())

    def staged(self) -> Iterator[StagedLine]:
        return (line for _, line in self._rows())

    def _rows(self) -> Iterator[tuple[str, StagedLine]]:
        with text_lines(self._source) as text:
            table = Table(text, COLUMNS, (PAYOUT_ID,))
            if table.names not in HEADERS:
                raise StatementError(
                    1, f"the header must be exactly {','.join(COLUMNS)}, optionally followed by {PAYOUT_ID}"
                )
            yield from self._parse(table)

    def _parse(self, table: Table) -> Iterator[tuple[str, StagedLine]]:
        expected = self._provider
        amount = Amounts().minor
        with_payout_id = table.names[-1] == PAYOUT_ID  # the last column, when there is one
        for number, row in table.rows():
            payout_id = (row.pop() or None) if with_payout_id else None
            provider, external_id, kind_text, gross_text, fee_text, net_text, code, occurred, reference = row
            try:
                if not provider or (expected is not None and provider != expected):
                    raise RowError(f"provider: {provider[:40]!r} is not {expected or 'a provider name'!r}")
                if not external_id:
                    raise RowError("external_id is empty")
                kind = TYPES.get(kind_text)
                if kind is None:
                    raise RowError(f"type: {kind_text[:40]!r} is not one of {', '.join(TYPES)}")
                currency, exponent = currency_of(code)
                gross = amount(gross_text, "gross", currency, exponent)
                fee = amount(fee_text, "fee", currency, exponent)
                net = amount(net_text, "net", currency, exponent)
                balanced(gross, fee, net, currency)
                occurred_at = moment(occurred, "occurred_at", None)
            except RowError as error:
                raise StatementError(number, str(error)) from None
            line = StagedLine(
                number, kind.value, external_id, reference or None, gross, fee, net, currency, occurred_at,
                payout_id,
            )  # fmt: skip
            yield provider, line
