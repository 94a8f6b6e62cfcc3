"""A reconciliation run's work tables: unlogged, in a schema only its transaction sees, gone after.

The sessions here are the pool's, acting as the app role, as the batch's are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import attrs
import psycopg
import pytest

from adapters.postgres.pool import make_pool
from adapters.postgres.recon_workspace import close_workspace, open_side, open_workspace
from adapters.postgres.reconciliation import PostgresReconciliation, read_records_in_side
from adapters.postgres.rows import Scope
from adapters.statements import StripeStatement
from adapters.statements.plain import data_halves
from payments_core.model.reconciliation import MatchRules, StagedLine
from tests.adapters.postgres.test_parallel_rls import force_parallel

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WORKSPACES = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'recon\\_run\\_%'"
SIDES = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'recon\\_side\\_%'"
STRIPE_HEADER = "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,source_id\n"
STRIPE_ROW = "txn_{n},2026-03-01 09:00:00,usd,10.00,0.59,9.41,charge,ch_{n}\n"
SETTINGS = "SELECT current_setting('search_path'), current_setting('parallel_tuple_cost')"


@pytest.fixture
def pool(pg_clone):
    pool = make_pool(pg_clone(), max_size=2)
    yield pool
    pool.close()


def where(conn: psycopg.Connection[Any], table: str) -> tuple[str, str]:
    """The schema and persistence of the table `table` names on the search path."""
    row = conn.execute(
        "SELECT n.nspname, c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass(%s)",
        (table,),
    ).fetchone()
    assert row is not None, table
    return row[0], row[1]


def workspaces(pool) -> int:
    with pool.connection() as conn:
        return conn.execute(WORKSPACES).fetchone()[0]


def test_the_work_tables_are_unlogged_in_the_transactions_own_schema_and_go_with_it(pool):
    with pool.connection() as conn:
        before = conn.execute(SETTINGS).fetchone()
        open_workspace(conn)
        conn.execute("CREATE UNLOGGED TABLE recon_stage (n int)")
        xid = conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        assert where(conn, "recon_stage") == (f"recon_run_{xid}", "u")
        path, cost = conn.execute(SETTINGS).fetchone()
        assert path == f'"recon_run_{xid}", {before[0]}'
        assert float(cost) == 0.01
        close_workspace(conn)
        assert conn.execute(SETTINGS).fetchone() == before
        assert conn.execute("SELECT to_regclass('recon_stage')").fetchone() == (None,)
        assert conn.execute(WORKSPACES).fetchone() == (0,)
    assert workspaces(pool) == 0


def test_opening_twice_in_one_transaction_is_one_workspace(pool):
    with pool.connection() as conn:
        open_workspace(conn)
        path = conn.execute(SETTINGS).fetchone()[0]
        open_workspace(conn)
        assert conn.execute(SETTINGS).fetchone()[0] == path
        assert conn.execute(WORKSPACES).fetchone() == (1,)
        close_workspace(conn)
    assert workspaces(pool) == 0


def test_a_run_that_fails_leaves_nothing_behind(pool):
    with pool.connection() as conn:
        open_workspace(conn)
        conn.execute("CREATE UNLOGGED TABLE recon_stage AS SELECT generate_series(1, 10) AS n")
        conn.rollback()
        assert conn.execute("SELECT to_regclass('recon_stage')").fetchone() == (None,)
    assert workspaces(pool) == 0


def test_two_runs_at_once_neither_waits_for_the_other(pool):
    with pool.connection() as first, pool.connection() as second:
        for n, conn in enumerate((first, second)):
            conn.execute("SET LOCAL lock_timeout = '2s'")
            open_workspace(conn)
            conn.execute("CREATE UNLOGGED TABLE recon_stage (n int)")
            conn.execute("INSERT INTO recon_stage VALUES (%s)", (n,))
        assert where(first, "recon_stage")[0] != where(second, "recon_stage")[0]
        for n, conn in enumerate((first, second)):
            assert conn.execute("SELECT n FROM recon_stage").fetchall() == [(n,)]
            close_workspace(conn)
    assert workspaces(pool) == 0


def test_closing_drops_every_table_and_view_in_the_workspace_and_its_side(pool):
    with pool.connection() as conn, pool.connection() as side:
        run = open_workspace(conn)
        conn.execute("CREATE UNLOGGED TABLE recon_stage_part AS SELECT 1 AS n")
        side_schema = open_side(side, run)
        side.execute("CREATE UNLOGGED TABLE recon_stage_part AS SELECT 2 AS n")
        side.commit()
        conn.execute(
            f'CREATE VIEW recon_stage AS SELECT n FROM recon_stage_part UNION ALL SELECT n FROM "{side_schema}".recon_stage_part'
        )
        assert conn.execute("SELECT n FROM recon_stage ORDER BY n").fetchall() == [(1,), (2,)]
        close_workspace(conn)
        assert conn.execute(WORKSPACES).fetchone() == (0,)
        assert conn.execute(SIDES).fetchone() == (0,)
        conn.commit()
    assert workspaces(pool) == 0


def test_a_side_schema_is_named_after_its_run_and_kept_from_other_sessions_until_committed(pool):
    with pool.connection() as conn, pool.connection() as side:
        run = open_workspace(conn)
        assert open_side(side, run) == f"recon_side_{run}"
        assert conn.execute(SIDES).fetchone() == (0,), "uncommitted: the run cannot see it yet"
        side.commit()
        assert conn.execute(SIDES).fetchone() == (1,)
        close_workspace(conn)
        conn.commit()


def test_a_side_is_opened_only_for_another_run_in_progress(pool):
    with pool.connection() as conn, pool.connection() as side:
        run = open_workspace(conn)
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            open_side(conn, run)
        conn.rollback()
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            open_side(side, run)
        side.rollback()


def test_the_side_of_a_run_that_failed_is_dropped_by_the_next_run(pool):
    with pool.connection() as conn, pool.connection() as side:
        run = open_workspace(conn)
        open_side(side, run)
        side.execute("CREATE UNLOGGED TABLE recon_stage_part AS SELECT 2 AS n")
        side.commit()
        conn.rollback()
        assert conn.execute(SIDES).fetchone() == (1,), "the failed run left its side behind"
        conn.rollback()
        open_workspace(conn)
        assert conn.execute(SIDES).fetchone() == (0,)
        conn.commit()
    with pool.connection() as conn:
        assert conn.execute(SIDES).fetchone() == (0,)


def test_the_app_role_may_create_no_schema_of_its_own(pool):
    with pool.connection() as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("payments_app",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA recon_run_mine")


def test_parallel_workers_read_the_work_tables(pool):
    with pool.connection() as conn:
        open_workspace(conn)
        conn.execute("CREATE UNLOGGED TABLE recon_stage AS SELECT generate_series(1, 5000) AS n")
        force_parallel(conn)
        query = "SELECT count(*), sum(n) FROM recon_stage"
        plan = "\n".join(line for (line,) in conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {query}").fetchall())
        assert "Gather" in plan and "Workers Launched: 0" not in plan, plan
        assert conn.execute(query).fetchone() == (5000, 5000 * 5001 // 2)
        conn.rollback()


@pytest.mark.parametrize("with_side", [False, True], ids=["one session", "records read by a side session"])
def test_staging_and_matching_leave_no_work_table_or_setting_behind(pool, with_side):
    with pool.connection() as conn:
        before = conn.execute(SETTINGS).fetchone()
        store = PostgresReconciliation(conn, Scope(conn), side=pool.connection if with_side else None)
        line = StagedLine(2, "charge", "ch_1", "pay_1", 100, 3, 97, "USD", T0)
        assert store.stage("t1", [line]) == 1
        outcome = store.match("t1", "sb", "run1", MatchRules(), T0)
        assert outcome.counts["missing_in_ledger"] == 1
        assert conn.execute(SETTINGS).fetchone() == before
        assert conn.execute(WORKSPACES).fetchone() == (0,)
        assert conn.execute(SIDES).fetchone() == (0,)
        tables = conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'recon\\_%'").fetchone()
        assert tables == (0,)
        conn.rollback()  # the breaks name a run this test never adds
        open_workspace(conn)  # whatever the rollback brought back, the next run's opening drops
        assert conn.execute(SIDES).fetchone() == (0,)
        conn.rollback()


def test_with_no_second_session_free_a_run_stages_and_matches_in_its_own(pg_clone, tmp_path):
    """The pool's only session is the run's: the side is waited for briefly, then done without."""
    lonely = make_pool(pg_clone(), max_size=1)
    path = tmp_path / "stripe.csv"
    path.write_text(STRIPE_HEADER + "".join(STRIPE_ROW.format(n=n) for n in range(40)), encoding="utf-8")
    plain = attrs.evolve(StripeStatement(path).plain_csv(), halves=partial(data_halves, path, smallest=1))
    try:
        with lonely.connection() as conn:
            store = PostgresReconciliation(conn, Scope(conn), side=partial(lonely.connection, timeout=0.2))
            assert store.stage_csv("t1", plain) == 40
            kind = conn.execute(
                "SELECT relkind FROM pg_class WHERE oid = to_regclass('recon_stage')"
            ).fetchone()
            assert kind == ("r",), "one table, staged in one part"
            outcome = store.match("t1", "stripe", "run1", MatchRules(), T0)
            assert outcome.lines == 40 and outcome.counts["missing_in_ledger"] == 40
            assert conn.execute(SIDES).fetchone() == (0,)
            conn.rollback()
    finally:
        lonely.close()


def test_autovacuum_leaves_the_tables_a_side_commits_alone(pool, tmp_path):
    """Committed, they are the autovacuum's to take: it vacuumed and analysed them mid-run."""
    path = tmp_path / "stripe.csv"
    path.write_text(STRIPE_HEADER + "".join(STRIPE_ROW.format(n=n) for n in range(40)), encoding="utf-8")
    plain = attrs.evolve(StripeStatement(path).plain_csv(), halves=partial(data_halves, path, smallest=1))
    with pool.connection() as conn:
        store = PostgresReconciliation(conn, Scope(conn), side=pool.connection)
        assert store.stage_csv("t1", plain) == 40
        run = conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        params = {"tenant": "t1", "provider": "stripe", "first": T0, "last": T0}
        with pool.connection() as side:
            assert read_records_in_side(side, run, "t1", params) == (f"recon_side_{run}", 0)
        options = conn.execute(
            "SELECT c.relname, c.reloptions, t.reloptions FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class t ON t.oid = c.reltoastrelid "
            "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname",
            (f"recon_side_{run}",),
        ).fetchall()
        assert options == [
            (name, ["autovacuum_enabled=false"], ["autovacuum_enabled=false"])
            for name in ("recon_records", "recon_stage_part")
        ]
        conn.rollback()
