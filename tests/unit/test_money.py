"""Money: integer minor units in one currency, parsed exactly, never a float."""

from decimal import Decimal

import pytest

from payments_core.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency
from payments_core.money import MAX_MINOR, Money, exponent_of


def test_currencies_carry_their_iso_exponent():
    assert exponent_of("KES") == 2
    assert exponent_of("USD") == 2
    assert exponent_of("COP") == 2
    assert exponent_of("CLP") == 0
    assert exponent_of("JPY") == 0
    assert exponent_of("KWD") == 3


@pytest.mark.parametrize("code", ["", "kes", "XXX", "US", "EURO", None, 840])
def test_unknown_currencies_are_refused(code):
    with pytest.raises(UnknownCurrency) as raised:
        Money(100, code)
    assert raised.value.code == "INVALID_CURRENCY"


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1000.00", "KES", 100000),
        ("1000", "KES", 100000),
        ("0.01", "USD", 1),
        ("99.9", "USD", 9990),
        ("150000", "COP", 15000000),
        ("1500", "CLP", 1500),
        ("1.234", "KWD", 1234),
        ("10.500", "USD", 1050),
        ("-3.25", "USD", -325),
    ],
)
def test_decimal_text_is_parsed_exactly(text, currency, minor):
    assert Money.parse(text, currency) == Money(minor, currency)


def test_integers_and_decimals_parse_as_major_units():
    assert Money.parse(1000, "KES") == Money(100000, "KES")
    assert Money.parse(Decimal("9.99"), "USD") == Money(999, "USD")


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1000.001", "KES"), ("0.005", "USD"), ("1.5", "JPY"), ("10.01", "CLP"), ("1.2345", "KWD")],
)
def test_more_precision_than_the_currency_has_is_an_error_not_a_rounding(text, currency):
    with pytest.raises(InvalidAmount) as raised:
        Money.parse(text, currency)
    assert raised.value.code == "INVALID_AMOUNT"
    assert raised.value.details["decimals"] == exponent_of(currency)


@pytest.mark.parametrize("value", [1000.0, 0.1, float("nan"), float("inf"), True])
def test_floats_and_booleans_are_refused(value):
    with pytest.raises(InvalidAmount):
        Money.parse(value, "USD")


@pytest.mark.parametrize(
    "text", ["", " 10", "10 ", "1e3", "+5", "1,000.00", "NaN", "Infinity", "0x10", "1.", ".5", "١٢"]
)
def test_only_plain_decimal_text_is_accepted(text):
    with pytest.raises(InvalidAmount):
        Money.parse(text, "USD")


def test_non_finite_decimals_are_refused():
    with pytest.raises(InvalidAmount):
        Money.parse(Decimal("Infinity"), "USD")
    with pytest.raises(InvalidAmount):
        Money.parse(Decimal("NaN"), "USD")


def test_absurdly_large_amounts_are_refused():
    assert Money(MAX_MINOR, "USD").minor == MAX_MINOR
    with pytest.raises(InvalidAmount):
        Money(MAX_MINOR + 1, "USD")
    with pytest.raises(InvalidAmount):
        Money.parse("1" + "0" * 20, "USD")


@pytest.mark.parametrize("minor", [1.0, "100", True, None])
def test_minor_units_must_be_an_int(minor):
    with pytest.raises(InvalidAmount):
        Money(minor, "USD")


def test_positive_amounts_are_required_where_money_moves():
    assert Money.parse_positive("0.01", "USD") == Money(1, "USD")
    for text in ("0", "0.00", "-1"):
        with pytest.raises(InvalidAmount):
            Money.parse_positive(text, "USD")


def test_arithmetic_stays_in_one_currency():
    assert Money(150, "USD") + Money(50, "USD") == Money(200, "USD")
    assert Money(150, "USD") - Money(200, "USD") == Money(-50, "USD")
    assert -Money(5, "USD") == Money(-5, "USD")
    assert Money(1, "USD") < Money(2, "USD") <= Money(2, "USD")


def test_mixing_currencies_is_an_error():
    with pytest.raises(CurrencyMismatch) as raised:
        Money(100, "USD") + Money(100, "KES")
    assert raised.value.code == "CURRENCY_MISMATCH"
    with pytest.raises(CurrencyMismatch):
        Money(100, "USD") - Money(100, "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money(100, "USD") < Money(100, "EUR")


def test_same_minor_units_in_two_currencies_are_not_equal():
    assert Money(100, "USD") != Money(100, "EUR")


def test_rendering_in_major_units_keeps_every_decimal():
    assert Money(100050, "KES").to_major_string() == "1000.50"
    assert Money(5, "USD").to_major_string() == "0.05"
    assert Money(-5, "USD").to_major_string() == "-0.05"
    assert Money(1500, "CLP").to_major_string() == "1500"
    assert Money(1, "KWD").to_major_string() == "0.001"
    assert Money(100050, "KES").to_decimal() == Decimal("1000.50")
    assert str(Money(96700, "KES")) == "967.00 KES"


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("1000.000000000000000000000000001"),  # more digits than Decimal's default 28
        Decimal("5.00000000000000000000000000000000001"),
        Decimal("0.000000000000000000000000000000000000000000001"),
    ],
)
def test_digits_beyond_the_default_precision_are_refused_not_rounded(amount):
    with pytest.raises(InvalidAmount):
        Money.parse(amount, "KES")


@pytest.mark.parametrize(
    "amount", [Decimal("1e999999999"), Decimal("9e999990"), Decimal("123456789012345.67")]
)
def test_huge_exponents_are_out_of_range_before_any_arithmetic(amount):
    with pytest.raises(InvalidAmount, match="out of range"):
        Money.parse(amount, "KES")
