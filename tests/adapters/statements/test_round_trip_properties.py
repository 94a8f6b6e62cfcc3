"""Properties: a statement written in each provider's format parses back to the same lines, and the
fast amount path agrees with `Money.parse` on every text, good or bad."""

import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.statements import MpesaColumns, open_statement
from adapters.statements.reading import Amounts, RowError
from payments_core.errors import DomainError
from payments_core.money import CURRENCY_EXPONENTS, Money
from payments_core.ports import StatementLine, StatementLineType
from tests.adapters.statements.writers import WRITERS, data_line_numbers

T = StatementLineType
IDS = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=24)
REFERENCES = st.none() | st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1, max_size=30
)
ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=3)),
        timezone(timedelta(hours=-3)),
        timezone(timedelta(hours=5, minutes=30)),
    ]
)
MINOR = st.integers(-(10**13), 10**13)


def moments(zones=ZONES, whole_seconds=False):
    naive = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31))
    if whole_seconds:
        naive = naive.map(lambda moment: moment.replace(microsecond=0))
    return st.builds(lambda moment, zone: moment.replace(tzinfo=zone), naive, zones)


@st.composite
def statement_lines(draw, provider, *, currencies, kinds, gross, fee, times, references=REFERENCES):
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind, currency = draw(st.sampled_from(kinds)), draw(st.sampled_from(currencies))
        gross_minor, fee_minor = draw(gross(kind)), draw(fee)
        lines.append(
            StatementLine(
                0, provider, draw(IDS), kind, Money(gross_minor, currency), Money(fee_minor, currency),
                Money(gross_minor - fee_minor, currency), draw(times), draw(references),
            )
        )  # fmt: skip
    return lines


ANY_CURRENCY = sorted(CURRENCY_EXPONENTS)
SIGNED = {T.CHARGE: st.integers(0, 10**13), T.ADJUSTMENT: MINOR}
NEGATIVE = st.integers(-(10**13), 0)
STATEMENTS = {
    "generic": statement_lines(
        "pesapal", currencies=ANY_CURRENCY, kinds=list(T), gross=lambda _: MINOR, fee=MINOR, times=moments()
    ),
    "stripe": statement_lines(
        "stripe", currencies=ANY_CURRENCY, kinds=list(T), gross=lambda _: MINOR, fee=MINOR,
        times=moments(st.just(UTC), whole_seconds=True), references=st.none(),
    ),
    "mercadopago": statement_lines(
        "mercadopago", currencies=["BRL"], kinds=list(T), gross=lambda _: MINOR, fee=MINOR, times=moments()
    ),
    "mpesa": statement_lines(
        "mpesa", currencies=["KES"], kinds=[T.CHARGE, T.PAYOUT, T.FEE, T.REFUND],
        gross=lambda kind: st.integers(1, 10**13) if kind is T.CHARGE else st.integers(-(10**13), -1),
        fee=st.just(0), times=moments(st.just(timezone(timedelta(hours=3))), whole_seconds=True),
        references=st.none() | IDS,
    ),
    "paystack": statement_lines(
        "paystack", currencies=ANY_CURRENCY, kinds=list(T), gross=lambda kind: SIGNED.get(kind, NEGATIVE),
        fee=MINOR, times=moments(),
    ),
}  # fmt: skip
OPTIONS = {
    "mercadopago": {"currency": "BRL"},
    "mpesa": {"columns": MpesaColumns(reference="A/C No.")},
}
# Rows each writer adds that carry no movement (summary rows, failed transactions): which data rows are lines.
KEPT_ROWS = {"mercadopago": slice(1, -1), "mpesa": slice(None, None, 2), "paystack": slice(None, None, 2)}


@pytest.mark.parametrize("provider", list(STATEMENTS))
def test_a_written_statement_parses_back_to_the_same_lines(provider, tmp_path_factory):
    directory = tmp_path_factory.mktemp(provider)

    @given(STATEMENTS[provider])
    def round_trip(lines):
        content = WRITERS[provider](lines)
        path = directory / "statement.csv"
        path.write_bytes(content)
        parsed = list(open_statement(provider, path, **OPTIONS.get(provider, {})).lines())
        numbers = data_line_numbers(content)[KEPT_ROWS.get(provider, slice(None))]
        assert [entry.line_number for entry in parsed] == numbers
        assert [_without_number(entry) for entry in parsed] == [_without_number(entry) for entry in lines]
        assert all(entry.occurred_at.utcoffset() is not None for entry in parsed)

    round_trip()


def _without_number(line):
    return (
        line.provider,
        line.external_id,
        line.type,
        line.gross,
        line.fee,
        line.net,
        line.occurred_at,
        line.reference,
    )


AMOUNT_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{0,5})?", fullmatch=True),
    st.text("0123456789.-+_ e٣²", max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)


@given(text=AMOUNT_TEXT, currency=st.sampled_from(["USD", "JPY", "KWD"]))
def test_the_fast_amount_path_agrees_with_money_parse(text, currency):
    try:
        expected = Money.parse(text, currency)
    except DomainError:
        expected = None
    try:
        got = Amounts()(text, "gross", currency, CURRENCY_EXPONENTS[currency])
    except RowError:
        got = None
    assert got == expected


@given(text=AMOUNT_TEXT, currency=st.sampled_from(["USD", "JPY", "KWD"]))
@example(text="-.50", currency="USD")
@example(text=".50", currency="USD")
@example(text="-0.50", currency="USD")
@example(text="+1.50", currency="USD")
@example(text="1_0.50", currency="USD")
@example(text="٣.50", currency="USD")
@example(text="9007199254740.99", currency="USD")
@example(text="90071992547409.91", currency="USD")
def test_the_bare_minor_path_agrees_with_money_parse(text, currency):
    try:
        expected: int | None = Money.parse(text, currency).minor
    except DomainError:
        expected = None
    amounts = Amounts()
    for _ in range(2):  # the second call may come from the memo: the same answer either way
        try:
            got: int | None = amounts.minor(text, "gross", currency, CURRENCY_EXPONENTS[currency])
        except RowError:
            got = None
        assert got == expected
