"""Reconciliation against a bare COPY, on the same server, in the same run.

    .venv/bin/python benchmarks/recon.py [--lines 1000000] [--big 5000000] [--skip-big] [--repeat 5]

1. A fresh database with one tenant and `--lines` Stripe payments (one in 50,000 pending, the
   rest completed, each with its settling transfer). The fixture writes payments and transfer rows
   in bulk SQL as the database owner; reconciliation reads nothing else of them.
2. `benchmarks/make_statement.py` writes the Stripe itemized report for them, with planted breaks.
3. Timed: `payments reconcile --provider stripe --statement FILE` as its own process, end to end
   (start-up, parsing, COPY, matching, breaks, report), with its peak RSS (wait4). Its sources
   are compiled to bytecode first, as `make install` and a wheel's install leave them: where
   bytecode is not written (PYTHONDONTWRITEBYTECODE), each run would compile them (0.1 s).
4. Timed: a bare `COPY ... FROM STDIN (FORMAT csv, HEADER)` of the same file into a plain table.
   Steps 3 and 4 run `--repeat` times in turn, each time on a fresh copy of the seeded database
   (a reconciliation changes what it resolves), as a 2-core machine shared with others moves both
   by a third from one minute to the next. The figures are those of the pair whose ratio is the
   median (each ratio is a run and the COPY right after it, on the same copy). Every pair is
   printed.
5. The same again with `--big` payments and lines, for memory (once).

Prints a table, then exactly:
    recon_s=<seconds for 1M>  copy_s=<...>  ratio=<recon/copy>  rss_mb_1m=<...>  rss_mb_5m=<...>
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from adapters.postgres.codec import dump, to_json  # noqa: E402
from adapters.postgres.migrate import migrate  # noqa: E402
from adapters.postgres.server import Database, database_url, open_database  # noqa: E402
from payments_core.model.access import Tenant  # noqa: E402
from payments_core.model.payments import Payment  # noqa: E402
from payments_core.money import Money  # noqa: E402
from payments_core.states import PaymentStatus  # noqa: E402

T0 = datetime(2026, 11, 1, tzinfo=UTC)
BIN = Path(sys.executable).parent
SEED_PAYMENTS = """
INSERT INTO payments (tenant_id, id, status, provider, provider_reference, created_at, doc)
SELECT %(tenant)s, p.id, p.status, 'stripe', p.ref, p.at,
       %(template)s::jsonb || jsonb_build_object(
           'id', p.id, 'status', p.status, 'tenant_id', %(tenant)s::text, 'provider_reference', p.ref,
           'created_at', p.at, 'updated_at', p.at,
           'amount', jsonb_build_object('minor', p.amount, 'currency', 'USD'),
           'fee', jsonb_build_object('minor', p.amount * 29 / 1000 + 30, 'currency', 'USD'))
FROM (SELECT 'pay_' || lpad(i::text, 10, '0') AS id, 'pi_' || md5(i::text) AS ref,
             %(t0)s::timestamptz + i * interval '80 milliseconds' AS at,
             100 + (i::bigint * 7919) %% 250000 AS amount,
             CASE WHEN i %% 50000 = 7 THEN 'pending' ELSE 'completed' END AS status
      FROM generate_series(1, %(count)s) AS i) AS p
"""
SEED_TRANSFERS = """
INSERT INTO transfers (tenant_id, id, kind, mode, request, postings, created_at)
SELECT tenant_id, id || '.completed', 'payment_completed', 'posted', '{}'::jsonb, '[]'::jsonb, created_at
FROM payments WHERE tenant_id = %(tenant)s AND status = 'completed'
"""


def fresh(database: Database, name: str) -> str:
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(database.url, name)


def seed(url: str, tenant_id: str, count: int) -> float:
    started = time.perf_counter()
    template = Payment(
        "pay_template", tenant_id, Money(100, "USD"), "card", "stripe", T0, T0, status=PaymentStatus.COMPLETED
    )
    tenant = Tenant(tenant_id, tenant_id, "USD", T0)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO tenants (id, created_at, doc) VALUES (%s, %s, %s)",
            (tenant.id, T0, Jsonb(dump(tenant), dumps=to_json)),
        )
        params = {"tenant": tenant_id, "template": to_json(dump(template)), "t0": T0, "count": count}
        conn.execute(SEED_PAYMENTS, params)
        conn.execute(SEED_TRANSFERS, params)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE payments")
        conn.execute("VACUUM ANALYZE transfers")
    return time.perf_counter() - started


def statement(url: str, tenant_id: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "make_statement.py"), "--tenant", tenant_id,
         "--format", "stripe", "--out", str(path), "--breaks", "10", "--database-url", url],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    planted: dict[str, Any] = json.loads(out.stdout)
    return planted


def reconcile(url: str, tenant_id: str, path: Path) -> tuple[float, float, dict[str, Any]]:
    """Seconds and peak RSS (MB) of `payments reconcile` as its own process, and its JSON report."""
    env = {**os.environ, "DATABASE_URL": url}
    report = path.with_suffix(".json")
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(BIN / "payments"), "reconcile", "--provider", "stripe", "--statement", str(path),
         "--tenant", tenant_id, "--format", "json", "--out", str(report)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(
            f"payments reconcile exited {code}: {child.stderr.read().decode() if child.stderr else ''}"
        )
    rss_mb = usage.ru_maxrss / 1024
    return seconds, rss_mb, json.loads(report.read_text())


def bare_copy(url: str, path: Path) -> float:
    with psycopg.connect(url) as conn:
        header = path.open(encoding="utf-8").readline().rstrip("\n").split(",")
        columns = ", ".join(f'"c{i}" text' for i in range(len(header)))
        conn.execute(f"CREATE TABLE bare_copy ({columns})")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor().copy("COPY bare_copy FROM STDIN (FORMAT csv, HEADER)") as copy,
            path.open("rb") as raw,
        ):
            while chunk := raw.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def copy_of(database: Database, template: str, name: str) -> str:
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        conn.execute("CHECKPOINT")
    return database_url(database.url, name)


def one_size(database: Database, count: int, workdir: Path, label: str, repeat: int) -> dict[str, Any]:
    seeded_name = f"bench_recon_{label}"
    url = fresh(database, seeded_name)
    migrate(url)
    tenant_id = f"bench{label}"
    seeded = seed(url, tenant_id, count)
    path = workdir / f"stripe_{label}.csv"
    planted = statement(url, tenant_id, path)
    samples = []
    for _ in range(repeat):
        run_url = copy_of(database, seeded_name, f"{seeded_name}_run")
        seconds, rss_mb, report = reconcile(run_url, tenant_id, path)
        copy_s = bare_copy(run_url, path)
        found = report["run"]["counts"]
        if found != planted["planted"]:
            raise SystemExit(f"breaks found {found} differ from those planted {planted['planted']}")
        samples.append((seconds, copy_s, rss_mb))
    middle = sorted(samples, key=lambda sample: sample[0] / sample[1])[len(samples) // 2]
    return {
        "payments": count, "seed_s": seeded, "lines": report["run"]["lines"],
        "recon_s": middle[0], "copy_s": middle[1],
        "rss_mb": max(s[2] for s in samples), "breaks": report["run"]["breaks"],
        "size_mb": path.stat().st_size / 1e6, "samples": samples,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=5_000_000)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--repeat", type=int, default=5, help="timed pairs at --lines (the median's)")
    args = parser.parse_args()
    compile_sources = [sys.executable, "-m", "compileall", "-q", str(ROOT / "src")]
    subprocess.run(compile_sources, check=True, stdout=subprocess.DEVNULL)
    database = open_database()
    try:
        with tempfile.TemporaryDirectory(prefix="recon-bench-") as tmp:
            small = one_size(database, args.lines, Path(tmp), "1m", max(1, args.repeat))
            big = None if args.skip_big else one_size(database, args.big, Path(tmp), "5m", 1)
    finally:
        if database.server is not None:
            database.server.cleanup()
    print(
        f"{'run':<6}{'payments':>10}{'lines':>10}{'MB':>8}{'seed_s':>8}{'recon_s':>9}{'copy_s':>8}{'rss_mb':>8}{'breaks':>8}"
    )
    for name, row in (("1m", small), ("5m", big)):
        if row is not None:
            print(
                f"{name:<6}{row['payments']:>10}{row['lines']:>10}{row['size_mb']:>8.0f}{row['seed_s']:>8.1f}"
                f"{row['recon_s']:>9.2f}{row['copy_s']:>8.2f}{row['rss_mb']:>8.0f}{row['breaks']:>8}"
            )
    for n, (recon_s, copy_s, rss_mb) in enumerate(small["samples"], 1):
        print(
            f"  1m sample {n}: recon_s={recon_s:.2f}  copy_s={copy_s:.2f}  "
            f"ratio={recon_s / copy_s:.2f}  rss_mb={rss_mb:.0f}"
        )
    rss_big = f"{big['rss_mb']:.0f}" if big is not None else "skipped"
    ratio = small["recon_s"] / small["copy_s"]
    print(
        f"recon_s={small['recon_s']:.2f}  copy_s={small['copy_s']:.2f}  ratio={ratio:.2f}  "
        f"rss_mb_1m={small['rss_mb']:.0f}  rss_mb_5m={rss_big}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
