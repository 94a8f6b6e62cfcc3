"""MercadoPago's release report (CSV, amounts in MAJOR units with decimals, one account currency).

Invariants
- The report names no currency: it is the account's (BRL for MLB, COP for MCO, ...), given by the
  caller; an amount with more decimals than that currency has is an error.
- Columns are found by name; the seventeen of PROVIDERS.md must all be there, extra ones are ignored.
- Only `release` rows are movements. `initial_available_balance`, `total` and `available_balance`
  are the report's own summary rows and carry no transaction: they are passed over by design. Any
  other `RECORD_TYPE` is an error.
- net = `NET_CREDIT_AMOUNT - NET_DEBIT_AMOUNT`; fee = gross - net, and it must equal the five fee
  columns (MP_FEE, FINANCING_FEE, SHIPPING_FEE, TAXES, COUPON) summed, whichever sign convention
  the export uses for them. An empty credit, debit or fee cell is zero; an empty gross is an error.
- `DATE` is ISO 8601 with its UTC offset; a time without one is refused.
- `external_id` is `SOURCE_ID` (MercadoPago's payment id); `reference` is `EXTERNAL_REFERENCE`.
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
from payments_core.errors import ValidationError
from payments_core.model.reconciliation import StagedLine
from payments_core.ports import StatementLine, StatementLineType

PROVIDER = "mercadopago"

COLUMNS = (
    "DATE", "SOURCE_ID", "EXTERNAL_REFERENCE", "RECORD_TYPE", "DESCRIPTION", "NET_CREDIT_AMOUNT",
    "NET_DEBIT_AMOUNT", "GROSS_AMOUNT", "MP_FEE_AMOUNT", "FINANCING_FEE_AMOUNT", "SHIPPING_FEE_AMOUNT",
    "TAXES_AMOUNT", "COUPON_AMOUNT", "BALANCE_AMOUNT", "INSTALLMENTS", "PAYMENT_METHOD", "ORDER_ID",
)  # fmt: skip
FEE_COLUMNS = (
    "MP_FEE_AMOUNT",
    "FINANCING_FEE_AMOUNT",
    "SHIPPING_FEE_AMOUNT",
    "TAXES_AMOUNT",
    "COUPON_AMOUNT",
)

SUMMARY_RECORDS = frozenset({"initial_available_balance", "total", "available_balance"})
RELEASE = "release"

DESCRIPTION_TYPES: dict[str, StatementLineType] = {
    "payment": StatementLineType.CHARGE,
    "refund": StatementLineType.REFUND,
    "payout": StatementLineType.PAYOUT,
    "withdrawal": StatementLineType.PAYOUT,
    "fee": StatementLineType.FEE,
    "shipping": StatementLineType.FEE,
    "chargeback": StatementLineType.ADJUSTMENT,
    "mediation": StatementLineType.ADJUSTMENT,
    "dispute": StatementLineType.ADJUSTMENT,
    "reserve": StatementLineType.ADJUSTMENT,
    "reserve_for_dispute": StatementLineType.ADJUSTMENT,
    "reserve_for_refund": StatementLineType.ADJUSTMENT,
    "reserve_for_payout": StatementLineType.ADJUSTMENT,
    "reserve_for_bpp_shipping_return": StatementLineType.ADJUSTMENT,
    "cancellation": StatementLineType.ADJUSTMENT,
    "adjustment": StatementLineType.ADJUSTMENT,
}


class MercadoPagoStatement:
    """A `StatementSource` over one release report in the account's `currency`."""

    def __init__(self, source: Source, *, currency: str) -> None:
        try:
            self._currency, self._exponent = currency_of(currency)
        except RowError as error:
            raise ValidationError(f"MercadoPago statement currency: {error}") from None
        self._source = source

    def lines(self) -> Iterator[StatementLine]:
        return (statement_line(PROVIDER, line) for line in self.staged())

    def staged(self) -> Iterator[StagedLine]:
        with text_lines(self._source) as text:
            yield from self._parse(Table(text, COLUMNS))

    def _parse(self, table: Table) -> Iterator[StagedLine]:
        index = table.index
        date_at, source_at, reference_at = index["DATE"], index["SOURCE_ID"], index["EXTERNAL_REFERENCE"]
        record_at, description_at = index["RECORD_TYPE"], index["DESCRIPTION"]
        credit_at, debit_at, gross_at = (
            index["NET_CREDIT_AMOUNT"],
            index["NET_DEBIT_AMOUNT"],
            index["GROSS_AMOUNT"],
        )
        fee_columns = [(name, index[name]) for name in FEE_COLUMNS]
        currency, exponent = self._currency, self._exponent
        amounts = Amounts()
        amount = amounts.minor

        def optional_amount(text: str, column: str) -> int:
            return amount(text, column, currency, exponent) if text else 0

        for number, row in table.rows():
            record = row[record_at]
            if record != RELEASE:
                if record in SUMMARY_RECORDS:
                    continue
                raise StatementError(number, f"RECORD_TYPE: unknown record type {record[:40]!r}")
            try:
                kind = DESCRIPTION_TYPES.get(row[description_at])
                if kind is None:
                    raise RowError(f"DESCRIPTION: unknown movement {row[description_at][:40]!r}")
                if not row[source_at]:
                    raise RowError("SOURCE_ID is empty")
                gross = amount(row[gross_at], "GROSS_AMOUNT", currency, exponent)
                net = optional_amount(row[credit_at], "NET_CREDIT_AMOUNT") - optional_amount(
                    row[debit_at], "NET_DEBIT_AMOUNT"
                )
                fees = sum(optional_amount(row[at], name) for name, at in fee_columns)
                kept = gross - net
                if kept not in (fees, -fees):
                    raise RowError(f"gross {gross} minus net {net} is not the fees {fees} (minor units)")
                occurred_at = moment(row[date_at], "DATE", None)
                fee, net = amounts.checked(kept), amounts.checked(net)
            except RowError as error:
                raise StatementError(number, str(error)) from None
            yield StagedLine(
                number, kind.value, row[source_at], row[reference_at] or None, gross, fee, net, currency,
                occurred_at,
            )  # fmt: skip
