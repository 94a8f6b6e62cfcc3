"""Audits of a ledger's invariants, usable by tests, stores and operators alike.

- `fold(entries)`: each account's four balances, recomputed from the journal alone.
- `trial_balance(accounts)`: per currency, total debits and credits (posted and pending).
- `problems(accounts, entries)`: every way the ledger's state breaks an invariant; empty is good.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import attrs

from payments_core.ledger.accounts import Account, Balances
from payments_core.ledger.transfers import Entry


@attrs.frozen
class CurrencyTotals:
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def balanced(self) -> bool:
        return self.debits_posted == self.credits_posted and self.debits_pending == self.credits_pending


def fold(entries: Iterable[Entry], until: datetime | None = None) -> dict[str, Balances]:
    """Balances per account id from entries (optionally only those created at or before `until`)."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in entries:
        if until is None or entry.created_at <= until:
            sums[entry.account_id][f"{entry.side.value}s_{entry.bucket.value}"] += entry.amount
    return {account_id: Balances(**fields) for account_id, fields in sums.items()}


def trial_balance(accounts: Iterable[Account]) -> dict[str, CurrencyTotals]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for account in accounts:
        t = totals[account.currency]
        t[0] += account.debits_posted
        t[1] += account.credits_posted
        t[2] += account.debits_pending
        t[3] += account.credits_pending
    return {currency: CurrencyTotals(*t) for currency, t in totals.items()}


def problems(accounts: Iterable[Account], entries: Iterable[Entry]) -> list[str]:
    """Everything wrong with this ledger state, in words; an empty list means it is sound."""
    accounts = list(accounts)
    found: list[str] = []
    for currency, totals in sorted(trial_balance(accounts).items()):
        if not totals.balanced:
            found.append(f"{currency} does not balance: {totals}")
    folded = fold(entries)
    for account in accounts:
        recomputed = folded.pop(account.id, Balances())
        if recomputed != account.balances:
            found.append(f"{account.id} holds {account.balances} but its entries fold to {recomputed}")
        violation = account.flag_violation()
        if violation is not None:
            found.append(f"{account.id} breaks its flags: {violation.message}")
    found.extend(f"entries for unknown account {account_id}" for account_id in sorted(folded))
    return found
