"""The PostgreSQL store's set-wise matching answers what `payments_core.matching` answers.

The shared suite plants one break of each kind; here the inputs are made to collide: lines that
share provider ids, records that share one, references naming records the first tier left, equal
amounts for the third tier, records outside the statement's period that a line names. Records
are written straight into the tables matching reads, and the breaks compared in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from adapters.postgres.reconciliation import PostgresReconciliation
from adapters.postgres.rows import Scope
from payments_core import matching
from payments_core.model.reconciliation import MatchRules, RecordKind, RecordView, StagedLine

TENANT = "t1"
PROVIDER = "sb"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SETTLED = {"payment": "completed", "refund": "succeeded", "withdrawal": "completed"}
UNSETTLED = {"payment": "pending", "refund": "pending", "withdrawal": "processing"}
SUFFIX = {"payment": "completed", "refund": "settled", "withdrawal": "settled"}
REFERENCES = ("r1", "r2", "r3", "r4")
IDS = ("a1", "a2", "b1", "b2", "c1")


@pytest.fixture(scope="module")
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url) as connection:
        yield connection
        connection.rollback()


def record(
    kind: str, rid: str, minutes: int, reference: str | None, amount: int = 100, **more: Any
) -> RecordView:
    settled = more.pop("settled", True)
    values: dict[str, Any] = {
        "status": SETTLED[kind] if settled else UNSETTLED[kind],
        "currency": "USD",
        "fee": 5 if kind == "payment" else None,
        "in_ledger": True,
    } | more
    return RecordView(
        RecordKind(kind), rid, values["status"], amount, values["currency"], T0 + timedelta(minutes=minutes),
        reference, values["fee"], settled, values["in_ledger"],
    )  # fmt: skip


def line(number: int, kind: str, external_id: str, minutes: int, gross: int = 100, **more: Any) -> StagedLine:
    fee = more.get("fee", 5 if kind == "charge" else 0)
    return StagedLine(
        number, kind, external_id, more.get("reference"), gross, fee, gross - fee, more.get("currency", "USD"),
        T0 + timedelta(minutes=minutes),
    )  # fmt: skip


def write(conn: psycopg.Connection[Any], records: list[RecordView]) -> None:
    for item in records:
        amount = {"minor": item.amount, "currency": item.currency}
        fee = {"fee": {"minor": item.fee, "currency": item.currency}} if item.fee is not None else {}
        row = (TENANT, item.id, item.status, PROVIDER, item.provider_reference, item.created_at)
        if item.kind is RecordKind.PAYMENT:
            conn.execute(
                "INSERT INTO payments (tenant_id, id, status, provider, provider_reference, created_at, doc)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (*row, Jsonb({"amount": amount} | fee)),
            )
        elif item.kind is RecordKind.REFUND:
            conn.execute(
                "INSERT INTO refunds (tenant_id, id, status, provider, provider_refund_id, created_at, doc,"
                " payment_id) VALUES (%s, %s, %s, %s, %s, %s, %s, 'p0')",
                (*row, Jsonb({"amount": amount})),
            )
        else:
            conn.execute(
                "INSERT INTO withdrawals (tenant_id, id, status, provider, provider_reference, created_at, doc)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (*row, Jsonb({"net_amount": amount})),
            )
        if item.in_ledger:
            conn.execute(
                "INSERT INTO transfers (tenant_id, id, kind, mode, request, postings, created_at)"
                " VALUES (%s, %s, 'settle', 'posted', '{}', '[]', %s) ON CONFLICT DO NOTHING",
                (TENANT, f"{item.id}.{SUFFIX[item.kind.value]}", T0),
            )


def by_postgres(
    conn: psycopg.Connection[Any], records: list[RecordView], lines: list[StagedLine], rules: MatchRules
) -> tuple[tuple[int, ...], list[tuple[Any, ...]]]:
    try:
        write(conn, records)
        store = PostgresReconciliation(conn, Scope(conn))
        store.stage(TENANT, lines)
        outcome = store.match(TENANT, PROVIDER, "run1", rules, T0)
        docs = conn.execute(
            "SELECT doc FROM reconciliation_breaks WHERE run_id = 'run1' ORDER BY id"
        ).fetchall()
    finally:
        conn.rollback()
    found = [
        (
            doc["kind"],
            doc["line"] and doc["line"]["lineNumber"],
            doc["line"] and doc["line"].get("firstLineNumber"),
            doc["record"] and (doc["record"]["kind"], doc["record"]["id"]),
            doc["difference"] and doc["difference"]["minor"],
        )
        for (doc,) in docs
    ]
    return (outcome.lines, outcome.matched, outcome.informational, *outcome.counts.values()), found


def by_the_core(
    records: list[RecordView], lines: list[StagedLine], rules: MatchRules
) -> tuple[tuple[int, ...], list[tuple[Any, ...]]]:
    outcome, drafts = matching.match(lines, records, rules)
    found = [
        (
            d.kind.value,
            d.line and d.line.line_number,
            d.first_line,
            d.record and (d.record.kind.value, d.record.id),
            d.difference,
        )
        for d in drafts
    ]
    return (outcome.lines, outcome.matched, outcome.informational, *outcome.counts.values()), found


def test_records_sharing_a_provider_id_pair_the_lowest_id_and_leave_the_other(conn) -> None:
    records = [record("payment", "b1", 30, "r1"), record("payment", "a1", 20, "r1", amount=200)]
    lines = [line(2, "charge", "r1", 15), line(3, "charge", "zz", 400, gross=7)]
    rules = MatchRules(window=timedelta(hours=1), cutoff=timedelta(0))
    assert by_postgres(conn, records, lines, rules) == by_the_core(records, lines, rules)
    _, found = by_the_core(records, lines, rules)
    assert found[0] == ("amount_mismatch", 2, None, ("payment", "a1"), -100)
    assert ("missing_in_statement", None, None, ("payment", "b1"), -100) in found


def test_a_record_outside_the_period_is_found_by_the_id_a_line_gives(conn) -> None:
    records = [
        record("payment", "a1", -3000, "r1"),
        record("withdrawal", "c1", -5000, "r9"),
        record("payment", "b1", 60, "r2"),
    ]
    lines = [
        line(2, "charge", "r1", 50),
        line(3, "payout", "po_1", 60, gross=-100, reference="c1"),
        line(4, "charge", "r2", 70),
    ]
    rules = MatchRules(window=timedelta(hours=1), cutoff=timedelta(0))
    outcome, found = by_postgres(conn, records, lines, rules)
    assert (outcome, found) == by_the_core(records, lines, rules)
    assert outcome[:2] == (3, 3) and found == []


def test_a_named_record_with_a_lower_id_takes_a_provider_id_from_one_in_the_period(conn) -> None:
    """`a1` lies outside the period; line 3 names it by reference, and it shares `r1` with `b1`."""
    records = [record("payment", "a1", -3000, "r1", amount=300), record("payment", "b1", 60, "r1")]
    lines = [line(2, "charge", "r1", 50), line(3, "charge", "zz", 55, reference="a1")]
    rules = MatchRules(window=timedelta(hours=1), cutoff=timedelta(0))
    assert by_postgres(conn, records, lines, rules) == by_the_core(records, lines, rules)


def test_duplicates_of_a_matched_line_and_of_a_fee_line_are_breaks_of_their_own(conn) -> None:
    records = [record("payment", "a1", 10, "r1"), record("refund", "b1", 20, "r2")]
    lines = [
        line(2, "charge", "r1", 12),
        line(3, "fee", "f1", 13, gross=-3, fee=0),
        line(4, "charge", "r1", 14, gross=999),
        line(5, "refund", "r2", 21, gross=-100),
        line(6, "fee", "f1", 22, gross=-3, fee=0),
        line(7, "refund", "r2", 23, gross=-100),
    ]
    rules = MatchRules(cutoff=timedelta(0))
    outcome, found = by_postgres(conn, records, lines, rules)
    assert (outcome, found) == by_the_core(records, lines, rules)
    assert [f[:3] for f in found] == [
        ("duplicate_in_statement", 4, 2),
        ("duplicate_in_statement", 6, 3),
        ("duplicate_in_statement", 7, 5),
    ]


def booked(records: list[RecordView]) -> list[RecordView]:
    """`in_ledger` as the store reads it: a refund and a withdrawal of one id share a transfer."""
    ids = {f"{item.id}.{SUFFIX[item.kind.value]}" for item in records if item.in_ledger}
    return [attrs.evolve(item, in_ledger=f"{item.id}.{SUFFIX[item.kind.value]}" in ids) for item in records]


KINDS = st.sampled_from(["payment", "payment", "refund", "withdrawal"])
RECORDS = st.lists(
    st.tuples(
        KINDS, st.sampled_from(IDS), st.integers(0, 300), st.sampled_from((*REFERENCES, None)),
        st.sampled_from([100, 200]), st.booleans(), st.sampled_from(["USD", "EUR"]),
        st.sampled_from([None, 5, 6]), st.booleans(),
    ),
    max_size=8,
    unique_by=lambda r: (r[0], r[1]),
)  # fmt: skip
LINES = st.lists(
    st.tuples(
        st.sampled_from(["charge", "charge", "refund", "payout", "fee"]),
        st.sampled_from((*REFERENCES, "x1")), st.integers(0, 300), st.sampled_from([100, 200, -100, 101]),
        st.sampled_from([0, 5, 6]), st.sampled_from(["USD", "EUR"]), st.sampled_from((None, *IDS)),
    ),
    min_size=1,
    max_size=8,
)  # fmt: skip


@given(
    RECORDS, LINES, st.sampled_from([0, 30, 600]), st.sampled_from([0, 60]), st.randoms(use_true_random=False)
)
def test_colliding_statements_match_as_the_core_matches_them(conn, records, lines, window, cutoff, rng):
    """Records lie between the first and the last line: the store reads every record the core reads."""
    staged = [
        StagedLine(n, kind, ext, ref, gross, fee, gross - fee, currency, T0 + timedelta(minutes=minutes))
        for n, (kind, ext, minutes, gross, fee, currency, ref) in enumerate(lines, 2)
    ]
    start = min(item.occurred_at for item in staged)
    end = max(item.occurred_at for item in staged)
    span = int((end - start).total_seconds() // 60)
    views = [
        record(
            kind, rid, int((start - T0).total_seconds() // 60) + minutes % (span + 1), reference, amount,
            settled=settled, currency=currency, fee=fee if kind == "payment" else None, in_ledger=in_ledger,
        )
        for kind, rid, minutes, reference, amount, settled, currency, fee, in_ledger in records
    ]  # fmt: skip
    rng.shuffle(staged)
    rules = MatchRules(window=timedelta(minutes=window), cutoff=timedelta(minutes=cutoff))
    assert by_postgres(conn, views, staged, rules) == by_the_core(booked(views), staged, rules)
