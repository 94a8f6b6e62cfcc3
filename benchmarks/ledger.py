"""The PostgreSQL ledger against pgbench, on the same server, in the same run.

    .venv/bin/python benchmarks/ledger.py [--seconds 15] [--tenants 1000]

Measures pgbench's TPC-B-like transaction (`pgbench -i -s 10`, then `-M prepared -c 8 -j 2`)
and our ledger with 8 worker processes (each its own connection, as pgbench's clients): every
transfer a full payment-completed flow (provider clearing, wallet,
platform fees) with its idempotent id, across `--tenants` tenants' wallets; the same with 1,000
transfers per call; and with every transfer crediting one hot wallet. Prints a table, then:

    ledger_tps_8=…  pgbench_tps_8=…  ratio_8=…
    ledger_batch_tps=…  ratio_batch=…
    hot_wallet_tps=…  ratio_hot=…
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
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


def _worker(url: str, tenants: int, seconds: float, mode: str, worker: int, start_at: float) -> int:
    """One of WORKERS processes (no shared GIL, as pgbench's clients share nothing): its own
    connection, its own transfers; returns how many it committed before the deadline."""
    pool = make_pool(url, min_size=1, max_size=1)
    store = PooledLedgerStore(pool, SystemClock(), committers=1)
    charts = [Chart(f"tenant{n:04d}") for n in range(tenants)]
    quote = PLATFORM_DEFAULT_SCHEDULE.quote(FeeOperation.PAYMENT, "mpesa", Money(10_000, "KES"))
    ids = (f"{mode}-{worker}-{n}" for n in itertools.count())

    def payment(n: int):
        chart = charts[0] if mode == "hot" else charts[(worker * 7919 + n) % len(charts)]
        return flows.payment_completed(chart, next(ids), "mpesa", quote)

    time.sleep(max(0.0, start_at - time.time()))
    stop = start_at + seconds
    done = 0
    while time.time() < stop:
        if mode == "batch":
            store.submit_many([payment(done + i) for i in range(BATCH)])
            done += BATCH
        else:
            store.submit(payment(done))
            done += 1
    pool.close()
    return done


def ledger_rate(url: str, tenants: int, seconds: float, mode: str) -> float:
    start_at = time.time() + 2.0  # every process connected and ready before the clock starts
    with multiprocessing.get_context("spawn").Pool(WORKERS) as workers:
        counts = workers.starmap(
            _worker, [(url, tenants, seconds, mode, w, start_at) for w in range(WORKERS)]
        )
    return sum(counts) / seconds


def prepare_ledger(url: str, tenants: int) -> PooledLedgerStore:
    migrate(url)
    pool = make_pool(url, max_size=2)
    store = PooledLedgerStore(pool, SystemClock())
    for n in range(tenants):
        store.open_accounts(Chart(f"tenant{n:04d}").accounts("KES", ["mpesa"]))
    return store


def sound(store: PooledLedgerStore, tenants: int) -> bool:
    return all(
        not problems(store.accounts(f"tenant{n:04d}"), store.entries(f"tenant{n:04d}"))
        for n in range(min(tenants, 20))
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--tenants", type=int, default=1000)
    args = parser.parse_args()
    temp = None
    if os.environ.get("DATABASE_URL"):
        database = open_database()
    else:
        temp = tempfile.mkdtemp(prefix="bench")
        database = start_embedded(Path(temp) / "pgdata", cleanup="stop")
    try:
        base = pgbench(database, args.seconds)
        url = fresh(database, "bench_ledger")
        store = prepare_ledger(url, args.tenants)
        spread = ledger_rate(url, args.tenants, args.seconds, "spread")
        batched = ledger_rate(url, args.tenants, args.seconds, "batch")
        hot = ledger_rate(url, args.tenants, args.seconds, "hot")
        balanced = sound(store, args.tenants)
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
    print(f"{'ledger sound after the run':<44}{balanced!s:>14}")
    print(f"ledger_tps_8={spread:.0f}  pgbench_tps_8={base:.0f}  ratio_8={spread / base:.2f}")
    print(f"ledger_batch_tps={batched:.0f}  ratio_batch={batched / base:.2f}")
    print(f"hot_wallet_tps={hot:.0f}  ratio_hot={hot / spread:.2f}")


if __name__ == "__main__":
    main()
