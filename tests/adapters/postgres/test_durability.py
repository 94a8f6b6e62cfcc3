"""Nothing acknowledged is lost: kill the writer and the database server with SIGKILL mid-run.

A child process posts transfers and prints each id after its commit returned. The test kills
the child and then the PostgreSQL server itself, restarts the server (crash recovery), and
finds every reported transfer present and the ledger balanced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.memory.system import SystemClock
from adapters.postgres.ledger import PooledLedgerStore
from adapters.postgres.migrate import migrate
from adapters.postgres.pool import make_pool
from adapters.postgres.server import start_embedded
from payments_core.errors import NotFound
from payments_core.ledger import problems

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="needs a server this test may kill")
def test_every_reported_transfer_survives_sigkill_of_writer_and_server(tmp_path):
    data = tmp_path / "pgdata"
    database = start_embedded(data, cleanup="stop")
    migrate(database.url)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.adapters.postgres.durability_worker", database.url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    reported: list[str] = []
    deadline = time.monotonic() + 60
    assert child.stdout is not None
    while len(reported) < 300 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        reported.append(line.strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    postmaster = database.server.get_pid()
    os.kill(postmaster, signal.SIGKILL)
    _wait_gone(postmaster)
    assert len(reported) >= 300, "the writer did not get going"

    database.server.ensure_postgres_running()  # a fresh postmaster: crash recovery from the WAL
    pool = make_pool(database.url, max_size=2)
    try:
        ledger = PooledLedgerStore(pool, SystemClock())
        missing = []
        for transfer_id in reported:
            try:
                ledger.transfer("t1", transfer_id)
            except NotFound:
                missing.append(transfer_id)
        assert missing == []
        assert problems(ledger.accounts("t1"), ledger.entries("t1")) == []
    finally:
        pool.close()
        database.server.cleanup()


def _wait_gone(pid: int) -> None:
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
