"""The read views on PostgreSQL: asyncio psycopg on a small pool of its own, with the reads that
arrive together answered together.

Invariants
- Every connection of the pool is in autocommit mode with `default_transaction_read_only` on, and
  acts as the row-level-secured app role (as the main pool's do): a view's statement is a
  read-only transaction of its own and can change nothing.
- `app.tenant_id` is a session setting on these connections, set before a statement whenever the
  connection last served another tenant (remembered per connection, forgotten with it). Row-level
  security therefore scopes every statement to the tenant it names, and each statement filters by
  tenant as well.
- The reads of one tenant that reach the view in the same turn of the event loop wait for that
  turn to end and share one statement (`id = ANY(…)`, at most `BATCH_LIMIT` ids, prepared once
  per connection): one round trip, one connection and no planning for all of them. Each read gets
  its own row (reads of the same id share it), or the statement's error. A single read waits for
  nothing: its turn ends at once.
- A pool belongs to the event loop that opened it (psycopg's async pool cannot be shared between
  loops); a loop that reads without having opened the views (a test client's second lifespan)
  gets a pool of its own on its first read.
- No psycopg exception leaves a view (`guarded`); a pool that cannot lend a connection in time is a
  storage failure like any other.
- An id PostgreSQL cannot hold as text (a NUL, a lone surrogate) names no payment and is answered
  None before it joins a batch: one caller's bad input never fails the reads it would share with.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final, LiteralString
from weakref import WeakKeyDictionary

import psycopg
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.codec import load
from adapters.postgres.rows import guarded, storable
from payments_core.model.payments import Payment

PAYMENTS_SQL: Final[LiteralString] = "SELECT id, doc FROM payments WHERE tenant_id = %s AND id = ANY(%s)"
LEND_TIMEOUT_SECONDS: Final = 5.0
BATCH_LIMIT: Final = 64

Batch = dict[str, "asyncio.Future[Payment | None]"]


async def _read_only_app_role(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)
    await conn.execute("SET default_transaction_read_only = on")
    found = await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'payments_app'")
    if await found.fetchone():
        # Where the role cannot be assumed (a managed database), FORCE ROW LEVEL SECURITY applies.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            await conn.execute("SET ROLE payments_app")


class _LoopReader:
    """One event loop's pool and the batches it is gathering, per tenant."""

    def __init__(self, pool: AsyncConnectionPool[Any], tenants: WeakKeyDictionary[Any, str]) -> None:
        self.pool = pool
        self._tenants = tenants
        self._gathering: dict[str, Batch] = {}
        self._answering: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def payment(self, tenant_id: str, payment_id: str) -> asyncio.Future[Payment | None]:
        batch = self._gathering.get(tenant_id)
        if batch is None or (payment_id not in batch and len(batch) >= BATCH_LIMIT):
            batch = self._gathering[tenant_id] = {}
            task = asyncio.get_running_loop().create_task(self._answer(tenant_id, batch))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        future = batch.get(payment_id)
        if future is None:
            future = batch[payment_id] = asyncio.get_running_loop().create_future()
        return future

    async def _answer(self, tenant_id: str, batch: Batch) -> None:
        """Runs after the turn in which the batch was started: every read of that turn has joined."""
        if self._gathering.get(tenant_id) is batch:
            del self._gathering[tenant_id]
        try:
            with guarded():
                async with self.pool.connection() as conn:
                    await self._scope(conn, tenant_id)
                    cursor = await conn.execute(PAYMENTS_SQL, (tenant_id, list(batch)), prepare=True)
                    docs = dict(await cursor.fetchall())
        except asyncio.CancelledError:  # the loop is closing: so are the reads waiting here
            for future in batch.values():
                future.cancel()
            raise
        except Exception as error:  # every waiting read gets the error
            for future in batch.values():
                if not future.done():
                    future.set_exception(error)
            return
        for payment_id, future in batch.items():
            if not future.done():
                doc = docs.get(payment_id)
                future.set_result(load(Payment, doc) if doc is not None else None)

    async def _scope(self, conn: psycopg.AsyncConnection[Any], tenant_id: str) -> None:
        if self._tenants.get(conn) == tenant_id:
            return
        self._tenants.pop(conn, None)
        await conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant_id,))
        self._tenants[conn] = tenant_id


class PostgresPaymentViews:
    def __init__(self, url: str, size: int = 4) -> None:
        self._url = url
        self._size = size
        self._readers: dict[asyncio.AbstractEventLoop, _LoopReader] = {}
        self._tenants: WeakKeyDictionary[psycopg.AsyncConnection[Any], str] = WeakKeyDictionary()

    async def open(self) -> None:
        await self._reader()

    async def close(self) -> None:
        reader = self._readers.pop(asyncio.get_running_loop(), None)
        if reader is not None:
            await reader.pool.close()

    async def payment(self, tenant_id: str, payment_id: str) -> Payment | None:
        if not storable(payment_id):
            return None
        reader = self._readers.get(asyncio.get_running_loop()) or await self._reader()
        # Shielded: a caller that goes away must not cancel the answer others share.
        return await asyncio.shield(reader.payment(tenant_id, payment_id))

    async def _reader(self) -> _LoopReader:
        loop = asyncio.get_running_loop()
        reader = self._readers.get(loop)
        if reader is None:
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                self._url,
                min_size=self._size,
                max_size=self._size,
                configure=_read_only_app_role,
                timeout=LEND_TIMEOUT_SECONDS,
                open=False,
                name="payments-views",
            )
            reader = self._readers[loop] = _LoopReader(pool, self._tenants)
            await pool.open(wait=True, timeout=30)
        return reader

    async def _connection_pool(self) -> AsyncConnectionPool[Any]:
        """This loop's pool (for tests of the connections' own settings)."""
        return (await self._reader()).pool
