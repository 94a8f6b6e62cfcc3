"""Streaming CSV plumbing shared by the statement parsers.

Invariants
- Memory is flat: the file is read one physical line at a time (at most one line ahead), never whole.
  A quoted field cannot grow past `csv.field_size_limit()`, so a runaway quote cannot exhaust memory.
- Every row carries the 1-based physical line number where it starts; the header is line 1.
- The text must be UTF-8 without NUL bytes (a leading BOM is dropped); a bad byte is reported at its line.
- Every line ends with a line terminator: a last line without one is a file cut short (an amount cut
  mid-digits would otherwise read as a different, valid amount), and is refused.
- Amounts are converted exactly from their decimal text; a float never exists on the way.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import IO, TypeAlias

from adapters.statements.errors import StatementError
from payments_core.errors import DomainError
from payments_core.model.reconciliation import StagedLine
from payments_core.money import CURRENCY_EXPONENTS, MAX_MINOR, Money
from payments_core.ports import StatementLine, StatementLineType

Source: TypeAlias = str | os.PathLike[str] | IO[bytes] | IO[str]

_BOM = "\ufeff"
_NUL = "the line holds a NUL byte: this is not a text file"
_NOT_UTF8 = "the file is not UTF-8 text"
_TRUNCATED = "the last line has no line terminator: the file looks truncated"


class RowError(Exception):
    """A bad value inside a row; the parser adds the row's line number and raises `StatementError`."""


@contextmanager
def text_lines(source: Source) -> Iterator[Iterator[str]]:
    """The source's physical lines, decoded and checked, opened for as long as the block runs."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as binary:
            yield _decoded(binary)
    elif isinstance(source, io.TextIOBase):
        yield _checked(_undecoded(source))
    else:
        yield _decoded(source)  # type: ignore[arg-type]


def _decoded(binary: Iterable[bytes]) -> Iterator[str]:
    """`_checked(_undecoded(...))` for bytes, fused into one generator: this loop runs once per line."""
    raws = iter(binary)
    first = next(raws, None)
    if first is None:
        return
    previous = _text_of(first, 1).removeprefix(_BOM)
    number = 1
    for number, raw in enumerate(raws, 2):
        if b"\x00" in raw:
            raise StatementError(number, _NUL)
        try:
            line = raw.decode()
        except UnicodeDecodeError:
            raise StatementError(number, _NOT_UTF8) from None
        yield previous
        previous = line
    if not previous.endswith("\n"):
        raise StatementError(number, _TRUNCATED)
    yield previous


def _text_of(raw: bytes, number: int) -> str:
    if b"\x00" in raw:
        raise StatementError(number, _NUL)
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise StatementError(number, _NOT_UTF8) from None


def _undecoded(text: Iterable[str]) -> Iterator[str]:
    number = 0
    try:
        for number, line in enumerate(text, 1):
            if "\x00" in line:
                raise StatementError(number, _NUL)
            yield line
    except UnicodeDecodeError:
        raise StatementError(number + 1, _NOT_UTF8) from None


def _checked(lines: Iterator[str]) -> Iterator[str]:
    """Drop a BOM, and hold each line back until the next arrives, to refuse an unterminated last one."""
    previous = next(lines, None)
    if previous is None:
        return
    previous = previous.removeprefix(_BOM)
    number = 1
    for line in lines:
        yield previous
        previous = line
        number += 1
    if not previous.endswith("\n"):
        raise StatementError(number, _TRUNCATED)
    yield previous


class Table:
    """A CSV table: a checked header naming its columns, then numbered rows of exactly that width."""

    def __init__(self, lines: Iterator[str], required: Sequence[str], optional: Sequence[str] = ()) -> None:
        self._reader = csv.reader(lines, strict=True)
        header = self._header()
        names = [name.strip() for name in header]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise StatementError(1, f"the header repeats column(s) {', '.join(duplicated)}")
        missing = [name for name in required if name not in names]
        if missing:
            raise StatementError(1, f"the header lacks column(s) {', '.join(missing)}")
        self.names: tuple[str, ...] = tuple(names)
        self.index: Mapping[str, int] = {
            name: names.index(name) for name in (*required, *optional) if name in names
        }
        self.width = len(names)

    def _header(self) -> list[str]:
        try:
            header = next(self._reader, None)
        except csv.Error as error:
            raise StatementError(1, f"the header is not valid CSV: {error}") from None
        if not header:
            raise StatementError(1, "the file has no header line")
        return header

    def optional(self, name: str | None) -> int | None:
        return None if name is None else self.index.get(name)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Each non-blank row with the line it starts on; a row of the wrong width is an error."""
        reader, width = self._reader, self.width
        consumed = reader.line_num
        try:
            for row in reader:
                start = consumed + 1
                consumed = reader.line_num
                if len(row) != width:
                    if not row:
                        continue
                    raise StatementError(start, f"expected {width} columns, found {len(row)}")
                yield start, row
        except csv.Error as error:
            raise StatementError(consumed + 1, f"not valid CSV: {error}") from None


def currency_of(text: str) -> tuple[str, int]:
    """An ISO 4217 code in any letter case, with its exponent."""
    code = text.upper()
    exponent = CURRENCY_EXPONENTS.get(code)
    if exponent is None:
        raise RowError(f"unknown currency {text[:12]!r}")
    return code, exponent


_PADDING = ("", "0", "00", "000")


class Amounts:
    """Exact major-unit text to `Money`; more decimals than the currency has is an error, not a rounding.

    The common shape (`-1234.56`, ASCII digits, at most `exponent` decimals) is converted with string
    arithmetic, which is exact and several times faster; anything else goes through `Money.parse`,
    which decides and explains. A property test holds both to the same answer. Statements repeat
    amounts (a flat fee, a price), so the first few thousand distinct ones are remembered: `Money` is
    immutable, and the memo is bounded, so memory stays flat.
    """

    capacity = 8192

    def __init__(self) -> None:
        self._memo: dict[str, Money] = {}
        self._minor_memo: dict[int, dict[str, int]] = {}

    def minor(self, text: str, column: str, currency: str, exponent: int) -> int:
        """The same conversion as calling the instance, as a bare int: no `Money` is built, which
        is most of a row's cost when a statement is staged for matching."""
        if exponent == 2 and len(text) > 3 and text[-3] == ".":
            # The common shape, `-1234.56`: two decimals, ASCII digits, a non-empty whole part.
            whole = text[:-3]
            digits = whole + text[-2:]
            unsigned = digits[1:] if whole[0] == "-" else digits
            if whole != "-" and len(unsigned) < 16 and unsigned.isdigit() and unsigned.isascii():
                return int(digits)
        memo = self._minor_memo.get(exponent)
        if memo is None:
            memo = self._minor_memo[exponent] = {}
        known = memo.get(text)
        if known is not None:
            return known
        value = _exact_minor(text, column, currency, exponent)
        if len(memo) < self.capacity:
            memo[text] = value
        return value

    @staticmethod
    def checked(minor: int) -> int:
        """An amount the parser computed (a sum, a difference), range-checked like any other."""
        if abs(minor) > MAX_MINOR:
            raise RowError(f"amount is out of range ({minor} minor units)")
        return minor

    def __call__(self, text: str, column: str, currency: str, exponent: int) -> Money:
        known = self._memo.get(text)
        if known is not None and known.currency == currency:
            return known
        money = _exact(text, column, currency, exponent)
        if len(self._memo) < self.capacity:
            self._memo[text] = money
        return money

    @staticmethod
    def of_minor(minor: int, currency: str) -> Money:
        """An amount the parser computed (a sum, a difference), range-checked like any other."""
        try:
            return Money(minor, currency)
        except DomainError as error:
            raise RowError(error.message) from None


def _exact(text: str, column: str, currency: str, exponent: int) -> Money:
    whole, dot, fraction = text.partition(".")
    if len(fraction) <= exponent and 0 < len(whole) < 20 and (fraction or not dot):
        digits = whole + fraction + _PADDING[exponent - len(fraction)]
        unsigned = digits[1:] if whole[0] == "-" else digits
        if unsigned.isdigit() and unsigned.isascii() and whole != "-":
            try:
                return Money(int(digits), currency)
            except DomainError as error:
                raise RowError(f"{column}: {error.message}") from None
    try:
        return Money.parse(text, currency)
    except DomainError as error:
        raise RowError(f"{column}: {error.message} ({text[:40]!r})") from None


def _exact_minor(text: str, column: str, currency: str, exponent: int) -> int:
    whole, dot, fraction = text.partition(".")
    if len(fraction) <= exponent and 0 < len(whole) < 17 and (fraction or not dot):
        digits = whole + fraction + _PADDING[exponent - len(fraction)]
        unsigned = digits[1:] if whole[0] == "-" else digits
        if unsigned.isdigit() and unsigned.isascii() and whole != "-":
            value = int(digits)
            if abs(value) <= MAX_MINOR:
                return value
    return _exact(text, column, currency, exponent).minor


class Moments:
    """`moment` remembering the last text it read: statements are sorted by time, and neighbouring
    rows often share their second, so most rows skip the parse. One entry: memory stays flat."""

    def __init__(self, naive_zone: tzinfo | None = UTC) -> None:
        self._zone = naive_zone
        self._text = ""
        self._value: datetime | None = None

    def __call__(self, text: str, column: str) -> datetime:
        if text == self._text and self._value is not None:
            return self._value
        value = moment(text, column, self._zone)
        self._text, self._value = text, value
        return value


def moment(text: str, column: str, naive_zone: tzinfo | None = UTC) -> datetime:
    """An ISO 8601 time; a time without an offset is read in `naive_zone`, or refused when that is None."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"{column}: not an ISO 8601 time ({text[:40]!r})") from None
    if value.tzinfo is None:
        if naive_zone is None:
            raise RowError(f"{column}: the time has no UTC offset ({text[:40]!r})")
        value = value.replace(tzinfo=naive_zone)
    return value


def formatted_moment(text: str, column: str, pattern: str, zone: tzinfo) -> datetime:
    """A time in a provider's own `strptime` pattern, read in `zone` unless it carries an offset."""
    try:
        value = datetime.strptime(text, pattern)  # noqa: DTZ007 - the zone is attached just below
    except ValueError:
        raise RowError(f"{column}: not a time in the format {pattern!r} ({text[:40]!r})") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def balanced(gross: int, fee: int, net: int, currency: str) -> None:
    """The provider's own arithmetic must hold: what it kept plus what it paid is what it took."""
    if gross - fee != net:
        show = [str(Money(value, currency)) for value in (gross, fee, net)]
        raise RowError(f"gross {show[0]} minus fee {show[1]} is not net {show[2]}")


def statement_line(provider: str, line: StagedLine) -> StatementLine:
    """A staged line (ints) as the port's `StatementLine` (Money), for consumers of `lines()`."""
    currency = line.currency
    return StatementLine(
        line.line_number, provider, line.external_id, StatementLineType(line.type),
        Money(line.gross, currency), Money(line.fee, currency), Money(line.net, currency),
        line.occurred_at, line.reference, line.payout_id,
    )  # fmt: skip
