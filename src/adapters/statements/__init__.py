"""Provider statement parsers: each streams a provider's own settlement file as `StatementLine`s.

Invariants
- Streaming: a file is read row by row and never held whole; memory stays flat however long it is.
- Exact: amounts are decimal text converted to integer minor units without a float; more decimals
  than the currency has is an error, never a rounding.
- Nothing is silently dropped: a malformed row (wrong column count, bad amount, too many decimals,
  unknown currency, bad time, unknown type or status, bytes that are not UTF-8, a truncated last
  line, a missing or wrong header) raises `StatementError` with the 1-based line number where the
  row starts (the header is line 1). Rows a format defines as carrying no movement (a summary row, a
  failed transaction) are passed over by design, and each parser's docstring lists them.
- Normalised: types are charge, refund, payout, fee or adjustment; times are timezone-aware;
  `gross - fee == net`, signed as the provider's balance sees it (money in positive, out negative);
  `external_id` is the provider's id of the movement, `reference` the merchant's own, when known;
  `payout_id` the provider's payout that settled the line, only where the export names it (Stripe's
  `automatic_payout_id`, the generic format's `payout_id`; the MercadoPago, M-Pesa and Paystack
  exports as documented carry no such column: None).
- `StatementLine.line_number` is the same physical line number an error would name.

Parsers (each a `StatementSource`; `open_statement(provider, path, **options)` picks one):
stripe (itemized payout reconciliation report), mercadopago (release report), mpesa (organisation
statement, with an `MpesaColumns` mapping), paystack (transaction / settlement export), generic.

The generic format, for any provider without a parser of its own: UTF-8 CSV (RFC 4180 quoting), every
line terminated, and this exact header line:

    provider,external_id,type,gross,fee,net,currency,occurred_at,reference

- provider: the provider's name (`stripe`, `mpesa`, ...), non-empty.
- external_id: the provider's id of the movement (payment, refund, payout), non-empty.
- type: `charge`, `refund`, `payout`, `fee` or `adjustment`.
- gross, fee, net: signed decimal MAJOR units (`-1234.50`), at most the currency's decimals, with
  gross - fee == net. A charge is positive, a refund or payout negative; fee is what the provider kept.
- currency: ISO 4217 code (`KES`, `usd` is read as `USD`).
- occurred_at: ISO 8601 with a UTC offset (`2026-01-15T10:23:45+03:00`, `...Z`).
- reference: the merchant's reference, or empty.
- payout_id (optional column): the external id of the payout line that settled this line, or empty.
  A payout line that other lines name so is checked against them (the sum of their nets), not
  against our withdrawals.

Example:

    provider,external_id,type,gross,fee,net,currency,occurred_at,reference
    mpesa,QKL1X2Y3Z4,charge,1000.00,15.00,985.00,KES,2026-01-15T10:23:45+03:00,order-1001
"""

from adapters.statements.errors import StatementError
from adapters.statements.factory import PARSERS, open_statement
from adapters.statements.generic import GenericStatement
from adapters.statements.mercadopago import MercadoPagoStatement
from adapters.statements.mpesa import MpesaColumns, MpesaStatement
from adapters.statements.paystack import PaystackStatement
from adapters.statements.stripe import StripeStatement

__all__ = [
    "PARSERS",
    "GenericStatement",
    "MercadoPagoStatement",
    "MpesaColumns",
    "MpesaStatement",
    "PaystackStatement",
    "StatementError",
    "StripeStatement",
    "open_statement",
]
