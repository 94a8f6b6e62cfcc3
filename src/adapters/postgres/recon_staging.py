"""Staging a plain CSV statement without parsing it in Python: COPY the raw file, convert in SQL.

Invariants
- The staged rows are the parser's `staged()` lines, field for field: the store converts only the
  canonical shapes (`PlainCsv` says which), through the parser's own mappings for the few distinct
  types and currencies, and anything else (a value outside those shapes, a bad row, a file that
  leaves the plain subset) makes `stage_csv` answer None having staged nothing: the work runs under
  a savepoint that is rolled back, and the caller hands the parser's lines to `stage` instead.
- A bad row is caught once every row is converted, before `stage_csv` answers: an unknown shape
  converts to NULL, an unbalanced row fails `gross - fee = net`, a time the server cannot read
  fails its cast. The checks (`VALID`: the NOT NULLs and CHECKs of a parsed statement's table) are
  made by one aggregate pass over each part, which also surveys it (`recon_sql.Survey`): `match`
  then makes no pass of its own for the period and counts. Nothing is matched unchecked.
- Every data line is one row (no quoted field of the subset spans lines, and COPY refuses a blank
  line); the row count is checked against the newlines sent, so a line COPY would take for
  end-of-data (`\\.`) cannot silently drop the rest.
- Memory stays flat: the file streams from disk into COPY in fixed-size reads.
- A big file is loaded in two parts at once when the store has a second session (`side`): COPY
  runs on one core per session, and the conversion's rows are written by one process per
  session. The run's session loads the first part into its workspace; the side session loads the
  second into the run's side schema (`recon_workspace`) and commits it, having checked it the same
  way. `recon_stage` is then a view of both, the second part's line numbers shifted by the first
  part's lines. Either part refused refuses both: the side rolls back (told to stop if the first
  part failed first), and a side committed before the first part failed is dropped with the
  workspace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, Final

import psycopg
from psycopg import sql

from adapters.postgres.recon_sql import SURVEY_COLUMNS, Survey
from adapters.postgres.recon_workspace import UNVACUUMED, SideSession, open_side, run_id_of, second_session
from payments_core.money import MAX_MINOR
from payments_core.ports.reconciliation import Progress
from payments_core.ports.statements import NotPlainCsv, PlainCsv

PROGRESS_EVERY: Final = 10_000
SAVEPOINT: Final = "recon_plain_csv"
PART: Final = "recon_stage_part"
ANALYZE: Final = "SET LOCAL default_statistics_target = 10; ANALYZE {}; RESET default_statistics_target"

Chunks = Callable[[], Iterator[bytes]]

STAGE_COLUMNS: Final = (
    "line_number", "type", "external_id", "reference", "gross", "fee", "net", "currency", "occurred_at",
    "payout_id",
)  # fmt: skip
STAGE_TABLE: Final = f"""
CREATE UNLOGGED TABLE {{table}} (
    line_number bigint NOT NULL,
    type text NOT NULL,
    external_id text NOT NULL,
    reference text,
    gross bigint NOT NULL,
    fee bigint NOT NULL,
    net bigint NOT NULL,
    currency text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payout_id text{{checks}}
) {UNVACUUMED}"""
# What the parser refuses and the conversion would otherwise let through.
CHECKS: Final = f""",
    CHECK (gross - fee = net),
    CHECK (abs(gross) <= {MAX_MINOR} AND abs(fee) <= {MAX_MINOR} AND abs(net) <= {MAX_MINOR})"""

# The same, and a value in every column a line cannot lack, for each converted row: never NULL (the
# NOT NULLs come first). Checked in the part's survey: one pass that also answers what `match`
# needs, where constraints would be one pass more (0.07 s per half-million rows) and checking each
# row as it is inserted costs more still.
VALID: Final = f"""
line_number IS NOT NULL AND type IS NOT NULL AND external_id IS NOT NULL AND gross IS NOT NULL
AND fee IS NOT NULL AND net IS NOT NULL AND currency IS NOT NULL AND occurred_at IS NOT NULL
AND gross - fee = net AND abs(gross) <= {MAX_MINOR} AND abs(fee) <= {MAX_MINOR} AND abs(net) <= {MAX_MINOR}"""
PART_SURVEY: Final = f"SELECT {SURVEY_COLUMNS}, coalesce(bool_and({VALID}), true) FROM {{table}}"  # noqa: S608 - constants only

# A canonical amount is the decimal PostgreSQL prints for its own value (ASCII digits, no '+', no
# space, no exponent, no leading zero but a lone one) with exactly the currency's decimals: a
# numeric round trip and a pattern, cheaper than a regular expression. At most 19 characters, so
# its digits fit a bigint; the CHECK above bounds the value. ('007.50' or '-0.00', which the parser
# reads, are handed back to it: stricter than the parser is never wrong, only slower.)
DECIMALS: Final = {0: "NOT LIKE '%.%'", 2: "LIKE '%.__'", 3: "LIKE '%.___'"}
AMOUNT_LENGTH: Final = 19


class _Refused(Exception):
    """This file is not for the set-wise path; the savepoint is rolled back."""


def stage_csv(
    conn: psycopg.Connection[Any], plain: PlainCsv, progress: Progress | None, side: SideSession | None = None
) -> Survey | None:
    """Stage `plain` into `recon_stage` (in two parts when `side` gives a second session and the
    file is big enough) and answer its survey, or stage nothing and answer None (see the
    invariants)."""
    conn.execute(f"SAVEPOINT {SAVEPOINT}")
    try:
        _check_encoding(conn)
        halves = plain.halves() if side is not None and plain.halves is not None else None
        with ExitStack() as stack:
            second = second_session(stack, side) if halves is not None else None
            if second is not None and halves is not None:
                survey = _stage_halves(conn, second, plain, halves, progress)
            else:
                survey = _stage_part(conn, plain, plain.chunks, "recon_stage", progress)
    except (_Refused, NotPlainCsv, psycopg.DataError, psycopg.IntegrityError):
        conn.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
        return None
    conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
    return survey


def _check_encoding(conn: psycopg.Connection[Any]) -> None:
    encoding = conn.execute("SHOW server_encoding").fetchone()
    if conn.info.encoding != "utf-8" or encoding is None or encoding[0] != "UTF8":
        raise _Refused("the server would not read the bytes as UTF-8")


def _stage_halves(
    conn: psycopg.Connection[Any],
    side: psycopg.Connection[Any],
    plain: PlainCsv,
    halves: tuple[Chunks, Chunks],
    progress: Progress | None,
) -> Survey:
    """The first part here, the second in the side session at the same time; then the view."""
    run = run_id_of(conn)
    stop = threading.Event()
    side_lines = [0]

    def both(lines: int) -> None:
        if progress is not None:
            progress(lines + side_lines[0])

    def seen(lines: int) -> None:
        side_lines[0] = lines

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recon-side") as executor:
        second = executor.submit(_stage_side, side, run, plain, _until(halves[1], stop), seen, stop)
        try:
            first = _stage_part(conn, plain, halves[0], PART, both)
        except BaseException:
            stop.set()
            raise
        schema, more = second.result()
    shifted = (
        sql.SQL("line_number + {}").format(sql.Literal(first.lines))
        if name == "line_number"
        else sql.Identifier(name)
        for name in STAGE_COLUMNS
    )
    conn.execute(
        sql.SQL("CREATE VIEW recon_stage AS SELECT {} FROM {} UNION ALL SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS)),
            sql.Identifier(PART),
            sql.SQL(", ").join(shifted),
            sql.Identifier(schema, PART),
        )
    )
    return first + more


def _stage_side(
    conn: psycopg.Connection[Any],
    run: str,
    plain: PlainCsv,
    chunks: Chunks,
    progress: Progress,
    stop: threading.Event,
) -> tuple[str, Survey]:
    """The second part, in the second session, committed in the run's side schema when it is good
    and the first part was not refused meanwhile (on an error, the session is rolled back as it
    goes back to its pool)."""
    _check_encoding(conn)
    schema = open_side(conn, run)
    survey = _stage_part(conn, plain, chunks, PART, progress)
    if stop.is_set():
        raise _Refused("the other part was refused")
    conn.commit()
    return schema, survey


def _until(chunks: Chunks, stop: threading.Event) -> Chunks:
    def stopping() -> Iterator[bytes]:
        for chunk in chunks():
            if stop.is_set():
                raise _Refused("the other part was refused")
            yield chunk

    return stopping


def _stage_part(
    conn: psycopg.Connection[Any], plain: PlainCsv, chunks: Chunks, table: str, progress: Progress | None
) -> Survey:
    """COPY `chunks` raw, convert them into the checked, analysed `table`; answer its survey."""
    columns = [sql.Identifier(f"c{i}") for i in range(plain.width)]
    conn.execute(
        sql.SQL(
            "CREATE UNLOGGED TABLE recon_raw (n bigint GENERATED ALWAYS AS IDENTITY (CACHE 10000), {})"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(c) for c in columns))
    )
    lines = _copy(conn, chunks, sql.SQL(", ").join(columns), progress)
    name = sql.Identifier(table)
    if not lines:
        conn.execute(sql.SQL(STAGE_TABLE).format(table=name, checks=sql.SQL(CHECKS)))
    else:
        rows = conn.execute(_convert(conn, plain, name)).rowcount
        if rows != lines:
            raise _Refused("COPY read a different number of rows than the file has lines")
    conn.execute("DROP TABLE recon_raw")
    row = conn.execute(sql.SQL(PART_SURVEY).format(table=name)).fetchone()
    if row is None or not row[-1]:
        raise _Refused("a row the parser would refuse")
    conn.execute(sql.SQL(ANALYZE).format(name))
    return Survey.of_row(row[:-1])


def _copy(
    conn: psycopg.Connection[Any], chunks: Chunks, columns: sql.Composable, progress: Progress | None
) -> int:
    lines, reported = 0, 0
    statement = sql.SQL("COPY recon_raw ({}) FROM STDIN (FORMAT csv)").format(columns)
    with conn.cursor().copy(statement) as copy:
        for chunk in chunks():
            copy.write(chunk)
            lines += chunk.count(b"\n")
            if progress is not None and lines - reported >= PROGRESS_EVERY:
                progress(lines)
                reported = lines
    return lines


def _column(index: int | None) -> sql.Composable:
    return sql.Identifier(f"c{index}") if index is not None else sql.NULL


def _convert(conn: psycopg.Connection[Any], plain: PlainCsv, table: sql.Identifier) -> sql.Composed:
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
    # The inner SELECT maps the type and reads the time once per row (OFFSET 0 keeps the planner
    # from folding it into the outer one, which would evaluate each twice): 0.96 -> 0.77 s per
    # half-million rows, measured. A time the server cannot read fails here, as it failed its
    # check before: either way the file is declined and the parser reports the line.
    return sql.SQL(
        "CREATE UNLOGGED TABLE {table} {options} AS "
        "SELECT n + 1 AS line_number, mapped_type AS type, "
        "(CASE WHEN mapped_type = 'charge' THEN coalesce({charge_ids}) ELSE coalesce({ids}) END)::text "
        "AS external_id, "
        "{reference}::text AS reference, {gross} AS gross, {fee} AS fee, {net} AS net, "
        "{currency}::text AS currency, "
        "CASE WHEN length({when}) = 19 AND read_time::text = {when} "
        "THEN read_time AT TIME ZONE 'UTC' END AS occurred_at, {payout_id}::text AS payout_id "
        "FROM (SELECT recon_raw.*, {type}::text AS mapped_type, {when}::timestamp AS read_time "
        "FROM recon_raw OFFSET 0) AS recon_raw"
    ).format(
        table=table,
        options=sql.SQL(UNVACUUMED),
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
