"""Small builders shared by ledger tests: a tenant's chart opened in a fresh in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.memory.clock import ManualClock
from adapters.memory.ledger import InMemoryLedgerStore
from payments_core.ledger import Account, AccountFlags, Chart, Posting, TransferRequest
from payments_core.money import Money

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def kes(major: str) -> Money:
    return Money.parse(major, "KES")


# Which ledger store the tests build: in memory unless a backend fixture says otherwise.
make_store = InMemoryLedgerStore


def use_store(factory) -> None:
    global make_store  # noqa: PLW0603 - the backend fixture switches it for one test
    make_store = factory


def store_with_chart(tenant_id: str = "t1", currency: str = "KES", providers=("mpesa",)):
    clock = ManualClock(T0)
    store = make_store(clock)
    chart = Chart(tenant_id)
    store.open_accounts(chart.accounts(currency, providers))
    return store, chart, clock


def fund_wallet(store, chart: Chart, amount: Money, transfer_id: str = "fund-1", provider="mpesa"):
    """Put `amount` into the wallet the way a completed payment would, with no fee."""
    return store.submit(
        TransferRequest.posted(
            transfer_id,
            chart.tenant_id,
            "payment_completed",
            [Posting(chart.clearing(provider, amount.currency), chart.wallet(amount.currency), amount)],
        )
    )


def plain_account(account_id: str, tenant_id: str = "t1", currency: str = "KES", **flags) -> Account:
    return Account(account_id, tenant_id, "test", currency, AccountFlags(**flags))
