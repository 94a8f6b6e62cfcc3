"""The SQL of the PostgreSQL reconciliation store's `match`, one statement per step.

Invariants
- Together the steps answer `payments_core.matching.match` over the records the store reads: this
  tenant's and provider's created within the statement's period (widened by the window), and
  those outside it that a line names but nothing in the period answers (`recon_named`).
- The million-row tables are read by five steps only: `SURVEY` (unless staging surveyed the lines)
  and `FIRSTS` (duplicates) over the lines, `PAYOUTS` (one aggregate of the lines that name a
  payout, skipped when none does), `RECORDS` over our tables, and `ODD`, one hash join of the lines
  with the records on (kind, provider id) that judges each first-tier pair as it is made and keeps
  only what is not a clean pair (duplicates, judged breaks, lines and records left over, pairs
  whose reference names another record). Clean pairs are counted, not written: their number
  follows from the rows the join had in and left over (`Tally` in `reconciliation`).
- The one join is exact when each line meets at most one record. Where a provider id is shared
  (by records in the period, or by a named record outside it), the first tier is done again, the
  slow way but only for those provider ids (`DISPUTED` to `REDO`): the answers never depend on
  which way was taken.
- A settlement (a payout line other lines name: `payments_core.matching`, invariant 3) gets the kind
  'settlement', which no record has: it joins nothing in `ODD`, which keeps it, and `SETTLEMENTS`
  judges it from the few `PAYOUTS` groups.
- Everything after the first tier works on the few rows left over, never again on the millions.
- A line carries the payout it names (`payout_id`) through every step to its break's evidence
  (`payoutId`, null when it names none), as `payments_core.matching.to_break` writes it.
- Built from constants only: the values (tenant, provider, times, window) are bound by psycopg.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import attrs

from adapters.postgres.recon_workspace import UNVACUUMED

RECORD_TYPES: Final = "('charge', 'refund', 'payout')"
KIND_OF_TYPE: Final = (
    "CASE {t} WHEN 'charge' THEN 'payment' WHEN 'refund' THEN 'refund' WHEN 'payout' THEN 'withdrawal' END"
)

# The statement's size and period, and whether any line names a payout, in one pass over the lines
# (`recon_staging` surveys each part it converts as it checks them: then `match` needs no pass).
SURVEY_COLUMNS: Final = f"""
min(occurred_at), max(occurred_at), count(*), count(*) FILTER (WHERE type IN {RECORD_TYPES}),
count(payout_id) FILTER (WHERE type <> 'payout') > 0"""
SURVEY: Final = f"SELECT {SURVEY_COLUMNS} FROM recon_stage"  # noqa: S608 - constants only


@attrs.frozen
class Survey:
    """What `SURVEY` answers: the lines' period (None when there are none), their number, how many
    are of a record's type, and whether any line that is no payout names a payout."""

    start: datetime | None
    end: datetime | None
    lines: int
    record_lines: int
    names_payouts: bool

    @classmethod
    def of_row(cls, row: tuple[Any, ...]) -> Survey:
        start, end, lines, record_lines, names_payouts = row
        return cls(start, end, int(lines), int(record_lines), bool(names_payouts))

    def __add__(self, other: Survey) -> Survey:
        """The survey of two parts of one statement."""
        starts = [t for t in (self.start, other.start) if t is not None]
        ends = [t for t in (self.end, other.end) if t is not None]
        return Survey(
            min(starts, default=None), max(ends, default=None), self.lines + other.lines,
            self.record_lines + other.record_lines, self.names_payouts or other.names_payouts,
        )  # fmt: skip


# Lines sharing (type, external id): all but the first are duplicates. One hash aggregate, on one
# core: workers would only scan the lines and hand every one of them to the leader, which costs
# more than its scanning them itself (0.95 -> 0.71 s at 1M lines), and the other core is free for
# the records meanwhile (`read_records_in_side`).
FIRSTS: Final = """
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE UNLOGGED TABLE recon_firsts AS
    SELECT type, external_id, min(line_number) AS first_line, count(*) AS lines
    FROM recon_stage GROUP BY type, external_id HAVING count(*) > 1;
SET LOCAL max_parallel_workers_per_gather TO DEFAULT;
ANALYZE recon_firsts"""
DUPLICATES: Final = f"""
SELECT coalesce(sum(lines - 1) FILTER (WHERE type IN {RECORD_TYPES}), 0),
       coalesce(sum(lines - 1) FILTER (WHERE type NOT IN {RECORD_TYPES}), 0)
FROM recon_firsts"""  # noqa: S608 - constants only

# What each payout named by lines (neither duplicates nor payouts) settles: one aggregate into few
# groups, and no pass at all when `%(named)s` (from `SURVEY`) is false. Hashed throughout: min and
# max tell whether the items share one currency (a DISTINCT would sort), and the duplicates are
# filtered inside the aggregates (a filter on the join would make the planner expect one row, and
# sort the million to group them).
FIRST_LINE: Final = "f.first_line IS NULL OR f.first_line = s.line_number"
PAYOUTS: Final = f"""
CREATE UNLOGGED TABLE recon_payouts AS
    SELECT s.payout_id, count(*) FILTER (WHERE {FIRST_LINE}) AS lines,
           sum(s.net) FILTER (WHERE {FIRST_LINE}) AS net,
           min(s.currency) FILTER (WHERE {FIRST_LINE}) AS low_currency,
           max(s.currency) FILTER (WHERE {FIRST_LINE}) AS high_currency
    FROM recon_stage s LEFT JOIN recon_firsts f ON f.type = s.type AND f.external_id = s.external_id
    WHERE %(named)s AND s.payout_id IS NOT NULL AND s.type <> 'payout'
    GROUP BY s.payout_id HAVING count(*) FILTER (WHERE {FIRST_LINE}) > 0;
ANALYZE recon_payouts"""  # noqa: S608 - constants only

# Our records, as matching reads them: the amounts from their columns (generated from `doc`,
# migration 0021), and the settling transfer by a join on the transfers' primary key (compared in
# that index's collation).
RECORD_COLUMNS_SQL: Final = {
    "payment": (
        "'payment'::text AS kind, x.id, x.status, x.amount_minor AS amount, x.currency, x.created_at, "
        "x.provider_reference, x.fee_minor AS fee, "
        "x.status IN ('completed', 'partially_refunded', 'refunded') AS settled, "
        "t.id IS NOT NULL AS in_ledger"
    ),
    "refund": (
        "'refund'::text, x.id, x.status, x.amount_minor, x.currency, x.created_at, x.provider_refund_id, "
        "NULL::bigint, x.status = 'succeeded', t.id IS NOT NULL"
    ),
    "withdrawal": (
        "'withdrawal'::text, x.id, x.status, x.net_minor, x.currency, x.created_at, x.provider_reference, "
        "NULL::bigint, x.status = 'completed', t.id IS NOT NULL"
    ),
}
RECORD_SOURCES: Final = (
    ("payment", "payments", "provider_reference", "completed"),
    ("refund", "refunds", "provider_refund_id", "settled"),
    ("withdrawal", "withdrawals", "provider_reference", "settled"),
)
IN_PERIOD: Final = "x.created_at BETWEEN %(first)s::timestamptz AND %(last)s::timestamptz"


def _records(where: str) -> str:
    return " UNION ALL ".join(
        f"SELECT {RECORD_COLUMNS_SQL[kind]} FROM {table} x "  # noqa: S608 - constants only
        f"LEFT JOIN transfers t ON t.tenant_id = %(tenant)s "
        f"AND t.id = (x.id || '.{suffix}') COLLATE \"default\" "
        "WHERE x.tenant_id = %(tenant)s AND x.provider = %(provider)s "
        f"AND {where.format(reference=reference)}"
        for kind, table, reference, suffix in RECORD_SOURCES
    )


# The records created within the period. The rows are many and the work on each (a join, the jsonb
# fields) is more than handing it over: worth parallel workers where the server has them.
RECORDS: Final = f"CREATE UNLOGGED TABLE recon_records {UNVACUUMED} AS {_records(IN_PERIOD)}"
# The records read by a second session (`read_records_in_side`), seen here under their usual name.
RECORDS_VIEW: Final = "CREATE VIEW recon_records AS SELECT * FROM {}"
# The join with the lines needs their number to put the smaller side in the hash.
ANALYZE_RECORDS: Final = (
    "SET LOCAL default_statistics_target = 10; ANALYZE recon_records; RESET default_statistics_target"
)

LINE_COLUMNS: Final = (
    "l.line_number, l.type, l.external_id, l.reference, l.gross, l.fee, l.net, l.currency, l.occurred_at, "
    "l.payout_id"
)
RECORD_COLUMNS: Final = (
    "r.kind, r.id, r.status, r.amount, r.currency, r.created_at, r.provider_reference, r.fee, "
    "r.settled, r.in_ledger"
)
LINE_NAMES: Final = LINE_COLUMNS.replace("l.", "")
RECORD_NAMES: Final = (
    "r_kind, r_id, r_status, r_amount, r_currency, r_created_at, r_reference, r_fee, r_settled, r_in_ledger"
)
RECORD_AS: Final = (
    "r.kind AS r_kind, r.id AS r_id, r.status AS r_status, r.amount AS r_amount, r.currency AS r_currency, "
    "r.created_at AS r_created_at, r.provider_reference AS r_reference, r.fee AS r_fee, "
    "r.settled AS r_settled, r.in_ledger AS r_in_ledger"
)
# A record held in `recon_odd`'s r_ columns, read back under the records' own column names.
RECORD_FROM_ODD: Final = (
    "o.r_kind AS kind, o.r_id AS id, o.r_status AS status, o.r_amount AS amount, o.r_currency AS currency, "
    "o.r_created_at AS created_at, o.r_reference AS provider_reference, o.r_fee AS fee, "
    "o.r_settled AS settled, o.r_in_ledger AS in_ledger"
)
NO_LINE: Final = (
    "NULL::bigint, NULL, NULL, NULL, NULL::bigint, NULL::bigint, NULL::bigint, NULL, NULL::timestamptz, NULL"
)
NO_RECORD: Final = (
    "NULL AS r_kind, NULL AS r_id, NULL AS r_status, NULL::bigint AS r_amount, NULL AS r_currency, "
    "NULL::timestamptz AS r_created_at, NULL AS r_reference, NULL::bigint AS r_fee, "
    "NULL::boolean AS r_settled, NULL::boolean AS r_in_ledger"
)

# A matched pair's verdict (`payments_core.matching.check_pair`), from its line `l` and record `r`.
FOUND: Final = """
    CASE WHEN l.currency <> r.currency THEN 'currency_mismatch'
         WHEN l.size <> r.amount THEN 'amount_mismatch'
         WHEN NOT r.settled THEN 'status_mismatch'
         WHEN r.kind = 'payment' AND r.fee IS NOT NULL AND l.fee <> r.fee THEN 'fee_mismatch'
         WHEN NOT r.in_ledger THEN 'missing_in_ledger' END"""
DIFFERENCE: Final = """
    CASE WHEN l.currency <> r.currency THEN NULL
         WHEN l.size <> r.amount THEN l.gross - CASE WHEN r.kind = 'payment' THEN r.amount ELSE -r.amount END
         WHEN NOT r.settled THEN NULL
         WHEN r.kind = 'payment' AND r.fee IS NOT NULL AND l.fee <> r.fee THEN r.fee - l.fee
         ELSE l.gross END"""

# Every line with its first line when it has duplicates, and its record kind when it takes part
# in matching (a charge, refund or payout that is no duplicate): NULL joins nothing, and neither
# does 'settlement', a payout line that lines name (`PAYOUTS`).
LINES: Final = f"""
    SELECT s.*, f.first_line, abs(s.gross) AS size,
           CASE WHEN f.first_line IS NULL OR f.first_line = s.line_number
                THEN CASE WHEN s.type = 'payout' AND s.external_id IN (SELECT payout_id FROM recon_payouts)
                          THEN 'settlement' ELSE {KIND_OF_TYPE.format(t="s.type")} END END AS kind
    FROM recon_stage s LEFT JOIN recon_firsts f ON f.type = s.type AND f.external_id = s.external_id"""  # noqa: S608

# The first tier in one pass: lines and records meet on (kind, provider id). Kept: `dup`licates,
# `loose` lines (no record), `settlement`s, `free` records (no line), and the `pair`s that are
# breaks or whose line names by reference another record than its pair (the names the store looks
# for outside the period are gathered from those). Informational lines and clean pairs are only
# counted.
# The filter is `FOUND IS NOT NULL` as plain comparisons, evaluated on every row: a refund's or a
# withdrawal's fee is NULL, so `r.fee <> l.fee` tests a payment's fee only, as `FOUND` does.
ODD: Final = f"""
CREATE UNLOGGED TABLE recon_odd AS
SELECT CASE WHEN r.id IS NULL THEN CASE WHEN l.kind IS NULL THEN 'dup' WHEN l.kind = 'settlement'
                                       THEN 'settlement' ELSE 'loose' END
            WHEN l.line_number IS NULL THEN 'free' ELSE 'pair' END AS what,
       l.first_line, {LINE_COLUMNS}, l.kind, l.size, {RECORD_AS},
       {FOUND} AS found, {DIFFERENCE} AS difference
FROM ({LINES}) AS l
FULL JOIN recon_records r ON r.kind = l.kind AND r.provider_reference = l.external_id
WHERE r.id IS NULL AND (l.kind IS NOT NULL OR l.first_line <> l.line_number)
   OR l.line_number IS NULL
   OR l.currency <> r.currency OR l.size <> r.amount OR NOT r.settled OR r.fee <> l.fee OR NOT r.in_ledger
   OR l.reference <> r.id COLLATE "C"
"""  # noqa: S608
TALLIES: Final = """
SELECT count(*) FILTER (WHERE what = 'loose'), count(*) FILTER (WHERE what = 'free'),
       count(*) FILTER (WHERE what = 'pair' AND found IS NOT NULL),
       count(*) FILTER (WHERE what = 'settlement')
FROM recon_odd"""

# Each settlement against its items (`payments_core.matching.check_settlement`), with what it settles.
SAME_CURRENCY: Final = "p.low_currency = l.currency AND p.high_currency = l.currency"
SETTLEMENTS: Final = f"""
CREATE UNLOGGED TABLE recon_settlements AS
SELECT {LINE_COLUMNS}, p.lines AS settles_lines, CASE WHEN {SAME_CURRENCY} THEN p.net END AS settles_net,
       CASE WHEN NOT ({SAME_CURRENCY}) THEN 'currency_mismatch'
            WHEN l.gross + p.net <> 0 THEN 'amount_mismatch' END AS found,
       CASE WHEN {SAME_CURRENCY} AND l.gross + p.net <> 0 THEN (l.gross + p.net)::bigint END AS difference
FROM recon_odd l JOIN recon_payouts p ON p.payout_id = l.external_id
WHERE l.what = 'settlement'"""  # noqa: S608 - constants only
CLEAN_SETTLEMENTS: Final = "SELECT count(*) FROM recon_settlements WHERE found IS NULL"

# Names a line gives that nothing in the period answers: the provider id of a line without a
# record, the reference of a line that names no record of its kind by our id.
UNNAMED: Final = """
CREATE UNLOGGED TABLE recon_unnamed AS
    SELECT o.external_id AS name FROM recon_odd o WHERE o.what = 'loose'
    UNION
    SELECT o.reference FROM recon_odd o
    WHERE o.what IN ('loose', 'pair') AND o.reference IS NOT NULL
      AND o.reference IS DISTINCT FROM o.r_id COLLATE "C"
      AND NOT EXISTS (SELECT 1 FROM recon_records r
                      WHERE r.kind = o.kind AND r.id = o.reference COLLATE "C")"""

# The records outside the period that those names point at, each found through its index.
NAMED_WHERE: Final = (
    "({reference} IN (SELECT name FROM recon_unnamed) "  # noqa: S608 - constants only
    'OR x.id IN (SELECT name COLLATE "C" FROM recon_unnamed)) '
    f"AND NOT ({IN_PERIOD})"
)
NAMED: Final = f"CREATE UNLOGGED TABLE recon_named AS {_records(NAMED_WHERE)}"

# The provider ids the one-pass first tier may have answered wrongly: those of the named
# records, and (when the tallies show a line met several records) those shared in the period.
DISPUTED: Final = """
CREATE UNLOGGED TABLE recon_disputed AS
    SELECT kind, provider_reference FROM recon_named WHERE provider_reference IS NOT NULL
    UNION
    SELECT kind, provider_reference FROM recon_records
    WHERE %(shared)s AND provider_reference IS NOT NULL
    GROUP BY kind, provider_reference HAVING count(*) > 1"""
DISPUTED_LINES: Final = f"""
CREATE UNLOGGED TABLE recon_disputed_lines AS
    SELECT l.* FROM ({LINES}) AS l
    JOIN recon_disputed d ON d.kind = l.kind AND d.provider_reference = l.external_id"""  # noqa: S608
DISPUTED_RECORDS: Final = """
CREATE UNLOGGED TABLE recon_disputed_records AS
    SELECT r.*, false AS named FROM recon_records r
    JOIN recon_disputed d ON d.kind = r.kind AND d.provider_reference = r.provider_reference
    UNION ALL
    SELECT r.*, true FROM recon_named r"""
# How many clean pairs the one pass counted among the disputed provider ids.
CLEAN_DISPUTED: Final = f"""
SELECT count(*) FROM recon_disputed_lines l
JOIN recon_disputed_records r ON r.kind = l.kind AND r.provider_reference = l.external_id
WHERE NOT r.named AND {FOUND} IS NULL"""  # noqa: S608
# The first tier again for the disputed provider ids: the lowest record id wins.
REDO: Final = f"""
DELETE FROM recon_odd o USING recon_disputed d
WHERE o.what IN ('loose', 'pair') AND o.kind = d.kind AND o.external_id = d.provider_reference;
DELETE FROM recon_odd o USING recon_disputed d
WHERE o.what = 'free' AND o.r_kind = d.kind AND o.r_reference = d.provider_reference;
CREATE UNLOGGED TABLE recon_redone AS
    SELECT DISTINCT ON (l.line_number) 'pair'::text AS what, l.first_line, {LINE_COLUMNS}, l.kind, l.size,
           {RECORD_AS}, {FOUND} AS found, {DIFFERENCE} AS difference
    FROM recon_disputed_lines l
    JOIN recon_disputed_records r ON r.kind = l.kind AND r.provider_reference = l.external_id
    ORDER BY l.line_number, r.id;
INSERT INTO recon_odd SELECT * FROM recon_redone;
INSERT INTO recon_odd (what, {LINE_NAMES}, kind, size)
    SELECT 'loose', {LINE_COLUMNS}, l.kind, l.size FROM recon_disputed_lines l
    WHERE NOT EXISTS (SELECT 1 FROM recon_redone p WHERE p.line_number = l.line_number);
INSERT INTO recon_odd (what, {RECORD_NAMES})
    SELECT 'free', {RECORD_COLUMNS} FROM recon_disputed_records r
    WHERE NOT EXISTS (SELECT 1 FROM recon_redone p WHERE p.r_kind = r.kind AND p.r_id = r.id)"""  # noqa: S608
CLEAN_REDONE: Final = "SELECT count(*) FROM recon_redone WHERE found IS NULL"

# The second and third tiers, among the lines (`recon_loose`) and records (`recon_free`) the first
# left: by our reference (one line per record, the lowest line wins), then by amount + currency +
# time, rank by rank. Each pair is judged as it is made, and keeps its line and record.
LATER: Final = f"""
CREATE UNLOGGED TABLE recon_loose AS
    SELECT {LINE_NAMES}, kind, size FROM recon_odd WHERE what = 'loose';
CREATE UNLOGGED TABLE recon_free AS
    SELECT {RECORD_FROM_ODD} FROM recon_odd o WHERE o.what = 'free';
CREATE UNLOGGED TABLE recon_later_pairs AS
    SELECT DISTINCT ON (r.kind, r.id) {LINE_COLUMNS}, {RECORD_AS},
           {FOUND} AS found, {DIFFERENCE} AS difference
    FROM recon_loose l JOIN recon_free r ON r.kind = l.kind AND r.id = l.reference COLLATE "C"
    ORDER BY r.kind, r.id, l.line_number;
DELETE FROM recon_loose l USING recon_later_pairs p WHERE p.line_number = l.line_number;
DELETE FROM recon_free r USING recon_later_pairs p WHERE p.r_kind = r.kind AND p.r_id = r.id;
INSERT INTO recon_later_pairs
    WITH lines AS (
        SELECT l.*, row_number() OVER (PARTITION BY l.kind, l.currency, l.size
                                       ORDER BY l.occurred_at, l.line_number) AS rank
        FROM recon_loose l),
    records AS (
        SELECT r.*, row_number() OVER (PARTITION BY r.kind, r.currency, r.amount
                                       ORDER BY r.created_at, r.id COLLATE "C") AS rank
        FROM recon_free r)
    SELECT {LINE_COLUMNS}, {RECORD_AS}, {FOUND}, {DIFFERENCE}
    FROM lines l JOIN records r ON r.kind = l.kind AND r.currency = l.currency
                               AND r.amount = l.size AND r.rank = l.rank
    WHERE l.occurred_at - r.created_at BETWEEN -%(window)s::interval AND %(window)s::interval;
DELETE FROM recon_loose l USING recon_later_pairs p WHERE p.line_number = l.line_number;
DELETE FROM recon_free r USING recon_later_pairs p WHERE p.r_kind = r.kind AND p.r_id = r.id"""  # noqa: S608
CLEAN_LATER: Final = "SELECT count(*) FROM recon_later_pairs WHERE found IS NULL"

# Every break, in the order the core's matcher lists them: duplicates, then line by line (a
# judged settlement or pair, or a line nothing matched), then the records missing from the
# statement by (kind, id).
BREAKS: Final = f"""
SELECT 0 AS part, 'duplicate_in_statement' AS kind, NULL::bigint AS difference, l.first_line,
       {LINE_COLUMNS}, {NO_RECORD}, l.line_number AS line_order, NULL::text AS kind_order,
       NULL::text COLLATE "C" AS id_order
FROM recon_odd l WHERE l.what = 'dup'
UNION ALL
SELECT 1, l.found, l.difference, NULL, {LINE_COLUMNS}, {NO_RECORD}, l.line_number, NULL, NULL
FROM recon_settlements l WHERE l.found IS NOT NULL
UNION ALL
SELECT 1, l.found, l.difference, NULL, {LINE_COLUMNS}, {RECORD_NAMES}, l.line_number, NULL, NULL
FROM recon_odd l WHERE l.what = 'pair' AND l.found IS NOT NULL
UNION ALL
SELECT 1, l.found, l.difference, NULL, {LINE_COLUMNS}, {RECORD_NAMES}, l.line_number, NULL, NULL
FROM recon_later_pairs l WHERE l.found IS NOT NULL
UNION ALL
SELECT 1, 'missing_in_ledger', l.gross, NULL, {LINE_COLUMNS}, {NO_RECORD}, l.line_number, NULL, NULL
FROM recon_loose l
UNION ALL
SELECT 2, 'missing_in_statement', -CASE WHEN r.kind = 'payment' THEN r.amount ELSE -r.amount END, NULL,
       {NO_LINE}, {RECORD_COLUMNS}, NULL, r.kind, r.id COLLATE "C"
FROM recon_free r
WHERE r.settled
  AND r.created_at BETWEEN %(start)s::timestamptz AND %(end)s::timestamptz - %(cutoff)s::interval
ORDER BY 1, line_order, kind_order, id_order"""  # noqa: S608

# The breaks are written where they are found: only their counts come back to Python. A line has
# at most one break, so a settlement's is found by its line number.
WRITE_BREAKS: Final = f"""
CREATE UNLOGGED TABLE recon_breaks AS
SELECT row_number() OVER (ORDER BY part, line_order, kind_order, id_order) AS n, found.*
FROM ({BREAKS}) AS found;
INSERT INTO reconciliation_breaks (tenant_id, id, run_id, kind, status, doc)
SELECT %(tenant)s, ids.id, %(run)s, b.kind, 'open', jsonb_build_object(
    'id', ids.id, 'tenant_id', %(tenant)s, 'run_id', %(run)s, 'kind', b.kind, 'created_at', %(at)s,
    'line', CASE WHEN b.line_number IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
        'firstLineNumber', b.first_line)) || CASE WHEN s.line_number IS NULL THEN '{{}}'::jsonb
        ELSE jsonb_build_object('settles', jsonb_build_object('lines', s.settles_lines, 'net', s.settles_net))
        END || jsonb_build_object(
        'lineNumber', b.line_number, 'type', b.type, 'externalId', b.external_id, 'reference', b.reference,
        'gross', b.gross, 'fee', b.fee, 'net', b.net, 'currency', b.currency,
        'occurredAt', b.occurred_at, 'payoutId', b.payout_id) END,
    'record', CASE WHEN b.r_id IS NULL THEN NULL ELSE jsonb_build_object(
        'kind', b.r_kind, 'id', b.r_id, 'status', b.r_status, 'amount', b.r_amount, 'currency', b.r_currency,
        'fee', b.r_fee, 'providerReference', b.r_reference, 'createdAt', b.r_created_at,
        'inLedger', b.r_in_ledger) END,
    'difference', CASE WHEN b.difference IS NULL THEN NULL ELSE jsonb_build_object(
        'minor', b.difference, 'currency', coalesce(b.currency, b.r_currency)) END,
    'status', 'open', 'resolution', NULL, 'resolved_by', NULL, 'resolved_at', NULL, 'note', NULL)
FROM recon_breaks b LEFT JOIN recon_settlements s ON s.line_number = b.line_number,
     LATERAL (SELECT %(run)s || '.' || CASE WHEN b.n < 10000000 THEN lpad(b.n::text, 7, '0')
                                            ELSE b.n::text END AS id) AS ids"""  # noqa: S608
PER_KIND: Final = """
SELECT coalesce(jsonb_object_agg(kind, n), '{}')
FROM (SELECT kind, count(*) AS n FROM recon_breaks GROUP BY kind) AS per_kind"""
