"""One connection pool per process; every connection acts as the row-level-secured app role.

A pool may also give its sessions settings of their own (`session_settings`), set once as each
connection opens: those a session can only take before it first uses them (`temp_buffers`, for
the reconciliation batch's temporary tables) cannot be set per transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool


def _act_as_app_role(conn: psycopg.Connection[Any]) -> None:
    """Superusers bypass row-level security; the app role does not. Where it cannot be
    assumed (a managed database), the owner's FORCE ROW LEVEL SECURITY still applies."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'payments_app'").fetchone()
    if exists:
        try:
            conn.execute("SET ROLE payments_app")
        except psycopg.errors.InsufficientPrivilege:
            conn.rollback()
    conn.commit()


def _configure(settings: Mapping[str, str]) -> Callable[[psycopg.Connection[Any]], None]:
    def configure(conn: psycopg.Connection[Any]) -> None:
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        _act_as_app_role(conn)

    return configure


def make_pool(
    url: str,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "payments",
    session_settings: Mapping[str, str] | None = None,
) -> ConnectionPool[Any]:
    configure = _configure(session_settings) if session_settings else _act_as_app_role
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=min_size, max_size=max_size, configure=configure, open=True, name=name
    )
    pool.wait(timeout=30)
    return pool
