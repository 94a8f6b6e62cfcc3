"""Statement writers, the inverse of the parsers: planned lines in, the provider's own CSV file out.

Invariants
- Round trip: what a writer writes, the same format's parser (`open_statement(format, file, **options)`,
  options as below) reads back as the planned lines, in order, with the same type, ids, reference,
  payout id, gross, fee, net, currency and instant; the one exception is an M-Pesa fee, a row of its
  own (below).
- What a format cannot carry raises `ValueError` naming the field, before any of that line is written:
  nothing is rounded, truncated or dropped to make a line fit.
- One row per line, in order. The only other rows are the header and what the real format carries:
  MercadoPago's summary rows, M-Pesa's fee rows. An empty reference or payout id is written as none.
- Exact: minor units become major-unit text by integer arithmetic on the currency's exponent
  (`CURRENCY_EXPONENTS`), never through a float. Amounts must be `int` within `Money`'s range.
- A field is quoted (RFC 4180) when it holds a comma, a quote, CR or LF; a NUL is refused (no parser
  reads it). Lines end with "\\n": open a file in UTF-8 with `newline=""`.
- Deterministic: filler columns (balance transaction ids, descriptions, channels, running balances)
  come from the line and its position, never from a clock or a random source.
- Rows are buffered: the file is complete after `close()` (or a `with` block ending without an
  exception), which writes any trailer and flushes, and leaves the caller's stream open. A line
  written after `close()` raises `ValueError`.

Formats
- stripe (itemized payout reconciliation report): any type and currency. `created_utc` is UTC in whole
  seconds: a time with a fraction is refused (truncate it first). A charge's external id goes to
  `payment_intent_id` (a generated `ch_` charge fills `source_id` and `charge_id`), another type's to
  `source_id`; the reference to `payment_metadata[order_id]` (option `reference_column`, as the
  parser's; None writes no such column and refuses references); the payout id to
  `automatic_payout_id`. Adjustments are disputes.
- mercadopago (release report): option `currency` (required, as the parser's); another currency is
  refused, and so is a payout id (the report has no column for it; nor have M-Pesa's and Paystack's).
  `DATE` is ISO 8601 with milliseconds and the time's own offset (option `zone` converts).
  `SOURCE_ID` and `EXTERNAL_REFERENCE` carry the ids; the fee is `MP_FEE_AMOUNT`, signed as the balance
  sees it. An `initial_available_balance` row precedes the first release (the first line is on line
  3); `close()` adds `total` and `available_balance`. Option `opening_balance` (minor units).
- mpesa (organisation statement): the currency, columns, time pattern and zone of option `columns` (an
  `MpesaColumns`, as the parser's: KES, EAT). Times are naive local time in whole seconds. A row is
  money in or out: a charge is positive, a payout negative, a refund (a reversal) or fee (a charge) not
  zero; an adjustment or a zero amount is refused. M-Pesa keeps no fee on a row, so a non-zero fee
  becomes a `Business Payment Charge` row right after its line: receipt `<receipt>C`, the same time,
  `Linked Transaction ID` the line's receipt, no reference. It parses back as the line with fee 0, then
  a fee line of -fee. Option `fee_rows=False` refuses a fee instead. The reference goes to the
  mapping's reference column, else `A/C No.` (read it with `MpesaColumns(reference="A/C No.")`).
  Option `opening_balance` (minor units) starts the running `Balance`; option `currency`, if given,
  must be the mapping's.
- paystack (transaction export): any currency. Amounts are magnitudes signed by the type, so a charge
  is >= 0 and a refund, payout or fee <= 0 (an adjustment is written signed). `paid_at` is UTC, ISO
  8601 with milliseconds and `Z`. Option `minor_units` (as the parser's) writes subunits.
- generic: everything, as the package docstring documents; option `provider` (default "generic"),
  option `payout_ids` (default False) writes the optional `payout_id` column (without it, a payout
  id is refused).
"""

from adapters.statements.writers.base import PlannedLine, StatementWriter
from adapters.statements.writers.formats import (
    WRITERS,
    GenericWriter,
    MercadoPagoWriter,
    MpesaWriter,
    PaystackWriter,
    StripeWriter,
    open_writer,
)

__all__ = [
    "WRITERS",
    "GenericWriter",
    "MercadoPagoWriter",
    "MpesaWriter",
    "PaystackWriter",
    "PlannedLine",
    "StatementWriter",
    "StripeWriter",
    "open_writer",
]
