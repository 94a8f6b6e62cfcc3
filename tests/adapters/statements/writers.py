"""Writers of each statement format, for round trips: a line in, the provider's CSV text out."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import UTC

from adapters.statements.mercadopago import COLUMNS as MP_COLUMNS
from payments_core.money import Money
from payments_core.ports import StatementLine, StatementLineType

STRIPE_HEADER = [
    "balance_transaction_id", "created_utc", "currency", "gross", "fee", "net", "reporting_category",
    "source_id", "payment_intent_id", "description",
]  # fmt: skip
STRIPE_CATEGORY = {
    StatementLineType.CHARGE: "charge",
    StatementLineType.REFUND: "refund",
    StatementLineType.PAYOUT: "payout",
    StatementLineType.FEE: "fee",
    StatementLineType.ADJUSTMENT: "dispute",
}
MP_DESCRIPTION = {
    StatementLineType.CHARGE: "payment",
    StatementLineType.REFUND: "refund",
    StatementLineType.PAYOUT: "payout",
    StatementLineType.FEE: "fee",
    StatementLineType.ADJUSTMENT: "chargeback",
}
MPESA_DETAILS = {
    StatementLineType.CHARGE: "Pay Bill Online",
    StatementLineType.PAYOUT: "Business Payment to Customer via API",
    StatementLineType.FEE: "Business Payment Charge",
    StatementLineType.REFUND: "Reversal of Pay Bill Online",
}
PAYSTACK_TYPE = {
    StatementLineType.CHARGE: "charge",
    StatementLineType.REFUND: "refund",
    StatementLineType.PAYOUT: "settlement",
    StatementLineType.FEE: "fee",
    StatementLineType.ADJUSTMENT: "adjustment",
}


def major(money: Money) -> str:
    return money.to_major_string()


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[bytes, list[int]]:
    """The CSV bytes, and the physical line each row starts on (a quoted newline spans lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    starts = []
    for row in rows:
        starts.append(out.getvalue().count("\n") + 1)
        writer.writerow(row)
    return out.getvalue().encode(), starts


def stripe(lines: Sequence[StatementLine]) -> bytes:
    rows = []
    for n, line in enumerate(lines):
        is_charge = line.type is StatementLineType.CHARGE
        rows.append([
            f"txn_{n}", line.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), line.gross.currency.lower(),
            major(line.gross), major(line.fee), major(line.net), STRIPE_CATEGORY[line.type],
            "" if is_charge else line.external_id, line.external_id if is_charge else "", "a, \"quoted\"\ndescription",
        ])  # fmt: skip
    return _table(STRIPE_HEADER, rows)[0]


def mercadopago(lines: Sequence[StatementLine]) -> bytes:
    rows = [["2026-01-01T00:00:00.000-03:00", "", "", "initial_available_balance", *[""] * 13]]
    for line in lines:
        net = line.net
        credit, debit = (major(net), "0") if net.minor >= 0 else ("", major(-net))
        rows.append([
            line.occurred_at.isoformat(), line.external_id, line.reference or "", "release", MP_DESCRIPTION[line.type],
            credit, debit, major(line.gross), major(-line.fee), "0.00", "", "0", "", "", "1", "visa", "",
        ])  # fmt: skip
    rows.append(["2026-12-31T23:59:59.000-03:00", "", "", "total", *[""] * 13])
    return _table(MP_COLUMNS, rows)[0]


def mpesa(lines: Sequence[StatementLine]) -> bytes:
    header = [
        "Receipt No.",
        "Completion Time",
        "Details",
        "Transaction Status",
        "Paid In",
        "Withdrawn",
        "A/C No.",
    ]
    rows = []
    for line in lines:
        units, cents = divmod(abs(line.gross.minor), 100)
        text = f"{units:,}.{cents:02d}"
        paid_in, withdrawn = (text, "") if line.gross.minor > 0 else ("", "-" + text)
        rows.append([
            line.external_id, line.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), MPESA_DETAILS[line.type],
            "Completed", paid_in, withdrawn, line.reference or "",
        ])  # fmt: skip
        rows.append([line.external_id + "X", "not a time", "Pay Bill Online", "Failed", "1.00", "", ""])
    return _table(header, rows)[0]


def paystack(lines: Sequence[StatementLine]) -> bytes:
    header = ["id", "reference", "type", "status", "amount", "fees", "currency", "channel", "paid_at"]
    rows = []
    for line in lines:
        gross = (
            line.gross
            if line.type is StatementLineType.ADJUSTMENT
            else Money(abs(line.gross.minor), line.gross.currency)
        )
        rows.append([
            line.external_id, line.reference or "", PAYSTACK_TYPE[line.type], "success", major(gross), major(line.fee),
            line.gross.currency, "card", line.occurred_at.isoformat(),
        ])  # fmt: skip
        rows.append(["0", "", "charge", "abandoned", "1", "0", "NGN", "card", "never"])
    return _table(header, rows)[0]


def generic(lines: Sequence[StatementLine]) -> bytes:
    header = [
        "provider",
        "external_id",
        "type",
        "gross",
        "fee",
        "net",
        "currency",
        "occurred_at",
        "reference",
    ]
    rows = [
        [line.provider, line.external_id, line.type.value, major(line.gross), major(line.fee), major(line.net),
         line.gross.currency, line.occurred_at.isoformat(), line.reference or ""]
        for line in lines
    ]  # fmt: skip
    return _table(header, rows)[0]


def data_line_numbers(text: bytes) -> list[int]:
    """The line each data row of `text` starts on (lines end at "\\n"), read independently of the parsers."""
    reader = csv.reader(raw.decode() for raw in io.BytesIO(text))
    next(reader)
    starts, consumed = [], reader.line_num
    for _ in reader:
        starts.append(consumed + 1)
        consumed = reader.line_num
    return starts


WRITERS: dict[str, Callable[[Sequence[StatementLine]], bytes]] = {
    "stripe": stripe,
    "mercadopago": mercadopago,
    "mpesa": mpesa,
    "paystack": paystack,
    "generic": generic,
}
