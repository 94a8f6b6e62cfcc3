"""The PostgreSQL store's set-wise matching answers what `payments_core.matching` answers.

The shared suite plants one break of each kind; here the inputs are made to collide: lines that
share provider ids, records that share one, references naming records the first tier left, equal
amounts for the third tier, records outside the statement's period that a line names, payouts that
lines name (settlements, clean or not) among withdrawals and duplicates. Records are written
straight into the tables matching reads, and the breaks compared in order, with what a settlement
settles and the payout each line names (`payoutId`, read strictly: the key must be there).
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
from adapters.statements import StripeStatement
from adapters.statements.writers import PlannedLine, open_writer
from payments_core import matching
from payments_core.model.reconciliation import MatchOutcome, MatchRules, RecordKind, RecordView, StagedLine
from payments_core.ports import StatementLineType
from payments_core.ports.statements import PlainCsv

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
        T0 + timedelta(minutes=minutes), more.get("payout_id"),
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


def stored(
    conn: psycopg.Connection[Any],
    records: list[RecordView],
    lines: list[StagedLine] | PlainCsv,
    rules: MatchRules,
) -> tuple[MatchOutcome, list[dict[str, Any]]]:
    """The outcome of the store and its breaks' documents, from staged lines or a plain CSV file."""
    try:
        write(conn, records)
        store = PostgresReconciliation(conn, Scope(conn))
        if isinstance(lines, PlainCsv):
            assert store.stage_csv(TENANT, lines) is not None, "the file takes the set-wise path"
        else:
            store.stage(TENANT, lines)
        outcome = store.match(TENANT, PROVIDER, "run1", rules, T0)
        docs = conn.execute(
            "SELECT doc FROM reconciliation_breaks WHERE run_id = 'run1' ORDER BY id"
        ).fetchall()
    finally:
        conn.rollback()
    return outcome, [doc for (doc,) in docs]


def by_postgres(
    conn: psycopg.Connection[Any],
    records: list[RecordView],
    lines: list[StagedLine] | PlainCsv,
    rules: MatchRules,
) -> tuple[tuple[int, ...], list[tuple[Any, ...]]]:
    """The outcome and breaks of the store, from staged lines or from a plain CSV file it converts."""
    outcome, docs = stored(conn, records, lines, rules)
    found = [
        (
            doc["kind"],
            doc["line"] and doc["line"]["lineNumber"],
            doc["line"] and doc["line"].get("firstLineNumber"),
            doc["record"] and (doc["record"]["kind"], doc["record"]["id"]),
            doc["difference"] and doc["difference"]["minor"],
            doc["line"] and doc["line"].get("settles"),
            doc["line"] and doc["line"]["payoutId"],
        )
        for doc in docs
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
            matching.to_break(TENANT, "run1", n, d, T0).line.get("settles") if d.line else None,
            matching.to_break(TENANT, "run1", n, d, T0).line["payoutId"] if d.line else None,
        )
        for n, d in enumerate(drafts, 1)
    ]
    return (outcome.lines, outcome.matched, outcome.informational, *outcome.counts.values()), found


def test_records_sharing_a_provider_id_pair_the_lowest_id_and_leave_the_other(conn) -> None:
    records = [record("payment", "b1", 30, "r1"), record("payment", "a1", 20, "r1", amount=200)]
    lines = [line(2, "charge", "r1", 15), line(3, "charge", "zz", 400, gross=7)]
    rules = MatchRules(window=timedelta(hours=1), cutoff=timedelta(0))
    assert by_postgres(conn, records, lines, rules) == by_the_core(records, lines, rules)
    _, found = by_the_core(records, lines, rules)
    assert found[0] == ("amount_mismatch", 2, None, ("payment", "a1"), -100, None, None)
    assert ("missing_in_statement", None, None, ("payment", "b1"), -100, None, None) in found


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


def test_a_settlement_joins_no_withdrawal_and_a_payout_nobody_names_still_does(conn) -> None:
    """`po_1` is named by two charges (and by itself, and by a duplicate): it settles them, so the
    withdrawal carrying its id is left to the statement's other lines; `po_2` is named by none."""
    records = [
        record("payment", "a1", 10, "ch_1", amount=300),
        record("payment", "a2", 11, "ch_2", amount=200),
        record("withdrawal", "b1", 12, "po_1", amount=490),
        record("withdrawal", "b2", 13, "po_2", amount=250),
    ]
    lines = [
        line(2, "charge", "ch_1", 10, gross=300, payout_id="po_1"),
        line(3, "charge", "ch_2", 11, gross=200, payout_id="po_1"),
        line(4, "charge", "ch_2", 11, gross=200, payout_id="po_1"),
        line(5, "payout", "po_1", 20, gross=-490, payout_id="po_1"),
        line(6, "payout", "po_2", 21, gross=-250),
    ]
    rules = MatchRules(cutoff=timedelta(0))
    outcome, found = by_postgres(conn, records, lines, rules)
    assert (outcome, found) == by_the_core(records, lines, rules)
    assert found == [
        ("duplicate_in_statement", 4, 3, None, None, None, "po_1"),
        ("missing_in_statement", None, None, ("withdrawal", "b1"), 490, None, None),
    ]
    assert outcome[:3] == (5, 4, 0)  # two charges, the settlement, and po_2 with its withdrawal


def test_settlements_short_over_and_in_two_currencies_carry_what_they_settle(conn) -> None:
    lines = [
        line(2, "charge", "ch_1", 1, gross=1000, fee=30, payout_id="po_short"),
        line(3, "fee", "fee_1", 2, gross=-20, fee=0, payout_id="po_short"),
        line(4, "payout", "po_short", 3, gross=-900),
        line(5, "refund", "re_1", 4, gross=-100, fee=0, payout_id="po_fx", currency="EUR"),
        line(6, "charge", "ch_2", 5, gross=500, fee=0, payout_id="po_fx"),
        line(7, "payout", "po_fx", 6, gross=-400),
        line(8, "adjustment", "dp_1", 7, gross=-50, fee=0, payout_id="po_over"),
        line(9, "payout", "po_over", 8, gross=-70, currency="EUR", payout_id="po_short"),
    ]
    rules = MatchRules(cutoff=timedelta(0))
    outcome, found = by_postgres(conn, [], lines, rules)
    assert (outcome, found) == by_the_core([], lines, rules)
    settlements = [entry for entry in found if entry[1] in (4, 7, 9)]
    assert settlements == [
        ("amount_mismatch", 4, None, None, 50, {"lines": 2, "net": 950}, None),
        ("currency_mismatch", 7, None, None, None, {"lines": 2, "net": None}, None),
        ("currency_mismatch", 9, None, None, None, {"lines": 1, "net": None}, "po_short"),
    ]


def test_a_stripe_report_converted_set_wise_settles_its_payouts(conn, tmp_path) -> None:
    """The plain CSV path stages `automatic_payout_id` as the parser reads it; the payouts are judged."""
    at = T0 + timedelta(minutes=30)
    charge, payout = StatementLineType.CHARGE, StatementLineType.PAYOUT
    planned = [
        PlannedLine(charge, "pi_1", None, 10_000, 320, "USD", at, "po_clean"),
        PlannedLine(charge, "pi_2", None, 5_000, 175, "USD", at, "po_short"),
        PlannedLine(StatementLineType.FEE, "fee_1", None, -200, 0, "USD", at, "po_clean"),
        PlannedLine(payout, "po_clean", None, -(9_680 - 200), 0, "USD", at + timedelta(days=2)),
        PlannedLine(payout, "po_short", None, -4_800, 0, "USD", at + timedelta(days=2)),
    ]
    path = tmp_path / "stripe.csv"
    with path.open("w", encoding="utf-8", newline="") as out, open_writer("stripe", out) as writer:
        for item in planned:
            writer.write(item)
    records = [record("payment", "a1", 29, "pi_1", amount=10_000, fee=320)]
    report = StripeStatement(path)
    plain = report.plain_csv()
    assert plain is not None
    rules = MatchRules(window=timedelta(hours=1), cutoff=timedelta(0))
    outcome, found = by_postgres(conn, records, plain, rules)
    assert (outcome, found) == by_the_core(records, list(report.staged()), rules)
    assert found == [
        ("missing_in_ledger", 3, None, None, 5_000, None, "po_short"),
        ("amount_mismatch", 6, None, None, 25, {"lines": 1, "net": 4_825}, None),
    ]


def test_a_line_shows_the_payout_it_names_in_the_same_document_on_both_stores(conn) -> None:
    """Every break that shows a line shows its `payoutId`: the payout the line names as read, or null
    as an absent `reference` is. The whole line document is the store's and the core's alike."""
    records = [record("payment", "a1", 10, "ch_1", amount=300)]
    lines = [
        line(2, "charge", "ch_1", 10, gross=350, payout_id="po_1"),  # a1's amount differs
        line(3, "charge", "ch_2", 11, gross=200, payout_id="po_1"),  # no record
        line(4, "charge", "ch_2", 12, gross=200, payout_id="po_9"),  # a duplicate naming another payout
        line(5, "charge", "ch_3", 13, gross=70),  # no record, and no payout named
        line(6, "payout", "po_1", 20, gross=-1),  # settles lines 2 and 3, short of their nets
    ]
    rules = MatchRules(cutoff=timedelta(0))
    _, docs = stored(conn, records, lines, rules)
    _, drafts = matching.match(lines, records, rules)
    by_core = [dict(matching.to_break(TENANT, "run1", n, d, T0).line or {}) for n, d in enumerate(drafts, 1)]
    assert [doc["line"] for doc in docs] == by_core
    assert [(doc["kind"], doc["line"]["lineNumber"], doc["line"]["payoutId"]) for doc in docs] == [
        ("duplicate_in_statement", 4, "po_9"),
        ("amount_mismatch", 2, "po_1"),
        ("missing_in_ledger", 3, "po_1"),
        ("missing_in_ledger", 5, None),
        ("amount_mismatch", 6, None),
    ]
    assert docs[3]["line"] == {
        "lineNumber": 5, "type": "charge", "externalId": "ch_3", "reference": None, "gross": 70, "fee": 5,
        "net": 65, "currency": "USD", "occurredAt": (T0 + timedelta(minutes=13)).isoformat(), "payoutId": None,
    }  # fmt: skip
    assert docs[4]["line"]["settles"] == {"lines": 2, "net": 345 + 195}


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
        st.sampled_from(["charge", "charge", "refund", "payout", "payout", "fee"]),
        st.sampled_from((*REFERENCES, "x1")), st.integers(0, 300), st.sampled_from([100, 200, -100, 101]),
        st.sampled_from([0, 5, 6]), st.sampled_from(["USD", "EUR", "USD"]), st.sampled_from((None, *IDS)),
        st.sampled_from((None, None, "r1", "r2", "x1")),
    ),
    min_size=1,
    max_size=10,
)  # fmt: skip


def balanced(lines: list[StagedLine]) -> list[StagedLine]:
    """The payout lines made to settle exactly what names them (each payout id's first, non-duplicate
    items): clean settlements, which random amounts would seldom give."""
    seen: set[tuple[str, str]] = set()
    nets: dict[str, int] = {}
    for item in lines:
        if (item.type, item.external_id) not in seen and item.type != "payout" and item.payout_id:
            nets[item.payout_id] = nets.get(item.payout_id, 0) + item.net
        seen.add((item.type, item.external_id))
    return [
        item._replace(gross=-nets[item.external_id], fee=0, net=-nets[item.external_id])
        if item.type == "payout" and item.external_id in nets
        else item
        for item in lines
    ]


@given(
    RECORDS, LINES, st.sampled_from([0, 30, 600]), st.sampled_from([0, 60]), st.booleans(),
    st.randoms(use_true_random=False),
)  # fmt: skip
def test_colliding_statements_match_as_the_core_matches_them(
    conn, records, lines, window, cutoff, clean, rng
):
    """Records lie between the first and the last line: the store reads every record the core reads."""
    staged = [
        StagedLine(
            n, kind, ext, ref, gross, fee, gross - fee, currency, T0 + timedelta(minutes=minutes), payout_id
        )
        for n, (kind, ext, minutes, gross, fee, currency, ref, payout_id) in enumerate(lines, 2)
    ]
    if clean:
        staged = balanced(staged)
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


def test_a_record_outside_the_period_no_line_names_leaves_a_shared_provider_id_to_the_one_inside(
    conn,
) -> None:
    """`a1` (lower id, long before the statement) shares `r1` with `b1`: the line names `r1`, which
    `b1` in the period answers, so `a1` takes no part and `b1` pairs cleanly."""
    records = [record("payment", "a1", -3000, "r1", amount=300), record("payment", "b1", 60, "r1")]
    lines = [line(2, "charge", "r1", 50)]
    rules = MatchRules(window=timedelta(hours=1), cutoff=timedelta(0))
    outcome, found = by_postgres(conn, records, lines, rules)
    assert (outcome, found) == by_the_core(records, lines, rules)
    assert outcome[:2] == (1, 1) and found == []


def test_records_outside_the_period_take_no_rank_in_the_amount_and_time_tier(conn) -> None:
    """Two older payments of the same amount would take ranks 1 and 2 from those that can pair."""
    records = [
        record("payment", "a1", -5000, None),
        record("payment", "a2", -4000, None),
        record("payment", "b1", 10, None),
        record("payment", "b2", 20, None),
    ]
    lines = [line(2, "charge", "x1", 12), line(3, "charge", "x2", 22)]
    rules = MatchRules(window=timedelta(minutes=30), cutoff=timedelta(0))
    outcome, found = by_postgres(conn, records, lines, rules)
    assert (outcome, found) == by_the_core(records, lines, rules)
    assert outcome[:2] == (2, 2) and found == []


@given(
    RECORDS, LINES, st.sampled_from([0, 30, 600]), st.sampled_from([0, 60]),
    st.lists(st.integers(-600, 600), min_size=8, max_size=8),
)  # fmt: skip
def test_statements_with_records_anywhere_in_time_match_as_the_core_matches_them(
    conn, records, lines, window, cutoff, offsets
):
    """Records before, within and after the statement's period: the store reads those of the
    period and those named from outside it, which are the records the core considers."""
    staged = [
        StagedLine(
            n, kind, ext, ref, gross, fee, gross - fee, currency, T0 + timedelta(minutes=minutes), payout_id
        )
        for n, (kind, ext, minutes, gross, fee, currency, ref, payout_id) in enumerate(lines, 2)
    ]
    views = [
        record(
            kind, rid, minutes + offset, reference, amount, settled=settled, currency=currency,
            fee=fee if kind == "payment" else None, in_ledger=in_ledger,
        )
        for (kind, rid, minutes, reference, amount, settled, currency, fee, in_ledger), offset in zip(
            records, offsets, strict=False
        )
    ]  # fmt: skip
    rules = MatchRules(window=timedelta(minutes=window), cutoff=timedelta(minutes=cutoff))
    assert by_postgres(conn, views, staged, rules) == by_the_core(booked(views), staged, rules)
