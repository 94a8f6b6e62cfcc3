"""Concurrency for real: threads with their own connections against one PostgreSQL ledger."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.memory.clock import ManualClock
from adapters.postgres.ledger import PooledLedgerStore
from adapters.postgres.pool import make_pool
from payments_core import flows
from payments_core.errors import DomainError, InsufficientFunds
from payments_core.fees import FeeOperation, FeeQuote, FeeRule
from payments_core.ledger import Account, Chart, Posting, TransferRequest, problems
from payments_core.money import Money
from tests.support.ledger import T0


@pytest.fixture
def ledger(pg_clone):
    pool = make_pool(pg_clone(), min_size=4, max_size=24)
    yield PooledLedgerStore(pool, ManualClock(T0))
    pool.close()


def kes(minor: int) -> Money:
    return Money(minor, "KES")


def test_fifty_concurrent_withdrawals_never_overdraw_one_wallet(ledger):
    chart = Chart("t1")
    ledger.open_accounts(chart.accounts("KES", ["mpesa"]))
    ledger.submit(
        TransferRequest.posted(
            "fund",
            "t1",
            "payment_completed",
            [Posting(chart.clearing("mpesa", "KES"), chart.wallet("KES"), kes(100_000))],
        )
    )
    rule = FeeRule(FeeOperation.WITHDRAWAL, "KES", "mpesa", flat_minor=3300)
    quote: FeeQuote = rule.quote(kes(10_000))
    barrier = threading.Barrier(50)

    def withdraw(n: int) -> str:
        barrier.wait()
        try:
            ledger.submit(flows.withdrawal_initiated(chart, f"wd-{n}", quote))
        except InsufficientFunds:
            return "refused"
        return "held"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(withdraw, range(50)))
    assert outcomes.count("held") == 10
    assert outcomes.count("refused") == 40
    wallet = ledger.account("t1", chart.wallet("KES"))
    assert wallet.available().minor == 0
    assert wallet.debits_pending == 100_000
    assert problems(ledger.accounts("t1"), ledger.entries("t1")) == []


def test_eight_workers_posting_random_transfers_for_ten_seconds_never_deadlock(ledger):
    ids = [f"acct-{n:03d}" for n in range(100)]
    ledger.open_accounts([Account(i, "t1", "test", "KES") for i in ids])
    stop_at = time.monotonic() + 10
    counts = [0] * 8
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        rng = random.Random(worker)
        n = 0
        while time.monotonic() < stop_at:
            picked = rng.sample(ids, 4)
            postings = [Posting(picked[0], picked[1], kes(rng.randint(1, 500))),
                        Posting(picked[2], picked[3], kes(rng.randint(1, 500)))]  # fmt: skip
            try:
                ledger.submit(TransferRequest.posted(f"w{worker}-{n}", "t1", "test", postings))
            except BaseException as error:  # any failure, a deadlock included, fails the test
                failures.append(error)
                return
            n += 1
        counts[worker] = n

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(counts) > 100
    accounts = ledger.accounts("t1")
    assert problems(accounts, ledger.entries("t1")) == []
    assert sum(a.debits_posted for a in accounts) == sum(a.credits_posted for a in accounts)


def test_one_transfer_id_from_twenty_concurrent_callers_posts_once(ledger):
    chart = Chart("t1")
    ledger.open_accounts(chart.accounts("KES", ["mpesa"]))
    request = TransferRequest.posted(
        "same-id",
        "t1",
        "payment_completed",
        [Posting(chart.clearing("mpesa", "KES"), chart.wallet("KES"), kes(500))],
    )
    barrier = threading.Barrier(20)

    def submit(_: int):
        barrier.wait()
        return ledger.submit(request)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(submit, range(20)))
    assert all(result == results[0] for result in results)
    assert ledger.account("t1", chart.wallet("KES")).credits_posted == 500
    assert len(ledger.entries("t1")) == 2


def test_bad_input_reaches_the_database_as_a_domain_error(ledger):
    chart = Chart("t1")
    ledger.open_accounts(chart.accounts("KES", ["mpesa"]))
    wallet, clearing = chart.wallet("KES"), chart.clearing("mpesa", "KES")
    cases = [
        TransferRequest.posted("x1", "t1", "k", [Posting(wallet, clearing, kes(1))]),  # overdraws the wallet
        TransferRequest.posted(
            "x2", "t1", "k", [Posting(clearing, "t1/nope/KES", kes(1))]
        ),  # unknown account
        TransferRequest.posted(
            "x3", "t1", "k", [Posting(clearing, wallet, Money(1, "USD"))]
        ),  # wrong currency
        TransferRequest.post_pending("x4", "t1", "k", "no-such-hold"),
        TransferRequest.posted(
            "x5", "t2", "k", [Posting(clearing, wallet, kes(1))]
        ),  # another tenant's accounts
    ]
    for request in cases:
        with pytest.raises(DomainError) as raised:
            ledger.submit(request)
        assert raised.value.code in {
            "INSUFFICIENT_FUNDS", "RESOURCE_NOT_FOUND", "CURRENCY_MISMATCH", "PENDING_TRANSFER_NOT_FOUND"
        }  # fmt: skip
    assert ledger.entries("t1") == []
