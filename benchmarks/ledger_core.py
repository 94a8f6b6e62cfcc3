"""How fast the pure ledger decides: transfers/s through the engine and the in-memory store.

The baseline, measured in the same run, is the least any ledger must do per transfer: two
dict updates of two balances. The ratio says what validation, flags, holds and the append-only
journal cost on top. The PostgreSQL store's benchmark against pgbench lives in benchmarks/ledger.py.

    .venv/bin/python benchmarks/ledger_core.py [--transfers N]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from adapters.memory.clock import ManualClock
from adapters.memory.ledger import InMemoryLedgerStore
from payments_core import flows
from payments_core.fees import PLATFORM_DEFAULT_SCHEDULE, FeeOperation
from payments_core.ledger import Chart, problems
from payments_core.money import Money


def baseline(n: int) -> float:
    balances = {"clearing": 0, "wallet": 0, "fees": 0}
    start = time.perf_counter()
    for _ in range(n):
        balances["clearing"] -= 10000
        balances["wallet"] += 9750
        balances["fees"] += 250
    return n / (time.perf_counter() - start)


def ledger(n: int) -> tuple[float, float, int]:
    clock = ManualClock()
    store = InMemoryLedgerStore(clock)
    chart = Chart("bench")
    store.open_accounts(chart.accounts("KES", ["mpesa"]))
    quote = PLATFORM_DEFAULT_SCHEDULE.quote(FeeOperation.PAYMENT, "mpesa", Money(10000, "KES"))
    requests = [flows.payment_completed(chart, f"pay-{i}", "mpesa", quote) for i in range(n)]
    start = time.perf_counter()
    for request in requests:
        store.submit(request)
    payments = n / (time.perf_counter() - start)

    hold_quote = PLATFORM_DEFAULT_SCHEDULE.quote(FeeOperation.WITHDRAWAL, "mpesa", Money(5000, "KES"))
    holds = [flows.withdrawal_initiated(chart, f"wd-{i}", hold_quote) for i in range(n // 2)]
    posts = [flows.withdrawal_approved(chart, f"wd-{i}-ok", f"wd-{i}") for i in range(n // 2)]
    clock.advance(timedelta(seconds=1))
    start = time.perf_counter()
    for hold, post in zip(holds, posts, strict=True):
        store.submit(hold)
        store.submit(post)
    two_phase = n / (time.perf_counter() - start)
    return payments, two_phase, len(problems(store.accounts("bench"), store.entries("bench")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=50_000)
    n = parser.parse_args().transfers
    base = baseline(n)
    payments, two_phase, broken = ledger(n)
    print(f"transfers: {n}")
    print(f"baseline (raw dict balance updates): {base:,.0f} /s")
    print(f"in-memory ledger, posted payments:   {payments:,.0f} /s  ratio {payments / base:.4f}")
    print(f"in-memory ledger, hold + post:       {two_phase:,.0f} /s  ratio {two_phase / base:.4f}")
    print(f"invariant problems after the run:    {broken}")


if __name__ == "__main__":
    main()
