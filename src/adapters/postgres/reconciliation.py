"""The reconciliation store on PostgreSQL: COPY the statement in, match it set-wise in SQL.

Invariants
- The answers are `payments_core.matching`'s for the same lines, records and rules; the shared
  suite holds both stores to identical breaks, in the same order.
- The lines are COPied into a work table of the run's own transaction, in a schema only it sees
  and drops before it commits (`recon_workspace`), so concurrent runs never meet and a failed run
  leaves nothing; unlike a temporary table, parallel workers may read it. Memory stays flat: lines
  stream from the parser into COPY (or a plain CSV file streams into COPY raw and is converted in SQL:
  `recon_staging`), and only breaks come back to Python.
- Records are read only for this tenant and provider, with row-level security backing the filter.
  With a second session (`side`), they are read there, into the run's side schema, while this
  session passes over the lines; without one (or none free within `SIDE_SESSION_WAIT`), here,
  after them. The answers are the same either way.
- Matching passes over the million-row tables as few times as it can (`recon_sql` says how): the
  duplicates, the payouts lines name (only when some line names one), the records of the period,
  and one join of the two that keeps only what is not a clean pair; everything after works on
  those few rows. Only counts and breaks leave the server.
- `find_run` takes a transaction-scoped advisory lock on (tenant, provider, digest): two runs of the
  same statement at once run one after the other, and the second finds the first.
- A run or break id PostgreSQL cannot hold as text (a NUL, a lone surrogate) names nothing and is
  answered None before any SQL, as the payment read answers it (both ask `rows.storable`): simply
  not found.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from typing import Any, Final

import attrs
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from adapters.postgres import recon_sql as q
from adapters.postgres.codec import dump, load, to_json
from adapters.postgres.recon_staging import STAGE_TABLE, stage_csv
from adapters.postgres.recon_workspace import (
    SideSession,
    close_workspace,
    open_side,
    open_workspace,
    run_id_of,
    second_session,
)
from adapters.postgres.rows import Scope, guarded, storable
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
# A batch over millions of rows: hash joins and aggregates in memory rather than spilled to disk.
BATCH_WORK_MEM: Final = "256MB"
SETTINGS: Final = f"SET LOCAL TimeZone = 'UTC'; SET LOCAL work_mem = '{BATCH_WORK_MEM}'"
# The planner needs the lines' number and spread, not fine histograms: a small sample will do.
ANALYZE_STAGE: Final = (
    "SET LOCAL default_statistics_target = 10; ANALYZE recon_stage; RESET default_statistics_target"
)


@attrs.frozen
class Tally:
    """What the one-pass first tier left over, and what follows from it.

    `kept` counts the lines that take part in the tiers: charges, refunds and payouts that are
    neither duplicates nor settlements. Every record of the period meets at most one line (the kept
    lines' (kind, provider id) are distinct), so the pairs made are the records less the free ones;
    a line met several records exactly when there are more pairs than lines that found one."""

    loose: int
    free: int
    judged: int
    records: int
    kept: int

    @property
    def pairs(self) -> int:
        return self.records - self.free

    @property
    def shared(self) -> bool:
        return self.pairs > self.kept - self.loose

    @property
    def clean(self) -> int:
        return self.pairs - self.judged


class PostgresReconciliation:
    """`side`: a second session of the same database, for loading a big statement in two parts at
    once (`recon_staging`); without it, a statement is loaded in one."""

    def __init__(self, conn: psycopg.Connection[Any], scope: Scope, side: SideSession | None = None) -> None:
        self._conn = conn
        self._scope = scope
        self._side = side
        # What staging a plain CSV learnt of the lines it staged, for `match`.
        self._survey: q.Survey | None = None

    def stage(self, tenant_id: str, lines: Iterable[StagedLine], progress: Progress | None = None) -> int:
        count = 0
        self._survey = None
        with guarded():
            self._scope.enter(tenant_id)
            open_workspace(self._conn)
            self._conn.execute("DROP TABLE IF EXISTS recon_stage")
            self._conn.execute(STAGE_TABLE.format(table="recon_stage", checks=""))
            with self._conn.cursor().copy("COPY recon_stage FROM STDIN") as copy:
                for line in lines:
                    copy.write_row(
                        (
                            line.line_number, line.type, line.external_id, line.reference, line.gross,
                            line.fee, line.net, line.currency, line.occurred_at, line.payout_id,
                        )
                    )  # fmt: skip
                    count += 1
                    if progress is not None and count % PROGRESS_EVERY == 0:
                        progress(count)
            self._conn.execute(ANALYZE_STAGE)
        if progress is not None:
            progress(count)
        return count

    def stage_csv(self, tenant_id: str, plain: PlainCsv, progress: Progress | None = None) -> int | None:
        with guarded():
            self._scope.enter(tenant_id)
            open_workspace(self._conn)
            self._conn.execute("DROP TABLE IF EXISTS recon_stage")
            self._survey = stage_csv(self._conn, plain, progress, self._side)
            if self._survey is None:
                return None
        if progress is not None:
            progress(self._survey.lines)
        return self._survey.lines

    def match(
        self, tenant_id: str, provider: str, run_id: str, rules: MatchRules, at: datetime
    ) -> MatchOutcome:
        params: dict[str, Any] = {
            "tenant": tenant_id, "provider": provider, "run": run_id, "at": at.isoformat(),
            "window": rules.window, "cutoff": rules.cutoff,
        }  # fmt: skip
        with guarded():
            self._scope.enter(tenant_id)
            self._conn.execute(SETTINGS)
            survey, self._survey = self._survey or q.Survey.of_row(self._one(q.SURVEY)), None
            first, last = survey.start or at, survey.end or at
            params |= {"first": first - rules.window, "last": last + rules.window}
            params |= {"start": survey.start, "end": survey.end}
            # Values bound client-side: statements with several parts go in one round trip.
            script = psycopg.ClientCursor(self._conn)
            duplicate_records, duplicate_others, records = self._lines_and_records(
                script, tenant_id, params, survey.names_payouts
            )
            script.execute(q.ODD)
            loose, free, judged, settlements = self._one(q.TALLIES)
            tally = Tally(loose, free, judged, records, survey.record_lines - duplicate_records - settlements)
            script.execute(q.SETTLEMENTS)
            script.execute(q.UNNAMED)
            named = script.execute(q.NAMED, params).rowcount
            clean = tally.clean + self._one(q.CLEAN_SETTLEMENTS)[0]
            if named or tally.shared:
                clean += self._first_tier_again(script, tally.shared)
            script.execute(q.LATER, params)
            clean += self._one(q.CLEAN_LATER)[0]
            script.execute(q.WRITE_BREAKS, params)
            per_kind = self._one(q.PER_KIND)[0]
            close_workspace(self._conn)
        counts = {kind.value: int(per_kind.get(kind.value, 0)) for kind in BreakKind}
        informational = survey.lines - survey.record_lines - duplicate_others
        return MatchOutcome(survey.lines, int(clean), int(informational), counts)

    def _lines_and_records(
        self, script: psycopg.ClientCursor[Any], tenant_id: str, params: dict[str, Any], names_payouts: bool
    ) -> tuple[int, int, int]:
        """The passes over the lines alone, and the records read meanwhile by a second session when
        one is free (else after them): the duplicates (records' and others'), and the records."""
        with ExitStack() as stack:
            second = second_session(stack, self._side)
            if second is None:
                duplicates = self._lines_passes(script, names_payouts)
                return (*duplicates, _read_records(self._conn, params))
            run = run_id_of(self._conn)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recon-records") as executor:
                elsewhere = executor.submit(read_records_in_side, second, run, tenant_id, params)
                duplicates = self._lines_passes(script, names_payouts)
                schema, records = elsewhere.result()
        self._conn.execute(sql.SQL(q.RECORDS_VIEW).format(sql.Identifier(schema, "recon_records")))
        return (*duplicates, records)

    def _lines_passes(self, script: psycopg.ClientCursor[Any], names_payouts: bool) -> tuple[int, int]:
        """The passes over the lines alone: their duplicates (answered: records' and others'), and
        what the payouts they name settle."""
        script.execute(q.FIRSTS)
        duplicate_records, duplicate_others = self._one(q.DUPLICATES)
        script.execute(q.PAYOUTS, {"named": names_payouts})
        return int(duplicate_records), int(duplicate_others)

    def _first_tier_again(self, script: psycopg.ClientCursor[Any], shared: bool) -> int:
        """The first tier done again for the disputed provider ids; answers the change in clean pairs."""
        script.execute(q.DISPUTED, {"shared": shared})
        script.execute(q.DISPUTED_LINES)
        script.execute(q.DISPUTED_RECORDS)
        before = self._one(q.CLEAN_DISPUTED)[0]
        script.execute(q.REDO)
        return int(self._one(q.CLEAN_REDONE)[0]) - int(before)

    def _one(self, query: str) -> tuple[Any, ...]:
        """The one row of an aggregate query."""
        row = self._conn.execute(query).fetchone()
        if row is None:
            raise LookupError("an aggregate query answered no row")
        return tuple(row)

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
        if not storable(run_id):
            return None
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
        if not storable(break_id):
            return None
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


def _read_records(conn: psycopg.Connection[Any], params: dict[str, Any]) -> int:
    """Our records of the period into `recon_records`, analysed; answers how many."""
    # CREATE TABLE AS answers its rows.
    records = psycopg.ClientCursor(conn).execute(q.RECORDS, params).rowcount
    conn.execute(q.ANALYZE_RECORDS)
    return records


def read_records_in_side(
    conn: psycopg.Connection[Any], run: str, tenant_id: str, params: dict[str, Any]
) -> tuple[str, int]:
    """`_read_records` in a second session, into the run's side schema, committed: the records are
    read while the run's own session passes over the lines. Answers the schema and the count."""
    schema = open_side(conn, run)
    Scope(conn).enter(tenant_id)
    conn.execute(SETTINGS)
    records = _read_records(conn, params)
    conn.commit()
    return schema, records
