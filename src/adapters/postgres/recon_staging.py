"""Staging a plain CSV statement without parsing it in Python: COPY the raw file, convert in SQL.

Invariants
- The staged rows are the parser's `staged()` lines, field for field: the store converts only the
  canonical shapes (`PlainCsv` says which), through the parser's own mappings for the few distinct
  types and currencies, and anything else (a value outside those shapes, a bad row, a file that
  leaves the plain subset) makes `stage_csv` answer None having staged nothing: the work runs under
  a savepoint that is rolled back, and the caller hands the parser's lines to `stage` instead.
- A bad row is caught where it is converted, by the typed table itself: an unknown shape converts
  to NULL into a NOT NULL column, an unbalanced row fails a CHECK, a time the server cannot read
  fails its cast. Nothing is decided twice, and no second pass over the rows looks for errors.
- Every data line is one row (no quoted field of the subset spans lines, and COPY refuses a blank
  line); the row count is checked against the newlines sent, so a line COPY would take for
  end-of-data (`\\.`) cannot silently drop the rest.
- Memory stays flat: the file streams from disk into COPY in fixed-size reads.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg
from psycopg import sql

from payments_core.money import MAX_MINOR
from payments_core.ports.reconciliation import Progress
from payments_core.ports.statements import NotPlainCsv, PlainCsv

PROGRESS_EVERY: Final = 10_000
SAVEPOINT: Final = "recon_plain_csv"

STAGE_TABLE: Final = """
CREATE TEMP TABLE recon_stage (
    line_number bigint NOT NULL,
    type text NOT NULL,
    external_id text NOT NULL,
    reference text,
    gross bigint NOT NULL,
    fee bigint NOT NULL,
    net bigint NOT NULL,
    currency text NOT NULL,
    occurred_at timestamptz NOT NULL{checks}
) ON COMMIT DROP"""
# What the parser refuses and the conversion would otherwise let through.
CHECKS: Final = f""",
    CHECK (gross - fee = net),
    CHECK (abs(gross) <= {MAX_MINOR} AND abs(fee) <= {MAX_MINOR} AND abs(net) <= {MAX_MINOR})"""

# The canonical amount for each exponent: exactly that many decimals, a non-empty whole part, ASCII
# digits. At most 19 characters, so its digits fit a bigint; the CHECK above bounds the value.
AMOUNT_SHAPES: Final = {0: "^-?[0-9]+$", 2: "^-?[0-9]+\\.[0-9][0-9]$", 3: "^-?[0-9]+\\.[0-9][0-9][0-9]$"}
AMOUNT_LENGTH: Final = 19


class _Refused(Exception):
    """This file is not for the set-wise path; the savepoint is rolled back."""


def stage_csv(conn: psycopg.Connection[Any], plain: PlainCsv, progress: Progress | None) -> int | None:
    """Stage `plain` into `recon_stage`, or stage nothing and answer None (see the invariants)."""
    conn.execute(f"SAVEPOINT {SAVEPOINT}")
    try:
        count = _stage(conn, plain, progress)
    except (_Refused, NotPlainCsv, psycopg.DataError, psycopg.IntegrityError):
        conn.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
        return None
    conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
    return count


def _stage(conn: psycopg.Connection[Any], plain: PlainCsv, progress: Progress | None) -> int:
    encoding = conn.execute("SHOW server_encoding").fetchone()
    if conn.info.encoding != "utf-8" or encoding is None or encoding[0] != "UTF8":
        raise _Refused("the server would not read the bytes as UTF-8")
    columns = [sql.Identifier(f"c{i}") for i in range(plain.width)]
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE recon_raw (n bigint GENERATED ALWAYS AS IDENTITY (CACHE 10000), {}) "
            "ON COMMIT DROP"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(c) for c in columns))
    )
    lines = _copy(conn, plain, sql.SQL(", ").join(columns), progress)
    rows = conn.execute("SELECT count(*) FROM recon_raw").fetchone()
    if rows is None or rows[0] != lines:
        raise _Refused("COPY read a different number of rows than the file has lines")
    conn.execute(STAGE_TABLE.format(checks=CHECKS))
    if lines:
        conn.execute(_convert(conn, plain))
    conn.execute("DROP TABLE recon_raw")
    return lines


def _copy(
    conn: psycopg.Connection[Any], plain: PlainCsv, columns: sql.Composable, progress: Progress | None
) -> int:
    lines, reported = 0, 0
    statement = sql.SQL("COPY recon_raw ({}) FROM STDIN (FORMAT csv)").format(columns)
    with conn.cursor().copy(statement) as copy:
        for chunk in plain.chunks():
            copy.write(chunk)
            lines += chunk.count(b"\n")
            if progress is not None and lines - reported >= PROGRESS_EVERY:
                progress(lines)
                reported = lines
    return lines


def _column(index: int | None) -> sql.Composable:
    return sql.Identifier(f"c{index}") if index is not None else sql.NULL


def _convert(conn: psycopg.Connection[Any], plain: PlainCsv) -> sql.Composed:
    """The INSERT converting every raw row, with the distinct types and currencies mapped by the
    parser's own functions (a value it refuses refuses the file here, before any conversion)."""
    kind, code = _column(plain.type_column), _column(plain.currency_column)
    found = conn.execute(sql.SQL("SELECT DISTINCT {}, {} FROM recon_raw").format(kind, code)).fetchall()
    types: dict[str, str] = {}
    currencies: dict[str, tuple[str, int]] = {}
    for category, currency in found:
        mapped_type = plain.types(category) if category is not None else None
        mapped_currency = plain.currencies(currency) if currency is not None else None
        if mapped_type is None or mapped_currency is None:
            raise _Refused("a type or currency the parser refuses")
        types[category], currencies[currency] = mapped_type, mapped_currency
    line_type = _case(kind, types)
    shapes = {text: AMOUNT_SHAPES.get(exponent) for text, (_, exponent) in currencies.items()}
    if None in shapes.values():
        raise _Refused("a currency exponent without a canonical amount shape")
    shape = _case(code, shapes)
    amounts = [
        sql.SQL(
            "CASE WHEN length({c}) <= {n} AND {c} ~ {shape} THEN replace({c}, '.', '')::bigint END"
        ).format(c=_column(column), n=sql.Literal(AMOUNT_LENGTH), shape=shape)
        for column in (plain.gross_column, plain.fee_column, plain.net_column)
    ]
    when = _column(plain.time_column)
    return sql.SQL(
        "INSERT INTO recon_stage SELECT n + 1, {type}, "
        "CASE WHEN {type} = 'charge' THEN coalesce({charge_ids}) ELSE coalesce({ids}) END, {reference}, "
        "{gross}, {fee}, {net}, {currency}, "
        "CASE WHEN length({when}) = 19 AND {when}::timestamp::text = {when} "
        "THEN {when}::timestamp AT TIME ZONE 'UTC' END "
        "FROM recon_raw"
    ).format(
        type=line_type,
        charge_ids=sql.SQL(", ").join(map(_column, plain.charge_external_id_columns)),
        ids=sql.SQL(", ").join(map(_column, plain.external_id_columns)),
        reference=_column(plain.reference_column),
        gross=amounts[0],
        fee=amounts[1],
        net=amounts[2],
        currency=_case(code, {text: iso for text, (iso, _) in currencies.items()}),
        when=when,
    )


def _case(column: sql.Composable, mapping: dict[str, Any]) -> sql.Composable:
    """`column`'s text mapped through `mapping` (a constant when every value is the same)."""
    values = set(mapping.values())
    if len(values) == 1:
        return sql.Literal(values.pop())
    branches = sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(sql.Literal(text), sql.Literal(value))
        for text, value in mapping.items()
    )
    return sql.SQL("(CASE {} {} END)").format(column, branches)
