"""The reconciliation store on PostgreSQL: COPY the statement in, match it set-wise in SQL.

Invariants
- The answers are `payments_core.matching`'s for the same lines, records and rules; the shared
  suite holds both stores to identical breaks, in the same order.
- The lines are COPied into a temporary table of the run's own transaction (dropped at its end),
  so concurrent runs never meet and a failed run leaves nothing. Memory stays flat: lines stream
  from the parser into COPY (or a plain CSV file streams into COPY raw and is converted in SQL:
  `recon_staging`), and only breaks come back to Python.
- Records are read only for this tenant and provider, with row-level security backing the filter.
- `find_run` takes a transaction-scoped advisory lock on (tenant, provider, digest): two runs of the
  same statement at once run one after the other, and the second finds the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from adapters.postgres.codec import dump, load, to_json
from adapters.postgres.recon_staging import STAGE_TABLE, stage_csv
from adapters.postgres.rows import Scope, guarded
from payments_core.model.reconciliation import (
    Break,
    BreakKind,
    BreakStatus,
    MatchOutcome,
    MatchRules,
    ReconciliationRun,
    StagedLine,
)
from payments_core.ports import Progress
from payments_core.ports.statements import PlainCsv

PROGRESS_EVERY: Final = 10_000

KIND_OF_TYPE: Final = (
    "CASE {t} WHEN 'charge' THEN 'payment' WHEN 'refund' THEN 'refund' WHEN 'payout' THEN 'withdrawal' END"
)

# The statement's lines less duplicates (a view: copying a million rows costs more than filtering
# them against the few duplicates each time), and the duplicates with their first line.
KEPT: Final = f"""
CREATE TEMP TABLE recon_firsts ON COMMIT DROP AS
    SELECT type, external_id, min(line_number) AS first_line
    FROM recon_stage GROUP BY type, external_id HAVING count(*) > 1;
ANALYZE recon_firsts;
CREATE TEMP VIEW recon_kept AS
    SELECT s.*, {KIND_OF_TYPE.format(t="s.type")} AS kind, abs(s.gross) AS size
    FROM recon_stage s
    WHERE s.type IN ('charge', 'refund', 'payout')
      AND NOT EXISTS (SELECT 1 FROM recon_firsts f WHERE f.type = s.type AND f.external_id = s.external_id
                      AND f.first_line <> s.line_number);
"""  # noqa: S608 - built from constants only

# Our records of this tenant and provider that the statement can concern: those created within the
# statement's period (widened by the window), read in one index range scan, then those outside it
# that a line still names by provider id or by our id (few, each found through its index). The
# settling transfer is a join on the transfers' primary key (compared in that index's collation).
RECORD_COLUMNS_SQL: Final = {
    "payment": (
        "'payment'::text AS kind, x.id, x.status, (x.doc->'amount'->>'minor')::bigint AS amount, "
        "x.doc->'amount'->>'currency' AS currency, x.created_at, x.provider_reference, "
        "(x.doc->'fee'->>'minor')::bigint AS fee, "
        "x.status IN ('completed', 'partially_refunded', 'refunded') AS settled, "
        "t.id IS NOT NULL AS in_ledger"
    ),
    "refund": (
        "'refund'::text, x.id, x.status, (x.doc->'amount'->>'minor')::bigint, x.doc->'amount'->>'currency', "
        "x.created_at, x.provider_refund_id, NULL::bigint, x.status = 'succeeded', t.id IS NOT NULL"
    ),
    "withdrawal": (
        "'withdrawal'::text, x.id, x.status, (x.doc->'net_amount'->>'minor')::bigint, "
        "x.doc->'net_amount'->>'currency', x.created_at, x.provider_reference, NULL::bigint, "
        "x.status = 'completed', t.id IS NOT NULL"
    ),
}
RECORD_SOURCES: Final = (
    ("payment", "payments", "provider_reference", "completed"),
    ("refund", "refunds", "provider_refund_id", "settled"),
    ("withdrawal", "withdrawals", "provider_reference", "settled"),
)


def _settling_transfer(suffix: str) -> str:
    key = f"(x.id || '.{suffix}') COLLATE \"default\""
    return f"LEFT JOIN transfers t ON t.tenant_id = %(tenant)s AND t.id = {key} "


def _records_sql() -> str:
    """Built from this module's constants only (kinds, table and column names); values are bound."""
    in_period = " UNION ALL ".join(
        f"SELECT {RECORD_COLUMNS_SQL[kind]} FROM {table} x {_settling_transfer(suffix)}"  # noqa: S608
        "WHERE x.tenant_id = %(tenant)s AND x.provider = %(provider)s "
        "AND x.created_at BETWEEN %(first)s::timestamptz AND %(last)s::timestamptz"
        for kind, table, _, suffix in RECORD_SOURCES
    )
    named = " UNION ALL ".join(
        f"SELECT {RECORD_COLUMNS_SQL[kind]} FROM {table} x {_settling_transfer(suffix)}"  # noqa: S608
        "WHERE x.tenant_id = %(tenant)s AND x.provider = %(provider)s "
        f"AND (x.{reference} IN (SELECT name FROM recon_unnamed) "
        'OR x.id IN (SELECT name COLLATE "C" FROM recon_unnamed)) '
        f"AND NOT EXISTS (SELECT 1 FROM recon_records r WHERE r.kind = '{kind}' AND r.id = x.id)"
        for kind, table, reference, suffix in RECORD_SOURCES
    )
    return f"""
CREATE TEMP TABLE recon_records ON COMMIT DROP AS {in_period};
ANALYZE recon_records;
CREATE TEMP TABLE recon_unnamed ON COMMIT DROP AS
    SELECT l.external_id AS name FROM recon_kept l
    WHERE NOT EXISTS (SELECT 1 FROM recon_records r
                      WHERE r.kind = l.kind AND r.provider_reference = l.external_id)
    UNION
    SELECT l.reference FROM recon_kept l
    WHERE l.reference IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM recon_records r WHERE r.kind = l.kind AND r.id = l.reference COLLATE "C");
INSERT INTO recon_records {named}
"""  # noqa: S608


RECORDS: Final = _records_sql()

# A matched pair's verdict (`payments_core.matching.check_pair`), from its line `l` and record `r`.
FOUND: Final = """
    CASE WHEN l.currency <> r.currency THEN 'currency_mismatch'
         WHEN l.size <> r.amount THEN 'amount_mismatch'
         WHEN NOT r.settled THEN 'status_mismatch'
         WHEN r.kind = 'payment' AND r.fee IS NOT NULL AND l.fee <> r.fee THEN 'fee_mismatch'
         WHEN NOT r.in_ledger THEN 'missing_in_ledger' END AS found,
    CASE WHEN l.currency <> r.currency THEN NULL
         WHEN l.size <> r.amount THEN l.gross - CASE WHEN r.kind = 'payment' THEN r.amount ELSE -r.amount END
         WHEN NOT r.settled THEN NULL
         WHEN r.kind = 'payment' AND r.fee IS NOT NULL AND l.fee <> r.fee THEN r.fee - l.fee
         ELSE l.gross END AS difference"""

# The three tiers, each among what the earlier ones left unmatched, each pair judged as it is
# made: the tiers after the first work on the few lines (`recon_loose`) and records
# (`recon_free`) still unmatched, never again on the millions already paired.
PAIRS: Final = f"""
CREATE TEMP TABLE recon_pairs ON COMMIT DROP AS
    SELECT DISTINCT ON (l.line_number) l.line_number, r.kind, r.id, {FOUND}
    FROM recon_kept l JOIN recon_records r ON r.kind = l.kind AND r.provider_reference = l.external_id
    ORDER BY l.line_number, r.id;
CREATE TEMP TABLE recon_loose ON COMMIT DROP AS
    SELECT l.* FROM recon_kept l
    WHERE NOT EXISTS (SELECT 1 FROM recon_pairs p WHERE p.line_number = l.line_number);
CREATE TEMP TABLE recon_free ON COMMIT DROP AS
    SELECT r.* FROM recon_records r
    WHERE NOT EXISTS (SELECT 1 FROM recon_pairs p WHERE p.kind = r.kind AND p.id = r.id);
CREATE TEMP TABLE recon_later_pairs ON COMMIT DROP AS
    SELECT DISTINCT ON (r.kind, r.id) l.line_number, r.kind, r.id, {FOUND}
    FROM recon_loose l JOIN recon_free r ON r.kind = l.kind AND r.id = l.reference COLLATE "C"
    ORDER BY r.kind, r.id, l.line_number;
DELETE FROM recon_loose l USING recon_later_pairs p WHERE p.line_number = l.line_number;
DELETE FROM recon_free r USING recon_later_pairs p WHERE p.kind = r.kind AND p.id = r.id;
INSERT INTO recon_later_pairs
    WITH lines AS (
        SELECT l.*, row_number() OVER (PARTITION BY l.kind, l.currency, l.size
                                       ORDER BY l.occurred_at, l.line_number) AS rank
        FROM recon_loose l),
    records AS (
        SELECT r.*, row_number() OVER (PARTITION BY r.kind, r.currency, r.amount
                                       ORDER BY r.created_at, r.id COLLATE "C") AS rank
        FROM recon_free r)
    SELECT l.line_number, r.kind, r.id, {FOUND}
    FROM lines l JOIN records r ON r.kind = l.kind AND r.currency = l.currency
                               AND r.amount = l.size AND r.rank = l.rank
    WHERE l.occurred_at - r.created_at BETWEEN -%(window)s::interval AND %(window)s::interval;
DELETE FROM recon_loose l USING recon_later_pairs p WHERE p.line_number = l.line_number;
DELETE FROM recon_free r USING recon_later_pairs p WHERE p.kind = r.kind AND p.id = r.id;
INSERT INTO recon_pairs SELECT * FROM recon_later_pairs;
"""  # noqa: S608

LINE_COLUMNS: Final = (
    "l.line_number, l.type, l.external_id, l.reference, l.gross, l.fee, l.net, l.currency, l.occurred_at"
)
RECORD_COLUMNS: Final = (
    "r.kind, r.id, r.status, r.amount, r.currency, r.created_at, r.provider_reference, r.fee, "
    "r.settled, r.in_ledger"
)
NO_LINE: Final = (
    "NULL::bigint, NULL, NULL, NULL, NULL::bigint, NULL::bigint, NULL::bigint, NULL, NULL::timestamptz"
)
NO_RECORD: Final = (
    "NULL AS r_kind, NULL AS r_id, NULL AS r_status, NULL::bigint AS r_amount, NULL AS r_currency, "
    "NULL::timestamptz AS r_created_at, NULL AS r_reference, NULL::bigint AS r_fee, "
    "NULL::boolean AS r_settled, NULL::boolean AS r_in_ledger"
)

# Every break, in the order the core's matcher lists them: duplicates, then line by line (a
# judged pair, or a line nothing matched), then the records missing from the statement by (kind, id).
BREAKS: Final = f"""
WITH judged AS (
    SELECT p.found, p.difference, l.*, r.kind AS r_kind, r.id AS r_id, r.status AS r_status,
           r.amount AS r_amount, r.currency AS r_currency, r.created_at AS r_created_at,
           r.provider_reference AS r_reference, r.fee AS r_fee, r.settled AS r_settled,
           r.in_ledger AS r_in_ledger
    FROM (SELECT * FROM recon_pairs WHERE found IS NOT NULL) AS p
    JOIN recon_kept l ON l.line_number = p.line_number
    JOIN recon_records r ON r.kind = p.kind AND r.id = p.id),
period AS (SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM recon_stage)
SELECT 0 AS part, 'duplicate_in_statement' AS kind, NULL::bigint AS difference, f.first_line,
       {LINE_COLUMNS}, {NO_RECORD}, l.line_number AS line_order, NULL::text AS kind_order,
       NULL::text COLLATE "C" AS id_order
FROM recon_stage l JOIN recon_firsts f ON f.type = l.type AND f.external_id = l.external_id
WHERE l.line_number <> f.first_line
UNION ALL
SELECT 1, c.found, c.difference, NULL, c.line_number, c.type, c.external_id, c.reference, c.gross,
       c.fee, c.net, c.currency, c.occurred_at, c.r_kind, c.r_id, c.r_status, c.r_amount, c.r_currency,
       c.r_created_at, c.r_reference, c.r_fee, c.r_settled, c.r_in_ledger, c.line_number, NULL, NULL
FROM judged c
UNION ALL
SELECT 1, 'missing_in_ledger', l.gross, NULL, {LINE_COLUMNS}, {NO_RECORD}, l.line_number, NULL, NULL
FROM recon_loose l
UNION ALL
SELECT 2, 'missing_in_statement', -CASE WHEN r.kind = 'payment' THEN r.amount ELSE -r.amount END, NULL,
       {NO_LINE}, {RECORD_COLUMNS}, NULL, r.kind, r.id COLLATE "C"
FROM recon_free r, period
WHERE r.settled AND r.created_at BETWEEN period.first AND period.last - %(cutoff)s::interval
ORDER BY 1, line_order, kind_order, id_order
"""  # noqa: S608

# The breaks are written where they are found: only their counts come back to Python.
WRITE_BREAKS: Final = """
CREATE TEMP TABLE recon_breaks ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY part, line_order, kind_order, id_order) AS n, found.*
FROM ({breaks}) AS found;
INSERT INTO reconciliation_breaks (tenant_id, id, run_id, kind, status, doc)
SELECT %(tenant)s, ids.id, %(run)s, b.kind, 'open', jsonb_build_object(
    'id', ids.id, 'tenant_id', %(tenant)s, 'run_id', %(run)s, 'kind', b.kind, 'created_at', %(at)s,
    'line', CASE WHEN b.line_number IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
        'firstLineNumber', b.first_line)) || jsonb_build_object(
        'lineNumber', b.line_number, 'type', b.type, 'externalId', b.external_id, 'reference', b.reference,
        'gross', b.gross, 'fee', b.fee, 'net', b.net, 'currency', b.currency,
        'occurredAt', b.occurred_at) END,
    'record', CASE WHEN b.r_id IS NULL THEN NULL ELSE jsonb_build_object(
        'kind', b.r_kind, 'id', b.r_id, 'status', b.r_status, 'amount', b.r_amount, 'currency', b.r_currency,
        'fee', b.r_fee, 'providerReference', b.r_reference, 'createdAt', b.r_created_at,
        'inLedger', b.r_in_ledger) END,
    'difference', CASE WHEN b.difference IS NULL THEN NULL ELSE jsonb_build_object(
        'minor', b.difference, 'currency', coalesce(b.currency, b.r_currency)) END,
    'status', 'open', 'resolution', NULL, 'resolved_by', NULL, 'resolved_at', NULL, 'note', NULL)
FROM recon_breaks b,
     LATERAL (SELECT %(run)s || '.' || CASE WHEN b.n < 10000000 THEN lpad(b.n::text, 7, '0')
                                            ELSE b.n::text END AS id) AS ids
"""

COUNTS: Final = """
SELECT (SELECT count(*) FROM recon_stage),
       (SELECT count(*) FROM recon_stage s WHERE s.type NOT IN ('charge', 'refund', 'payout')
          AND NOT EXISTS (SELECT 1 FROM recon_firsts f WHERE f.type = s.type AND f.external_id = s.external_id
                          AND f.first_line <> s.line_number)),
       (SELECT count(*) FROM recon_pairs WHERE found IS NULL),
       (SELECT coalesce(jsonb_object_agg(kind, n), '{}') FROM (
            SELECT kind, count(*) AS n FROM recon_breaks GROUP BY kind) AS per_kind)
"""

TEMPORARY_TABLES: Final = (
    "recon_breaks", "recon_later_pairs", "recon_pairs", "recon_loose", "recon_free", "recon_records",
    "recon_unnamed", "recon_firsts", "recon_stage",
)  # fmt: skip
DROP_ALL: Final = "DROP VIEW recon_kept; DROP TABLE " + ", ".join(TEMPORARY_TABLES)
# A batch over millions of rows: hash joins and aggregates in memory rather than spilled to disk.
BATCH_WORK_MEM: Final = "256MB"


class PostgresReconciliation:
    def __init__(self, conn: psycopg.Connection[Any], scope: Scope) -> None:
        self._conn = conn
        self._scope = scope

    def stage(self, tenant_id: str, lines: Iterable[StagedLine], progress: Progress | None = None) -> int:
        count = 0
        with guarded():
            self._scope.enter(tenant_id)
            self._conn.execute("DROP TABLE IF EXISTS recon_stage")
            self._conn.execute(STAGE_TABLE.format(checks=""))
            with self._conn.cursor().copy("COPY recon_stage FROM STDIN") as copy:
                for line in lines:
                    copy.write_row(
                        (
                            line.line_number, line.type, line.external_id, line.reference, line.gross,
                            line.fee, line.net, line.currency, line.occurred_at,
                        )
                    )  # fmt: skip
                    count += 1
                    if progress is not None and count % PROGRESS_EVERY == 0:
                        progress(count)
            self._conn.execute("ANALYZE recon_stage")
        if progress is not None:
            progress(count)
        return count

    def stage_csv(self, tenant_id: str, plain: PlainCsv, progress: Progress | None = None) -> int | None:
        with guarded():
            self._scope.enter(tenant_id)
            self._conn.execute("DROP TABLE IF EXISTS recon_stage")
            count = stage_csv(self._conn, plain, progress)
            if count is None:
                return None
            self._conn.execute("ANALYZE recon_stage")
        if progress is not None:
            progress(count)
        return count

    def match(
        self, tenant_id: str, provider: str, run_id: str, rules: MatchRules, at: datetime
    ) -> MatchOutcome:
        params: dict[str, Any] = {
            "tenant": tenant_id, "provider": provider, "run": run_id, "at": at.isoformat(),
            "window": rules.window, "cutoff": rules.cutoff,
        }  # fmt: skip
        with guarded():
            self._scope.enter(tenant_id)
            # Several statements in one simple query, values bound client-side: one round trip.
            period = self._conn.execute(
                "SELECT min(occurred_at), max(occurred_at) FROM recon_stage"
            ).fetchone()
            first, last = period if period is not None and period[0] is not None else (at, at)
            params |= {"first": first - rules.window, "last": last + rules.window}
            script = psycopg.ClientCursor(self._conn)
            settings = f"SET LOCAL TimeZone = 'UTC'; SET LOCAL work_mem = '{BATCH_WORK_MEM}';"
            script.execute(settings + KEPT + RECORDS + ";" + PAIRS, params)
            script.execute(WRITE_BREAKS.format(breaks=BREAKS), params)
            row = self._conn.execute(COUNTS).fetchone()
            self._conn.execute(DROP_ALL)
        lines, informational, clean, per_kind = row if row is not None else (0, 0, 0, {})
        counts = {kind.value: int(per_kind.get(kind.value, 0)) for kind in BreakKind}
        return MatchOutcome(int(lines), int(clean), int(informational), counts)

    def find_run(self, tenant_id: str, provider: str, digest: str) -> ReconciliationRun | None:
        with guarded():
            self._scope.enter(tenant_id)
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"recon|{tenant_id}|{provider}|{digest}",),
            )
            row = self._conn.execute(
                "SELECT doc FROM reconciliation_runs WHERE tenant_id = %s AND provider = %s AND digest = %s",
                (tenant_id, provider, digest),
            ).fetchone()
        return load(ReconciliationRun, row[0]) if row else None

    def add_run(self, run: ReconciliationRun) -> None:
        with guarded():
            self._scope.execute(
                run.tenant_id,
                """INSERT INTO reconciliation_runs (tenant_id, id, provider, digest, started_at, doc)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    run.tenant_id,
                    run.id,
                    run.provider,
                    run.digest,
                    run.started_at,
                    Jsonb(dump(run), dumps=to_json),
                ),
            )

    def get_run(self, tenant_id: str, run_id: str) -> ReconciliationRun | None:
        with guarded():
            row = self._scope.execute(
                tenant_id,
                "SELECT doc FROM reconciliation_runs WHERE tenant_id = %s AND id = %s",
                (tenant_id, run_id),
            ).fetchone()
        return load(ReconciliationRun, row[0]) if row else None

    def runs(self, tenant_id: str, limit: int, before: str | None = None) -> list[ReconciliationRun]:
        with guarded():
            rows = self._scope.execute(
                tenant_id,
                """SELECT r.doc FROM reconciliation_runs r
                   WHERE r.tenant_id = %(tenant)s
                     AND (%(before)s::text IS NULL OR (r.started_at, r.id) < (
                          SELECT m.started_at, m.id FROM reconciliation_runs m
                          WHERE m.tenant_id = %(tenant)s AND m.id = %(before)s::text))
                   ORDER BY r.started_at DESC, r.id DESC LIMIT %(limit)s""",
                {"tenant": tenant_id, "before": before, "limit": limit},
            ).fetchall()
        return [load(ReconciliationRun, row[0]) for row in rows]

    def breaks(
        self,
        tenant_id: str,
        run_id: str,
        kind: BreakKind | None = None,
        status: BreakStatus | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[Break]:
        with guarded():
            rows = self._scope.execute(
                tenant_id,
                """SELECT doc FROM reconciliation_breaks
                   WHERE tenant_id = %(tenant)s AND run_id = %(run)s
                     AND (%(kind)s::text IS NULL OR kind = %(kind)s::text)
                     AND (%(status)s::text IS NULL OR status = %(status)s::text)
                     AND (%(after)s::text IS NULL OR id > %(after)s::text)
                   ORDER BY id LIMIT %(limit)s""",
                {
                    "tenant": tenant_id, "run": run_id, "kind": kind.value if kind else None,
                    "status": status.value if status else None, "after": after, "limit": limit,
                },
            ).fetchall()  # fmt: skip
        return [load(Break, row[0]) for row in rows]

    def get_break(self, tenant_id: str, break_id: str) -> Break | None:
        query = "SELECT doc FROM reconciliation_breaks WHERE tenant_id = %s AND id = %s"
        if not self._scope.read_only:
            query += " FOR NO KEY UPDATE"
        with guarded():
            row = self._scope.execute(tenant_id, query, (tenant_id, break_id)).fetchone()
        return load(Break, row[0]) if row else None

    def update_break(self, item: Break) -> None:
        with guarded():
            self._scope.execute(
                item.tenant_id,
                "UPDATE reconciliation_breaks SET status = %s, doc = %s WHERE tenant_id = %s AND id = %s",
                (item.status.value, Jsonb(dump(item), dumps=to_json), item.tenant_id, item.id),
            )
