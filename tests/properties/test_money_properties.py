"""Properties of Money: parsing and rendering are exact inverses; arithmetic is integer arithmetic."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from payments_core.money import CURRENCY_EXPONENTS, MAX_MINOR, Money

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minors = st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)


@given(minors, currencies)
def test_rendering_then_parsing_returns_the_same_amount(minor, currency):
    money = Money(minor, currency)
    assert Money.parse(money.to_major_string(), currency) == money
    assert Money.parse(money.to_decimal(), currency) == money


@given(minors, currencies)
def test_the_decimal_value_is_exactly_minor_units_over_ten_to_the_exponent(minor, currency):
    money = Money(minor, currency)
    assert money.to_decimal() * (Decimal(10) ** money.exponent) == minor


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12), currencies)
def test_addition_and_subtraction_are_exact(a, b, currency):
    total = Money(a, currency) + Money(b, currency)
    assert total.minor == a + b
    assert (total - Money(b, currency)) == Money(a, currency)
