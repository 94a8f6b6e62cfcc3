"""Staging a plain CSV statement without parsing it in Python: COPY the raw file, convert in SQL.

Invariants
- The staged rows are the parser's `staged()` lines, field for field: the store converts only the
  canonical shapes (`PlainCsv` says which), through the parser's own mappings for the few distinct
  types and currencies, and anything else (a value outside those shapes, a bad row, a file that
  leaves the plain subset) makes `stage_csv` answer None having staged nothing: the work runs under
  a savepoint that is rolled back, and the caller hands the parser's lines to `stage` instead.
- A bad row is caught by the typed table itself: an unknown shape converts to NULL, which the NOT
  NULL constraints refuse, an unbalanced row fails a CHECK, a time the server cannot read fails its
  cast. The constraints are added once every row is converted (one validating scan, cheaper than
  checking each row as it is written), before `stage_csv` answers: nothing is matched unchecked.
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
CREATE UNLOGGED TABLE recon_stage (
    line_number bigint NOT NULL,
    type text NOT NULL,
    external_id text NOT NULL,
    reference text,
    gross bigint NOT NULL,
    fee bigint NOT NULL,
    net bigint NOT NULL,
    currency text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payout_id text{checks}
)"""
# What the parser refuses and the conversion would otherwise let through.
CHECKS: Final = f""",
    CHECK (gross - fee = net),
    CHECK (abs(gross) <= {MAX_MINOR} AND abs(fee) <= {MAX_MINOR} AND abs(net) <= {MAX_MINOR})"""

# The same, with NOT NULL on every column a line cannot lack, added to the converted rows: one
# validating scan, where checking each row as it is inserted costs more.
CONSTRAINTS: Final = f"""
ALTER TABLE recon_stage
    ALTER line_number SET NOT NULL, ALTER type SET NOT NULL, ALTER external_id SET NOT NULL,
    ALTER gross SET NOT NULL, ALTER fee SET NOT NULL, ALTER net SET NOT NULL, ALTER currency SET NOT NULL,
    ALTER occurred_at SET NOT NULL,
    ADD CHECK (gross - fee = net),
    ADD CHECK (abs(gross) <= {MAX_MINOR} AND abs(fee) <= {MAX_MINOR} AND abs(net) <= {MAX_MINOR})"""

# A canonical amount is the decimal PostgreSQL prints for its own value (ASCII digits, no '+', no
# space, no exponent, no leading zero but a lone one) with exactly the currency's decimals: a
# numeric round trip and a pattern, cheaper than a regular expression. At most 19 characters, so
# its digits fit a bigint; the CHECK above bounds the value. ('007.50' or '-0.00', which the parser
# reads, are handed back to it: stricter than the parser is never wrong, only slower.)
DECIMALS: Final = {0: "NOT LIKE '%.%'", 2: "LIKE '%.__'", 3: "LIKE '%.___'"}
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
            "CREATE UNLOGGED TABLE recon_raw (n bigint GENERATED ALWAYS AS IDENTITY (CACHE 10000), {})"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(c) for c in columns))
    )
    lines = _copy(conn, plain, sql.SQL(", ").join(columns), progress)
    if not lines:
        conn.execute(STAGE_TABLE.format(checks=CHECKS))
        conn.execute("DROP TABLE recon_raw")
        return 0
    rows = conn.execute(_convert(conn, plain)).rowcount
    if rows != lines:
        raise _Refused("COPY read a different number of rows than the file has lines")
    conn.execute(CONSTRAINTS)
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
    if any(exponent not in DECIMALS for _, exponent in currencies.values()):
        raise _Refused("a currency exponent without a canonical amount shape")
    amounts = [
        sql.SQL(
            "CASE WHEN length({c}) <= {n} AND {c}::numeric::text = {c} AND {decimals} "
            "THEN replace({c}, '.', '')::bigint END"
        ).format(
            c=_column(column),
            n=sql.Literal(AMOUNT_LENGTH),
            decimals=_decimals(_column(column), code, currencies),
        )
        for column in (plain.gross_column, plain.fee_column, plain.net_column)
    ]
    when = _column(plain.time_column)
    return sql.SQL(
        "CREATE UNLOGGED TABLE recon_stage AS "
        "SELECT n + 1 AS line_number, {type}::text AS type, "
        "(CASE WHEN {type} = 'charge' THEN coalesce({charge_ids}) ELSE coalesce({ids}) END)::text "
        "AS external_id, "
        "{reference}::text AS reference, {gross} AS gross, {fee} AS fee, {net} AS net, "
        "{currency}::text AS currency, "
        "CASE WHEN length({when}) = 19 AND {when}::timestamp::text = {when} "
        "THEN {when}::timestamp AT TIME ZONE 'UTC' END AS occurred_at, {payout_id}::text AS payout_id "
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
        payout_id=_column(plain.payout_id_column),
    )


def _decimals(
    amount: sql.Composable, code: sql.Composable, currencies: dict[str, tuple[str, int]]
) -> sql.Composable:
    """`amount` has its currency's number of decimals (one test when the file has one exponent)."""
    tests = {
        text: sql.SQL("{} {}").format(amount, sql.SQL(DECIMALS[exponent]))
        for text, (_, exponent) in currencies.items()
    }
    if len({exponent for _, exponent in currencies.values()}) == 1:
        return next(iter(tests.values()))
    branches = sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(sql.Literal(text), test) for text, test in tests.items()
    )
    return sql.SQL("(CASE {} {} END)").format(code, branches)


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
