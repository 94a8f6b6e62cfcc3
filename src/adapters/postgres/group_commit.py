"""Group commit: concurrent single transfers share one transaction and one commit.

Invariants
- A caller's `submit` returns only after the transaction holding its transfer committed, so an
  acknowledged transfer is as durable as if it had committed alone.
- The outcome of each transfer is the one it would have had alone, applied in arrival order:
  the group first runs optimistically in one transaction; if any transfer fails, the group is
  run again with a savepoint around each transfer, so a refused transfer fails alone and the
  others are unaffected.
- At most `committers` groups are in flight at once; leadership passes from caller to caller,
  so no thread serves the others forever.
- Groups cannot deadlock each other: a group first locks every account its transfers name, in
  one statement, in (tenant, id) order. Should PostgreSQL still report a deadlock (a hold's
  accounts are only known once read), the group is rolled back and run again.

This is the batching TigerBeetle does in its client, on PostgreSQL: under load the cost of a
commit (the WAL flush) is shared by the whole group; alone, a transfer commits at once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
from psycopg.errors import DeadlockDetected, SerializationFailure
from psycopg_pool import ConnectionPool

from payments_core.errors import DomainError
from payments_core.ledger import Transfer, TransferRequest

_ATTEMPTS = 5


@attrs.define(eq=False)
class _Waiting:
    request: TransferRequest
    wake: threading.Event = attrs.Factory(threading.Event)
    lead: bool = False
    finished: bool = False
    transfer: Transfer | None = None
    error: BaseException | None = None

    def finish(self, transfer: Transfer | None = None, error: BaseException | None = None) -> None:
        self.transfer, self.error, self.finished = transfer, error, True
        self.wake.set()


class GroupCommitter:
    def __init__(
        self,
        pool: ConnectionPool[Any],
        store_on: Callable[[Any], Any],
        max_group: int = 64,
        committers: int = 2,
    ) -> None:
        self._pool = pool
        self._store_on = store_on
        self._max_group = max_group
        self._committers = committers
        self._lock = threading.Lock()
        self._queue: deque[_Waiting] = deque()
        self._leaders = 0

    def submit(self, request: TransferRequest) -> Transfer:
        me = _Waiting(request)
        with self._lock:
            self._queue.append(me)
            if self._leaders < self._committers:
                self._leaders += 1
                me.lead = True
        while True:
            if me.lead:
                self._lead(me)
            if me.finished:
                break
            me.wake.wait()
            me.wake.clear()
        if me.error is not None:
            raise me.error
        assert me.transfer is not None
        return me.transfer

    def _lead(self, me: _Waiting) -> None:
        while not me.finished:
            with self._lock:
                group = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_group))]
            if not group:
                me.wake.wait(0.001)  # another leader holds our transfer; it finishes soon
                continue
            self._run(group)
        with self._lock:
            me.lead = False
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.wake.set()
            else:
                self._leaders -= 1

    def _run(self, group: list[_Waiting]) -> None:
        try:
            outcomes = self._optimistic(group)
            if outcomes is None:
                outcomes = self._one_by_one(group)
        except BaseException as failure:  # the commit itself failed: nobody's transfer is in
            for waiting in group:
                waiting.finish(error=failure)
            return
        for waiting, (transfer, error) in zip(group, outcomes, strict=True):
            waiting.finish(transfer, error)

    def _optimistic(self, group: list[_Waiting]) -> list[tuple[Transfer | None, BaseException | None]] | None:
        for attempt in range(_ATTEMPTS):
            try:
                return self._optimistic_once(group)
            except (DeadlockDetected, SerializationFailure):
                if attempt == _ATTEMPTS - 1:
                    raise
        return None  # pragma: no cover - the loop returns or raises

    def _optimistic_once(
        self, group: list[_Waiting]
    ) -> list[tuple[Transfer | None, BaseException | None]] | None:
        if len(group) == 1:
            return [self._alone(group[0].request)]
        with self._pool.connection() as conn:
            try:
                with conn.transaction():
                    store = self._store_on(conn)
                    store.lock_accounts([w.request for w in group])
                    transfers = [store.submit(w.request) for w in group]
            except DomainError as refused:
                if len(group) == 1:
                    return [(None, refused)]
                return None
        return [(t, None) for t in transfers]

    def _alone(self, request: TransferRequest) -> tuple[Transfer | None, BaseException | None]:
        """A transfer alone is one statement (one SQL function call): it runs as its own
        transaction, in one round trip instead of three (BEGIN, the call, COMMIT)."""
        with self._pool.connection() as conn:
            conn.autocommit = True
            try:
                return (self._store_on(conn).submit(request), None)
            except DomainError as refused:
                return (None, refused)
            finally:
                conn.autocommit = False

    def _one_by_one(self, group: list[_Waiting]) -> list[tuple[Transfer | None, BaseException | None]]:
        outcomes: list[tuple[Transfer | None, BaseException | None]] = []
        with self._pool.connection() as conn, conn.transaction():
            store = self._store_on(conn)
            store.lock_accounts([w.request for w in group])
            for waiting in group:
                try:
                    with conn.transaction():
                        outcomes.append((store.submit(waiting.request), None))
                except DomainError as refused:
                    outcomes.append((None, refused))
        return outcomes
