"""A child process for the durability test: posts transfers and reports each one once committed."""

import sys

from adapters.memory.system import SystemClock
from adapters.postgres.ledger import PooledLedgerStore
from adapters.postgres.pool import make_pool
from payments_core.ledger import Chart, Posting, TransferRequest
from payments_core.money import Money


def main(url: str) -> None:
    pool = make_pool(url, max_size=1)
    ledger = PooledLedgerStore(pool, SystemClock())
    chart = Chart("t1")
    ledger.open_accounts(chart.accounts("KES", ["mpesa"]))
    n = 0
    while True:
        transfer_id = f"durable-{n}"
        postings = [Posting(chart.clearing("mpesa", "KES"), chart.wallet("KES"), Money(100 + n % 7, "KES"))]
        ledger.submit(TransferRequest.posted(transfer_id, "t1", "payment_completed", postings))
        sys.stdout.write(transfer_id + "\n")
        sys.stdout.flush()
        n += 1


if __name__ == "__main__":
    main(sys.argv[1])
