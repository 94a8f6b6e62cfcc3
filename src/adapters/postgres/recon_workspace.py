"""Where a reconciliation run's work tables live: schemas named after the run's transaction.

Invariants
- The work tables (the staged statement, the records, what matching keeps) are unlogged tables in
  the schema `recon_run_<transaction id>`, put first on the transaction's search path: the SQL
  names them unqualified. Temporary tables would need no schema, but PostgreSQL never lets a
  parallel worker read one, nor another session, and the batch's passes over a million rows are
  worth both cores.
- No other session ever sees the workspace. It is created inside the run's transaction and dropped
  before it commits; until then its catalog rows are uncommitted, so two runs at once each have
  their own (a transaction id is unique among running transactions), and a run that fails rolls
  back and leaves nothing behind, after a crash too.
- A second session may work for the run (stage half of its statement, read the records it is
  matched with) in `recon_side_<the run's id>` (`open_side`, once or more), committing what it
  writes so that the run can read it. Closing the workspace drops that
  schema too; a run that fails before closing leaves it to the next run's opening, which drops the
  side schemas of every run no longer in progress.
- Autovacuum leaves the side's tables alone (`UNVACUUMED`): committed, they are tables it would
  vacuum and analyse (half a second of a core, measured, in the middle of a run on two cores),
  though they live seconds, are never updated, and are analysed by the run itself.
- The schemas are created and dropped by functions of the database owner (migration 0020) that act
  only on schemas so named: the app role may create tables there, and no schema anywhere.
- Opening is idempotent within a transaction (staging may be tried twice: the plain CSV first,
  then the parser's lines). Closing drops everything in both schemas and puts the search path and
  the planner's setting back as they were for the rest of the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg_pool import PoolTimeout

# Where a store takes a second session from (the pool's `connection`, waiting briefly).
SideSession = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]

OPEN: Final = "SELECT reconciliation_workspace_open(), current_setting('search_path')"
OPEN_SIDE: Final = "SELECT reconciliation_side_open(%s::xid8), current_setting('search_path')"
NAME: Final = "SELECT 'recon_run_' || pg_current_xact_id(), current_setting('search_path')"
CLOSE: Final = "SELECT reconciliation_workspace_close()"
RUN: Final = "SELECT pg_current_xact_id()::text"
# The storage parameters of the staged lines and the records: the tables a side session may commit
# (see the invariants). The run's own session uses them too, so that either session makes the same.
UNVACUUMED: Final = "WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)"
# The planner prices every row a worker hands to the leader at 0.1, which keeps the batch's
# conversion (a million rows, each worth far more work than its handing over) on one core, and the
# join with the records too (it keeps a few rows, but the planner cannot tell how few).
PARALLEL: Final = "SET LOCAL parallel_tuple_cost = 0.01"
SERIAL: Final = "SET LOCAL parallel_tuple_cost TO DEFAULT"


def open_workspace(conn: psycopg.Connection[Any]) -> str:
    """Create this transaction's work schema and put it first on the search path, once; answer
    the run's id, which names its side schema."""
    _enter(conn, OPEN)
    return run_id_of(conn)


def second_session(stack: ExitStack, side: SideSession | None) -> psycopg.Connection[Any] | None:
    """A second session, held until `stack` closes (committing, or rolling back on an error); None
    when there is no `side` or no session is free in time: the run then works in its own alone."""
    if side is None:
        return None
    try:
        return stack.enter_context(side())
    except PoolTimeout:
        return None


def run_id_of(conn: psycopg.Connection[Any]) -> str:
    """The id of the run's transaction, which names its side schema."""
    return _row(conn, RUN)[0]


def open_side(conn: psycopg.Connection[Any], run: str) -> str:
    """In another session: create the side schema of `run` (in progress) and work in it; answer its
    name. It is committed with this session's transaction."""
    return _enter(conn, OPEN_SIDE, (run,))


def close_workspace(conn: psycopg.Connection[Any]) -> None:
    """Drop this transaction's work schema and its side schema, with everything in them."""
    name, path = _row(conn, NAME)
    first = _first(conn, name)
    if not path.startswith(first):
        return
    conn.execute(CLOSE)
    conn.execute("SELECT set_config('search_path', %s, true)", (path.removeprefix(first),))
    conn.execute(SERIAL)


def _enter(conn: psycopg.Connection[Any], query: str, params: tuple[str, ...] = ()) -> str:
    name, path = _row(conn, query, params)
    first = _first(conn, name)
    if not path.startswith(first):
        conn.execute("SELECT set_config('search_path', %s, true)", (first + path,))
        conn.execute(PARALLEL)
    return name


def _row(conn: psycopg.Connection[Any], query: str, params: tuple[str, ...] = ()) -> tuple[str, str]:
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError("the server did not name the work schema")
    return row[0], row[-1]


def _first(conn: psycopg.Connection[Any], name: str) -> str:
    """How `name` reads at the head of a search path."""
    return f"{sql.Identifier(name).as_string(conn)}, "
