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

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from types import TracebackType
from typing import IO, Any

import attrs

from adapters.statements.generic import COLUMNS as GENERIC_COLUMNS
from adapters.statements.generic import PAYOUT_ID as GENERIC_PAYOUT_ID
from adapters.statements.mercadopago import COLUMNS as MERCADOPAGO_COLUMNS
from adapters.statements.mpesa import MpesaColumns
from payments_core.money import CURRENCY_EXPONENTS, MAX_MINOR
from payments_core.ports import StatementLineType

T = StatementLineType


@attrs.frozen
class PlannedLine:
    """A movement to write: signed minor units as the balance sees them; fee is what the provider kept."""

    type: StatementLineType
    external_id: str
    reference: str | None
    gross: int
    fee: int
    currency: str
    occurred_at: datetime
    payout_id: str | None = None  # the payout line that settles this one

    @property
    def net(self) -> int:
        return self.gross - self.fee


_NEEDS_QUOTES = re.compile('[",\r\n\x00]').search
_OUT_OF_RANGE = "an amount of {} minor units is beyond Money's range"
_NOT_INT = "gross and fee are integer minor units (never a float)"


def _field(text: str, column: str) -> str:
    """The text as one CSV field: quoted only when it must be; a NUL is refused."""
    if _NEEDS_QUOTES(text) is None:
        return text
    if "\x00" in text:
        raise ValueError(f"{column}: a NUL character cannot be written (no parser reads it)")
    return '"' + text.replace('"', '""') + '"'


def _ids(line: PlannedLine) -> tuple[str, str]:
    """The line's external id and reference as fields, in one scan when both are plain."""
    external_id, reference = line.external_id, line.reference or ""
    if not external_id:
        raise ValueError("external_id is empty: every format needs the provider's id of the movement")
    if _NEEDS_QUOTES(external_id + reference) is None:
        return external_id, reference
    return _field(external_id, "external_id"), _field(reference, "reference")


def _payout_id(line: PlannedLine, carried: bool) -> str:
    """The line's payout id as a field (empty: none); refused where the format has no column for it."""
    payout_id = line.payout_id
    if not payout_id:
        return ""
    if not carried:
        raise ValueError("payout_id: this format has no column for the payout that settled a line")
    return _field(payout_id, "payout_id")


def _amounts(line: PlannedLine) -> tuple[int, int]:
    gross, fee = line.gross, line.fee
    if type(gross) is not int or type(fee) is not int:
        raise ValueError(_NOT_INT)
    return gross, fee


def _in_range(*amounts: int) -> None:
    for minor in amounts:
        if not -MAX_MINOR <= minor <= MAX_MINOR:
            raise ValueError(_OUT_OF_RANGE.format(minor))


class _Currency:
    """A currency's exact major-unit text: integer arithmetic on its exponent, decimals from a table."""

    def __init__(self, code: str) -> None:
        exponent = CURRENCY_EXPONENTS.get(code)
        if exponent is None:
            raise ValueError(f"currency: {code[:12]!r} is not an ISO 4217 code we know (upper case)")
        self.code, self.lower, self._scale = code, code.lower(), int(10**exponent)
        self._fractions = tuple(f".{n:0{exponent}d}" for n in range(self._scale)) if exponent else ("",)
        self.zero = self.grouped(0, "")

    def major(self, minor: int) -> str:
        """A line's amount, range-checked like `Money` so that the parser reads it back."""
        _in_range(minor)
        magnitude, scale = abs(minor), self._scale
        return f"{'-' if minor < 0 else ''}{magnitude // scale}{self._fractions[magnitude % scale]}"

    def columns(self, gross: int, fee: int) -> str:
        """`gross,fee,net`, each as `major` writes it; inlined, as it is most of a row's work."""
        if type(gross) is not int or type(fee) is not int:
            raise ValueError(_NOT_INT)
        net = gross - fee
        g, f, n = abs(gross), abs(fee), abs(net)
        if g > MAX_MINOR or f > MAX_MINOR or n > MAX_MINOR:
            raise ValueError(_OUT_OF_RANGE.format(f"{gross}, {fee} or {net}"))
        scale, fractions = self._scale, self._fractions
        return (
            f"{'-' if gross < 0 else ''}{g // scale}{fractions[g % scale]},"
            f"{'-' if fee < 0 else ''}{f // scale}{fractions[f % scale]},"
            f"{'-' if net < 0 else ''}{n // scale}{fractions[n % scale]}"
        )  # fmt: skip

    def grouped(self, minor: int, separator: str) -> str:
        """Any amount (a total, a balance), unchecked; thousands grouped with `separator` if any."""
        scale, magnitude = self._scale, abs(minor)
        units = f"{magnitude // scale:,}".replace(",", separator) if separator else str(magnitude // scale)
        return ("-" if minor < 0 else "") + units + self._fractions[magnitude % scale]


class _Currencies(dict[str, _Currency]):
    def __missing__(self, code: str) -> _Currency:
        currency = self[code] = _Currency(code)
        return currency


_MINUTES_SECONDS = tuple(f"{minute:02d}:{second:02d}" for minute in range(60) for second in range(60))
_MILLISECONDS = tuple(f".{n:03d}" for n in range(1000))


class _Clock:
    """A format's time text. The date, hour and offset part, the slow one, is built once an hour.

    `zone`: convert to it (None: keep the time's own); `suffix`: "offset", "Z" or "" (naive);
    `fraction`: "none" (whole seconds only), "milliseconds" (always, or six digits when three do not
    suffice) or "microseconds" (as `isoformat`).
    """

    def __init__(self, column: str, zone: tzinfo | None, separator: str, suffix: str, fraction: str) -> None:
        self._column, self._zone, self._separator, self._suffix = column, zone, separator, suffix
        self._fraction, self._zero_fraction = fraction, ".000" if fraction == "milliseconds" else ""
        self._hours: dict[tuple[Any, ...], tuple[str, str]] = {}

    def text(self, moment: datetime) -> str:
        zone = moment.tzinfo
        if type(zone) is not timezone and (zone is None or moment.utcoffset() is None):
            raise ValueError(f"{self._column}: the time has no UTC offset (occurred_at must be aware)")
        if self._zone is not None and zone is not self._zone:
            moment, zone = moment.astimezone(self._zone), self._zone
        # A fixed offset is the zone itself; another zone's offset changes (twice a year, say).
        key = (moment.date(), moment.hour, zone, None if type(zone) is timezone else moment.utcoffset())
        hour = self._hours.get(key) or self._hour(moment, key)
        microsecond = moment.microsecond
        if not microsecond:
            fraction = self._zero_fraction
        elif self._fraction == "none":
            raise ValueError(f"{self._column} is in whole seconds: truncate the time's fraction first")
        elif self._fraction == "milliseconds" and not microsecond % 1000:
            fraction = _MILLISECONDS[microsecond // 1000]
        else:
            fraction = f".{microsecond:06d}"
        return hour[0] + _MINUTES_SECONDS[moment.minute * 60 + moment.second] + fraction + hour[1]

    def _hour(self, moment: datetime, key: tuple[Any, ...]) -> tuple[str, str]:
        text = moment.isoformat(self._separator, "seconds")
        hour = (text[:14], text[19:] if self._suffix == "offset" else self._suffix)
        if len(self._hours) < 1 << 16:
            self._hours[key] = hour
        return hour


def _pattern_clock(pattern: str, zone: tzinfo, column: str) -> Callable[[datetime], str]:
    """Times in an export's own `strftime` pattern, naive in `zone`."""

    def formatted(moment: datetime) -> str:
        if moment.utcoffset() is None:
            raise ValueError(f"{column}: the time has no UTC offset (occurred_at must be aware)")
        if moment.microsecond and "%f" not in pattern:
            raise ValueError(f"{column} is in whole seconds: truncate the time's fraction first")
        return moment.astimezone(zone).strftime(pattern)

    return formatted


class _Closed(list[str]):
    """The rows of a closed writer: a line written after `close()` is a mistake, not a silent loss."""

    def append(self, row: str) -> None:
        raise ValueError("the statement writer is closed")


class StatementWriter:
    """One statement being written: the header at once, a row per `write`, any trailer at `close()`."""

    header: tuple[str, ...] = ()
    _batch = 1024

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._rows: list[str] = [",".join(_field(name, "header") for name in self.header) + "\n"]
        self._position = 0
        self._closed = False

    def write(self, line: PlannedLine) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Hand the buffered rows to the stream (which may buffer them further)."""
        self._stream.write("".join(self._rows))
        self._rows.clear()

    def close(self) -> None:
        """Write the trailer, once, and flush; the stream stays open (it is the caller's)."""
        if not self._closed:
            self._closed = True
            self._trailer()
            self.flush()
            self._rows = _Closed()

    def _trailer(self) -> None:
        """Rows the format carries after the last line; none by default."""

    def _emit(self, row: str) -> None:
        rows = self._rows
        rows.append(row)
        if len(rows) >= self._batch:
            self.flush()

    def __enter__(self) -> StatementWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, _: BaseException | None, __: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()


class GenericWriter(StatementWriter):
    def __init__(self, stream: IO[str], *, provider: str = "generic", payout_ids: bool = False) -> None:
        if not provider:
            raise ValueError("provider: the generic format needs a provider name")
        self.header = (*GENERIC_COLUMNS, GENERIC_PAYOUT_ID) if payout_ids else GENERIC_COLUMNS
        self._payout_ids = payout_ids
        super().__init__(stream)
        self._provider = _field(provider, "provider")
        self._clock = _Clock("occurred_at", None, "T", "offset", "microseconds").text
        self._currencies = _Currencies()

    def write(self, line: PlannedLine) -> None:
        external_id, reference = _ids(line)
        payout_id = f",{_payout_id(line, True)}" if self._payout_ids else _payout_id(line, False)
        currency = self._currencies[line.currency]
        rows = self._rows
        rows.append(
            f"{self._provider},{external_id},{line.type.value},{currency.columns(line.gross, line.fee)},"
            f"{currency.code},{self._clock(line.occurred_at)},{reference}{payout_id}\n"
        )
        if len(rows) >= self._batch:
            self.flush()


_STRIPE_ROWS = {  # each type: (reporting_category when gross < 0, when gross >= 0, description)
    T.CHARGE: ("charge", "charge", "Payment for order"),
    T.REFUND: ("refund", "refund", "REFUND FOR CHARGE"),
    T.PAYOUT: ("payout", "payout", "STRIPE PAYOUT"),
    T.FEE: ("fee", "fee", "Radar fee"),
    T.ADJUSTMENT: ("dispute", "dispute_reversal", "Chargeback"),
}
_FIRST_ID = 3_141_592_653_589_793  # object ids end in this plus the row's position: never repeated


class StripeWriter(StatementWriter):
    def __init__(
        self, stream: IO[str], *, reference_column: str | None = "payment_metadata[order_id]"
    ) -> None:
        self.header = (
            "balance_transaction_id", "created_utc", "available_on_utc", "currency", "gross", "fee", "net",
            "reporting_category", "source_id", "payment_intent_id", "charge_id", "automatic_payout_id",
            "description", *filter(None, [reference_column]),
        )  # fmt: skip
        super().__init__(stream)
        self._reference_separator = "," if reference_column is not None else ""
        self._clock = _Clock("created_utc", UTC, " ", "", "none").text
        self._currencies = _Currencies()
        self._days: dict[str, str] = {}

    def write(self, line: PlannedLine) -> None:
        external_id, reference = _ids(line)
        if reference and not self._reference_separator:
            raise ValueError("reference: this report has no reference column (reference_column is None)")
        currency = self._currencies[line.currency]
        amounts = currency.columns(line.gross, line.fee)
        created = self._clock(line.occurred_at)
        available_on = self._days.get(created[:10]) or self._day(created[:10])
        payout_id = _payout_id(line, True)
        kind = line.type
        negative, positive, description = _STRIPE_ROWS[kind]
        position = self._position = self._position + 1
        suffix = str(_FIRST_ID + position)
        rows = self._rows
        rows.append(
            f"txn_3P{suffix},{created},{available_on},{currency.lower},{amounts},"
            f"{negative if line.gross < 0 else positive},"
            + (
                f"ch_3P{suffix},{external_id},ch_3P{suffix},{payout_id}"
                if kind is T.CHARGE
                else f"{external_id},,,{payout_id}"
            )
            + f",{description}{self._reference_separator}{reference}\n"
        )
        if len(rows) >= self._batch:
            self.flush()

    def _day(self, day: str) -> str:
        """When a day's movements become available (two days on)."""
        available = datetime.fromisoformat(day) + timedelta(days=2)
        self._days[day] = entry = f"{available:%Y-%m-%d} 00:00:00"
        return entry


_MERCADOPAGO_DESCRIPTIONS = {  # each type: (DESCRIPTION when gross < 0, when gross >= 0)
    T.CHARGE: ("payment", "payment"),
    T.REFUND: ("refund", "refund"),
    T.PAYOUT: ("payout", "payout"),
    T.FEE: ("fee", "fee"),
    T.ADJUSTMENT: ("chargeback", "dispute"),
}
_CARD_METHODS = ("visa", "master", "debvisa", "account_money")


class MercadoPagoWriter(StatementWriter):
    header = MERCADOPAGO_COLUMNS

    def __init__(
        self, stream: IO[str], *, currency: str, zone: tzinfo | None = None, opening_balance: int = 0
    ) -> None:
        self._money = _Currency(currency)
        super().__init__(stream)
        self._clock = _Clock("DATE", zone, "T", "offset", "milliseconds").text
        self._opening = self._balance = opening_balance
        self._credit = self._debit = self._gross = self._fees = 0
        self._last_date: str | None = None

    def write(self, line: PlannedLine) -> None:
        money = self._money
        if line.currency != money.code:
            raise ValueError(
                f"currency: a release report has one currency, {money.code}, not {line.currency[:12]!r}"
            )
        external_id, reference = _ids(line)
        _payout_id(line, False)
        gross, fee = _amounts(line)
        net, major, zero = gross - fee, money.major, money.zero
        amounts = f"{major(max(net, 0))},{major(max(-net, 0))},{major(gross)},{major(-fee)}"
        date = self._clock(line.occurred_at)
        if self._last_date is None:
            self._emit(self._opening_row(date))
        description = _MERCADOPAGO_DESCRIPTIONS[line.type][gross >= 0]
        position = self._position = self._position + 1
        sold = description in ("payment", "refund")
        sale = f"1,{_CARD_METHODS[position % 4]},{9_800_000_000 + position}" if sold else ",,"
        self._balance += net
        self._emit(
            f"{date},{external_id},{reference},release,{description},{amounts},{zero},{zero},{zero},{zero},"
            f"{money.grouped(self._balance, '')},{sale}\n"
        )
        self._last_date = date
        self._credit, self._debit = self._credit + max(net, 0), self._debit + max(-net, 0)
        self._gross, self._fees = self._gross + gross, self._fees - fee

    def _opening_row(self, date: str) -> str:
        zero, balance = self._money.zero, self._money.grouped(self._opening, "")
        return f"{date},,,initial_available_balance,,{(zero + ',') * 8}{balance},,,\n"

    def _trailer(self) -> None:
        """The report's own summary rows (undated when it has no line): the totals, then the balance."""
        date, zero, grouped = self._last_date, self._money.zero, self._money.grouped
        totals = ",".join(
            grouped(total, "") for total in (self._credit, self._debit, self._gross, self._fees)
        )
        if date is None:
            date = ""
            self._emit(self._opening_row(date))
        self._emit(
            f"{date},,,total,,{totals},{(zero + ',') * 4},,,\n"
            f"{date},,,available_balance,,,,,,,,,,{grouped(self._balance, '')},,,\n"
        )


_MPESA_ROWS = {  # (type, money in): (Details, Reason Type)
    (T.CHARGE, True): ("Pay Bill Online", "Pay Bill Online"),
    (T.PAYOUT, False): ("Business Payment to Customer via API", "Business Payment to Customer via API"),
    (T.REFUND, False): ("Reversal of Pay Bill Online", "Reversal"),
    (T.REFUND, True): ("Reversal of Business Payment to Customer via API", "Reversal"),
    (T.FEE, False): ("Business Payment Charge", "Business Payment Charge"),
    (T.FEE, True): ("Business Payment Charge", "Business Payment Charge"),
}
_PARTIES = ("JANE DOE", "JOHN MWANGI", "AMINA ALI", "PETER OTIENO", "GRACE WANJIKU", "DAVID KIPROTICH")


class MpesaWriter(StatementWriter):
    def __init__(
        self,
        stream: IO[str],
        *,
        columns: MpesaColumns | None = None,
        fee_rows: bool = True,
        opening_balance: int = 0,
        currency: str | None = None,
    ) -> None:
        spec = columns or MpesaColumns()
        self.header = (
            spec.receipt, spec.completed_at, "Initiation Time", spec.details, spec.status, spec.paid_in,
            spec.withdrawn, "Balance", "Balance Confirmed", "Reason Type", "Other Party Info",
            "Linked Transaction ID", spec.reference or "A/C No.",
        )  # fmt: skip
        if len(set(self.header)) != len(self.header):
            raise ValueError("columns: the mapping names a column twice, or one the export already has")
        separator = spec.thousands_separator
        if len(separator) > 1 or (separator and (separator in ".-+" or separator.isdigit())):
            raise ValueError(f"columns: thousands cannot be grouped with {separator[:4]!r}")
        if not spec.completed_statuses:
            raise ValueError("columns: the mapping names no completed status")
        for (kind, money_in), (details, _) in _MPESA_ROWS.items():
            read = next((k for word, k in spec.type_keywords if word in details), None)
            if (read or (T.CHARGE if money_in else T.PAYOUT)) is not kind:
                raise ValueError(f"columns: the mapping's type_keywords do not read {details!r} as {kind}")
        if currency is not None and currency != spec.currency:
            raise ValueError(
                f"currency: an M-Pesa statement is in {spec.currency} (its mapping's), not {currency[:12]!r}"
            )
        self._money = _Currency(spec.currency)
        super().__init__(stream)
        self._separator, self._fee_rows, self._balance = separator, fee_rows, opening_balance
        self._status = "Completed" if "Completed" in spec.completed_statuses else min(spec.completed_statuses)
        self._time: Callable[[datetime], str] = (
            _Clock(spec.completed_at, spec.zone, " ", "", "none").text
            if spec.time_format is None
            else _pattern_clock(spec.time_format, spec.zone, spec.completed_at)
        )

    def write(self, line: PlannedLine) -> None:
        if line.currency != self._money.code:
            raise ValueError(
                f"currency: an M-Pesa statement is in {self._money.code} only, not {line.currency[:12]!r}"
            )
        gross, fee = _amounts(line)
        details = _MPESA_ROWS.get((line.type, gross > 0))
        if details is None or not gross:
            raise ValueError(
                f"{line.type} of {gross}: an M-Pesa row is money in or out, read as a charge (in), a payout "
                "(out), a refund (a reversal) or a fee (a charge); an adjustment or a zero amount has no row"
            )
        if fee and not self._fee_rows:
            raise ValueError("fee: an M-Pesa row carries no fee (M-Pesa charges it as a row of its own)")
        receipt, reference = _ids(line)
        _payout_id(line, False)
        _in_range(gross, fee)
        position = self._position = self._position + 1
        party = f"2547{position * 7919 % 10**8:08d} - {_PARTIES[position % len(_PARTIES)]}"
        completed = self._time(line.occurred_at)
        initiated = self._time(line.occurred_at - timedelta(seconds=1 + position % 4))
        row = self._row(receipt, completed, initiated, details, gross, party, "", reference)
        if fee:
            charge_receipt = _field(line.external_id + "C", "external_id")
            charge = _MPESA_ROWS[T.FEE, fee < 0]
            row += self._row(charge_receipt, completed, completed, charge, -fee, "", receipt, "")
        self._emit(row)

    def _row(
        self, receipt: str, completed: str, initiated: str, details: tuple[str, str], moved: int,
        party: str, linked: str, reference: str,
    ) -> str:  # fmt: skip
        amount = _field(self._money.grouped(moved, self._separator), "amount")
        paid_in, withdrawn = (amount, "") if moved > 0 else ("", amount)
        self._balance += moved
        balance = _field(self._money.grouped(self._balance, self._separator), "Balance")
        return (
            f"{receipt},{completed},{initiated},{details[0]},{self._status},{paid_in},{withdrawn},{balance},"
            f"true,{details[1]},{party},{linked},{reference}\n"
        )


_PAYSTACK_ROWS = {  # each type: (type column, sign the parser gives the magnitude: 0 keeps the written sign)
    T.CHARGE: ("charge", 1),
    T.REFUND: ("refund", -1),
    T.PAYOUT: ("settlement", -1),
    T.FEE: ("fee", -1),
    T.ADJUSTMENT: ("adjustment", 0),
}
_CHANNELS = ("card", "bank_transfer", "ussd", "card", "mobile_money")


class PaystackWriter(StatementWriter):
    header = ("id", "reference", "type", "status", "amount", "fees", "currency", "channel", "customer_email",
              "paid_at", "settlement")  # fmt: skip

    def __init__(self, stream: IO[str], *, minor_units: bool = False) -> None:
        super().__init__(stream)
        self._minor_units = minor_units
        self._clock = _Clock("paid_at", UTC, "T", "Z", "milliseconds").text
        self._currencies = _Currencies()

    def write(self, line: PlannedLine) -> None:
        external_id, reference = _ids(line)
        _payout_id(line, False)
        gross, fee = _amounts(line)
        kind, sign = _PAYSTACK_ROWS[line.type]
        if sign * gross < 0:
            raise ValueError(
                f"gross: Paystack writes magnitudes signed by the type, so a {line.type} is "
                f"{'>= 0' if sign > 0 else '<= 0'}, not {gross}"
            )
        currency = self._currencies[line.currency]
        written = abs(gross) if sign else gross
        amount, fees = currency.major(written), currency.major(fee)
        if self._minor_units:
            amount, fees = str(written), str(fee)
        position = self._position = self._position + 1
        if line.type is T.CHARGE or line.type is T.REFUND:
            channel, email = _CHANNELS[position % 5], f"customer{position * 7919 % 100_000}@example.com"
        else:
            channel = email = ""
        self._emit(
            f"{external_id},{reference},{kind},success,{amount},{fees},{currency.code},{channel},{email},"
            f"{self._clock(line.occurred_at)},{external_id if line.type is T.PAYOUT else ''}\n"
        )


WRITERS: dict[str, type[StatementWriter]] = {
    "stripe": StripeWriter,
    "mercadopago": MercadoPagoWriter,
    "mpesa": MpesaWriter,
    "paystack": PaystackWriter,
    "generic": GenericWriter,
}


def open_writer(format: str, stream: IO[str], /, **options: Any) -> StatementWriter:
    """A writer of `format` onto `stream` (text, opened with newline=""); `options` go to the writer.

    Options: stripe `reference_column`; mercadopago `currency` (required), `zone`, `opening_balance`;
    mpesa `columns`, `fee_rows`, `opening_balance`, `currency`; paystack `minor_units`; generic `provider`,
    `payout_ids`.
    """
    writer = WRITERS.get(format)
    if writer is None:
        raise ValueError(f"no statement writer for {format[:40]!r}: the formats are {', '.join(WRITERS)}")
    try:
        return writer(stream, **options)
    except TypeError as error:
        raise ValueError(f"bad options for the {format} writer: {error}") from None
