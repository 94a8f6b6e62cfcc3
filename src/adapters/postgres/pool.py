"""One connection pool per process; every connection acts as the row-level-secured app role."""

from __future__ import annotations

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


def make_pool(
    url: str,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "payments",
) -> ConnectionPool[Any]:
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=min_size, max_size=max_size, configure=_act_as_app_role, open=True, name=name
    )
    pool.wait(timeout=30)
    return pool
