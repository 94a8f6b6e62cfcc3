"""The five formats' writers (`writers` describes each)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import IO, Any

from adapters.statements.generic import COLUMNS as GENERIC_COLUMNS
from adapters.statements.generic import PAYOUT_ID as GENERIC_PAYOUT_ID
from adapters.statements.mercadopago import COLUMNS as MERCADOPAGO_COLUMNS
from adapters.statements.mpesa import MpesaColumns
from adapters.statements.writers.base import (
    Clock,
    Currencies,
    Currency,
    PlannedLine,
    StatementWriter,
    T,
    field,
    gross_and_fee,
    in_range,
    line_ids,
    pattern_clock,
    written_payout_id,
)


class GenericWriter(StatementWriter):
    def __init__(self, stream: IO[str], *, provider: str = "generic", payout_ids: bool = False) -> None:
        if not provider:
            raise ValueError("provider: the generic format needs a provider name")
        self.header = (*GENERIC_COLUMNS, GENERIC_PAYOUT_ID) if payout_ids else GENERIC_COLUMNS
        self._payout_ids = payout_ids
        super().__init__(stream)
        self._provider = field(provider, "provider")
        self._clock = Clock("occurred_at", None, "T", "offset", "microseconds").text
        self._currencies = Currencies()

    def write(self, line: PlannedLine) -> None:
        external_id, reference = line_ids(line)
        payout_id = (
            f",{written_payout_id(line, True)}" if self._payout_ids else written_payout_id(line, False)
        )
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
        self._clock = Clock("created_utc", UTC, " ", "", "none").text
        self._currencies = Currencies()
        self._days: dict[str, str] = {}

    def write(self, line: PlannedLine) -> None:
        external_id, reference = line_ids(line)
        if reference and not self._reference_separator:
            raise ValueError("reference: this report has no reference column (reference_column is None)")
        currency = self._currencies[line.currency]
        amounts = currency.columns(line.gross, line.fee)
        created = self._clock(line.occurred_at)
        available_on = self._days.get(created[:10]) or self._day(created[:10])
        payout_id = written_payout_id(line, True)
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
        self._money = Currency(currency)
        super().__init__(stream)
        self._clock = Clock("DATE", zone, "T", "offset", "milliseconds").text
        self._opening = self._balance = opening_balance
        self._credit = self._debit = self._gross = self._fees = 0
        self._last_date: str | None = None

    def write(self, line: PlannedLine) -> None:
        money = self._money
        if line.currency != money.code:
            raise ValueError(
                f"currency: a release report has one currency, {money.code}, not {line.currency[:12]!r}"
            )
        external_id, reference = line_ids(line)
        written_payout_id(line, False)
        gross, fee = gross_and_fee(line)
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
        self._money = Currency(spec.currency)
        super().__init__(stream)
        self._separator, self._fee_rows, self._balance = separator, fee_rows, opening_balance
        self._status = "Completed" if "Completed" in spec.completed_statuses else min(spec.completed_statuses)
        self._time: Callable[[datetime], str] = (
            Clock(spec.completed_at, spec.zone, " ", "", "none").text
            if spec.time_format is None
            else pattern_clock(spec.time_format, spec.zone, spec.completed_at)
        )

    def write(self, line: PlannedLine) -> None:
        if line.currency != self._money.code:
            raise ValueError(
                f"currency: an M-Pesa statement is in {self._money.code} only, not {line.currency[:12]!r}"
            )
        gross, fee = gross_and_fee(line)
        details = _MPESA_ROWS.get((line.type, gross > 0))
        if details is None or not gross:
            raise ValueError(
                f"{line.type} of {gross}: an M-Pesa row is money in or out, read as a charge (in), a payout "
                "(out), a refund (a reversal) or a fee (a charge); an adjustment or a zero amount has no row"
            )
        if fee and not self._fee_rows:
            raise ValueError("fee: an M-Pesa row carries no fee (M-Pesa charges it as a row of its own)")
        receipt, reference = line_ids(line)
        written_payout_id(line, False)
        in_range(gross, fee)
        position = self._position = self._position + 1
        party = f"2547{position * 7919 % 10**8:08d} - {_PARTIES[position % len(_PARTIES)]}"
        completed = self._time(line.occurred_at)
        initiated = self._time(line.occurred_at - timedelta(seconds=1 + position % 4))
        row = self._row(receipt, completed, initiated, details, gross, party, "", reference)
        if fee:
            charge_receipt = field(line.external_id + "C", "external_id")
            charge = _MPESA_ROWS[T.FEE, fee < 0]
            row += self._row(charge_receipt, completed, completed, charge, -fee, "", receipt, "")
        self._emit(row)

    def _row(
        self, receipt: str, completed: str, initiated: str, details: tuple[str, str], moved: int,
        party: str, linked: str, reference: str,
    ) -> str:  # fmt: skip
        amount = field(self._money.grouped(moved, self._separator), "amount")
        paid_in, withdrawn = (amount, "") if moved > 0 else ("", amount)
        self._balance += moved
        balance = field(self._money.grouped(self._balance, self._separator), "Balance")
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
        self._clock = Clock("paid_at", UTC, "T", "Z", "milliseconds").text
        self._currencies = Currencies()

    def write(self, line: PlannedLine) -> None:
        external_id, reference = line_ids(line)
        written_payout_id(line, False)
        gross, fee = gross_and_fee(line)
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
