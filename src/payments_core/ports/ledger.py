"""The ledger store port: persists what `payments_core.ledger.plan` decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from payments_core.ledger import Account, Balances, Entry, Hold, Transfer, TransferRequest


class LedgerStore(Protocol):
    """Atomic and durable; every store gives identical answers to identical calls (the stateful
    tests run the same command sequences against each and compare)."""

    def open_accounts(self, accounts: Sequence[Account]) -> None:
        """Create accounts; re-opening an identical one is a no-op, a different one a conflict."""
        ...

    def account(self, tenant_id: str, account_id: str) -> Account:
        """The account with its current balances; `AccountNotFound` in another tenant."""
        ...

    def accounts(self, tenant_id: str) -> list[Account]: ...

    def submit(self, request: TransferRequest) -> Transfer:
        """Apply one transfer; a replay of an identical request returns the first result."""
        ...

    def submit_many(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Apply many transfers as one unit: all of them, or none."""
        ...

    def transfer(self, tenant_id: str, transfer_id: str) -> Transfer:
        """`NotFound` when missing or in another tenant."""
        ...

    def hold(self, tenant_id: str, transfer_id: str) -> Hold: ...

    def expire_holds(self) -> list[Transfer]:
        """Release every hold whose expiry has passed; returns the expiry transfers."""
        ...

    def entries(self, tenant_id: str, account_id: str | None = None) -> list[Entry]:
        """The journal in the order it was written."""
        ...

    def balance_at(self, tenant_id: str, account_id: str, at: datetime) -> Balances:
        """An account's balances as of `at`, recomputed from its entries."""
        ...
