"""The PostgreSQL ledger against pgbench, on the same server, in the same run.

    .venv/bin/python benchmarks/ledger.py [--seconds 15] [--tenants 1000]

Measures pgbench's TPC-B-like transaction (`pgbench -i -s 10`, then `-M prepared -c 8 -j 2`)
and our ledger: every transfer a full payment-completed flow (provider clearing, wallet,
platform fees) with its idempotent id, across `--tenants` tenants' wallets; the same with 1,000
transfers per call; and with every transfer crediting one hot wallet. Prints a table, then:

    ledger_tps_8=…  pgbench_tps_8=…  ratio_8=…
    ledger_batch_tps=…  ratio_batch=…
    hot_wallet_tps=…  ratio_hot=…
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from adapters.memory.system import SystemClock
from adapters.postgres.ledger import PooledLedgerStore
from adapters.postgres.migrate import migrate
from adapters.postgres.pool import make_pool
from adapters.postgres.server import Database, database_url, open_database, start_embedded
from payments_core import flows
from payments_core.fees import PLATFORM_DEFAULT_SCHEDULE, FeeOperation
from payments_core.ledger import Chart, problems
from payments_core.money import Money

WORKERS = 8
BATCH = 1_000


def fresh(database: Database, name: str) -> str:
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(database.url, name)


def pgbench(database: Database, seconds: int) -> float:
    binary = (database.bin_dir() / "pgbench") if database.bin_dir() else shutil.which("pgbench")
    if binary is None:
        raise SystemExit("pgbench not found: install PostgreSQL's client tools or use the embedded server")
    url = fresh(database, "bench_pgbench")
    params = conninfo_to_dict(url)
    env = dict(os.environ)
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("password", "PGPASSWORD")):
        if params.get(key):
            env[var] = str(params[key])
    env["PGDATABASE"] = str(params["dbname"])
    subprocess.run([str(binary), "-i", "-s", "10", "-q"], env=env, check=True, capture_output=True)
    run = subprocess.run(
        [str(binary), "-M", "prepared", "-c", str(WORKERS), "-j", "2", "-T", str(seconds)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    match = re.search(r"tps = ([0-9.]+)", run.stdout)
    assert match, run.stdout
    return float(match.group(1))


class Ledger:
    def __init__(self, url: str, tenants: int, committers: int) -> None:
        migrate(url)
        self.pool = make_pool(url, min_size=WORKERS, max_size=WORKERS + 2)
        self.store = PooledLedgerStore(self.pool, SystemClock(), committers=committers)
        self.charts = [Chart(f"tenant{n:04d}") for n in range(tenants)]
        for chart in self.charts:
            self.store.open_accounts(chart.accounts("KES", ["mpesa"]))
        self.quote = PLATFORM_DEFAULT_SCHEDULE.quote(FeeOperation.PAYMENT, "mpesa", Money(10_000, "KES"))
        self.ids = itertools.count()

    def payment(self, chart: Chart):
        return flows.payment_completed(chart, f"pay-{next(self.ids)}", "mpesa", self.quote)

    def run(self, seconds: float, pick, batch: int = 1) -> float:
        """Transfers/s with WORKERS threads, each on its own pooled connection."""
        stop = time.monotonic() + seconds
        done = [0] * WORKERS

        def work(worker: int) -> None:
            n = 0
            while time.monotonic() < stop:
                if batch == 1:
                    self.store.submit(self.payment(pick(worker, n)))
                else:
                    self.store.submit_many([self.payment(pick(worker, n + i)) for i in range(batch)])
                n += batch
            done[worker] = n

        started = time.monotonic()
        threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(done) / (time.monotonic() - started)

    def sound(self) -> bool:
        return all(
            not problems(self.store.accounts(c.tenant_id), self.store.entries(c.tenant_id))
            for c in self.charts[:20]
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--committers", type=int, default=2, help="concurrent commit groups")
    args = parser.parse_args()
    temp = None
    if os.environ.get("DATABASE_URL"):
        database = open_database()
    else:
        temp = tempfile.mkdtemp(prefix="bench")
        database = start_embedded(Path(temp) / "pgdata", cleanup="stop")
    try:
        base = pgbench(database, args.seconds)
        ledger = Ledger(fresh(database, "bench_ledger"), args.tenants, args.committers)
        charts = ledger.charts
        spread = ledger.run(args.seconds, lambda w, n: charts[(w * 7919 + n) % len(charts)])
        batched = ledger.run(args.seconds, lambda w, n: charts[(w * 7919 + n) % len(charts)], batch=BATCH)
        hot = ledger.run(args.seconds, lambda w, n: charts[0])
        sound = ledger.sound()
        ledger.pool.close()
    finally:
        if database.server is not None:
            database.server.cleanup()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    print(f"{'measure':<44}{'per second':>14}")
    print(f"{'pgbench TPC-B-like, 8 clients, prepared':<44}{base:>14,.0f}")
    print(f"{'ledger payment flow, 8 workers':<44}{spread:>14,.0f}")
    print(f"{'ledger payment flow, 1,000 per call':<44}{batched:>14,.0f}")
    print(f"{'ledger payment flow, one hot wallet':<44}{hot:>14,.0f}")
    print(f"{'ledger sound after the run':<44}{sound!s:>14}")
    print(f"ledger_tps_8={spread:.0f}  pgbench_tps_8={base:.0f}  ratio_8={spread / base:.2f}")
    print(f"ledger_batch_tps={batched:.0f}  ratio_batch={batched / base:.2f}")
    print(f"hot_wallet_tps={hot:.0f}  ratio_hot={hot / spread:.2f}")


if __name__ == "__main__":
    main()
