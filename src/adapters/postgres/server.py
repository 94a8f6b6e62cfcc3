"""Where the database is: `DATABASE_URL`, or a real PostgreSQL started from the pgserver wheel.

With no `DATABASE_URL`, the embedded server keeps its data in `$PAYMENTS_HOME/pgdata`
(default `.payments/pgdata` under the working directory) and stops when the process exits.

The embedded server runs on this machine, so it is tuned to it as a DBA would tune a server of
`DATABASE_URL`: a parallel query takes as many workers as, with its leader, fill the cores and
no more (`parallel_workers`). PostgreSQL's default of two workers suits four cores or more; on
two, a leader and two workers take turns on the cores, and the reconciliation's big join took
60-100 ms longer (0.82 against 0.88 s on a million lines).
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
    with warnings.catch_warnings():  # pgserver warns when XDG_RUNTIME_DIR is unset (CI, containers)
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from pgserver.postgres_server import get_server  # noqa: PLC0415 - only the embedded mode needs it

        data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(str(data_dir), cleanup_mode=cleanup)
    _tune(server.get_uri())
    return Database(url=server.get_uri(), server=server)


def parallel_workers(cores: int | None = None) -> int:
    """Workers per parallel query on a machine of `cores` (default: this process's): the
    leader works too, so one fewer than the cores, and at most PostgreSQL's default of two."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(2, cores - 1))


def _tune(url: str) -> None:
    """Set the server's parallel workers for this machine, when it has another value."""
    import psycopg  # noqa: PLC0415 - the module itself stays importable without a driver loaded

    workers = parallel_workers()
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW max_parallel_workers_per_gather").fetchone()
        if row is None or row[0] != str(workers):
            conn.execute(f"ALTER SYSTEM SET max_parallel_workers_per_gather = {workers}")
            conn.execute("SELECT pg_reload_conf()")


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
