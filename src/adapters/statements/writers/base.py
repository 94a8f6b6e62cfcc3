"""What every statement writer shares: the planned line, exact amounts, times, quoting, the buffered
writer (`writers` states the invariants and the formats)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from types import TracebackType
from typing import IO, Any

import attrs

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


def field(text: str, column: str) -> str:
    """The text as one CSV field: quoted only when it must be; a NUL is refused."""
    if _NEEDS_QUOTES(text) is None:
        return text
    if "\x00" in text:
        raise ValueError(f"{column}: a NUL character cannot be written (no parser reads it)")
    return '"' + text.replace('"', '""') + '"'


def line_ids(line: PlannedLine) -> tuple[str, str]:
    """The line's external id and reference as fields, in one scan when both are plain."""
    external_id, reference = line.external_id, line.reference or ""
    if not external_id:
        raise ValueError("external_id is empty: every format needs the provider's id of the movement")
    if _NEEDS_QUOTES(external_id + reference) is None:
        return external_id, reference
    return field(external_id, "external_id"), field(reference, "reference")


def written_payout_id(line: PlannedLine, carried: bool) -> str:
    """The line's payout id as a field (empty: none); refused where the format has no column for it."""
    payout_id = line.payout_id
    if not payout_id:
        return ""
    if not carried:
        raise ValueError("payout_id: this format has no column for the payout that settled a line")
    return field(payout_id, "payout_id")


def gross_and_fee(line: PlannedLine) -> tuple[int, int]:
    gross, fee = line.gross, line.fee
    if type(gross) is not int or type(fee) is not int:
        raise ValueError(_NOT_INT)
    return gross, fee


def in_range(*amounts: int) -> None:
    for minor in amounts:
        if not -MAX_MINOR <= minor <= MAX_MINOR:
            raise ValueError(_OUT_OF_RANGE.format(minor))


class Currency:
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
        in_range(minor)
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


class Currencies(dict[str, Currency]):
    def __missing__(self, code: str) -> Currency:
        currency = self[code] = Currency(code)
        return currency


_MINUTES_SECONDS = tuple(f"{minute:02d}:{second:02d}" for minute in range(60) for second in range(60))
_MILLISECONDS = tuple(f".{n:03d}" for n in range(1000))


class Clock:
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


def pattern_clock(pattern: str, zone: tzinfo, column: str) -> Callable[[datetime], str]:
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
        self._rows: list[str] = [",".join(field(name, "header") for name in self.header) + "\n"]
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
