"""Provider settlement statements, streamed as normalised lines for reconciliation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

import attrs

from payments_core.model.reconciliation import StagedLine
from payments_core.money import Money


class StatementLineType(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    PAYOUT = "payout"
    FEE = "fee"
    ADJUSTMENT = "adjustment"


@attrs.frozen
class StatementLine:
    line_number: int
    provider: str
    external_id: str
    type: StatementLineType
    gross: Money
    fee: Money
    net: Money
    occurred_at: datetime
    reference: str | None = None
    payout_id: str | None = None
    """The provider's payout that settled this line, when the statement names it."""


def staged_line(line: StatementLine) -> StagedLine:
    """A statement line as matching reads it: signed minor units of its one currency."""
    return StagedLine(
        line.line_number, line.type.value, line.external_id, line.reference, line.gross.minor,
        line.fee.minor, line.net.minor, line.gross.currency, line.occurred_at, line.payout_id,
    )  # fmt: skip


class StatementSource(Protocol):
    def lines(self) -> Iterator[StatementLine]:
        """Stream the statement's lines; a malformed row raises with its line number."""
        ...

    def staged(self) -> Iterator[StagedLine]:
        """The same lines as `lines()`, as matching reads them (ints, no `Money`): the cheap form
        for millions of lines streamed into a reconciliation."""
        ...


class NotPlainCsv(Exception):
    """The file left the plain CSV subset part-way (a quote readers disagree on, a carriage return,
    a long line, bytes that are not UTF-8, an unterminated last line): the store stages nothing
    from it, and the statement is read line by line by its parser instead, which decides and
    explains."""


@attrs.frozen
class PlainCsv:
    """A statement file a store may load and convert itself, set-wise, instead of taking parsed lines.

    The plain subset is where every CSV reader agrees with the parser: no carriage return, no
    NUL, UTF-8, every line `\\n`-terminated and shorter than the parser's field limit, and quotes
    only around whole, non-empty fields on one line (RFC 4180, inner quotes doubled); so each data
    line is one row of exactly `width` fields, an empty field is a missing value, and the row of
    data line `n` (1-based, after the header) is physical line `n + 1`.

    What a store converts must equal the parser's `staged()` line for line. It converts only the
    canonical shapes (amounts `-1234.56` with exactly the currency's decimals, times
    `YYYY-MM-DD HH:MM:SS` in UTC) and hands anything else back (`stage_csv` answers None), so the
    parser, the reference, decides every file the store is unsure of, and reports its errors.
    """

    width: int
    chunks: Callable[[], Iterator[bytes]]
    """The data lines' bytes (header excluded), re-readable; raises `NotPlainCsv` past the subset."""
    type_column: int
    types: Callable[[str], str | None]
    """A type column's text to its `StatementLineType` value; None when the parser refuses it."""
    currency_column: int
    currencies: Callable[[str], tuple[str, int] | None]
    """A currency column's text to (ISO code, exponent); None when the parser refuses it."""
    gross_column: int
    fee_column: int
    net_column: int
    time_column: int
    external_id_columns: tuple[int, ...]
    """`external_id` is the first non-empty of these columns; none non-empty is a bad row."""
    charge_external_id_columns: tuple[int, ...]
    """The same, for a line of type charge."""
    reference_column: int | None
    payout_id_column: int | None = None
    """The payout that settled the line (empty: none), when the file has such a column."""
    halves: (
        Callable[[], tuple[Callable[[], Iterator[bytes]], Callable[[], Iterator[bytes]]] | None] | None
    ) = None
    """The data lines in two parts, cut at a line end, for a store that loads them at once: the
    first part's bytes then the second's are `chunks`' bytes, each part streamed and checked the
    same way. None (or answering None): the file comes in one part."""


@runtime_checkable
class PlainCsvSource(Protocol):
    def plain_csv(self) -> PlainCsv | None:
        """The file as a `PlainCsv` when its header is in the plain subset, else None."""
        ...
