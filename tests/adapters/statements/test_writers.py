"""Statement writers: what each writes, the same format's parser reads back as the planned lines.

Round trips run through hypothesis, per format, over the lines that format can carry; the expected
lines (and their physical line numbers) are worked out here from the plan alone. Then the edges:
quoting, what each format refuses, and the filler columns a real file has.
"""

import csv
import io
import string
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.statements import MpesaColumns, open_statement
from adapters.statements.writers import PlannedLine, open_writer
from payments_core.money import CURRENCY_EXPONENTS, MAX_MINOR, Money
from payments_core.ports import StatementLineType

T = StatementLineType
EAT = timezone(timedelta(hours=3))
SAMPLES = "contracts/providers/statements"
FORMATS = ["stripe", "mercadopago", "mpesa", "paystack", "generic"]
READ_MPESA_REFERENCES = MpesaColumns(reference="A/C No.")
ROUND_TRIPS = settings(max_examples=60, deadline=None)

# Provider ids never hold a line break; references may hold anything a text file can.
IDS = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\n"), min_size=1, max_size=20
) | st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=24)
REFERENCES = st.none() | st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1, max_size=30
)
ZONES = st.sampled_from(
    [
        UTC,
        EAT,
        timezone(timedelta(hours=-3)),
        timezone(timedelta(hours=5, minutes=30)),
        ZoneInfo("America/Sao_Paulo"),
    ]
)
MINOR = st.integers(-(10**13), 10**13)
ANY_CURRENCY = sorted(CURRENCY_EXPONENTS)


def moments(*, whole_seconds=False):
    naive = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31))
    if whole_seconds:
        naive = naive.map(lambda moment: moment.replace(microsecond=0))
    return st.builds(lambda moment, zone: moment.replace(tzinfo=zone), naive, ZONES)


@st.composite
def plans(
    draw, *, currencies=ANY_CURRENCY, kinds=tuple(T), gross=lambda kind: MINOR, fee=MINOR, times=None,
    payout_ids=False,
):  # fmt: skip
    """Lines to write; with `payout_ids`, some name a payout (one of a few, or any id)."""
    currency_pool = draw(st.sampled_from([currencies, [draw(st.sampled_from(currencies))]]))
    payout_id = st.none() | st.sampled_from(["po_1", "po_2"]) | IDS if payout_ids else st.none()
    return [
        PlannedLine(
            kind,
            draw(IDS),
            draw(REFERENCES),
            draw(gross(kind)),
            draw(fee),
            draw(st.sampled_from(currency_pool)),
            draw(times if times is not None else moments()),
            draw(payout_id),
        )
        for kind in draw(st.lists(st.sampled_from(kinds), max_size=8))
    ]


def written(fmt, lines, **options):
    stream = io.StringIO()
    with open_writer(fmt, stream, **options) as writer:
        for line in lines:
            writer.write(line)
    return stream.getvalue()


def parsed(fmt, text, **options):
    return list(open_statement(fmt, io.StringIO(text), **options).lines())


def expected(provider, lines, first_line=2):
    """The `StatementLine`s a parser must give: numbered by physical line (a reference's line breaks count)."""
    rows, number = [], first_line
    for line in lines:
        gross, fee, net = (Money(minor, line.currency) for minor in (line.gross, line.fee, line.net))
        instant, reference = line.occurred_at.astimezone(UTC), line.reference or None
        rows.append(
            (
                number,
                provider,
                line.external_id,
                line.type,
                gross,
                fee,
                net,
                instant,
                reference,
                line.payout_id,
            )
        )
        number += 1 + (line.reference or "").count("\n")
    return rows


def as_tuples(statement_lines):
    return [
        (line.line_number, line.provider, line.external_id, line.type, line.gross, line.fee, line.net,
         line.occurred_at.astimezone(UTC), line.reference, line.payout_id)
        for line in statement_lines
    ]  # fmt: skip


@ROUND_TRIPS
@given(
    st.booleans().flatmap(lambda ids: st.tuples(st.just(ids), plans(payout_ids=ids))),
    st.sampled_from(["generic", "pesapal"]),
)
def test_generic_round_trip(ids_and_lines, provider):
    payout_ids, lines = ids_and_lines
    text = written("generic", lines, provider=provider, payout_ids=payout_ids)
    assert text.startswith("provider,") and text.split("\n", 1)[0].endswith(",payout_id") is payout_ids
    assert as_tuples(parsed("generic", text, provider=provider)) == expected(provider, lines)


@ROUND_TRIPS
@given(plans(times=moments(whole_seconds=True), payout_ids=True))
def test_stripe_round_trip(lines):
    assert as_tuples(parsed("stripe", written("stripe", lines))) == expected("stripe", lines)


@ROUND_TRIPS
@given(st.sampled_from(ANY_CURRENCY).flatmap(lambda code: st.tuples(st.just(code), plans(currencies=[code]))))
def test_mercadopago_round_trip(currency_and_lines):
    currency, lines = currency_and_lines
    text = written("mercadopago", lines, currency=currency)
    # The initial_available_balance row comes first: the first release is on line 3.
    assert as_tuples(parsed("mercadopago", text, currency=currency)) == expected("mercadopago", lines, 3)


MPESA_GROSS = {
    T.CHARGE: st.integers(1, 10**13),
    T.PAYOUT: st.integers(-(10**13), -1),
    T.REFUND: st.integers(1, 10**13) | st.integers(-(10**13), -1),
    T.FEE: st.integers(1, 10**13) | st.integers(-(10**13), -1),
}


@ROUND_TRIPS
@given(
    plans(
        currencies=["KES"],
        kinds=list(MPESA_GROSS),
        gross=MPESA_GROSS.get,
        fee=st.just(0),
        times=moments(whole_seconds=True),
    )
)
def test_mpesa_round_trip(lines):
    text = written("mpesa", lines)
    assert as_tuples(parsed("mpesa", text, columns=READ_MPESA_REFERENCES)) == expected("mpesa", lines)


@ROUND_TRIPS
@given(plans(currencies=["KES"], kinds=[T.CHARGE], gross=MPESA_GROSS.get, times=moments(whole_seconds=True)))
def test_an_mpesa_fee_becomes_a_charge_row_of_its_own(lines):
    planned = []
    for line in lines:
        planned.append(attrs.evolve(line, fee=0))
        if line.fee:
            planned.append(
                PlannedLine(T.FEE, line.external_id + "C", None, -line.fee, 0, "KES", line.occurred_at)
            )
    text = written("mpesa", lines)
    assert as_tuples(parsed("mpesa", text, columns=READ_MPESA_REFERENCES)) == expected("mpesa", planned)


PAYSTACK_GROSS = {
    T.CHARGE: st.integers(0, 10**13),
    T.ADJUSTMENT: MINOR,
    T.REFUND: st.integers(-(10**13), 0),
    T.PAYOUT: st.integers(-(10**13), 0),
    T.FEE: st.integers(-(10**13), 0),
}


@ROUND_TRIPS
@given(plans(gross=PAYSTACK_GROSS.get), st.booleans())
def test_paystack_round_trip(lines, minor_units):
    text = written("paystack", lines, minor_units=minor_units)
    assert as_tuples(parsed("paystack", text, minor_units=minor_units)) == expected("paystack", lines)


def at(hour, minute=0, second=0, zone=EAT):
    return datetime(2026, 1, 15, hour, minute, second, tzinfo=zone)


OPTIONS = {"mercadopago": {"currency": "KES"}}
READ_OPTIONS = {"mercadopago": {"currency": "KES"}, "mpesa": {"columns": READ_MPESA_REFERENCES}}
FIRST_LINE = {"mercadopago": 3}


@pytest.mark.parametrize("fmt", FORMATS)
def test_commas_quotes_and_line_breaks_are_quoted_and_read_back(fmt):
    tricky = PlannedLine(T.CHARGE, 'QK,"7"', 'order 1, "gift"\r\nsecond line', 150_000, 0, "KES", at(10))
    plain = PlannedLine(T.CHARGE, "QK8", "order-2", 2_500, 0, "KES", at(11))
    text = written(fmt, [tricky, plain], **OPTIONS.get(fmt, {}))
    assert '"QK,""7"""' in text
    assert '"order 1, ""gift""\r\nsecond line"' in text
    lines = as_tuples(parsed(fmt, text, **READ_OPTIONS.get(fmt, {})))
    assert lines == expected(fmt, [tricky, plain], FIRST_LINE.get(fmt, 2))
    assert lines[1][0] == FIRST_LINE.get(fmt, 2) + 2  # the quoted line break moved the next row down a line


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_writer_writes_the_real_header_of_its_format(fmt):
    sample = {
        "stripe": "stripe_itemized_payout_reconciliation.csv",
        "mercadopago": "mercadopago_release_report.csv",
        "mpesa": "mpesa_organisation_statement.csv",
        "paystack": "paystack_transactions.csv",
        "generic": "generic.csv",
    }[fmt]
    with open(f"{SAMPLES}/{sample}", encoding="utf-8") as file:
        header = file.readline()
    assert written(fmt, [], **OPTIONS.get(fmt, {})).splitlines(keepends=True)[0] == header


LINE = PlannedLine(T.CHARGE, "id-1", "ref-1", 1_000, 10, "KES", at(9))


def with_(**changes):
    return attrs.evolve(LINE, **changes)


REFUSED = [
    (fmt, line, options, message)
    for fmt in FORMATS
    for line, message in [
        (with_(external_id=""), "external_id is empty"),
        (with_(reference="a\x00b"), "NUL"),
        (with_(occurred_at=datetime(2026, 1, 15, 9)), "no UTC offset"),
        (with_(gross=10.5), "integer minor units"),
        (with_(fee=True), "integer minor units"),
        (with_(gross=MAX_MINOR + 1), "beyond Money's range"),
    ]
    for options in [OPTIONS.get(fmt, {})]
] + [
    ("generic", with_(currency="XXX"), {}, "not an ISO 4217 code"),
    ("generic", with_(currency="kes"), {}, "not an ISO 4217 code"),
    ("generic", with_(gross=-MAX_MINOR, fee=1), {}, "beyond Money's range"),
    ("stripe", with_(occurred_at=at(9).replace(microsecond=1)), {}, "whole seconds"),
    ("stripe", LINE, {"reference_column": None}, "no reference column"),
    ("generic", with_(payout_id="po_1"), {}, "no column for the payout"),
    ("mercadopago", with_(payout_id="po_1"), {"currency": "KES"}, "no column for the payout"),
    ("mpesa", with_(payout_id="po_1", fee=0), {}, "no column for the payout"),
    ("paystack", with_(payout_id="po_1"), {}, "no column for the payout"),
    ("mercadopago", with_(currency="BRL"), {"currency": "KES"}, "one currency, KES"),
    ("mpesa", with_(currency="TZS"), {}, "KES only"),
    ("mpesa", with_(type=T.ADJUSTMENT), {}, "adjustment"),
    ("mpesa", with_(gross=-1_000), {}, "money in or out"),
    ("mpesa", with_(type=T.PAYOUT), {}, "money in or out"),
    ("mpesa", with_(type=T.REFUND, gross=0), {}, "zero amount"),
    ("mpesa", LINE, {"fee_rows": False}, "carries no fee"),
    ("mpesa", with_(occurred_at=at(9).replace(microsecond=5)), {}, "whole seconds"),
    ("paystack", with_(gross=-1), {}, "a charge is >= 0"),
    ("paystack", with_(type=T.REFUND), {}, "a refund is <= 0"),
]


@pytest.mark.parametrize(("fmt", "line", "options", "message"), REFUSED)
def test_what_a_format_cannot_carry_is_refused_and_nothing_of_it_is_written(fmt, line, options, message):
    no_references = options.get("reference_column", "") is None
    good = with_(fee=0, external_id="id-2", reference=None if no_references else "ref-2")
    stream = io.StringIO()
    writer = open_writer(fmt, stream, **options)
    with pytest.raises(ValueError, match=message):
        writer.write(line)
    writer.write(good)
    writer.close()
    read_options = {**READ_OPTIONS.get(fmt, {}), **({"reference_column": None} if no_references else {})}
    lines = as_tuples(parsed(fmt, stream.getvalue(), **read_options))
    assert lines == expected(fmt, [good], FIRST_LINE.get(fmt, 2))


def test_unknown_formats_and_options_are_refused():
    with pytest.raises(ValueError, match="no statement writer"):
        open_writer("camt053", io.StringIO())
    with pytest.raises(ValueError, match="bad options for the stripe writer"):
        open_writer("stripe", io.StringIO(), currency="USD")
    with pytest.raises(ValueError, match="bad options for the mercadopago writer"):
        open_writer("mercadopago", io.StringIO())
    with pytest.raises(ValueError, match="not an ISO 4217 code"):
        open_writer("mercadopago", io.StringIO(), currency="ZZZ")
    with pytest.raises(ValueError, match="in KES"):
        open_writer("mpesa", io.StringIO(), currency="TZS")
    assert written("mpesa", [], currency="KES").startswith("Receipt No.,")
    with pytest.raises(ValueError, match="type_keywords"):
        open_writer("mpesa", io.StringIO(), columns=MpesaColumns(type_keywords=(("Pay", T.FEE),)))


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def pick(row, *columns):
    return tuple(row[column] for column in columns)


def test_stripe_rows_carry_the_ids_where_stripe_keeps_them():
    lines = [
        PlannedLine(T.CHARGE, "pi_1", "order-1", 12_000, 378, "USD", at(9, 12, 44, UTC), "po_1"),
        PlannedLine(T.REFUND, "re_1", "order-1", -2_000, 0, "USD", at(23, 59, 59, UTC), "po_1"),
        PlannedLine(
            T.PAYOUT, "po_1", None, -9_622, 0, "USD", datetime(2026, 1, 16, 1, 0, 0, tzinfo=EAT), "po_1"
        ),
        PlannedLine(T.ADJUSTMENT, "dp_1", None, -1_500, 1_500, "USD", at(10, zone=UTC)),
    ]
    charge, refund, payout, dispute = rows_of(written("stripe", lines))
    assert charge["payment_intent_id"] == "pi_1" and charge["source_id"] == charge["charge_id"]
    assert charge["source_id"].startswith("ch_") and charge["balance_transaction_id"].startswith("txn_")
    assert pick(charge, "gross", "fee", "net", "currency") == ("120.00", "3.78", "116.22", "usd")
    assert pick(charge, "created_utc", "available_on_utc") == ("2026-01-15 09:12:44", "2026-01-17 00:00:00")
    assert charge["payment_metadata[order_id]"] == refund["payment_metadata[order_id]"] == "order-1"
    assert pick(refund, "source_id", "payment_intent_id", "reporting_category") == ("re_1", "", "refund")
    assert payout["created_utc"] == "2026-01-15 22:00:00"  # 01:00 EAT is 22:00 UTC the day before
    assert payout["source_id"] == payout["automatic_payout_id"] == "po_1"
    assert charge["automatic_payout_id"] == refund["automatic_payout_id"] == "po_1"
    assert dispute["automatic_payout_id"] == ""  # planned without one: none is made up
    assert pick(dispute, "reporting_category", "gross", "fee", "net") == (
        "dispute",
        "-15.00",
        "15.00",
        "-30.00",
    )
    assert len({row["balance_transaction_id"] for row in (charge, refund, payout, dispute)}) == 4


def test_mercadopago_carries_its_summary_rows_and_running_balance():
    west = timezone(timedelta(hours=-3))
    lines = [
        PlannedLine(T.CHARGE, "1320458812", "pedido-1", 10_000, 499, "BRL", at(10, 21, 7, west)),
        PlannedLine(T.REFUND, "1320458812", "pedido-1", -10_000, -499, "BRL", at(9, 3, 11, UTC).replace(microsecond=250_000)),
        PlannedLine(T.PAYOUT, "74412", None, -1_000, 0, "BRL", at(12, zone=UTC).replace(microsecond=123_456)),
    ]  # fmt: skip
    opening, charge, refund, payout, total, available = rows_of(
        written("mercadopago", lines, currency="BRL", opening_balance=150_000)
    )
    assert (opening["RECORD_TYPE"], opening["BALANCE_AMOUNT"]) == ("initial_available_balance", "1500.00")
    assert charge["DATE"] == "2026-01-15T10:21:07.000-03:00"
    assert refund["DATE"] == "2026-01-15T09:03:11.250+00:00"
    assert payout["DATE"] == "2026-01-15T12:00:00.123456+00:00"  # not whole milliseconds: all six digits
    assert pick(charge, "NET_CREDIT_AMOUNT", "GROSS_AMOUNT", "MP_FEE_AMOUNT") == ("95.01", "100.00", "-4.99")
    assert pick(refund, "NET_DEBIT_AMOUNT", "MP_FEE_AMOUNT", "BALANCE_AMOUNT") == ("95.01", "4.99", "1500.00")
    assert payout["BALANCE_AMOUNT"] == "1490.00"
    assert pick(total, "RECORD_TYPE", "NET_CREDIT_AMOUNT", "NET_DEBIT_AMOUNT") == ("total", "95.01", "105.01")
    assert (total["GROSS_AMOUNT"], total["MP_FEE_AMOUNT"]) == ("-10.00", "0.00")
    assert (available["RECORD_TYPE"], available["BALANCE_AMOUNT"]) == ("available_balance", "1490.00")
    converted = rows_of(written("mercadopago", lines[:1], currency="BRL", zone=EAT))[1]
    assert converted["DATE"] == "2026-01-15T16:21:07.000+03:00"
    assert [row["RECORD_TYPE"] for row in rows_of(written("mercadopago", [], currency="BRL"))] == [
        "initial_available_balance", "total", "available_balance",
    ]  # fmt: skip


def test_mpesa_writes_local_time_running_balance_and_linked_charge_rows():
    lines = [
        PlannedLine(T.CHARGE, "SAF1A2B3C4", "INV1001", 100_000, 0, "KES", at(8, 14, 2)),
        PlannedLine(T.PAYOUT, "SAF1A2B3C7", None, -500_000, 3_300, "KES", at(9, 45, 0, UTC)),
    ]
    text = written("mpesa", lines, opening_balance=5_000_000)
    charge, payout, fee = rows_of(text)
    assert pick(charge, "Completion Time", "Paid In", "Balance") == (
        "2026-01-15 08:14:02",
        "1,000.00",
        "51,000.00",
    )
    assert charge["Initiation Time"] < charge["Completion Time"] and charge["A/C No."] == "INV1001"
    assert '"1,000.00"' in text  # a grouped amount is a quoted field
    assert pick(payout, "Completion Time", "Withdrawn", "Balance") == (
        "2026-01-15 12:45:00",
        "-5,000.00",
        "46,000.00",
    )
    assert pick(fee, "Receipt No.", "Details", "Withdrawn") == (
        "SAF1A2B3C7C",
        "Business Payment Charge",
        "-33.00",
    )
    assert pick(fee, "Linked Transaction ID", "Balance", "Completion Time") == (
        "SAF1A2B3C7",
        "45,967.00",
        "2026-01-15 12:45:00",
    )
    by_default = parsed("mpesa", text)
    assert [(line.external_id, line.reference) for line in by_default] == [
        ("SAF1A2B3C4", None), ("SAF1A2B3C7", None), ("SAF1A2B3C7C", None),
    ]  # fmt: skip


def test_mpesa_writes_through_a_custom_column_mapping():
    columns = MpesaColumns(
        receipt="Transaction ID", completed_at="Date", paid_in="Credit", withdrawn="Debit", reference="Account",
        time_format="%d/%m/%Y %H:%M:%S", thousands_separator="", zone=ZoneInfo("Africa/Nairobi"),
    )  # fmt: skip
    lines = [PlannedLine(T.CHARGE, "R1", "A-1", 123_456, 0, "KES", at(8, zone=UTC)),
             PlannedLine(T.REFUND, "R2", None, -1_000, 0, "KES", at(9, 30))]  # fmt: skip
    text = written("mpesa", lines, columns=columns)
    assert rows_of(text)[0]["Date"] == "15/01/2026 11:00:00" and rows_of(text)[0]["Credit"] == "1234.56"
    assert as_tuples(parsed("mpesa", text, columns=columns)) == expected("mpesa", lines)


def test_paystack_writes_magnitudes_in_utc_with_a_z():
    lines = [PlannedLine(T.CHARGE, "3521987001", "ord_1", 1_500_000, 32_500, "NGN", at(12, 0, 12)),
             PlannedLine(T.PAYOUT, "9012001", "stl_1", -1_467_500, 0, "NGN", at(18, zone=UTC))]  # fmt: skip
    charge, payout = rows_of(written("paystack", lines))
    assert pick(charge, "amount", "fees", "status", "paid_at") == (
        "15000.00",
        "325.00",
        "success",
        "2026-01-15T09:00:12.000Z",
    )
    assert (payout["type"], payout["amount"], payout["settlement"]) == ("settlement", "14675.00", "9012001")
    in_subunits = rows_of(written("paystack", lines, minor_units=True))
    assert [row["amount"] for row in in_subunits] == ["1500000", "1467500"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ten_thousand_lines_through_a_file_and_back(fmt, tmp_path):
    """A sanity check of the fast paths on a real file; no timing is asserted."""
    kinds = [T.CHARGE, T.CHARGE, T.PAYOUT, T.REFUND]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [
        PlannedLine(kind, f"ext-{n}", f"order-{n}" if n % 5 else None,
                    (1 + n * 7919 % 999_999) * (1 if kind is T.CHARGE else -1),
                    (30 + n % 97) if fmt != "mpesa" and kind is T.CHARGE else 0,
                    "KES", start + timedelta(seconds=37 * n))
        for n, kind in enumerate(kinds * 2_500)
    ]  # fmt: skip
    path = tmp_path / f"{fmt}.csv"
    with (
        open(path, "w", encoding="utf-8", newline="") as out,
        open_writer(fmt, out, **OPTIONS.get(fmt, {})) as writer,
    ):
        for line in lines:
            writer.write(line)
    back = list(open_statement(fmt, path, **READ_OPTIONS.get(fmt, {})).lines())
    assert as_tuples(back) == expected(fmt, lines, FIRST_LINE.get(fmt, 2))
    assert sum(line.net.minor for line in back) == sum(line.net for line in lines)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_line_written_after_close_is_refused_not_lost(fmt):
    stream = io.StringIO()
    writer = open_writer(fmt, stream, **OPTIONS.get(fmt, {}))
    writer.write(with_(fee=0))
    writer.close()
    closed = stream.getvalue()
    with pytest.raises(ValueError, match="closed"):
        writer.write(with_(fee=0, external_id="id-2"))
    writer.close()
    assert stream.getvalue() == closed
    assert [line.external_id for line in parsed(fmt, closed, **READ_OPTIONS.get(fmt, {}))] == ["id-1"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_writing_is_deterministic(fmt):
    lines = [with_(fee=0, external_id=f"id-{n}", occurred_at=at(9, n)) for n in range(5)]
    assert written(fmt, lines, **OPTIONS.get(fmt, {})) == written(fmt, lines, **OPTIONS.get(fmt, {}))


@pytest.mark.parametrize("fmt", ["generic", "mercadopago"])
def test_the_repeated_hour_at_the_end_of_summer_time_keeps_both_offsets(fmt):
    """Sao Paulo left summer time at midnight on 18 February 2018: 23:30 on the 17th happened twice."""
    first = datetime(2018, 2, 17, 23, 30, tzinfo=ZoneInfo("America/Sao_Paulo"))
    lines = [
        with_(external_id=f"id-{fold}", fee=0, currency="KES", occurred_at=first.replace(fold=fold))
        for fold in (0, 1)
    ]
    text = written(fmt, lines, **OPTIONS.get(fmt, {}))
    assert "23:30:00" in text and "-02:00" in text and "-03:00" in text
    back = parsed(fmt, text, **READ_OPTIONS.get(fmt, {}))
    assert back[1].occurred_at - back[0].occurred_at == timedelta(hours=1)
    assert as_tuples(back) == expected(fmt, lines, FIRST_LINE.get(fmt, 2))
