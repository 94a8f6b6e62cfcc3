"""Stripe's itemized payout reconciliation report (CSV, amounts in MAJOR units with decimals).

Invariants
- Columns are found by name (Stripe lets the report's columns be chosen and ordered); the ones read
  are `balance_transaction_id`, `created_utc`, `currency`, `gross`, `fee`, `net`, `reporting_category`,
  and when present `source_id`, `payment_intent_id`, `charge_id`, `automatic_payout_id`. Others are
  ignored.
- `gross - fee == net` on every row, signed as the balance sees it (a refund or payout is negative).
- `created_utc` is UTC; currencies come lower-case (`usd`) and are normalised to ISO upper case.
- `reporting_category` maps charge, refund, payout and fee to themselves, network costs and tax on
  fees to fee, and every other category Stripe documents to adjustment; an unknown one is an error.
- `external_id` is the provider's id of the object the row is about (the PaymentIntent for a charge,
  else `source_id`), falling back to the balance transaction; `reference` is the merchant's reference,
  read from a metadata column (`payment_metadata[order_id]`) when one is named and present;
  `payout_id` is `automatic_payout_id` (the automatic payout that paid the row out), empty: None.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from functools import partial

from adapters.statements.errors import StatementError
from adapters.statements.plain import data_chunks, data_halves, plain_header, plain_path
from adapters.statements.reading import (
    Amounts,
    Moments,
    RowError,
    Source,
    Table,
    balanced,
    currency_of,
    statement_line,
    text_lines,
)
from payments_core.model.reconciliation import StagedLine
from payments_core.ports import StatementLine, StatementLineType
from payments_core.ports.statements import PlainCsv

PROVIDER = "stripe"

_ADJUSTMENT_CATEGORIES = (
    "adjustment", "advance", "advance_funding", "anticipation_repayment", "charge_failure",
    "climate_order_purchase", "climate_order_refund", "connect_collection_transfer",
    "connect_reserved_funds", "contribution", "dispute", "dispute_reversal", "financing_paydown",
    "financing_paydown_reversal", "issuing_authorization_hold", "issuing_authorization_release",
    "issuing_dispute", "issuing_transaction", "obligation", "other_adjustment",
    "partial_capture_reversal", "payout_reversal", "platform_earning", "platform_earning_refund",
    "refund_failure", "risk_reserved_funds", "topup", "topup_reversal", "transfer", "transfer_reversal",
    "unreconciled_customer_funds",
)  # fmt: skip

CATEGORY_TYPES: dict[str, StatementLineType] = {
    "charge": StatementLineType.CHARGE,
    "refund": StatementLineType.REFUND,
    "payout": StatementLineType.PAYOUT,
    "fee": StatementLineType.FEE,
    "network_cost": StatementLineType.FEE,
    "tax": StatementLineType.FEE,
    **dict.fromkeys(_ADJUSTMENT_CATEGORIES, StatementLineType.ADJUSTMENT),
}

REQUIRED = ("balance_transaction_id", "created_utc", "currency", "gross", "fee", "net", "reporting_category")
OPTIONAL = ("source_id", "payment_intent_id", "charge_id", "automatic_payout_id")


class StripeStatement:
    """A `StatementSource` over one itemized payout reconciliation report; re-readable from a path."""

    def __init__(
        self, source: Source, *, reference_column: str | None = "payment_metadata[order_id]"
    ) -> None:
        self._source = source
        self._reference_column = reference_column

    def lines(self) -> Iterator[StatementLine]:
        return (statement_line(PROVIDER, line) for line in self.staged())

    def staged(self) -> Iterator[StagedLine]:
        with text_lines(self._source) as text:
            table = Table(text, REQUIRED, (*OPTIONAL, *filter(None, [self._reference_column])))
            yield from self._parse(table)

    def plain_csv(self) -> PlainCsv | None:
        """This report for a store that converts it itself; `_parse` is the reference it must equal."""
        path = plain_path(self._source)
        optional = (*OPTIONAL, *filter(None, [self._reference_column]))
        table = plain_header(path, REQUIRED, optional) if path is not None else None
        if path is None or table is None:
            return None
        index = table.index
        source, intent, charge, payout = (table.optional(name) for name in OPTIONAL)
        return PlainCsv(
            width=table.width,
            chunks=partial(data_chunks, path),
            type_column=index["reporting_category"],
            types=_type_of,
            currency_column=index["currency"],
            currencies=_currency_or_none,
            gross_column=index["gross"],
            fee_column=index["fee"],
            net_column=index["net"],
            time_column=index["created_utc"],
            external_id_columns=(*_present(source), index["balance_transaction_id"]),
            charge_external_id_columns=(
                *_present(intent, charge, source),
                index["balance_transaction_id"],
            ),
            reference_column=table.optional(self._reference_column),
            payout_id_column=payout,
            halves=partial(data_halves, path),
        )

    def _parse(self, table: Table) -> Iterator[StagedLine]:
        index = table.index
        txn, created, cur = index["balance_transaction_id"], index["created_utc"], index["currency"]
        gross_at, fee_at, net_at, category_at = (
            index["gross"],
            index["fee"],
            index["net"],
            index["reporting_category"],
        )
        source_at, intent_at, charge_at, payout_at = (table.optional(name) for name in OPTIONAL)
        reference_at = table.optional(self._reference_column)
        charge = StatementLineType.CHARGE.value
        types = {category: kind.value for category, kind in CATEGORY_TYPES.items()}
        currencies: dict[str, tuple[str, int]] = {}
        amount = Amounts().minor
        when = Moments(UTC)
        for number, row in table.rows():
            try:
                kind = types.get(row[category_at])
                if kind is None:
                    raise RowError(f"reporting_category: unknown category {row[category_at][:40]!r}")
                code = row[cur]
                known = currencies.get(code)
                if known is None:
                    known = currencies[code] = currency_of(code)
                currency, exponent = known
                gross = amount(row[gross_at], "gross", currency, exponent)
                fee = amount(row[fee_at], "fee", currency, exponent)
                net = amount(row[net_at], "net", currency, exponent)
                if gross - fee != net:
                    balanced(gross, fee, net, currency)
                occurred_at = when(row[created], "created_utc")
            except RowError as error:
                raise StatementError(number, str(error)) from None
            source_id = row[source_at] if source_at is not None else ""
            if kind == charge:
                intent = row[intent_at] if intent_at is not None else ""
                external_id = intent or (row[charge_at] if charge_at is not None else "") or source_id
            else:
                external_id = source_id
            if not (external_id or row[txn]):
                raise StatementError(number, "the row names no balance transaction and no source")
            yield StagedLine(
                number,
                kind,
                external_id or row[txn],
                (row[reference_at] or None) if reference_at is not None else None,
                gross,
                fee,
                net,
                currency,
                occurred_at,
                (row[payout_at] or None) if payout_at is not None else None,
            )


def _type_of(category: str) -> str | None:
    kind = CATEGORY_TYPES.get(category)
    return kind.value if kind is not None else None


def _currency_or_none(text: str) -> tuple[str, int] | None:
    try:
        return currency_of(text)
    except RowError:
        return None


def _present(*columns: int | None) -> tuple[int, ...]:
    return tuple(column for column in columns if column is not None)
