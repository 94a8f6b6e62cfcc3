"""The read views on PostgreSQL: asyncio psycopg on a small pool of its own.

Invariants
- Every connection of the pool is in autocommit mode with `default_transaction_read_only` on, and
  acts as the row-level-secured app role (as the main pool's do): a view's statement is a
  read-only transaction of its own and can change nothing.
- `app.tenant_id` is a session setting on these connections, set before a statement whenever the
  connection last served another tenant (remembered per connection, forgotten with it). Row-level
  security therefore scopes every statement to the tenant it names, and each statement filters by
  tenant as well.
- One statement per read, prepared once per connection: one round trip, no planning per call.
- A pool belongs to the event loop that opened it (psycopg's async pool cannot be shared between
  loops); a loop that reads without having opened the views (a test client's second lifespan)
  gets a pool of its own on its first read.
- No psycopg exception leaves a view (`guarded`); a pool that cannot lend a connection in time is a
  storage failure like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final, LiteralString
from weakref import WeakKeyDictionary

import psycopg
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.codec import load
from adapters.postgres.rows import guarded
from payments_core.model.payments import Payment

PAYMENT_SQL: Final[LiteralString] = "SELECT doc FROM payments WHERE tenant_id = %s AND id = %s"
LEND_TIMEOUT_SECONDS: Final = 5.0


async def _read_only_app_role(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)
    await conn.execute("SET default_transaction_read_only = on")
    found = await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'payments_app'")
    if await found.fetchone():
        # Where the role cannot be assumed (a managed database), FORCE ROW LEVEL SECURITY applies.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            await conn.execute("SET ROLE payments_app")


class PostgresPaymentViews:
    def __init__(self, url: str, size: int = 4) -> None:
        self._url = url
        self._size = size
        self._pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool[Any]] = {}
        self._tenants: WeakKeyDictionary[psycopg.AsyncConnection[Any], str] = WeakKeyDictionary()

    async def open(self) -> None:
        await self._opened()

    async def close(self) -> None:
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()

    async def _opened(self) -> AsyncConnectionPool[Any]:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = AsyncConnectionPool(
                self._url,
                min_size=self._size,
                max_size=self._size,
                configure=_read_only_app_role,
                timeout=LEND_TIMEOUT_SECONDS,
                open=False,
                name="payments-views",
            )
            self._pools[loop] = pool
            await pool.open(wait=True, timeout=30)
        return pool

    async def payment(self, tenant_id: str, payment_id: str) -> Payment | None:
        with guarded():
            pool = self._pools.get(asyncio.get_running_loop()) or await self._opened()
            async with pool.connection() as conn:
                await self._scope(conn, tenant_id)
                cursor = await conn.execute(PAYMENT_SQL, (tenant_id, payment_id), prepare=True)
                row = await cursor.fetchone()
        return load(Payment, row[0]) if row else None

    async def _scope(self, conn: psycopg.AsyncConnection[Any], tenant_id: str) -> None:
        if self._tenants.get(conn) == tenant_id:
            return
        self._tenants.pop(conn, None)
        await conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant_id,))
        self._tenants[conn] = tenant_id
