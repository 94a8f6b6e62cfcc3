"""Money: integer minor units in one ISO 4217 currency. Never a float.

Invariants
- `minor` is an `int` (not a bool, not a float) with `abs(minor) <= MAX_MINOR`.
- `currency` is a known ISO 4217 code; its exponent says how many minor units make a major one.
- Arithmetic and comparison only between amounts of the same currency; anything else raises
  `CurrencyMismatch`.
- Decimal text is parsed exactly at the edge: a value with more precision than the currency has
  raises `InvalidAmount`; nothing is ever rounded on the way in.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from decimal import InvalidOperation as DecimalInvalidOperation
from typing import Final

import attrs

from payments_core.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

# The largest integer a JSON client (IEEE double) holds exactly; amounts beyond it are absurd.
MAX_MINOR: Final = 2**53 - 1
# No amount below MAX_MINOR has this many digits before the decimal point.
_MAX_MAJOR_DIGITS: Final = len(str(MAX_MINOR))

# ISO 4217 minor-unit exponents for the currencies the providers settle in, plus common ones.
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    "ARS": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2,
    "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "GHS": 2, "HKD": 2, "INR": 2, "JOD": 3,
    "JPY": 0, "KES": 2, "KRW": 0, "KWD": 3, "MXN": 2, "NGN": 2, "NOK": 2, "NZD": 2, "PEN": 2,
    "PLN": 2, "PYG": 0, "RWF": 0, "SEK": 2, "SGD": 2, "TZS": 2, "UGX": 0, "USD": 2, "UYU": 2,
    "XAF": 0, "XOF": 0, "ZAR": 2,
}  # fmt: skip

_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")


def exponent_of(currency: str) -> int:
    """The number of minor-unit digits of `currency`; `UnknownCurrency` if we do not know it."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(f"unknown currency: {currency!r}", currency=str(currency)) from None


def _check_currency(_: object, __: attrs.Attribute[str], value: str) -> None:
    exponent_of(value)


def _check_minor(_: object, __: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int:
        raise InvalidAmount("amount must be an integer number of minor units", value=repr(value))
    if abs(value) > MAX_MINOR:
        raise InvalidAmount("amount is out of range", maximum=MAX_MINOR)


@attrs.frozen(order=False)
class Money:
    """An exact amount: `Money(100000, "KES")` is 1000.00 KES."""

    minor: int = attrs.field(validator=_check_minor)
    currency: str = attrs.field(validator=_check_currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Exact conversion of major units (`"1000.00"`, `1000`, `Decimal("9.5")`) to minor units.

        Floats are refused: a float has already lost the exactness this function guarantees.
        Trailing zeros are harmless (`"10.500"` USD is 1050); a non-zero digit beyond the
        currency's exponent is an error, never a rounding.
        """
        exponent = exponent_of(currency)
        value = _to_decimal(amount)
        # Range first, on the digits alone: arithmetic on `1e999999999` overflows, and `9e999990`
        # would build an int of a million digits before any comparison could refuse it.
        if value and value.adjusted() >= _MAX_MAJOR_DIGITS:
            raise InvalidAmount("amount is out of range", maximum=MAX_MINOR)
        # Exact arithmetic: enough precision for every digit sent, so nothing is rounded away
        # (the default context keeps 28 digits and would turn `1000.000…0001` into 1000.00).
        with localcontext() as exact:
            exact.prec = max(len(value.as_tuple().digits), 1) + exponent + _MAX_MAJOR_DIGITS
            scaled = value.scaleb(exponent)
            fractional = scaled != scaled.to_integral_value()
        if fractional:
            raise InvalidAmount(
                f"{currency} amounts have at most {exponent} decimal places",
                currency=currency,
                decimals=exponent,
            )
        minor = int(scaled)
        if abs(minor) > MAX_MINOR:
            raise InvalidAmount("amount is out of range", maximum=MAX_MINOR)
        return cls(minor, currency)

    @classmethod
    def parse_positive(cls, amount: str | int | Decimal, currency: str) -> Money:
        money = cls.parse(amount, currency)
        money.require_positive()
        return money

    @property
    def exponent(self) -> int:
        return exponent_of(self.currency)

    def to_decimal(self) -> Decimal:
        """Major units, exact: `Money(100050, "KES").to_decimal() == Decimal("1000.50")`."""
        return Decimal(self.minor).scaleb(-self.exponent)

    def to_major_string(self) -> str:
        """`"1000.50"`: always the currency's number of decimals, never scientific notation."""
        exponent = self.exponent
        sign = "-" if self.minor < 0 else ""
        units, cents = divmod(abs(self.minor), 10**exponent)
        return f"{sign}{units}.{cents:0{exponent}d}" if exponent else f"{sign}{units}"

    def require_positive(self) -> None:
        if self.minor <= 0:
            raise InvalidAmount("amount must be greater than zero", currency=self.currency)

    def is_zero(self) -> bool:
        return self.minor == 0

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} with {other.currency}",
                currencies=sorted({self.currency, other.currency}),
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __str__(self) -> str:
        return f"{self.to_major_string()} {self.currency}"


def _to_decimal(amount: str | int | Decimal) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, str | int | Decimal):
        raise InvalidAmount(
            "amount must be a decimal string or an integer, never a float",
            type=type(amount).__name__,
        )
    if isinstance(amount, int):
        return Decimal(amount)
    if isinstance(amount, str):
        if not _DECIMAL_TEXT.fullmatch(amount):
            raise InvalidAmount("amount is not a plain decimal number", value=amount[:40])
        try:
            return Decimal(amount)
        except DecimalInvalidOperation:  # pragma: no cover - the pattern already excludes it
            raise InvalidAmount("amount is not a decimal number", value=amount[:40]) from None
    if not amount.is_finite():
        raise InvalidAmount("amount must be a finite number")
    return amount
