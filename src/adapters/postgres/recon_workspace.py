"""Where a reconciliation run's work tables live: a schema of the run's own transaction.

Invariants
- The work tables (the staged statement, the records, what matching keeps) are unlogged tables in
  the schema `recon_run_<transaction id>`, put first on the transaction's search path: the SQL
  names them unqualified. Temporary tables would need no schema, but PostgreSQL never lets a
  parallel worker read one, and the batch's passes over a million rows (converting the statement,
  joining it with the records) are worth both cores.
- No other session ever sees them. The schema is created inside the run's transaction and dropped
  before it commits; until then its catalog rows are uncommitted, so two runs at once each have
  their own (a transaction id is unique among running transactions), and a run that fails rolls
  back and leaves nothing behind, after a crash too (an unlogged table writes nothing to the WAL,
  and the rows that name it never commit).
- The schema is created and dropped by two functions of the database owner (migration 0020) that
  act on the calling transaction's schema only: the app role may create tables there, and no
  schema anywhere.
- Opening is idempotent within a transaction (staging may be tried twice: the plain CSV first,
  then the parser's lines). Closing drops the tables it is told of, then the schema, which is
  refused while anything else is left in it, and puts the search path and the planner's setting
  back as they were for the rest of the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import psycopg
from psycopg import sql

OPEN: Final = "SELECT reconciliation_workspace_open(), current_setting('search_path')"
NAME: Final = "SELECT 'recon_run_' || pg_current_xact_id(), current_setting('search_path')"
CLOSE: Final = "SELECT reconciliation_workspace_close()"
# The planner prices every row a worker hands to the leader at 0.1, which keeps the batch's
# conversion (a million rows, each worth far more work than its handing over) on one core, and the
# join with the records too (it keeps a few rows, but the planner cannot tell how few).
PARALLEL: Final = "SET LOCAL parallel_tuple_cost = 0.01"
SERIAL: Final = "SET LOCAL parallel_tuple_cost TO DEFAULT"


def open_workspace(conn: psycopg.Connection[Any]) -> None:
    """Create this transaction's work schema and put it first on the search path, once."""
    name, path = _row(conn, OPEN)
    first = _first(conn, name)
    if not path.startswith(first):
        conn.execute("SELECT set_config('search_path', %s, true)", (first + path,))
        conn.execute(PARALLEL)


def close_workspace(conn: psycopg.Connection[Any], tables: Iterable[str]) -> None:
    """Drop `tables` and this transaction's work schema (refused if anything else is left in it)."""
    name, path = _row(conn, NAME)
    first = _first(conn, name)
    if not path.startswith(first):
        return
    names = [sql.Identifier(name, table) for table in tables]
    if names:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(", ").join(names)))
    conn.execute(CLOSE)
    conn.execute("SELECT set_config('search_path', %s, true)", (path.removeprefix(first),))
    conn.execute(SERIAL)


def _row(conn: psycopg.Connection[Any], query: str) -> tuple[str, str]:
    row = conn.execute(query).fetchone()
    if row is None:
        raise LookupError("the server did not name the work schema")
    return row[0], row[1]


def _first(conn: psycopg.Connection[Any], name: str) -> str:
    """How `name` reads at the head of a search path."""
    return f"{sql.Identifier(name).as_string(conn)}, "
