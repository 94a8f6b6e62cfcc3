"""Where the database is: `DATABASE_URL`, or a real PostgreSQL started from the pgserver wheel.

With no `DATABASE_URL`, the embedded server keeps its data in `$PAYMENTS_HOME/pgdata`
(default `.payments/pgdata` under the working directory) and stops when the process exits.

The embedded server runs on this machine, so it is tuned to it as a DBA would tune a server of
`DATABASE_URL`: a parallel query takes as many workers as, with its leader, fill the cores and
no more (`parallel_workers`). PostgreSQL's default of two workers suits four cores or more; on
two, a leader and two workers take turns on the cores, and the reconciliation's big join took
60-100 ms longer (0.82 against 0.88 s on a million lines).

It also keeps shared memory for parallel queries from its start (`parallel_query_memory_mb`): a
parallel hash join's table (the reconciliation's records, 150 MB a million) otherwise lives in a
segment made from the operating system for that query, every page of it zeroed on first touch,
and given back at its end. Taken from the memory kept, the same pages serve query after query:
a million-line reconciliation took 0.2-0.3 s less (A/B over eight runs, either server first).
That setting is read only when the server starts: a server this process creates is started
again once to take it; one that already ran takes it at its next start.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import attrs


@attrs.define
class Database:
    """A database URL, and the embedded server behind it if we started one."""

    url: str
    server: Any = None

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def bin_dir(self) -> Path | None:
        """The PostgreSQL client programs (psql, pgbench) shipped with the embedded server."""
        if self.server is None:
            return None
        import pgserver  # noqa: PLC0415 - optional at run time when DATABASE_URL is set

        return Path(pgserver.__file__).parent / "pginstall" / "bin"


def payments_home() -> Path:
    return Path(os.environ.get("PAYMENTS_HOME") or Path.cwd() / ".payments")


def start_embedded(data_dir: Path, cleanup: str = "stop") -> Database:
    """Start (or reuse) an embedded PostgreSQL keeping its files in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    created = not (data_dir / "PG_VERSION").exists()
    server = _server(data_dir, cleanup)
    if _tune(server.get_uri()) and created:
        # No other process can hold a server this one has just created: stopping it stops it.
        server.cleanup()
        server = _server(data_dir, cleanup)
    return Database(url=server.get_uri(), server=server)


def _server(data_dir: Path, cleanup: str) -> Any:
    with warnings.catch_warnings():  # pgserver warns when XDG_RUNTIME_DIR is unset (CI, containers)
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from pgserver.postgres_server import get_server  # noqa: PLC0415 - only the embedded mode needs it

        return get_server(str(data_dir), cleanup_mode=cleanup)


def parallel_workers(cores: int | None = None) -> int:
    """Workers per parallel query on a machine of `cores` (default: this process's): the
    leader works too, so one fewer than the cores, and at most PostgreSQL's default of two."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(2, cores - 1))


def parallel_query_memory_mb(memory_bytes: int | None = None) -> int:
    """The shared memory kept for parallel queries on a machine of `memory_bytes` (default:
    this one's): a sixteenth of it, at most 1 GB (a million-line reconciliation uses 250 MB;
    a query that finds it used up takes a segment of its own, as without it)."""
    if memory_bytes is None:
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min(1024, memory_bytes // 16 // 2**20)


def _tune(url: str) -> bool:
    """Set the server's parallel workers and its memory for parallel queries for this machine,
    where they differ; answer whether the memory waits for the server's next start."""
    import psycopg  # noqa: PLC0415 - the module itself stays importable without a driver loaded

    with psycopg.connect(url, autocommit=True) as conn:
        workers = str(parallel_workers())
        if _setting(conn, "max_parallel_workers_per_gather") != workers:
            conn.execute(f"ALTER SYSTEM SET max_parallel_workers_per_gather = {workers}")
            conn.execute("SELECT pg_reload_conf()")
        memory = str(parallel_query_memory_mb())
        if _setting(conn, "min_dynamic_shared_memory") == memory:
            return False
        conn.execute(f"ALTER SYSTEM SET min_dynamic_shared_memory = '{memory}MB'")
        return True


def _setting(conn: Any, name: str) -> str | None:
    """The value `name` runs with, in its base unit (MB for the memory)."""
    row = conn.execute("SELECT setting FROM pg_settings WHERE name = %s", (name,)).fetchone()
    return None if row is None else str(row[0])


def open_database() -> Database:
    """The configured database: `DATABASE_URL` when set, else the embedded server."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return Database(url=url)
    return start_embedded(payments_home() / "pgdata")


def database_url(base_url: str, name: str) -> str:
    """`base_url` pointed at another database on the same server."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    params = conninfo_to_dict(base_url)
    params["dbname"] = name
    return make_conninfo("", **params)
