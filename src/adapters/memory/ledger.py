"""An in-memory ledger store: the engine's decisions kept in dicts, behind one lock.

Same contract as every `LedgerStore`: a call either applies its whole outcome or nothing.
Thread-safe, so concurrency tests and embedded services can share one instance.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from payments_core.errors import IdempotencyConflict, NotFound
from payments_core.ledger import (
    Account,
    AccountNotFound,
    Balances,
    Entry,
    Hold,
    Outcome,
    Transfer,
    TransferRequest,
    fold,
    plan,
    plan_batch,
    plan_expiry,
)
from payments_core.ledger.engine import record
from payments_core.ports import Clock
from payments_core.states import HoldStatus

Key = tuple[str, str]


class InMemoryLedgerStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._accounts: dict[Key, Account] = {}
        self._transfers: dict[Key, Transfer] = {}
        self._holds: dict[Key, Hold] = {}
        self._entries: list[Entry] = []
        self._saved: tuple[dict[Key, Account], dict[Key, Transfer], dict[Key, Hold], int] | None = None

    # LedgerView: what the engine reads.
    def find_account(self, tenant_id: str, account_id: str) -> Account | None:
        return self._accounts.get((tenant_id, account_id))

    def find_transfer(self, tenant_id: str, transfer_id: str) -> Transfer | None:
        return self._transfers.get((tenant_id, transfer_id))

    def find_hold(self, tenant_id: str, transfer_id: str) -> Hold | None:
        return self._holds.get((tenant_id, transfer_id))

    # LedgerStore.
    def open_accounts(self, accounts: Sequence[Account]) -> None:
        with self._lock:
            new: dict[Key, Account] = {}
            for account in accounts:
                key = (account.tenant_id, account.id)
                known = self._accounts.get(key) or new.get(key)
                if known is not None:
                    if not known.same_definition(account):
                        raise IdempotencyConflict(
                            "an account with this id exists with another definition",
                            accountId=account.id,
                        )
                    continue
                if account.balances != Balances():
                    raise IdempotencyConflict("accounts open with zero balances", accountId=account.id)
                new[key] = account
            self._accounts.update(new)

    def account(self, tenant_id: str, account_id: str) -> Account:
        account = self.find_account(tenant_id, account_id)
        if account is None:
            raise AccountNotFound("account not found", accountId=account_id)
        return account

    def accounts(self, tenant_id: str) -> list[Account]:
        with self._lock:
            return sorted(
                (a for (tenant, _), a in self._accounts.items() if tenant == tenant_id),
                key=lambda a: a.id,
            )

    def submit(self, request: TransferRequest) -> Transfer:
        with self._lock:
            outcome = plan(request, self, self._clock.now())
            self._commit(outcome)
            return outcome.transfer

    def submit_many(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        with self._lock:
            outcomes = plan_batch(requests, self, self._clock.now())
            for outcome in outcomes:
                self._commit(outcome)
            return [outcome.transfer for outcome in outcomes]

    def transfer(self, tenant_id: str, transfer_id: str) -> Transfer:
        transfer = self.find_transfer(tenant_id, transfer_id)
        if transfer is None:
            raise NotFound("transfer not found", transferId=transfer_id)
        return transfer

    def hold(self, tenant_id: str, transfer_id: str) -> Hold:
        hold = self.find_hold(tenant_id, transfer_id)
        if hold is None:
            raise NotFound("pending transfer not found", transferId=transfer_id)
        return hold

    def expire_holds(self) -> list[Transfer]:
        with self._lock:
            now = self._clock.now()
            due = sorted(
                (h for h in self._holds.values() if h.status is HoldStatus.PENDING and h.is_expired(now)),
                key=lambda h: (h.tenant_id, h.transfer_id),
            )
            expired = []
            for hold in due:
                outcome = plan_expiry(hold, self, now)
                self._commit(outcome)
                expired.append(outcome.transfer)
            return expired

    def entries(self, tenant_id: str, account_id: str | None = None) -> list[Entry]:
        with self._lock:
            return [
                e
                for e in self._entries
                if e.tenant_id == tenant_id and (account_id is None or e.account_id == account_id)
            ]

    def balance_at(self, tenant_id: str, account_id: str, at: datetime) -> Balances:
        self.account(tenant_id, account_id)
        return fold(self.entries(tenant_id, account_id), until=at).get(account_id, Balances())

    def begin(self) -> None:
        """Remember the current state so that `restore` can bring it back (a unit of work)."""
        self._saved = (
            dict(self._accounts),
            dict(self._transfers),
            dict(self._holds),
            len(self._entries),
        )

    def restore(self) -> None:
        if self._saved is not None:
            accounts, transfers, holds, entries = self._saved
            self._accounts, self._transfers, self._holds = accounts, transfers, holds
            del self._entries[entries:]
        self._saved = None

    def release(self) -> None:
        self._saved = None

    def _commit(self, outcome: Outcome) -> None:
        record(outcome, self._accounts, self._transfers, self._holds)
        if not outcome.replayed:
            self._entries.extend(outcome.entries)
