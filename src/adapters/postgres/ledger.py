"""The PostgreSQL ledger store: `ledger_submit` (one SQL function, one round trip) per transfer.

`PostgresLedgerStore` works inside a transaction someone else owns (the unit of work);
`PooledLedgerStore` gives each call its own connection and transaction, for the ledger alone.
Both return exactly what the in-memory store returns for the same calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from adapters.postgres.group_commit import GroupCommitter
from adapters.postgres.ledger_rows import (
    ALL_TENANTS,
    BATCH_SQL,
    POST_SQL,
    account_of,
    batch_arrays,
    entries_of,
    hold_of,
    parse_postings,
    parse_request,
    post_arrays,
    request_json,
)
from adapters.postgres.sql_errors import translated
from payments_core.errors import IdempotencyConflict, NotFound
from payments_core.ledger import (
    Account,
    AccountNotFound,
    Balances,
    Entry,
    Hold,
    Transfer,
    TransferMode,
    TransferRequest,
)
from payments_core.ledger.transfers import expiry_id
from payments_core.ports import Clock


class PostgresLedgerStore:
    """The ledger inside a transaction the caller opened and will commit or roll back."""

    def __init__(self, conn: psycopg.Connection[Any], clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    def scope(self, tenant_id: str) -> None:
        """Row-level security: this transaction now sees `tenant_id` only ('*': every tenant)."""
        self._conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))

    def _rows(self, tenant_id: str, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with translated():
            self.scope(tenant_id)
            with self._conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql, params)
                return cur.fetchall()

    def open_accounts(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            if account.balances != Balances():
                raise IdempotencyConflict("accounts open with zero balances", accountId=account.id)
        with translated():
            for tenant_id in sorted({a.tenant_id for a in accounts}):
                mine = [a for a in accounts if a.tenant_id == tenant_id]
                self.scope(tenant_id)
                with self._conn.cursor() as cur:
                    cur.executemany(
                        """INSERT INTO accounts (tenant_id, id, code, currency,
                               debits_must_not_exceed_credits, credits_must_not_exceed_debits)
                           VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, id) DO NOTHING""",
                        [
                            (
                                a.tenant_id,
                                a.id,
                                a.code,
                                a.currency,
                                a.flags.debits_must_not_exceed_credits,
                                a.flags.credits_must_not_exceed_debits,
                            )
                            for a in mine
                        ],
                    )
                stored = {
                    row["id"]: account_of(row)
                    for row in self._rows(
                        tenant_id,
                        "SELECT * FROM accounts WHERE tenant_id = %s AND id = ANY(%s)",
                        (tenant_id, [a.id for a in mine]),
                    )
                }
                for account in mine:
                    if not stored[account.id].same_definition(account):
                        raise IdempotencyConflict(
                            "an account with this id exists with another definition", accountId=account.id
                        )

    def account(self, tenant_id: str, account_id: str) -> Account:
        rows = self._rows(
            tenant_id, "SELECT * FROM accounts WHERE tenant_id = %s AND id = %s", (tenant_id, account_id)
        )
        if not rows:
            raise AccountNotFound("account not found", accountId=account_id)
        return account_of(rows[0])

    def accounts(self, tenant_id: str) -> list[Account]:
        rows = self._rows(tenant_id, "SELECT * FROM accounts WHERE tenant_id = %s ORDER BY id", (tenant_id,))
        return [account_of(row) for row in rows]

    def lock_accounts(self, requests: Sequence[TransferRequest]) -> None:
        """Lock every account these transfers name, in (tenant, id) order, in one statement."""
        pairs = sorted({(r.tenant_id, a) for r in requests for p in r.postings for a in p.pair})
        if not pairs:
            return
        self.scope(ALL_TENANTS)
        with translated():
            self._conn.execute(
                """SELECT 1 FROM accounts a
                   JOIN unnest(%s::text[], %s::text[]) AS k(tenant_id, id)
                     ON a.tenant_id = k.tenant_id AND a.id = k.id
                   ORDER BY a.tenant_id, a.id FOR UPDATE OF a""",
                ([t for t, _ in pairs], [a for _, a in pairs]),
            )

    def submit(self, request: TransferRequest) -> Transfer:
        payload = json.dumps(request_json(request))
        with translated():
            if request.mode in (TransferMode.POSTED, TransferMode.PENDING):
                row = self._conn.execute(
                    POST_SQL, (payload, self._clock.now(), *post_arrays(request))
                ).fetchone()
            else:
                row = self._conn.execute(
                    "SELECT ledger_submit(%s::jsonb, %s)", (payload, self._clock.now())
                ).fetchone()
        assert row is not None
        result = row[0]
        return Transfer(
            request=request,
            postings=parse_postings(result["postings"]),
            created_at=datetime.fromisoformat(result["created_at"]),
        )

    def submit_many(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """All or nothing, in order. Fresh posted transfers go set-based through
        `ledger_post_batch`; anything else (holds, replays) one by one in this transaction."""
        if len(requests) > 1 and all(r.mode is TransferMode.POSTED for r in requests):
            now = self._clock.now()
            with translated():
                row = self._conn.execute(BATCH_SQL, (now, *batch_arrays(requests))).fetchone()
            if row is not None and row[0]:
                return [Transfer(request=r, postings=r.postings, created_at=now) for r in requests]
        return [self.submit(request) for request in requests]

    def transfer(self, tenant_id: str, transfer_id: str) -> Transfer:
        rows = self._rows(
            tenant_id,
            "SELECT request, postings, created_at FROM transfers WHERE tenant_id = %s AND id = %s",
            (tenant_id, transfer_id),
        )
        if not rows:
            raise NotFound("transfer not found", transferId=transfer_id)
        row = rows[0]
        return Transfer(parse_request(row["request"]), parse_postings(row["postings"]), row["created_at"])

    def hold(self, tenant_id: str, transfer_id: str) -> Hold:
        rows = self._rows(
            tenant_id,
            "SELECT * FROM holds WHERE tenant_id = %s AND transfer_id = %s",
            (tenant_id, transfer_id),
        )
        if not rows:
            raise NotFound("pending transfer not found", transferId=transfer_id)
        return hold_of(rows[0])

    def expire_holds(self) -> list[Transfer]:
        due = self._rows(
            ALL_TENANTS,
            """SELECT tenant_id, transfer_id FROM holds
               WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= %s
               ORDER BY tenant_id, transfer_id""",
            (self._clock.now(),),
        )
        return [
            self.submit(
                TransferRequest(
                    expiry_id(row["transfer_id"]),
                    row["tenant_id"],
                    "hold_expired",
                    TransferMode.EXPIRE_PENDING,
                    pending_id=row["transfer_id"],
                )
            )
            for row in due
        ]

    def entries(self, tenant_id: str, account_id: str | None = None) -> list[Entry]:
        rows = self._rows(
            tenant_id,
            """SELECT * FROM journal WHERE tenant_id = %s
                 AND (%s::text IS NULL OR debit_account_id = %s OR credit_account_id = %s)
               ORDER BY seq""",
            (tenant_id, account_id, account_id, account_id),
        )
        return [
            entry
            for row in rows
            for entry in entries_of(row)
            if account_id is None or entry.account_id == account_id
        ]

    def balance_at(self, tenant_id: str, account_id: str, at: datetime) -> Balances:
        self.account(tenant_id, account_id)
        rows = self._rows(
            tenant_id,
            """SELECT
                 coalesce(sum(amount) FILTER (WHERE debit_account_id = %s AND bucket = 'pending'), 0) AS dpe,
                 coalesce(sum(amount) FILTER (WHERE debit_account_id = %s AND bucket = 'posted'), 0) AS dpo,
                 coalesce(sum(amount) FILTER (WHERE credit_account_id = %s AND bucket = 'pending'), 0) AS cpe,
                 coalesce(sum(amount) FILTER (WHERE credit_account_id = %s AND bucket = 'posted'), 0) AS cpo
               FROM journal
               WHERE tenant_id = %s AND (debit_account_id = %s OR credit_account_id = %s)
                 AND created_at <= %s""",
            (account_id, account_id, account_id, account_id, tenant_id, account_id, account_id, at),
        )
        row = rows[0]
        return Balances(int(row["dpe"]), int(row["dpo"]), int(row["cpe"]), int(row["cpo"]))


class PooledLedgerStore:
    """Every call in its own transaction on a pooled connection: the ledger used on its own.

    Concurrent `submit` calls are group-committed (see `group_commit`): same outcomes, one
    commit per group under load.
    """

    def __init__(self, pool: ConnectionPool[Any], clock: Clock, committers: int = 2) -> None:
        self._pool = pool
        self._clock = clock
        self._group = GroupCommitter(
            pool, lambda conn: PostgresLedgerStore(conn, clock), committers=committers
        )

    @contextmanager
    def _store(self) -> Iterator[PostgresLedgerStore]:
        with self._pool.connection() as conn, conn.transaction():
            yield PostgresLedgerStore(conn, self._clock)

    def _call(self, use: Callable[[PostgresLedgerStore], Any]) -> Any:
        with self._store() as store:
            return use(store)

    def open_accounts(self, accounts: Sequence[Account]) -> None:
        self._call(lambda s: s.open_accounts(accounts))

    def account(self, tenant_id: str, account_id: str) -> Account:
        result: Account = self._call(lambda s: s.account(tenant_id, account_id))
        return result

    def accounts(self, tenant_id: str) -> list[Account]:
        result: list[Account] = self._call(lambda s: s.accounts(tenant_id))
        return result

    def submit(self, request: TransferRequest) -> Transfer:
        return self._group.submit(request)

    def submit_many(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        result: list[Transfer] = self._call(lambda s: s.submit_many(requests))
        return result

    def transfer(self, tenant_id: str, transfer_id: str) -> Transfer:
        result: Transfer = self._call(lambda s: s.transfer(tenant_id, transfer_id))
        return result

    def hold(self, tenant_id: str, transfer_id: str) -> Hold:
        result: Hold = self._call(lambda s: s.hold(tenant_id, transfer_id))
        return result

    def expire_holds(self) -> list[Transfer]:
        result: list[Transfer] = self._call(lambda s: s.expire_holds())
        return result

    def entries(self, tenant_id: str, account_id: str | None = None) -> list[Entry]:
        result: list[Entry] = self._call(lambda s: s.entries(tenant_id, account_id))
        return result

    def balance_at(self, tenant_id: str, account_id: str, at: datetime) -> Balances:
        result: Balances = self._call(lambda s: s.balance_at(tenant_id, account_id, at))
        return result
