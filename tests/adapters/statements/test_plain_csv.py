"""The set-wise path (PostgreSQL converting a plain Stripe report itself) stages exactly what the
Stripe parser stages, or declines and stages nothing; the parser stays the reference."""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path

import attrs
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.postgres.pool import make_pool
from adapters.postgres.recon_sql import SURVEY, Survey
from adapters.postgres.recon_staging import stage_csv
from adapters.postgres.recon_workspace import close_workspace, open_workspace
from adapters.postgres.reconciliation import PostgresReconciliation
from adapters.postgres.rows import Scope
from adapters.statements import StatementError, StripeStatement
from adapters.statements.plain import CHUNK, data_halves
from adapters.statements.stripe import CATEGORY_TYPES

SAMPLES = Path(__file__).parents[3] / "contracts" / "providers" / "statements"
STRIPE_SAMPLE = SAMPLES / "stripe_itemized_payout_reconciliation.csv"
HEADER = (
    "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,source_id,"
    "payment_intent_id,charge_id,automatic_payout_id,description,payment_metadata[order_id]\n"
)
STAGED = "SELECT * FROM recon_stage ORDER BY line_number"
SIDES = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'recon\\_side\\_%'"


@pytest.fixture
def store(pg_url):
    with psycopg.connect(pg_url) as conn:
        yield conn, PostgresReconciliation(conn, Scope(conn))
        conn.rollback()


def staged_by_postgres(store, path: Path) -> list[tuple] | None:
    conn, recon = store
    plain = StripeStatement(path).plain_csv()
    assert plain is not None, "the header is plain"
    count = recon.stage_csv("t1", plain)
    rows = conn.execute(STAGED).fetchall() if count is not None else None
    assert count is None or count == len(rows or [])
    conn.rollback()
    return rows


@pytest.fixture
def pool(pg_clone):
    pool = make_pool(pg_clone(), max_size=3)
    yield pool
    pool.close()


def staged_in_halves(pool, path: Path, progress=None) -> list[tuple] | None:
    """As `staged_by_postgres`, the two halves of the file (cut however small) loaded at once by
    the run's session and a second one; the run's workspace is closed after, side schema and all."""
    plain = StripeStatement(path).plain_csv()
    assert plain is not None, "the header is plain"
    plain = attrs.evolve(plain, halves=partial(data_halves, path, smallest=1))
    with pool.connection() as conn:
        count = PostgresReconciliation(conn, Scope(conn), side=pool.connection).stage_csv(
            "t1", plain, progress
        )
        rows = conn.execute(STAGED).fetchall() if count is not None else None
        assert count is None or count == len(rows or [])
        if count is not None and plain.halves() is not None:
            kind = conn.execute(
                "SELECT relkind FROM pg_class WHERE oid = to_regclass('recon_stage')"
            ).fetchone()
            assert kind == ("v",), "the two parts are seen through one view"
        if count is None:
            assert conn.execute("SELECT to_regclass('recon_stage'), to_regclass('recon_raw')").fetchone() == (
                None,
                None,
            )
        close_workspace(conn)
        assert conn.execute(SIDES).fetchone() == (0,)
        conn.rollback()
    return rows


def staged_by_parser(path: Path) -> list[tuple]:
    return [tuple(line) for line in StripeStatement(path).staged()]


def test_the_stripe_sample_stages_identically_quotes_and_all(store):
    staged = staged_by_postgres(store, STRIPE_SAMPLE)
    assert staged is not None, "the sample's quoted fields are plain"
    with STRIPE_SAMPLE.open(encoding="utf-8", newline="") as sample:
        assert len(staged) == len(list(csv.reader(sample))) - 1
    assert staged == staged_by_parser(STRIPE_SAMPLE)


def test_the_stripe_sample_stages_identically_in_two_halves(pool):
    reported: list[int] = []
    staged = staged_in_halves(pool, STRIPE_SAMPLE, reported.append)
    assert staged == staged_by_parser(STRIPE_SAMPLE)
    assert [line for line, *_ in staged] == list(range(2, len(staged) + 2)), "one line number each, no gap"
    assert reported[-1] == len(staged)


@pytest.mark.parametrize("halves", [False, True])
def test_staging_answers_the_survey_matching_would_make_of_the_staged_lines(pool, halves):
    plain = StripeStatement(STRIPE_SAMPLE).plain_csv()
    assert plain is not None
    plain = attrs.evolve(plain, halves=partial(data_halves, STRIPE_SAMPLE, smallest=1) if halves else None)
    with pool.connection() as conn:
        Scope(conn).enter("t1")
        open_workspace(conn)
        survey = stage_csv(conn, plain, None, side=pool.connection)
        row = conn.execute(SURVEY).fetchone()
        assert row is not None
        assert survey == Survey.of_row(tuple(row))
        assert survey.start is not None and survey.start < survey.end
        assert 0 < survey.record_lines < survey.lines and survey.names_payouts
        close_workspace(conn)
        conn.rollback()


def test_a_file_outside_the_subset_is_declined_and_nothing_is_staged(store, tmp_path):
    good = "txn_1,2026-01-15 11:40:03,usd,49.99,1.75,48.24,charge,ch_1,pi_1,ch_1,po_1,d,order-1\n"
    cases = {
        "quote inside a field": good.replace(",d,", ',a"b,'),
        "text after a closing quote": good.replace(",d,", ',"d"x,'),
        "empty quoted field": good.replace(",d,", ',"",'),
        "quoted line end": good.replace(",d,", ',"d\ne",'),
        "unclosed quote": good.replace(",d,", ',"d,'),
        "carriage return": good.replace("\n", "\r\n"),
        "blank line": good + "\n" + good,
        "end-of-data marker": good + "\\.\n" + good,
        "unterminated": good + good.rstrip("\n"),
        "not utf-8": good.replace("d", "\udcff", 1),
        "long line": good.replace(",d,", "," + "d" * CHUNK + ","),
    }
    conn, _ = store
    for name, body in cases.items():
        path = tmp_path / "odd.csv"
        path.write_bytes((HEADER + body).encode("utf-8", "surrogateescape"))
        assert staged_by_postgres(store, path) is None, name
        assert conn.execute("SELECT to_regclass('recon_stage'), to_regclass('recon_raw')").fetchone() == (
            None,
            None,
        )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("49.99,1.75,48.24", "49.991,1.75,48.241"),  # too many decimals
        ("49.99,1.75,48.24", "49.99,1.75,48.25"),  # gross - fee != net
        (",usd,", ",xyz,"),  # unknown currency
        (",charge,", ",chrage,"),  # unknown type
        ("11:40:03", "25:40:03"),  # bad time
        ("2026-01-15", "2026-02-30"),  # no such day
        ("txn_2,", ","),  # no id at all (with the ids below emptied)
        ("49.99", "4x.99"),  # bad amount
        ("49.99,1.75,48.24", "49.99,1.75"),  # missing column
    ],
)
def test_a_bad_row_is_declined_and_the_parser_names_its_line(store, tmp_path, old, new):
    rows = [
        "txn_1,2026-01-15 11:40:03,usd,10.00,0.59,9.41,charge,ch_1,pi_1,ch_1,po_1,d,order-1\n",
        "txn_2,2026-01-15 11:40:03,usd,49.99,1.75,48.24,charge,,,,,d,order-2\n",
    ]
    rows[1] = rows[1].replace(old, new, 1)
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    assert staged_by_postgres(store, path) is None
    with pytest.raises(StatementError) as refused:
        staged_by_parser(path)
    assert refused.value.line_number == 3


DIGITS = st.text("0123456789", min_size=1, max_size=4)
CANONICAL_AMOUNT = st.builds(
    lambda sign, whole, cents: f"{sign}{whole}.{cents:02d}",
    st.sampled_from(["", "-"]),
    DIGITS,
    st.integers(0, 99),
)
ODD_AMOUNT = st.sampled_from(
    ["1.5", "+1.00", " 1.00", "1.001", "\u0661.00", "-.50", "1.", "1e2", "1_0.00", "0x10.00"]
)
CANONICAL_TIME = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S"))
ODD_TIME = st.sampled_from(
    ["2026-01-15T11:40:03", "2026-01-15 24:00:00", "2026-01-15 11:40:60", "2026-01-15 11:40:03Z",
     "2026-01-15 11:40:03.5", "2026-01-15", "20260115T114003", "10000-01-15 11:40:03", "infinity", "epoch"]
)  # fmt: skip
CANONICAL_CURRENCY = st.sampled_from(["usd", "USD", "eur", "jpy", "kwd"])
ODD_CURRENCY = st.sampled_from(["Usd", "\u0131nr", "xyz", "us", ""])
CATEGORY = st.sampled_from(sorted(CATEGORY_TYPES))
ODD_CATEGORY = st.sampled_from(["Charge", "chrage", "", " charge"])
ID = st.sampled_from(["", "ch_1", "pi_9", "po_3", "txn_x"])
PAYOUT_ID = st.sampled_from(["", "po_1", "po_3"])
TEXT = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]), max_size=6)
ODD_QUOTING = st.sampled_from(['a"b', '"a"b', '""', '"a', 'a"', ' "a"', '"a" '])


def field(text: str) -> str:
    """`text` as one CSV field, quoted as the statement writers quote it: only when it must be."""
    if any(ch in text for ch in '",'):
        return '"' + text.replace('"', '""') + '"'
    return text


@st.composite
def rows(draw, odd: bool):
    """One row: canonical values only (`odd` False), or now and then an odd one."""

    def pick(canonical, unusual):
        return draw(unusual) if odd and draw(st.integers(0, 9)) == 0 else draw(canonical)

    currency = pick(CANONICAL_CURRENCY, ODD_CURRENCY)
    exponent = {"jpy": 0, "kwd": 3}.get(currency.lower(), 2)
    gross, fee = draw(st.integers(-(10**9), 10**9)), draw(st.integers(-(10**6), 10**6))
    amounts = [_major(value, exponent) for value in (gross, fee, gross - fee)]
    if odd and draw(st.integers(0, 9)) == 0:
        amounts[draw(st.integers(0, 2))] = draw(ODD_AMOUNT | CANONICAL_AMOUNT)
    txn = draw(ID) if odd else draw(ID.filter(bool))
    return (
        f"{txn},{pick(CANONICAL_TIME, ODD_TIME)},{currency},{','.join(amounts)},"
        f"{pick(CATEGORY, ODD_CATEGORY)},{draw(ID)},{draw(ID)},{draw(ID)},{draw(PAYOUT_ID)},"
        f"{pick(TEXT.map(field), ODD_QUOTING)},{field(draw(TEXT))}\n"
    )


def _major(minor: int, exponent: int) -> str:
    if exponent == 0:
        return str(minor)
    sign, digits = ("-" if minor < 0 else ""), str(abs(minor)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(odd=st.booleans(), data=st.data())
def test_random_reports_stage_as_the_parser_stages_them(store, tmp_path, odd, data):
    body = "".join(data.draw(st.lists(rows(odd), max_size=12)))
    assert_staged_as_the_parser_stages(partial(staged_by_postgres, store), tmp_path, body, odd)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(odd=st.booleans(), data=st.data())
def test_random_reports_stage_in_two_halves_as_the_parser_stages_them(pool, tmp_path, odd, data):
    body = "".join(data.draw(st.lists(rows(odd), min_size=2, max_size=12)))
    assert_staged_as_the_parser_stages(partial(staged_in_halves, pool), tmp_path, body, odd)


def assert_staged_as_the_parser_stages(staging, tmp_path: Path, body: str, odd: bool) -> None:
    """The set-wise path (`staging`) stages the report as the parser does, or declines it; it
    never stages a report the parser refuses, and never declines a canonical one."""
    path = tmp_path / "random.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    by_postgres = staging(path)
    try:
        by_parser = staged_by_parser(path)
    except StatementError:
        assert by_postgres is None, "a file the parser refuses is never staged"
        return
    if not odd:
        assert by_postgres is not None, "a canonical file takes the set-wise path"
    assert by_postgres is None or by_postgres == by_parser
